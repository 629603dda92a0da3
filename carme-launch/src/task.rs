//! Turning (config, image, command) into the runtime's command line and
//! environment, and exec'ing it: a Carme task, or `run` / `argv` by hand.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carme_core::Refusal;
use carme_core::config::{Config, DEFAULT_CONFIG_PATH, Scope};
use carme_core::driver;
use carme_core::launch::{self, LaunchPlan, Mode, TaskFacts};

use crate::debug::debug;
use crate::facts::{self, Task};

/// Set by the SPANK plugin for each task of a Carme step.
pub const ENV_IMAGE: &str = "CARME_LAUNCH_IMAGE";
pub const ENV_CONFIG: &str = "CARME_LAUNCH_CONFIG";
/// Slurm 22.05 only: the task's real argv[0] (argv[0] is carme-launch).
pub const ENV_ARGV0: &str = "CARME_LAUNCH_ARGV0";

/// Something that stops the launch, with the exit code it maps to.
pub struct LaunchError {
    message: String,
    code: u8,
}

impl LaunchError {
    fn setup(message: String) -> LaunchError {
        LaunchError { message, code: 125 }
    }

    fn refused(r: Refusal) -> LaunchError {
        LaunchError::setup(r.message().to_string())
    }

    pub fn report(&self) -> ExitCode {
        eprintln!("{}", self.message);
        ExitCode::from(self.code)
    }
}

pub fn run_as_task() -> ExitCode {
    let image = std::env::var(ENV_IMAGE).unwrap_or_default();
    let config = std::env::var_os(ENV_CONFIG)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let mut args = std::env::args_os();
    let _launcher = args.next();
    let mut cmd: Vec<OsString> = Vec::new();
    if let Some(argv0) = std::env::var_os(ENV_ARGV0) {
        cmd.push(argv0);
    }
    cmd.extend(args);
    run(&config, &image, cmd)
}

/// Load the config as a task does: without any limit rule (launching
/// needs none; fast, and one user's broken rule must not stop everybody's
/// tasks).
fn load(config: &Path) -> Result<Config, LaunchError> {
    Config::load_scoped(config, Some(&Scope::NOBODY)).map_err(|e| {
        LaunchError::setup(format!(
            "carme: cannot start the task because the Carme config is broken ({e}). \
             Please tell your cluster admins."
        ))
    })
}

/// Everything decided for one launch.
pub fn plan(config: &Path, image: &str, cmd: &[OsString]) -> Result<LaunchPlan, LaunchError> {
    if cmd.is_empty() {
        return Err(LaunchError::setup(
            "carme: no command to run in the image. Give one after `--`.".to_string(),
        ));
    }
    let cfg = load(config)?;
    let requested = cfg.images.get(image).ok_or_else(|| {
        LaunchError::setup(format!(
            "carme: image '{image}' is not known on this node. Images: {}. \
             Choose one with --carme-image=NAME.",
            cfg.image_names().join(", ")
        ))
    })?;
    let task = Task::current();
    let (driver_facts, _) = facts::driver_for(&cfg, requested);
    let choice =
        driver::choose(&cfg, requested, &driver_facts, &task.node).map_err(LaunchError::refused)?;
    debug(choice.describe());
    if let Some(note) = choice.variant_note(&task.node) {
        // Once per node and step (its first task), not once per task.
        if std::env::var("SLURM_LOCALID").map_or(true, |l| l == "0") {
            eprintln!("{note}");
        }
    }
    let facts = TaskFacts {
        node: &task.node,
        job: task.job,
        env: &task.env,
        cwd: task.cwd.as_deref(),
        source_exists: &facts::source_exists,
    };
    let plan = launch::plan(&cfg, choice.image, &facts, cmd, Mode::Exec);
    for n in &plan.notes {
        debug(n);
    }
    if let Some(r) = plan.refusal(&task.node) {
        return Err(LaunchError::refused(r));
    }
    ensure_tmpdir();
    Ok(plan)
}

/// Slurm creates TMPDIR only in the node's first task; the runtimes need
/// it to exist (ch-run binds it at /tmp), so other tasks must not race it.
fn ensure_tmpdir() {
    if let Some(t) = std::env::var_os("TMPDIR") {
        let _ = std::fs::create_dir(&t).map(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o700))
        });
    }
}

/// Exec the runtime for `cmd` in `image`.
pub fn run(config: &Path, image: &str, cmd: Vec<OsString>) -> ExitCode {
    let plan = match plan(config, image, &cmd) {
        Ok(p) => p,
        Err(e) => return e.report(),
    };
    debug(format!("exec {}", launch::render(&plan.argv)));
    let mut command = std::process::Command::new(&plan.argv[0]);
    command.args(&plan.argv[1..]);
    for var in &plan.env_unset {
        command.env_remove(var);
    }
    for (k, v) in &plan.env_set {
        command.env(k, v);
    }
    // Charliecloud refuses to start without $USER (e.g. `env -i srun ...`).
    if std::env::var_os("USER").is_none()
        && let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::getuid())
    {
        command.env("USER", user.name);
    }
    let err = command.exec();
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    };
    eprintln!(
        "carme: cannot run the container runtime {}: {err}. Please tell your cluster admins.",
        plan.argv[0].to_string_lossy()
    );
    ExitCode::from(code)
}
