//! Turning (config, image, command) into the runtime's argv and exec'ing it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carme_core::config::{Config, DEFAULT_CONFIG_PATH, Scope};
use carme_core::launch::{TaskFacts, runtime_argv};

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
    // The payload must not see our plumbing.
    run(&config, &image, cmd, &[ENV_IMAGE, ENV_CONFIG, ENV_ARGV0])
}

pub fn plan(config: &Path, image: &str, cmd: &[OsString]) -> Result<Vec<OsString>, LaunchError> {
    if cmd.is_empty() {
        return Err(LaunchError::setup(
            "carme: no command to run in the image. Give one after `--`.".to_string(),
        ));
    }
    // Launching needs no limit rules: skip them all (fast, and one user's
    // broken rule must not stop everybody's tasks).
    let cfg = Config::load_scoped(config, Some(&Scope::NOBODY)).map_err(|e| {
        LaunchError::setup(format!(
            "carme: cannot start the task because the Carme config is broken ({e}). \
             Please tell your cluster admins."
        ))
    })?;
    let img = cfg.images.get(image).ok_or_else(|| {
        LaunchError::setup(format!(
            "carme: image '{image}' is not known on this node. Images: {}. \
             Choose one with --carme-image=NAME.",
            cfg.image_names().join(", ")
        ))
    })?;
    let node = std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let job = std::env::var("SLURM_JOB_ID")
        .ok()
        .and_then(|j| j.parse().ok());
    let tmpdir = std::env::var_os("TMPDIR");
    if let Some(t) = &tmpdir {
        // Slurm creates TMPDIR only in the node's first task; the runtime
        // (ch-run) needs it to exist, so other tasks must not race it.
        let _ = std::fs::create_dir(t).map(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(t, std::fs::Permissions::from_mode(0o700))
        });
    }
    let facts = TaskFacts {
        node: &node,
        job,
        tmpdir: tmpdir.as_deref(),
    };
    Ok(runtime_argv(&cfg, img, facts, cmd))
}

/// Exec the runtime for `cmd` in `image`, without the variables in `hide`.
pub fn run(config: &Path, image: &str, cmd: Vec<OsString>, hide: &[&str]) -> ExitCode {
    let argv = match plan(config, image, &cmd) {
        Ok(a) => a,
        Err(e) => return e.report(),
    };
    let mut command = std::process::Command::new(&argv[0]);
    command.args(&argv[1..]);
    for var in hide {
        command.env_remove(var);
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
        argv[0].to_string_lossy()
    );
    ExitCode::from(code)
}
