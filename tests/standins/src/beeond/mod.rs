//! A strict stand-in for `beeond` (BeeOND 7.4.7), for hosts where BeeGFS
//! cannot be installed.
//!
//! It accepts the documented `start`, `stop` and `stoplocal` command lines
//! and refuses everything else as the real tool does (exit 1, its message),
//! plus what the real tool would silently do wrong (exit 2). In place of a
//! BeeGFS it mounts a tmpfs at each node's mount point, creates the data and
//! log directories, and records it all in the status file, so that stop and
//! stoplocal have something real to take down. See the crate's README.

pub mod actions;
pub mod cli;
pub mod control;
pub mod getopts;
pub mod record;
pub mod status;
pub mod system;

/// The release whose interface is emulated.
pub const EMULATES: &str = "BeeOND 7.4.7";

/// Every error of the real tool exits 1 (`print_error_and_exit`, usage).
pub const EXIT_BEEOND: i32 = 1;
/// The stand-in's own limits, and misuse of its control variables.
pub const EXIT_STANDIN: i32 = 2;

/// Why the stand-in did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub exit_code: i32,
    pub message: String,
}

impl Refusal {
    /// What the real tool refuses too, worded as it does.
    pub fn beeond(message: impl Into<String>) -> Refusal {
        Refusal {
            exit_code: EXIT_BEEOND,
            message: message.into(),
        }
    }

    /// What only the stand-in refuses.
    pub fn standin(message: impl Into<String>) -> Refusal {
        Refusal {
            exit_code: EXIT_STANDIN,
            message: message.into(),
        }
    }
}

/// beeond prints errors as `ERROR: ...` on stderr; the stand-in says who it is.
pub fn error_line(message: &str) -> String {
    format!("ERROR: stand-in beeond: {message}")
}
