//! slurmstepd (remote context): the authoritative decision for each step,
//! from facts slurmctld gives, and the hand-off of Carme tasks to
//! carme-launch.
//!
//! Timeline in slurmstepd: init_post_opt (root, before the step's I/O is
//! connected) decides; user_init (after I/O, so messages reach the user's
//! terminal) reports a refusal and fails the step; task_init (in each
//! forked task, as the user, just before Slurm's own execve) redirects the
//! task to carme-launch.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use carme_core::Refusal;
use carme_core::config::{JobFacts as JobFactSource, Loaded, Scope};
use carme_core::decide::{StepKind, StepPlan, plan_step};
use carme_core::slurmjob::JobInfo;

use crate::ffi::{self, Level, Spank, StepId, log};
use crate::limits;
use crate::namespace;
use crate::plugin::{IMAGE_ENV_FOR_SRUN, load_config, with_state};
use crate::who::JobUser;

/// Environment carme-launch reads in a task (and removes before the
/// runtime starts).
pub const ENV_CONFIG: &str = "CARME_LAUNCH_CONFIG";
pub const ENV_IMAGE: &str = "CARME_LAUNCH_IMAGE";
pub const ENV_ARGV0: &str = "CARME_LAUNCH_ARGV0";

static LAUNCHER: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

pub fn post_opt(sp: &Spank) -> Result<(), ()> {
    let (Some(job_id), Some(step)) = (sp.job_id(), sp.step_id()) else {
        log(
            Level::Error,
            "carme: slurmstepd gave no job or step id; leaving the step alone",
        );
        return Ok(());
    };
    let kind = match step {
        StepId::Batch => StepKind::Batch,
        StepId::Interactive => StepKind::Interactive,
        StepId::Extern => StepKind::Extern,
        StepId::Numbered(_) => StepKind::Tasks,
    };
    if kind == StepKind::Extern {
        return Ok(());
    }
    let image = with_state(|s| s.image.clone());
    // One config load per step: with the job user's limit rules (slurmd
    // resolved the user and groups), or none if the user is unknown here.
    let who = JobUser::of_step(sp);
    let loaded = load_config(Some(&who.as_ref().map_or(Scope::NOBODY, JobUser::scope)));

    let refused = |r: Refusal| match kind {
        StepKind::Tasks => StepPlan::Refused(r),
        _ => StepPlan::HostWithWarning(r),
    };
    let plan = match job_constraint(&loaded, job_id, image.is_some()) {
        Facts::NotCarme => StepPlan::Untouched,
        Facts::Job(job) => {
            let constraint = job.constraint.clone();
            match plan_step(&loaded, kind, constraint.as_deref(), image.as_deref()) {
                StepPlan::Container { image } | StepPlan::HostForCarme { image } => {
                    let refusal = limits::refusal(&loaded, who.as_ref(), job_id, &image, job)
                        .or_else(|| enter_namespace(sp, &loaded, job_id, kind));
                    match refusal {
                        Some(r) => refused(r),
                        None if kind == StepKind::Tasks => StepPlan::Container { image },
                        None => StepPlan::HostForCarme { image },
                    }
                }
                plan => plan,
            }
        }
        Facts::Failed(r) => refused(r),
    };
    if let (Loaded::Broken { error, .. }, false) = (&loaded, plan == StepPlan::Untouched) {
        log(Level::Error, &format!("carme: config error: {error}"));
    }
    let plan = match (plan, &loaded) {
        (StepPlan::Container { image }, Loaded::Ready(cfg)) => {
            match launcher_problem(&cfg.runtime.launcher) {
                Some(problem) => {
                    log(Level::Error, &format!("carme: job {job_id}: {problem}"));
                    StepPlan::Refused(Refusal::node_not_ready(&problem))
                }
                None => {
                    *LAUNCHER.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(cfg.runtime.launcher.clone());
                    StepPlan::Container { image }
                }
            }
        }
        (plan, _) => plan,
    };
    if let (StepPlan::HostForCarme { image }, true) = (&plan, image.is_some()) {
        // The batch step consumed the option; give it back to the sruns
        // the script runs (also when the job was submitted with --export=NONE).
        if let Err(e) = sp.setenv(IMAGE_ENV_FOR_SRUN, image) {
            log(Level::Error, &format!("carme: {e}"));
        }
    }
    log(
        Level::Verbose,
        &format!("carme: job {job_id} step {step:?}: {plan:?}"),
    );
    with_state(|s| s.plan = Some(plan));
    Ok(())
}

enum Facts {
    /// Known not to be a Carme job, without further work.
    NotCarme,
    /// What is known of the job from a trusted source.
    Job(JobFacts),
    /// A Carme step cannot be checked: refuse it.
    Failed(Refusal),
}

/// A job's facts from the prolog record or from slurmctld.
pub struct JobFacts {
    pub constraint: Option<String>,
    pub account: Option<String>,
    /// slurmctld's record, when it was asked already.
    pub info: Option<JobInfo>,
}

impl JobFacts {
    fn of(info: JobInfo) -> Facts {
        Facts::Job(JobFacts {
            constraint: info.features.clone(),
            account: info.account.clone(),
            info: Some(info),
        })
    }
}

