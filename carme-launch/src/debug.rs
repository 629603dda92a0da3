//! carme-launch's debug log. It has no Slurm log of its own (it runs as
//! the job's user, after slurmstepd handed the task over), so with
//! `CARME_LAUNCH_DEBUG=1` in the task's environment
//! (`CARME_LAUNCH_DEBUG=1 srun ...`, or `export` it in a batch script) it
//! writes `carme: debug: ...` lines to the task's stderr, where srun and
//! batch output files show them. Any other value, or none, is silent.
//! The variable never reaches the payload (no `CARME_LAUNCH_*` does).

use std::sync::OnceLock;

pub const ENV_DEBUG: &str = "CARME_LAUNCH_DEBUG";

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(ENV_DEBUG).is_some_and(|v| v == "1"))
}

/// One debug line, when enabled.
pub fn debug(message: impl AsRef<str>) {
    if enabled() {
        eprintln!("carme: debug: {}", message.as_ref());
    }
}
