//! carme-epilog: Slurm `Epilog=` program for Carme jobs.
//!
//! Removes what carme-prolog recorded for the job on this node. It acts on
//! the record alone (the job's environment may lack the constraint), and
//! exits non-zero only when the node is left unclean, since Slurm drains
//! the node then; a missing record is not an error (epilog run twice).
//! Cleanup of per-job directories and BeeOND stop come with their own issue.

use std::process::ExitCode;

use carme_core::config::Loaded;

fn main() -> ExitCode {
    let config = match carme_node::args::config_path("carme-epilog", std::env::args().skip(1)) {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let (Some(job_id), Ok(node)) = (
        std::env::var("SLURM_JOB_ID")
            .ok()
            .and_then(|v| v.parse::<u32>().ok()),
        std::env::var("SLURMD_NODENAME"),
    ) else {
        eprintln!("carme-epilog: SLURM_JOB_ID or SLURMD_NODENAME missing: not run by slurmd?");
        return ExitCode::FAILURE;
    };
    let basics = Loaded::load(&config).basics();
    let dir = basics.state_dir.expand(&node, Some(job_id));
    // A record left behind is harmless (job ids are not reused), so it is
    // logged, never a reason to drain the node.
    if let Err(e) = carme_node::state::remove_job(&dir, job_id) {
        eprintln!("carme-epilog: job {job_id}: {e}");
    }
    ExitCode::SUCCESS
}
