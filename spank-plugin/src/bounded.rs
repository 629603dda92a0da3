//! The calls that can wait as long as someone else makes them — slurmctld
//! queries (a hung or overloaded controller) and the NVML probe (a hung
//! GPU driver) — each in a forked child with a time bound of ours
//! ([`crate::ffi::in_child`]), so they cannot hang a step (or srun).
//! libslurm's own `MessageTimeout` still applies inside the child; the
//! bound also covers its retries and anything else that blocks.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use carme_core::slurmjob::JobInfo;
use carme_node::error::NodeError;
use carme_node::nvml::{self, NvmlError, NvmlFacts};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ffi;

/// How long one slurmctld query may take in all, retries included.
pub const SLURMCTLD_TIMEOUT: Duration = Duration::from_secs(15);

/// The most bytes of a query's answer (a user's jobs, serialized).
const MAX_ANSWER: usize = 64 << 20;

/// Why a bounded slurmctld query has no answer. `what` names the call
/// (`slurm_load_job(7)`) in the first two.
#[derive(Debug)]
pub enum QueryError {
    /// The child could not be started, or gave no answer (the bound:
    /// [`NodeError::kind`] is then `Timeout`).
    Child { what: String, err: NodeError },
    /// Its answer does not decode.
    Garbled {
        what: String,
        err: serde_json::Error,
    },
    /// libslurm's call failed in the child; its message came back
    /// serialized (the FFI wrappers' errors are texts: they name the call
    /// and carry libslurm's own text).
    Slurm(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Child { what, err } => write!(f, "{what}: {err}"),
            QueryError::Garbled { what, err } => {
                write!(f, "{what}: the query's answer is garbled: {err}")
            }
            QueryError::Slurm(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Child { err, .. } => Some(err),
            QueryError::Garbled { err, .. } => Some(err),
            QueryError::Slurm(_) => None,
        }
    }
}

/// Run `query` in a child; its result, or why there is none.
fn ask<T: Serialize + DeserializeOwned>(
    what: &str,
    query: impl FnOnce() -> Result<T, String>,
) -> Result<T, QueryError> {
    let bytes = ffi::in_child(SLURMCTLD_TIMEOUT, MAX_ANSWER, || {
        serde_json::to_vec(&query()).unwrap_or_default()
    })
    .map_err(|err| QueryError::Child {
        what: what.to_string(),
        err,
    })?;
    serde_json::from_slice::<Result<T, String>>(&bytes)
        .map_err(|err| QueryError::Garbled {
            what: what.to_string(),
            err,
        })?
        .map_err(QueryError::Slurm)
}

/// Ask slurmctld for one job (see [`ffi::load_job`]), bounded.
pub fn load_job(job_id: u32) -> Result<JobInfo, QueryError> {
    ask(&format!("slurm_load_job({job_id})"), || {
        ffi::load_job(job_id)
    })
}

/// Ask slurmctld for a user's jobs (see [`ffi::load_user_jobs`]), bounded.
pub fn load_user_jobs(uid: u32) -> Result<Vec<JobInfo>, QueryError> {
    ask(&format!("slurm_load_job_user({uid})"), || {
        ffi::load_user_jobs(uid)
    })
}

/// NVML's answer (once per step and library), probed in a child bounded by
/// [`nvml::PROBE_TIMEOUT`]; a probe cut off at the bound is a failed one.
pub fn nvml_facts(library: &Path) -> Result<NvmlFacts, NvmlError> {
    nvml::probe_cached_with(library, &|lib| match ffi::in_child(
        nvml::PROBE_TIMEOUT,
        nvml::MAX_ANSWER,
        || nvml::encode_answer(&nvml::probe(lib)),
    ) {
        Ok(bytes) => nvml::decode_answer(lib, &bytes),
        Err(e) => Err(NvmlError::Failed(format!(
            "NVML {}: the probe was stopped: {e}",
            lib.display()
        ))),
    })
}
