//! carme-epilog: Slurm `Epilog=` program for Carme jobs (run by slurmd as
//! root on every node of the job when it ends).
//!
//! It acts on what carme-prolog recorded for the job on this node (so
//! cleanup never depends on the job's environment), else, for a job whose
//! constraint names the gate feature or that has a job record, on what the
//! config says should be there. Any other job: exit 0 after two failed
//! opens in the state dir, or after removing the record that says it is
//! not a Carme job (`job_facts = "auto"`). How it cleans up: [`carme_node::jobclean`].
//!
//! Then it retries, for at most [`jobclean::EPILOG_RETRY`], the cleanup
//! of what ended jobs left on the node ([`jobclean::retry_leftovers`]).
//!
//! Exits non-zero only when the node is left unclean (a mount it could not
//! remove): Slurm then drains the node, and the drain reason is set to
//! ours. Directories it could not remove in time are kept in the record
//! for later runs, never a reason to drain (a user can make leftovers no
//! try removes). Logs: syslog (ident carme-epilog) and `<log_dir>/<jobid>.log`;
//! errors also on stderr (slurmd's log). Running it twice is harmless.

mod cli;

use std::process::ExitCode;

use carme_core::config::{Loaded, Scope};
use carme_core::gate::names_feature;
use carme_node::jobclean::{self, Cleaned, Source};
use carme_node::joblog::{JobLog, Log};
use carme_node::nodejob::{self, JobFacts, NodeJob};
use carme_node::nodeops::{LinuxNode, NodeOps};

fn main() -> ExitCode {
    let config = match carme_node::args::parse::<cli::Cli>("carme-epilog", std::env::args_os()) {
        Ok(cli) => cli.config,
        Err(exit) => return exit.print(),
    };
    let (Some(job), Ok(node)) = (
        std::env::var("SLURM_JOB_ID")
            .ok()
            .and_then(|v| v.parse::<u32>().ok()),
        std::env::var("SLURMD_NODENAME"),
    ) else {
        eprintln!("carme-epilog: SLURM_JOB_ID or SLURMD_NODENAME missing: not run by slurmd?");
        return ExitCode::FAILURE;
    };
    let loaded = carme_node::configfile::load_scoped(&config, Some(&Scope::NOBODY));
    let basics = loaded.basics();
    let state_dir = basics.state_dir.expand(&node, Some(job));
    let constraint = std::env::var("SLURM_JOB_CONSTRAINTS").unwrap_or_default();
    let job_str = job.to_string();
    let ops = LinuxNode::new(
        &state_dir,
        &[("SLURMD_NODENAME", &node), ("SLURM_JOB_ID", &job_str)],
    );

    let recorded = nodejob::read(&state_dir, job);
    let slurm_record = match &recorded {
        Ok(Some(_)) => None,
        _ => carme_node::state::read_record(&state_dir, job)
            .ok()
            .flatten(),
    };
    // With `job_facts = "auto"` every job has a record; one whose
    // constraint does not name the gate feature says the job is not a
    // Carme job: it only goes.
    let slurm_record = match slurm_record {
        Some(r) if !names_feature(&r.constraint, &basics.feature) => {
            if let Err(e) = ops.remove_job_record(&state_dir, job) {
                eprintln!("carme-epilog: job {job}: cannot remove its record: {e}");
            }
            None
        }
        r => r,
    };
    let carme = names_feature(&constraint, &basics.feature);
    if matches!(recorded, Ok(None)) && slurm_record.is_none() && !carme {
        // A record that could not be read (too big, another format) goes
        // too: nothing else would ever remove it.
        if let Err(e) = ops.remove_job_record(&state_dir, job) {
            eprintln!("carme-epilog: job {job}: cannot remove its record: {e}");
        }
        return ExitCode::SUCCESS;
    }

    let cfg = match &loaded {
        Loaded::Ready(c) => Some(c.as_ref()),
        Loaded::Broken { .. } => None,
    };
    let log_dir = cfg.map(|c| c.paths.log_dir.expand(&node, Some(job)));
    let log = JobLog::open(c"carme-epilog", job, &node, log_dir.as_deref());

    let (plan, source): (Option<NodeJob>, Source) = match recorded {
        Ok(Some(p)) => (Some(p), Source::Record),
        other => {
            if let Err(e) = other {
                log.error(&format!("ignoring the prolog's record: {e}"));
            }
            (
                derive(cfg, &loaded, slurm_record.as_ref(), &log),
                Source::Derived,
            )
        }
    };
    let result = match &plan {
        Some(p) => jobclean::clean(&ops, &log, p, source, &state_dir),
        None => Ok(Cleaned::Clean),
    };
    // The job record and limits verdict are for the job's steps, which are
    // over: they go (a new job with this id must never find them). What is
    // left is in the node record, kept for a later run to retry.
    if let Err(e) = ops.remove_job_record(&state_dir, job) {
        log.warn(&format!("cannot remove the job's record: {e}"));
    }
    match result {
        Ok(_) => {
            jobclean::retry_leftovers(&ops, &log, &state_dir, job, jobclean::EPILOG_RETRY);
            ExitCode::SUCCESS
        }
        Err(u) => {
            if let Err(e) = ops.drain(&node, &format!("{} (job {job})", u.short)) {
                log.warn(&format!("could not set the node's drain reason: {e}"));
            }
            ExitCode::FAILURE
        }
    }
}

/// What should be there for the job, from the config and the environment.
fn derive(
    cfg: Option<&carme_core::Config>,
    loaded: &Loaded,
    record: Option<&carme_core::record::JobRecord>,
    log: &JobLog,
) -> Option<NodeJob> {
    let Some(cfg) = cfg else {
        if let Loaded::Broken { error, .. } = loaded {
            log.error(&format!(
                "the config is broken and the prolog left no record: nothing can be \
                 cleaned up: {error}"
            ));
        }
        return None;
    };
    let facts = match JobFacts::from_env(|k| std::env::var(k).ok()) {
        Ok(mut f) => {
            if let Some(r) = record {
                // The prolog's record of the job wins over the environment.
                (f.uid, f.gid) = (r.uid, r.gid);
                f.constraint = r.constraint.clone();
            }
            f
        }
        Err(e) => {
            log.error(&format!("nothing can be cleaned up: {e}"));
            return None;
        }
    };
    Some(nodejob::plan(cfg, &facts).unwrap_or_else(|e| {
        log.warn(&format!("BeeOND not considered: {e}"));
        nodejob::plan_without_beeond(cfg, &facts)
    }))
}