/// The job's constraint, from the source the config names: the record
/// carme-prolog left on this node (a missing one costs one failed open),
/// or slurmctld (one RPC per step).
fn job_constraint(loaded: &Loaded, job_id: u32, wants_image: bool) -> Facts {
    let basics = loaded.basics();
    let ask_slurmctld = || match ffi::load_job(job_id) {
        Ok(info) => Ok(info),
        Err(e) => {
            log(Level::Error, &format!("carme: job {job_id}: {e}"));
            Err(Refusal::controller_unreachable(&e))
        }
    };
    match basics.job_facts {
        JobFactSource::Slurmctld => match ask_slurmctld() {
            Ok(info) => JobFacts::of(info),
            // Without an image asked for, an unverifiable job is left alone.
            Err(_) if !wants_image => Facts::NotCarme,
            Err(r) => Facts::Failed(r),
        },
        JobFactSource::Prolog => {
            // slurmstepd sets SLURMD_NODENAME in its own environment from
            // slurmd's config (trusted, unlike the job's environment).
            let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
            let dir = basics.state_dir.expand(&node, Some(job_id));
            match carme_node::state::read_record(&dir, job_id) {
                Ok(Some(rec)) => Facts::Job(JobFacts {
                    constraint: Some(rec.constraint),
                    account: rec.account,
                    info: None,
                }),
                Ok(None) if !wants_image => Facts::NotCarme,
                // Asked for an image but no record: find out why, so the
                // user (or admin) learns what to fix.
                Ok(None) => match ask_slurmctld() {
                    Ok(info) if info.is_carme(&basics.feature) => {
                        let problem = format!(
                            "carme-prolog left no record of job {job_id} on node {node} \
                             (is Prolog= set to carme-prolog, with PrologFlags=Alloc?)"
                        );
                        log(Level::Error, &format!("carme: {problem}"));
                        Facts::Failed(Refusal::node_not_ready(&problem))
                    }
                    Ok(info) => JobFacts::of(info),
                    Err(r) => Facts::Failed(r),
                },
                Err(e) => {
                    log(Level::Error, &format!("carme: job {job_id}: {e}"));
                    Facts::Failed(Refusal::node_not_ready(&format!(
                        "the record of job {job_id} on node {node} cannot be read"
                    )))
                }
            }
        }
    }
}

/// Put this step (and so its tasks) into its own mount namespace.
fn enter_namespace(sp: &Spank, loaded: &Loaded, job_id: u32, kind: StepKind) -> Option<Refusal> {
    let Loaded::Ready(cfg) = loaded else {
        return None;
    };
    let (Some(uid), Some(gid)) = (sp.uid(), sp.gid()) else {
        return Some(Refusal::node_not_ready("slurmstepd gave no job uid/gid"));
    };
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
    let place = namespace::StepPlace {
        job_id,
        uid,
        gid,
        node: &node,
        batch_like: kind != StepKind::Tasks,
    };
    namespace::enter(sp, cfg, &place).err()
}

/// Why the launcher cannot run here, if it cannot.
fn launcher_problem(launcher: &std::path::Path) -> Option<String> {
    match std::fs::metadata(launcher) {
        Err(e) => Some(format!("launcher {}: {e}", launcher.display())),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => Some(format!(
            "launcher {} is not an executable file",
            launcher.display()
        )),
        Ok(_) => None,
    }
}

/// Report a refusal once per node, now that it reaches the user's terminal.
/// The step is not failed here: srun's exit status comes only from its
/// tasks, so a step failed before its tasks start would exit 0.
pub fn user_init(_sp: &Spank) -> Result<(), ()> {
    if let Some(StepPlan::Refused(r) | StepPlan::HostWithWarning(r)) =
        with_state(|s| s.plan.clone())
    {
        log(Level::Error, r.message());
    }
    Ok(())
}

pub fn task_init(sp: &Spank) -> Result<(), ()> {
    let image = match with_state(|s| s.plan.clone()) {
        Some(StepPlan::Container { image }) => image,
        // Slurm ends the task with exit code 1 before its execve: the
        // payload never runs and srun reports the failure.
        Some(StepPlan::Refused(_)) => return Err(()),
        _ => return Ok(()),
    };
    let launcher = LAUNCHER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or(())?;
    let config = with_state(|s| s.config_path.clone());
    let result = (|| {
        sp.setenv(ENV_CONFIG, &config)?;
        sp.setenv(ENV_IMAGE, &image)?;
        hand_off(sp, &launcher)
    })();
    result.map_err(|e| {
        log(
            Level::Error,
            &format!("carme: cannot hand the task to carme-launch: {e}"),
        );
    })
}

#[cfg(carme_prepend_argv)]
fn hand_off(sp: &Spank, launcher: &std::path::Path) -> Result<(), String> {
    // A value from the user's environment would make carme-launch misread argv.
    sp.unsetenv(ENV_ARGV0)?;
    sp.prepend_task_argv(&[launcher.as_os_str().to_owned()])
}

/// Slurm 22.05 has no way to prepend to a task's argv, so the task's
/// argv[0] becomes carme-launch and the original argv[0] travels in the
/// environment; Slurm then runs its remaining task setup and execs.
#[cfg(not(carme_prepend_argv))]
fn hand_off(sp: &Spank, launcher: &std::path::Path) -> Result<(), String> {
    // Record argv[0] first: a task must never reach carme-launch without it.
    let argv0 = sp.job_argv()?.into_iter().next().unwrap_or_default();
    sp.setenv(ENV_ARGV0, &argv0)?;
    sp.replace_argv0(launcher.as_os_str()).map(|_| ())
}
