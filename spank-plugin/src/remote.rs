//! slurmstepd (remote context): the authoritative decision for each step,
//! from facts slurmctld gives, and the hand-off of Carme tasks to
//! carme-launch.
//!
//! Timeline in slurmstepd: init_post_opt (root, before the step's I/O is
//! connected) decides, once per step, and builds a Carme step's mount
//! namespace; user_init (after I/O, so messages reach the user's terminal)
//! reports a refusal; task_init_privileged (in each forked task, as root)
//! enters the namespace; task_init (in each forked task, as the user, with
//! the task's stdio and working directory, just before Slurm's own execve)
//! decides the task's runtime command line and environment from the config
//! already in memory and hands the task to the runtime: by prepending that
//! command line (Slurm >= 23.11), or through the tiny carme-exec (22.05,
//! which can only replace argv[0]). No extra
//! program runs per task besides the runtime (and carme-exec on 22.05).

#[cfg(not(carme_prepend_argv))]
use std::ffi::OsStr;
use std::ffi::OsString;
#[cfg(not(carme_prepend_argv))]
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use carme_core::Refusal;
use carme_core::config::{Config, Loaded, Scope};
use carme_core::decide::{StepKind, StepPlan};
use carme_core::driver::DriverFacts;
use carme_core::facts::{self, AfterAsk, FirstMove, RecordSays, Settled};
use carme_core::gpulist::{GpuSet, job_gpus_on_node};
use carme_core::launch::{self, TaskFacts};
use carme_core::record::JobRecord;
use carme_core::slurmjob::JobInfo;
use carme_core::stepplan::{Gathered, StepChecks, decide_step, decision_line};
use carme_core::taskmove::{self, TaskMove};
use carme_node::taskplan;

use crate::bounded;
use crate::ffi::{self, Level, Spank, StepId, log};
use crate::limits;
use crate::namespace;
use crate::plugin::{IMAGE_ENV_FOR_SRUN, load_config, with_state};
use crate::who::JobUser;

/// What a Carme step's tasks need from the step's decision.
pub struct StepLaunch {
    /// The config as loaded once for the step.
    pub cfg: Box<Config>,
    /// The node's driver, asked once per step (as root) when the image
    /// states a CUDA version.
    pub driver: DriverFacts,
    /// What asking it found, for tasks run with `CARME_LAUNCH_DEBUG=1`.
    pub driver_debug: Vec<String>,
}

/// `CARME_LAUNCH_DEBUG=1` in a task's environment: `carme: debug: ...`
/// lines on the task's stderr.
const ENV_DEBUG: &str = "CARME_LAUNCH_DEBUG";

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

    let owner = sp.uid().zip(sp.gid());
    // Owned here, lent to the decision.
    let (constraint, unverified): (Option<String>, String);
    let (gathered, job) = match job_constraint(&loaded, job_id, owner, image.is_some()) {
        Facts::NotCarme => (Gathered::NotCarme, None),
        Facts::Job(job) => {
            constraint = job.constraint.clone();
            let constraint = constraint.as_deref();
            (Gathered::Job { constraint }, Some(job))
        }
        Facts::Failed(r) => (Gathered::Failed(r), None),
        Facts::Unverified(e) => {
            unverified = e;
            (Gathered::Unverified(&unverified), None)
        }
    };
    let mut checks = Checks {
        sp,
        loaded: &loaded,
        who: who.as_ref(),
        job_id,
        kind,
        job,
        gpus: None,
    };
    let decision = decide_step(
        &loaded,
        job_id,
        kind,
        gathered,
        image.as_deref(),
        &mut checks,
    );
    if let (Loaded::Broken { error, .. }, true) = (&loaded, decision.log_config_error) {
        log(Level::Error, &format!("carme: config error: {error}"));
    }
    if let Some(problem) = &decision.problem {
        log(Level::Error, problem);
    }
    if let (StepPlan::Container { image }, Loaded::Ready(cfg)) = (&decision.plan, loaded) {
        let mut driver_debug = Vec::new();
        let driver = cfg.images.get(image).map_or(DriverFacts::NotProbed, |i| {
            let probe = bounded::nvml_facts;
            taskplan::driver_for(&cfg, i, &probe, &mut |m| driver_debug.push(m)).0
        });
        with_state(|s| {
            s.launch = Some(StepLaunch {
                cfg,
                driver,
                driver_debug,
            })
        });
    }
    if let Some(image) = &decision.pass_image_on {
        // The batch step consumed the option; give it back to the sruns
        // the script runs (also when the job was submitted with --export=NONE).
        if let Err(e) = sp.setenv(IMAGE_ENV_FOR_SRUN, image) {
            log(Level::Error, &format!("carme: {e}"));
        }
    }
    log(
        Level::Verbose,
        &decision_line(job_id, &step_name(step), &decision.plan),
    );
    with_state(|s| s.plan = Some(decision.plan));
    Ok(())
}

