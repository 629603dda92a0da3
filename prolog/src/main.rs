//! carme-prolog: Slurm `Prolog=` program for Carme jobs (run by slurmd as
//! root on every node of the job; `PrologFlags=Alloc` makes that happen
//! when the job is allocated, before any of its steps).
//!
//! Any job whose constraint does not name the gate feature: with
//! `job_facts = "auto"` (the default), record it as such (slurmstepd then
//! knows without asking slurmctld that its steps are not a Carme job's),
//! and exit 0; a failure there is logged, never a node fault (its steps
//! ask slurmctld instead). A Carme job:
//! 1. record it in the node's state dir (slurmstepd reads the record to
//!    know the job is a Carme job without asking slurmctld);
//! 2. prepare its tmp and scratch directories and, when it asks for it,
//!    its BeeOND ([`carme_node::jobprep`] says how, and what is a fault);
//! 3. retry, for at most [`jobclean::PROLOG_RETRY`], the cleanup of what
//!    ended jobs left on the node ([`jobclean::retry_leftovers`]).
//!
//! Exit status follows Slurm's semantics: non-zero drains the node and
//! requeues the job (held), so it is used only for node faults; the node's
//! drain reason is then set to ours. Logs: syslog (ident carme-prolog) and
//! `<log_dir>/<jobid>.log`; errors also on stderr (slurmd's log).

mod cli;

use std::process::ExitCode;

use carme_core::beeond_fallback::without_beeond;
use carme_core::config::{GateBasics, JobFactSource, Loaded, Scope};
use carme_core::gate::names_feature;
use carme_core::record::JobRecord;
use carme_node::jobclean;
use carme_node::joblog::{JobLog, Log};
use carme_node::jobprep::{self, Fault};
use carme_node::nodejob::{self, JobFacts, PlanError};
use carme_node::nodeops::{LinuxNode, NodeOps};

