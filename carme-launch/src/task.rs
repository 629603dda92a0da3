//! `run` and `argv`: (config, image, command) into the runtime's command
//! line and environment, as a Carme task gets them (the SPANK plugin
//! decides a task's launch with the same `carme_node::taskplan`), and the
//! exec.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use carme_core::config::{Config, Scope};
use carme_core::driver::DriverFacts;
use carme_core::launch::{self, LaunchPlan};
use carme_core::text::escape_controls;
use carme_node::taskplan;

use crate::debug::debug;
use crate::facts::Task;

/// Something that stops the launch: exit code 125.
pub struct LaunchError {
    message: String,
}

impl LaunchError {
    pub fn report(&self) -> ExitCode {
        eprintln!("{}", escape_controls(&self.message));
        ExitCode::from(125)
    }
}

/// Load the config as a task does: without any limit rule (launching
/// needs none, and one user's broken rule must not stop anybody's run).
fn load(config: &Path) -> Result<Config, LaunchError> {
    Config::load_scoped(config, Some(&Scope::NOBODY)).map_err(|e| LaunchError {
        message: format!(
            "carme: cannot start the task because the Carme config is broken ({e}). \
             Please tell your cluster admins."
        ),
    })
}

/// Everything decided for one launch.
pub fn plan(config: &Path, image: &str, cmd: &[OsString]) -> Result<LaunchPlan, LaunchError> {
    if cmd.is_empty() {
        return Err(LaunchError {
            message: "carme: no command to run in the image. Give one after `--`.".to_string(),
        });
    }
    let cfg = load(config)?;
    let task = Task::current();
    let driver = cfg
        .images
        .get(image)
        .map_or(DriverFacts::NotProbed, |requested| {
            taskplan::driver_for(&cfg, requested, &carme_node::nvml::probe_cached, &mut |m| {
                debug(m)
            })
            .0
        });
    let facts = task.facts();
    let decided = taskplan::plan_task(&cfg, image, &driver, &facts, cmd, &mut |m| debug(m))
        .map_err(|message| LaunchError { message })?;
    if let Some(note) = decided.note {
        eprintln!("{}", escape_controls(&note));
    }
    if let Some(t) = std::env::var_os("TMPDIR") {
        taskplan::ensure_tmpdir(Path::new(&t));
    }
    Ok(decided.plan)
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
    // Charliecloud refuses to start without $USER (e.g. under `env -i`).
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