/// The step as the decision line names it: `batch`, `interactive`, or its number.
fn step_name(step: StepId) -> String {
    match step {
        StepId::Batch => "batch".into(),
        StepId::Interactive => "interactive".into(),
        StepId::Extern => "extern".into(),
        StepId::Numbered(n) => n.to_string(),
    }
}

/// A Carme step's checks, as [`decide_step`] asks for them.
struct Checks<'a> {
    sp: &'a Spank,
    loaded: &'a Loaded,
    who: Option<&'a JobUser>,
    job_id: u32,
    kind: StepKind,
    /// The job's facts, until the limits take them.
    job: Option<JobFacts>,
    /// The job's GPUs on this node, found before the limits are checked.
    gpus: Option<Result<GpuSet, String>>,
}

impl StepChecks for Checks<'_> {
    fn limits(&mut self, image: &str) -> Option<Refusal> {
        // decide_step asks once, and only for a job with facts.
        let Some(job) = self.job.take() else {
            return Some(Refusal::node_not_ready("the job's facts were lost"));
        };
        // Found first, as the limits take the job's facts.
        self.gpus = Some(job_gpus(&job, self.job_id));
        limits::refusal(self.loaded, self.who, self.job_id, image, job)
    }

    fn namespace(&mut self) -> Option<Refusal> {
        let gpus = self
            .gpus
            .take()
            .unwrap_or_else(|| Err("not found before the namespace".into()));
        enter_namespace(self.sp, self.loaded, self.job_id, self.kind, gpus)
    }

    fn runtime_problem(&mut self) -> Option<String> {
        match self.loaded {
            Loaded::Ready(cfg) => runtime_problem(cfg),
            Loaded::Broken { .. } => None,
        }
    }
}

// One value per step, never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Facts {
    /// Known not to be a Carme job, without further work.
    NotCarme,
    /// What is known of the job from a trusted source.
    Job(JobFacts),
    /// A Carme step cannot be checked: refuse it.
    Failed(Refusal),
    /// slurmctld could not be asked (why): the step may be a Carme job's.
    Unverified(String),
}

/// A job's facts from the prolog record or from slurmctld.
pub struct JobFacts {
    pub constraint: Option<String>,
    pub account: Option<String>,
    /// slurmctld's record, when it was asked already.
    pub info: Option<JobInfo>,
    /// The job's GPUs on this node from carme-prolog's record, if it has them.
    pub gpus: Option<GpuSet>,
}

impl JobFacts {
    fn of(info: JobInfo) -> Facts {
        Facts::Job(JobFacts {
            constraint: info.features.clone(),
            account: info.account.clone(),
            info: Some(info),
            gpus: None,
        })
    }
}

/// The job's GPUs on this node, from sources the user cannot set:
/// carme-prolog's record (its `SLURM_JOB_GPUS` came from slurmd), else
/// slurmctld's per-node GRES detail of the job (asked now for a record
/// written before records kept GPUs). Never the step's environment: where
/// the gpu GRES plugin does not run, a user's own `SLURM_STEP_GPUS` gets
/// there (see carme_core::gpulist).
fn job_gpus(job: &JobFacts, job_id: u32) -> Result<GpuSet, String> {
    if let Some(g) = job.gpus {
        return Ok(g);
    }
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
    match &job.info {
        Some(info) => job_gpus_on_node(info, &node),
        // The text goes into the step's refusal (see enter_namespace).
        None => job_gpus_on_node(
            &bounded::load_job(job_id).map_err(|e| e.to_string())?,
            &node,
        ),
    }
}

