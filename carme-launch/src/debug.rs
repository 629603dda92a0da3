//! carme-launch's debug log: with `CARME_LAUNCH_DEBUG=1` in its
//! environment it writes `carme: debug: ...` lines to stderr, the same
//! lines the SPANK plugin writes to a Carme task's stderr when the task's
//! environment has it. Any other value, or none, is silent. The variable
//! never reaches the payload (no `CARME_LAUNCH_*` does).

use std::sync::OnceLock;

pub const ENV_DEBUG: &str = "CARME_LAUNCH_DEBUG";

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(ENV_DEBUG).is_some_and(|v| v == "1"))
}

/// One debug line, when enabled.
pub fn debug(message: impl AsRef<str>) {
    if enabled() {
        eprintln!(
            "carme: debug: {}",
            carme_core::text::escape_controls(message.as_ref())
        );
    }
}
