//! What the clients (srun, sbatch, salloc) share: reading their own command
//! line and turning what it says into the core's `JobRequest` terms.

use carme_core::Refusal;
use carme_core::client_args::{ClientRequest, Knowledge, Release};
use carme_core::config::{Config, Loaded, Scope};
use carme_core::decide::{Classification, Constraint, JobRequest, check_beeond_option, classify};
use carme_core::limits::{Account, Resolved, Who, ask_of_request, check, effective};
use carme_core::slurmjob::running_now;

use crate::ffi::{Level, Spank, log};
use crate::plugin::{load_config, with_state};
use crate::who::JobUser;

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

/// The release whose client option tables apply: the one the plugin is
/// built for (Slurm loads it into clients of that major.minor only).
pub fn release() -> Release {
    Release::for_version_number(crate::ffi::SLURM_VERSION_NUMBER)
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
/// telling the user why the job is refused. `req`: the options of a job
/// about to be submitted (None for a step inside an existing job, whose
/// allocation was checked when it started).
pub fn decide_early(
    constraint: Constraint,
    image: Option<&str>,
    req: Option<&ClientRequest>,
) -> Result<Option<Classification>, ()> {
    if image.is_none() && constraint == Constraint::Known(None) {
        return Ok(None);
    }
    let me = JobUser::current();
    let loaded = load_config(me.as_ref().map(JobUser::scope).as_ref());
    let refuse = |refusal: Refusal| log(Level::Error, refusal.message());
    let class = classify(&loaded, &JobRequest { constraint, image }).map_err(refuse)?;
    let image = match &class {
        Classification::Carme { image } => Some(image.as_str()),
        // Either a Carme job (then the limits hold) or refused later anyway.
        Classification::Undetermined => image,
        Classification::NotCarme => None,
    };
    if let (Loaded::Ready(cfg), Some(me), Some(image)) = (&loaded, &me, image) {
        check_limits_early(cfg, me, image, req).map_err(refuse)?;
    }
    Ok(Some(class))
}

/// The limits a client can check before submitting: image, nodes, GPUs
/// and time as the options ask, and the user's running Carme jobs.
fn check_limits_early(
    cfg: &Config,
    me: &JobUser,
    image: &str,
    req: Option<&ClientRequest>,
) -> Result<(), Refusal> {
    let account = match req.map(|r| &r.account) {
        Some(Knowledge::Given(a)) => Account::Known(Some(a)),
        // Without --account Slurm uses the user's default account, which
        // only slurmstepd will know.
        _ => Account::Unknown,
    };
    let who = Who {
        user: &me.name,
        groups: &me.groups,
        account,
    };
    let eff = effective(&cfg.limits, &who);
    let mut ask = req.map(ask_of_request).unwrap_or_default();
    ask.image = Some(image);
    if req.is_some() && matches!(eff.max_running_jobs, Resolved::Limit { .. }) {
        match crate::bounded::load_user_jobs(me.uid) {
            Ok(jobs) => ask.running_jobs = Some(running_now(me.uid, &jobs, &cfg.gate.feature)),
            Err(e) => log(Level::Debug, &format!("carme: running jobs unknown: {e}")),
        }
    }
    check(cfg, &eff, &ask)
}

/// `--carme-beeond`, if given: refused (with the message) unless the job
/// is a new Carme job on a cluster with `[beeond]`; else passed to the
/// job's prolog and epilog as `SPANK_CARME_BEEOND=1`. `in_job`: the job an
/// srun step belongs to.
pub fn pass_beeond(
    sp: &Spank,
    class: Option<&Classification>,
    in_job: Option<&str>,
) -> Result<(), ()> {
    if !with_state(|s| s.beeond) {
        return Ok(());
    }
    let loaded = load_config(Some(&Scope::NOBODY));
    if let Err(r) = check_beeond_option(&loaded, class, in_job) {
        log(Level::Error, r.message());
        return Err(());
    }
    sp.job_control_setenv("CARME_BEEOND", "1").map_err(|e| {
        log(
            Level::Error,
            &format!("carme: --carme-beeond could not be passed to the job: {e}"),
        )
    })
}