/// The job's constraint, from the source the config names: the record
/// carme-prolog left on this node (a missing one costs one failed open),
/// or slurmctld (one RPC per step), or both (`auto`: the record, else
/// slurmctld once per job and node, kept in the record). A record of
/// another uid or gid (`owner`) is an earlier job's with the same id
/// (slurmctld's ids restarted): never taken for this job's. Which source
/// answers, and what its answer means: [`carme_core::facts`].
fn job_constraint(
    loaded: &Loaded,
    job_id: u32,
    owner: Option<(u32, u32)>,
    wants_image: bool,
) -> Facts {
    let basics = loaded.basics();
    // slurmstepd sets SLURMD_NODENAME in its own environment from
    // slurmd's config (trusted, unlike the job's environment).
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
    let dir = basics.state_dir.expand(&node, Some(job_id));
    let now = unix_now();
    let record = match facts::reads_record(basics.job_facts) {
        true => carme_node::state::read_record(&dir, job_id),
        false => Ok(None),
    };
    let says = RecordSays::of(&record, owner, now);
    let first = facts::first_move(basics.job_facts, says, wants_image, job_id, &node);
    let asking = if matches!(first, FirstMove::Ask(_)) {
        "; asking slurmctld"
    } else {
        ""
    };
    match &record {
        Ok(Some(rec)) if says == RecordSays::Earlier => log(
            Level::Error,
            &format!(
                "carme: job {job_id}: the record on node {node} is of uid {} gid {}, not \
                 the job's: an earlier job's with this id{asking}",
                rec.uid, rec.gid
            ),
        ),
        Err(e) => log(Level::Error, &format!("carme: job {job_id}: {e}{asking}")),
        _ => {}
    }
    let then = match first {
        // RecordSays::of said Current or Expired: there is a record.
        FirstMove::UseRecord => {
            let lost = || Facts::Failed(Refusal::node_not_ready("the job's record was lost"));
            return record.ok().flatten().map_or_else(lost, recorded);
        }
        FirstMove::NotCarme => return Facts::NotCarme,
        FirstMove::Refuse(r) => return Facts::Failed(r),
        FirstMove::Ask(then) => then,
    };
    let asked = bounded::load_job(job_id);
    if let Err(e) = &asked {
        log(Level::Error, &format!("carme: job {job_id}: {e}"));
    }
    let answer = match &asked {
        Ok(info) => Ok(info.is_carme(&basics.feature)),
        Err(e) => Err(e),
    };
    match (facts::after_asking(then, answer, job_id, &node), asked) {
        (Settled::Job, Ok(info)) => {
            if let (AfterAsk::Keep { replace }, Some((uid, gid))) = (then, owner) {
                let rec = JobRecord::kept_from(&info, uid, gid, &node, now);
                if let Err(e) = carme_node::state::keep_record(&dir, &rec, replace) {
                    log(
                        Level::Error,
                        &format!("carme: job {job_id}: cannot keep its facts: {e}"),
                    );
                }
            }
            JobFacts::of(info)
        }
        (Settled::Unverified(e), _) => Facts::Unverified(e),
        (Settled::Failed { why, log: line }, _) => {
            if let Some(line) = line {
                log(Level::Error, &line);
            }
            Facts::Failed(why)
        }
        // Settled::Job comes only with an answer.
        (Settled::Job, Err(e)) => Facts::Unverified(e.to_string()),
    }
}

