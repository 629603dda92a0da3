//! Dispatch of the SPANK callbacks to the context that handles them, and
//! the little state a plugin instance keeps between callbacks.
//!
//! One process loads the plugin once (srun, sbatch, salloc, or one
//! slurmstepd per step), so plain process-wide state is enough; slurmstepd
//! forks the tasks after the step-level callbacks, and each task inherits
//! a copy of what was decided.

use std::path::PathBuf;
use std::sync::Mutex;

use carme_core::config::{DEFAULT_CONFIG_PATH, Loaded, Scope};
use carme_core::decide::StepPlan;
use carme_node::syscall::Handle;

use crate::ffi::{Context, Level, Spank, log};
use crate::remote::StepLaunch;
use crate::{allocator, local, remote};

pub struct State {
    pub config_path: PathBuf,
    /// A plugstack.conf argument we do not understand: treated like a
    /// broken config (Carme jobs refused, others untouched).
    pub arg_error: Option<String>,
    /// `--carme-image` as given (command line or environment).
    pub image: Option<String>,
    /// `--carme-beeond` was given (clients only act on it).
    pub beeond: bool,
    /// slurmstepd: the decision for this step.
    pub plan: Option<StepPlan>,
    /// slurmstepd, Carme steps: what their tasks start from.
    pub launch: Option<StepLaunch>,
    /// slurmstepd, Carme steps: the step's mount namespace, held open for
    /// the tasks to enter (slurmstepd itself stays in the host's).
    pub step_ns: Option<Handle>,
}

pub static STATE: Mutex<State> = Mutex::new(State {
    config_path: PathBuf::new(),
    arg_error: None,
    image: None,
    beeond: false,
    plan: None,
    launch: None,
    step_ns: None,
});

/// Run `f` with the state; a poisoned lock only means an earlier callback
/// panicked, which `guard` already reported, so keep going.
pub fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

/// The config as this process sees it, with plugstack argument errors
/// folded in as a broken config; `scope`: whose limit rules to load. A
/// config that others than root could have written is broken too (in the
/// clients as well, so that they refuse Carme jobs early with the reason).
pub fn load_config(scope: Option<&Scope>) -> Loaded {
    let (path, arg_error) = with_state(|s| (s.config_path.clone(), s.arg_error.clone()));
    let loaded = carme_node::configfile::load_scoped(&path, scope);
    match arg_error {
        None => loaded,
        Some(message) => Loaded::Broken {
            basics: loaded.basics(),
            error: carme_core::ConfigError {
                file: PathBuf::from("plugstack.conf"),
                line: None,
                key: None,
                message,
            },
        },
    }
}

/// Which build of the plugin a process loaded, for admins matching logs
/// to installs: Slurm loads a plugin only into the series it was built for.
fn log_loaded() {
    let n = crate::ffi::SLURM_VERSION_NUMBER;
    log(
        Level::Verbose,
        &format!(
            "carme: carme-slurm {} loaded, built for Slurm {}.{:02} (plugin_version {n:#x})",
            env!("CARGO_PKG_VERSION"),
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
        ),
    );
}

pub fn init(sp: &Spank, args: &[String]) -> Result<(), ()> {
    let ctx = sp.context();
    if ctx == Context::Other {
        return Ok(());
    }
    // slurmstepd logs at SlurmdDebug from the start; the clients apply
    // -v only after their options are parsed: sbatch and salloc before
    // init_post_opt, srun only after it (local_user_init).
    if ctx == Context::Remote {
        log_loaded();
    }
    let mut config_path = PathBuf::from(DEFAULT_CONFIG_PATH);
    let mut arg_error = None;
    for a in args {
        match a.split_once('=') {
            Some(("config", p)) if p.starts_with('/') => config_path = PathBuf::from(p),
            _ => {
                arg_error = Some(format!(
                    "unknown argument `{a}` for the carme plugin; it takes config=/ABSOLUTE/PATH"
                ))
            }
        }
    }
    if let Some(e) = &arg_error {
        log(Level::Error, &format!("carme: plugstack.conf: {e}"));
    }
    with_state(|s| {
        s.config_path = config_path;
        s.arg_error = arg_error;
    });
    // Without the option srun would reject --carme-image as unknown, which
    // is itself a clear refusal, so a failure here must not fail the job.
    if let Err(e) = sp.register_image_option() {
        log(Level::Error, &format!("carme: {e}"));
    }
    if let Err(e) = sp.register_beeond_option() {
        log(Level::Error, &format!("carme: {e}"));
    }
    Ok(())
}

pub fn beeond_option() -> Result<(), ()> {
    with_state(|s| s.beeond = true);
    Ok(())
}

pub fn image_option(value: String) -> Result<(), ()> {
    with_state(|s| s.image = Some(value));
    Ok(())
}

pub fn init_post_opt(sp: &Spank) -> Result<(), ()> {
    let ctx = sp.context();
    if ctx == Context::Allocator {
        log_loaded();
    }
    match ctx {
        Context::Local => local::post_opt(sp),
        Context::Allocator => allocator::post_opt(sp),
        Context::Remote => remote::post_opt(sp),
        Context::Other => Ok(()),
    }
}

pub fn user_init(sp: &Spank) -> Result<(), ()> {
    match sp.context() {
        Context::Remote => remote::user_init(sp),
        _ => Ok(()),
    }
}

pub fn local_user_init(sp: &Spank) -> Result<(), ()> {
    if sp.context() == Context::Local {
        log_loaded();
    }
    Ok(())
}

pub fn task_init_privileged(sp: &Spank) -> Result<(), ()> {
    match sp.context() {
        Context::Remote => remote::task_init_privileged(sp),
        _ => Ok(()),
    }
}

pub fn task_init(sp: &Spank) -> Result<(), ()> {
    match sp.context() {
        Context::Remote => remote::task_init(sp),
        _ => Ok(()),
    }
}

/// The environment variable through which srun picks up `--carme-image`
/// (Slurm reads `SLURM_SPANK_` + the option's job-environment name).
pub const IMAGE_ENV_FOR_SRUN: &str = "SLURM_SPANK__SLURM_SPANK_OPTION_carme_carme_image";

/// The same for `--carme-beeond`, which Slurm puts into a job's
/// environment itself (so the job's sruns see it).
pub const BEEOND_ENV_FOR_SRUN: &str = "SLURM_SPANK__SLURM_SPANK_OPTION_carme_carme_beeond";
