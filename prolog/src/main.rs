//! carme-prolog: Slurm `Prolog=` program for Carme jobs.
//!
//! For a Carme job (its constraint, as slurmd received it in the job
//! credential, names the gate feature) it records the job in the node's
//! root-owned state directory, so slurmstepd knows the job is a Carme job
//! without asking slurmctld. Any other job: exit 0 at once. Per-job
//! directories and BeeOND come with their own issue.
//!
//! Exit status follows Slurm's semantics: non-zero drains the node, so it
//! is used only for node faults (e.g. an unsafe state directory).

use std::process::ExitCode;

use carme_core::config::Loaded;
use carme_core::gate::names_feature;
use carme_core::record::JobRecord;

fn main() -> ExitCode {
    let config = match carme_node::args::config_path("carme-prolog", std::env::args().skip(1)) {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let constraint = std::env::var("SLURM_JOB_CONSTRAINTS").unwrap_or_default();
    let loaded = Loaded::load(&config);
    let basics = loaded.basics();
    if !names_feature(&constraint, &basics.feature) {
        return ExitCode::SUCCESS;
    }
    let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let (Some(job_id), Some(uid), Some(gid), Ok(node)) = (
        num("SLURM_JOB_ID"),
        num("SLURM_JOB_UID"),
        num("SLURM_JOB_GID"),
        std::env::var("SLURMD_NODENAME"),
    ) else {
        eprintln!(
            "carme-prolog: SLURM_JOB_ID, SLURM_JOB_UID, SLURM_JOB_GID or SLURMD_NODENAME missing: not run by slurmd?"
        );
        return ExitCode::FAILURE;
    };
    let dir = basics.state_dir.expand(&node, Some(job_id));
    let record = JobRecord {
        job_id,
        uid,
        gid,
        constraint,
        account: std::env::var("SLURM_JOB_ACCOUNT")
            .ok()
            .filter(|a| !a.is_empty()),
    };
    match carme_node::state::write_record(&dir, &record) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carme-prolog: job {job_id}: cannot record the job: {e}");
            ExitCode::FAILURE
        }
    }
}
