//! What the clients (srun, sbatch, salloc) share: reading their own command
//! line and turning what it says into the core's `JobRequest` terms.

use carme_core::client_args::{ClientRequest, Knowledge};
use carme_core::decide::{Classification, Constraint, JobRequest, classify};

use crate::ffi::{Level, log};
use crate::plugin::load_config;

/// This process's argv, as the kernel has it (SPANK does not hand the
/// client's own options to plugins).
pub fn own_argv() -> Vec<String> {
    std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn constraint_of(req: &ClientRequest) -> Constraint<'_> {
    match &req.constraint {
        Knowledge::Absent => Constraint::Known(None),
        Knowledge::Given(c) => Constraint::Known(Some(c.as_str())),
        Knowledge::Unknown => Constraint::Unknown,
    }
}

/// The early decision shared by srun, sbatch and salloc: None when the
/// job is plainly not a Carme job (no config read at all), Err after
/// telling the user why the job is refused.
pub fn decide_early(
    constraint: Constraint,
    image: Option<&str>,
) -> Result<Option<Classification>, ()> {
    if image.is_none() && constraint == Constraint::Known(None) {
        return Ok(None);
    }
    let request = JobRequest { constraint, image };
    classify(&load_config(), &request)
        .map(Some)
        .map_err(|refusal| {
            log(Level::Error, refusal.message());
        })
}