fn main() -> ExitCode {
    let config = match carme_node::args::parse::<cli::Cli>("carme-prolog", std::env::args_os()) {
        Ok(cli) => cli.config,
        Err(exit) => return exit.print(),
    };
    let constraint = std::env::var("SLURM_JOB_CONSTRAINTS").unwrap_or_default();
    // Only the gate and the node paths are needed: skip users' and
    // groups' limit rules.
    let loaded = carme_node::configfile::load_scoped(&config, Some(&Scope::NOBODY));
    let basics = loaded.basics();
    if !names_feature(&constraint, &basics.feature) {
        if basics.job_facts == JobFactSource::Auto {
            record_other_job(&basics);
        }
        return ExitCode::SUCCESS;
    }
    let facts = match JobFacts::from_env(|k| std::env::var(k).ok()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("carme-prolog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (job, node) = (facts.job_id, facts.node.clone());
    let state_dir = basics.state_dir.expand(&node, Some(job));
    let cfg = match &loaded {
        Loaded::Ready(c) => Some(c),
        Loaded::Broken { .. } => None,
    };
    let log_dir = cfg.map(|c| c.paths.log_dir.expand(&node, Some(job)));
    let log = JobLog::open(c"carme-prolog", job, &node, log_dir.as_deref());
    let job_str = job.to_string();
    let ops = LinuxNode::new(
        &state_dir,
        &[("SLURMD_NODENAME", &node), ("SLURM_JOB_ID", &job_str)],
    );
    let fail = |f: Fault| {
        log.error(&f.message);
        if let Err(e) = ops.drain(&node, &format!("{} (job {job})", f.short)) {
            log.warn(&format!("could not set the node's drain reason: {e}"));
        }
        ExitCode::FAILURE
    };

    // slurmd sets the prolog's SLURM_JOB_GPUS from the job credential (only
    // where the gpu GRES plugin runs; absent elsewhere: no GPUs), so unlike
    // a step's environment the user cannot set it. Slurmstepd takes the
    // job's GPUs on this node from here.
    let gpus = match carme_core::gpulist::parse_index_list(
        &std::env::var("SLURM_JOB_GPUS").unwrap_or_default(),
    ) {
        Ok(g) => g,
        Err(e) => {
            log.error(&format!(
                "SLURM_JOB_GPUS: {e}; the job's steps see no GPUs on this node"
            ));
            carme_core::gpulist::GpuSet::new()
        }
    };
    let record = JobRecord {
        job_id: job,
        uid: facts.uid,
        gid: facts.gid,
        constraint: facts.constraint.clone(),
        account: std::env::var("SLURM_JOB_ACCOUNT")
            .ok()
            .filter(|a| !a.is_empty()),
        gpus: Some(gpus),
        until: None,
    };
    if let Err(e) = ops.write_record(&state_dir, &record) {
        return fail(Fault {
            message: format!("cannot record the job: {e}"),
            short: "carme: cannot write its state dir".into(),
        });
    }
    let Some(cfg) = cfg else {
        if let Loaded::Broken { error, .. } = &loaded {
            log.error(&format!(
                "the config is broken: {error}; the job's directories and BeeOND are not \
                 prepared (its steps are refused with this message); fix the config"
            ));
        }
        return ExitCode::SUCCESS;
    };
    let mut plan = match nodejob::plan(cfg, &facts) {
        Ok(p) => p,
        Err(PlanError::BeeondNotConfigured) => {
            log.error(&PlanError::BeeondNotConfigured.to_string());
            nodejob::plan_without_beeond(cfg, &facts)
        }
        Err(e) => {
            return fail(Fault {
                message: format!("BeeOND cannot be set up: {e}"),
                short: "carme: BeeOND cannot be set up".into(),
            });
        }
    };
    if let (Some(b), Some(conf)) = (&plan.beeond, &cfg.beeond) {
        let lacking = || ops.nodes_without_feature(&b.setup.nodes, &conf.feature);
        let gate = &basics.feature;
        if let Some(why) = without_beeond(&facts.constraint, gate, &conf.feature, lacking) {
            log.error(&why);
            plan.beeond = None;
        }
    }
    match jobprep::prepare(&ops, &log, &plan, &state_dir) {
        Ok(()) => {
            // What ended jobs left here: a short try, bounded per run.
            jobclean::retry_leftovers(&ops, &log, &state_dir, job, jobclean::PROLOG_RETRY);
            ExitCode::SUCCESS
        }
        Err(f) => fail(f),
    }
}

/// Record a job that is not a Carme job on this node, so that its steps
/// need not ask slurmctld (`job_facts = "auto"`: a missing record means
/// "ask"). Not a node fault when it fails: the steps ask slurmctld then.
fn record_other_job(basics: &GateBasics) {
    let facts = match JobFacts::from_env(|k| std::env::var(k).ok()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("carme-prolog: {e}; the job's steps ask slurmctld");
            return;
        }
    };
    let dir = basics.state_dir.expand(&facts.node, Some(facts.job_id));
    let ops = LinuxNode::new(&dir, &[]);
    // A constraint (or account) this cannot read as text is not "none":
    // record nothing, so the steps ask slurmctld rather than trust a
    // "not a Carme job" read from a mangled value.
    let unreadable = ["SLURM_JOB_CONSTRAINTS", "SLURM_JOB_ACCOUNT"]
        .into_iter()
        .find(|k| matches!(std::env::var(k), Err(std::env::VarError::NotUnicode(_))));
    if let Some(k) = unreadable {
        eprintln!(
            "carme-prolog: job {}: {k} is not UTF-8; its steps ask slurmctld",
            facts.job_id
        );
        if let Err(e) = ops.remove_job_record(&dir, facts.job_id) {
            eprintln!("carme-prolog: job {}: {e}", facts.job_id);
        }
        return;
    }
    let record = JobRecord {
        job_id: facts.job_id,
        uid: facts.uid,
        gid: facts.gid,
        constraint: facts.constraint,
        account: std::env::var("SLURM_JOB_ACCOUNT")
            .ok()
            .filter(|a| !a.is_empty()),
        gpus: None,
        until: None,
    };
    if let Err(e) = ops.write_record(&dir, &record) {
        eprintln!(
            "carme-prolog: job {}: cannot record it: {e}; its steps ask slurmctld",
            facts.job_id
        );
        // An earlier job's record with this id must not stand in for it.
        if let Err(e) = ops.remove_job_record(&dir, facts.job_id) {
            eprintln!("carme-prolog: job {}: {e}", facts.job_id);
        }
    }
}