/// The facts of a record this job may take as its own.
fn recorded(rec: JobRecord) -> Facts {
    Facts::Job(JobFacts {
        constraint: Some(rec.constraint),
        account: rec.account,
        info: None,
        gpus: rec.gpus,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Build this step's own mount namespace, with the job's GPUs on this
/// node (`gpus`) as the most it may see, and hold it for the tasks
/// ([`task_init_privileged`]); slurmstepd stays in the host's.
fn enter_namespace(
    sp: &Spank,
    loaded: &Loaded,
    job_id: u32,
    kind: StepKind,
    gpus: Result<GpuSet, String>,
) -> Option<Refusal> {
    let Loaded::Ready(cfg) = loaded else {
        return None;
    };
    let job_gpus = match gpus {
        Ok(g) => g,
        Err(e) => {
            let what = format!("the job's GPUs on this node are unknown: {e}");
            log(Level::Error, &format!("carme: job {job_id}: {what}"));
            return Some(Refusal::node_not_ready(&what));
        }
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
        job_gpus,
    };
    match namespace::build(sp, cfg, &place) {
        Ok(held) => {
            with_state(|s| s.step_ns = Some(held));
            None
        }
        Err(r) => Some(r),
    }
}

/// Why this node cannot start a Carme task, if it cannot
/// ([`taskmove::runtime_problem`]); carme-exec only where the series
/// needs it (Slurm < 23.11).
fn runtime_problem(cfg: &Config) -> Option<String> {
    let runtime = taskplan::program_facts(&cfg.runtime.path);
    let helper =
        (!cfg!(carme_prepend_argv)).then(|| taskplan::program_facts(&cfg.runtime.exec_helper));
    taskmove::runtime_problem(
        (&cfg.runtime.path, &runtime),
        helper
            .as_ref()
            .map(|h| (cfg.runtime.exec_helper.as_path(), h)),
    )
}

/// Report a refusal once per node, now that it reaches the user's terminal.
/// The step is not failed here: srun's exit status comes only from its
/// tasks, so a step failed before its tasks start would exit 0.
pub fn user_init(_sp: &Spank) -> Result<(), ()> {
    if let Some(StepPlan::Refused(r) | StepPlan::TasksRefused(r)) = with_state(|s| s.plan.clone()) {
        log(Level::Error, r.message());
    }
    Ok(())
}

/// In each forked task, as root, before Slurm drops privileges and changes
/// to the task's working directory: a Carme step's task (the batch
/// script's too) enters the step's namespace, as Slurm's job_container
/// plugins join theirs (`container_g_join`) just before this callback. A
/// failure ends the task (Slurm `_exit(1)`s) before anything of the user's
/// runs outside the namespace.
pub fn task_init_privileged(sp: &Spank) -> Result<(), ()> {
    with_state(|s| {
        let carme = taskmove::enters_namespace(s.plan.as_ref());
        // Taken: the task needs its copy only once; closed when dropped
        // here (and close-on-exec anyway).
        match (carme, s.step_ns.take()) {
            (true, Some(held)) => namespace::enter(sp.job_id().unwrap_or(0), &held),
            (true, None) => {
                log(
                    Level::Error,
                    "carme: the step's mount namespace was not built; not starting the task",
                );
                Err(())
            }
            (false, _) => Ok(()),
        }
    })
}

pub fn task_init(sp: &Spank) -> Result<(), ()> {
    let outcome = with_state(
        |s| match taskmove::task_move(s.plan.as_ref(), s.launch.as_ref()) {
            TaskMove::Start { image, launch } => start_task(sp, launch, image),
            TaskMove::NotDecided => Err(TaskError::Plumbing(
                "the step's launch was not decided".into(),
            )),
            // Slurm ends the task with exit code 1 before its execve: the
            // payload never runs and srun reports the failure.
            TaskMove::FailStep => Err(TaskError::Step),
            TaskMove::Refuse(message) => Err(TaskError::Refused(message.to_string())),
            TaskMove::Nothing => Ok(()),
        },
    );
    match outcome {
        Ok(()) => Ok(()),
        // The user's message, on the task's stderr; the task ends as a
        // task that cannot start in its image does (125), never running
        // the payload.
        Err(TaskError::Refused(message)) => {
            eprintln!("{}", carme_core::text::escape_controls(&message));
            ffi::exit_task(125)
        }
        Err(TaskError::Step) => Err(()),
        Err(TaskError::Plumbing(e)) => {
            log(
                Level::Error,
                &format!("carme: cannot hand the task to the container runtime: {e}"),
            );
            Err(())
        }
    }
}

enum TaskError {
    /// The whole step was refused (user_init told the user why).
    Step,
    /// Refused for the user (`carme: ...`): image, driver or mount.
    Refused(String),
    /// Slurm's API failed us: for the admins' log.
    Plumbing(String),
}

impl From<String> for TaskError {
    fn from(e: String) -> TaskError {
        TaskError::Plumbing(e)
    }
}

/// Decide this task's launch and hand it over (in the task, as the user).
fn start_task(sp: &Spank, step: &StepLaunch, image: &str) -> Result<(), TaskError> {
    let env = sp.job_env()?;
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    };
    let debugging = var(ENV_DEBUG).is_some_and(|v| v == "1");
    let mut debug = |m: String| {
        if debugging {
            eprintln!("carme: debug: {}", carme_core::text::escape_controls(&m));
        }
    };
    for line in &step.driver_debug {
        debug(line.clone());
    }
    // slurmstepd's own environment has SLURMD_NODENAME from slurmd's config
    // (the task's copy could come from the user).
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_default();
    // Slurm has already changed to the task's working directory.
    let cwd = std::env::current_dir().ok();
    let facts = TaskFacts {
        node: &node,
        job: sp.job_id(),
        env: &env,
        cwd: cwd.as_deref(),
        source_exists: &taskplan::source_exists,
    };
    // The command itself stays in the task's argv: only the runtime's part
    // of the command line is decided here.
    let decided = taskplan::plan_task(&step.cfg, image, &step.driver, &facts, &[], &mut debug)
        .map_err(TaskError::Refused)?;
    if let Some(note) = &decided.note
        && var("SLURM_LOCALID").is_none_or(|l| l == "0")
    {
        eprintln!("{}", carme_core::text::escape_controls(note));
    }
    let plan = decided.plan;
    debug(format!("exec {} <command>", launch::render(&plan.argv)));
    for name in &plan.env_unset {
        sp.unsetenv(name)?;
    }
    for (name, value) in &plan.env_set {
        sp.setenv(name, value)?;
    }
    // Charliecloud refuses to start without $USER (e.g. `env -i srun ...`).
    if var("USER").is_none()
        && let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::getuid())
    {
        sp.setenv("USER", &user.name)?;
    }
    if let Some(t) = var("TMPDIR") {
        taskplan::ensure_tmpdir(Path::new(t));
    }
    hand_off(sp, &step.cfg, &plan.argv)
}

/// Slurm >= 23.11: the task execs the runtime with its command line put in
/// front of the task's own.
#[cfg(carme_prepend_argv)]
fn hand_off(sp: &Spank, _cfg: &Config, runtime_argv: &[OsString]) -> Result<(), TaskError> {
    Ok(sp.prepend_task_argv(runtime_argv)?)
}

/// The variable carme-exec reads (see carme-exec/src/main.rs): a name no
/// TaskProlog can set. Every `CARME_LAUNCH_*` variable the task had was
/// unset above (the plan lists them), so none of the user's can mix in.
#[cfg(not(carme_prepend_argv))]
const EXEC: &str = launch::EXEC_SPEC_ENV;

/// Slurm 22.05 can only replace the task's argv[0]: it becomes carme-exec,
/// and the runtime's command line with the original argv[0] travels in one
/// variable of the task's environment, which the TaskProlog and a user's
/// `--task-prolog` (run after this) cannot set (each `spank_setenv` costs
/// slurmstepd a 256 KiB zeroed buffer). Slurm then runs its remaining task
/// setup (TaskProlog, TMPDIR, rlimits) and execs carme-exec, which execs
/// the runtime.
#[cfg(not(carme_prepend_argv))]
fn hand_off(sp: &Spank, cfg: &Config, runtime_argv: &[OsString]) -> Result<(), TaskError> {
    let argv0 = sp.job_argv()?.into_iter().next().unwrap_or_default();
    let spec = launch::exec_spec(runtime_argv.iter().chain([&argv0]));
    sp.setenv(EXEC, OsStr::from_bytes(&spec))?;
    // Last: a task must never reach carme-exec without its variable.
    sp.replace_argv0(cfg.runtime.exec_helper.as_os_str())?;
    Ok(())
}
