//! Carme's limits in slurmstepd, authoritative: the step's image, and for
//! the whole job (GPUs, nodes, time, running Carme jobs) one decision per
//! job on each node, asked of slurmctld only when such a limit applies and
//! kept in the node's state dir, so later steps do not ask again.

use carme_core::Refusal;
use carme_core::config::{Config, Loaded};
use carme_core::limits::{Account, Ask, Effective, Resolved, Who, ask_of_job, check, effective};
use carme_core::limits_job::needs_whole_job;
use carme_core::slurmjob::running_before;
use carme_node::state;

use crate::bounded;
use crate::ffi::{Level, log};
use crate::remote::JobFacts;
use crate::who::JobUser;

/// Why this step of a Carme job must not run, if it must not. `loaded`
/// holds the rules of `who` (the job's user and groups).
pub fn refusal(
    loaded: &Loaded,
    who: Option<&JobUser>,
    job_id: u32,
    image: &str,
    job: JobFacts,
) -> Option<Refusal> {
    let Some(who) = who else {
        log(
            Level::Error,
            &format!("carme: job {job_id}: cannot resolve the job's user"),
        );
        return Some(Refusal::node_not_ready(
            "the job's user is unknown on this node",
        ));
    };
    // A broken config never gets here: plan_step refused the step already.
    let Loaded::Ready(cfg) = loaded else {
        return None;
    };
    let eff = effective(
        &cfg.limits,
        &Who {
            user: &who.name,
            groups: &who.groups,
            account: Account::Known(job.account.as_deref()),
        },
    );
    let image_ask = Ask {
        image: Some(image),
        ..Ask::default()
    };
    if let Err(r) = check(cfg, &eff, &image_ask) {
        return Some(r);
    }
    if !needs_whole_job(&eff) {
        return None;
    }
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
    let dir = cfg.paths.state_dir.expand(&node, Some(job_id));
    match state::read_verdict(&dir, job_id) {
        Ok(Some(v)) => {
            return v.err().map(Refusal::from_message);
        }
        Ok(None) => {}
        Err(e) => log(
            Level::Error,
            &format!("carme: job {job_id}: {e}; deciding again"),
        ),
    }
    let verdict = match decide_whole_job(cfg, &eff, job_id, job) {
        Ok(v) => v,
        // Not kept: a later step asks slurmctld again.
        Err(r) => return Some(r),
    };
    let stored = verdict.clone().map_err(|r| r.message().to_string());
    if let Err(e) = state::write_verdict(&dir, job_id, &stored) {
        log(
            Level::Error,
            &format!("carme: job {job_id}: cannot keep the decision: {e}"),
        );
    }
    verdict.err()
}

/// Ok(the decision), or Err when slurmctld could not be asked.
fn decide_whole_job(
    cfg: &Config,
    eff: &Effective,
    job_id: u32,
    job: JobFacts,
) -> Result<Result<(), Refusal>, Refusal> {
    let unreachable = |e: bounded::QueryError| {
        log(Level::Error, &format!("carme: job {job_id}: {e}"));
        Refusal::controller_unreachable(&e)
    };
    let info = match job.info {
        Some(info) => info,
        None => bounded::load_job(job_id).map_err(unreachable)?,
    };
    let mut ask = ask_of_job(&info);
    if matches!(eff.max_running_jobs, Resolved::Limit { .. }) {
        let jobs = bounded::load_user_jobs(info.user_id).map_err(unreachable)?;
        ask.running_jobs = Some(running_before(&info, &jobs, &cfg.gate.feature));
    }
    Ok(check(cfg, eff, &ask))
}
