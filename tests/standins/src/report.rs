//! Messages to stderr and refusals, in the real tools' log format.
//!
//! The real tools print `LEVEL:` padded to eight columns plus a space
//! (`FATAL:   `, `WARNING: `, `INFO:    `); tests and people grep for that,
//! so the stand-in keeps the format. Every line also says `stand-in`, so no
//! log reader mistakes the stand-in for the real runtime.

use std::fmt;

/// Exit status of a runtime error: the real tools' `sylog.Fatalf` exits 255.
pub const EXIT_FATAL: i32 = 255;
/// Exit status of a command-line usage error: the real tools report flag and
/// argument errors through cobra and exit 1, not through `Fatalf`.
pub const EXIT_USAGE: i32 = 1;
/// Exit status when invoked under a name that selects no tool.
pub const EXIT_BAD_NAME: i32 = 2;

/// Why the stand-in did not run the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub exit_code: i32,
    pub message: String,
}

impl Refusal {
    /// A runtime error, as the real tool would report with `FATAL` (exit 255).
    pub fn fatal(message: impl Into<String>) -> Refusal {
        Refusal {
            exit_code: EXIT_FATAL,
            message: message.into(),
        }
    }

    /// A command-line error of `command` (exit 1), worded like the real
    /// tool's `Error for command "exec": ...`.
    pub fn usage(command: &str, message: impl fmt::Display) -> Refusal {
        Refusal {
            exit_code: EXIT_USAGE,
            message: format!("Error for command \"{command}\": {message}"),
        }
    }
}

/// Severity of a diagnostic; `-q` hides `Info`, `-s` hides `Info` and
/// `Warning`, as with the real tools. Refusals are always printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Info,
}

/// How much the user asked to hear (global `-q` / `-s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    #[default]
    Normal,
    Quiet,
    Silent,
}

impl Verbosity {
    fn shows(self, level: Level) -> bool {
        match self {
            Verbosity::Normal => true,
            Verbosity::Quiet => level == Level::Warning,
            Verbosity::Silent => false,
        }
    }
}

/// Diagnostics gathered while planning, printed before the command runs (or
/// before the refusal), so their order matches the order of the checks.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub verbosity: Verbosity,
    entries: Vec<(Level, String)>,
}

impl Diagnostics {
    pub fn warn(&mut self, message: impl Into<String>) {
        self.entries.push((Level::Warning, message.into()));
    }

    pub fn info(&mut self, message: impl Into<String>) {
        self.entries.push((Level::Info, message.into()));
    }

    /// Whether any diagnostic contains `needle`.
    #[cfg(test)]
    pub fn has(&self, needle: &str) -> bool {
        self.entries.iter().any(|(_, m)| m.contains(needle))
    }

    /// Print what the verbosity allows, each line naming the stand-in.
    pub fn print(&self) {
        for (level, message) in &self.entries {
            if self.verbosity.shows(*level) {
                let label = match level {
                    Level::Warning => "WARNING:",
                    Level::Info => "INFO:",
                };
                eprintln!("{label:<8} stand-in: {message}");
            }
        }
    }
}

/// The line printed for a refusal, e.g.
/// `FATAL:   stand-in apptainer: unknown flag: --foo`.
pub fn fatal_line(tool_name: &str, message: &str) -> String {
    format!("{:<8} stand-in {tool_name}: {message}", "FATAL:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_line_matches_real_prefix() {
        assert_eq!(
            fatal_line("apptainer", "boom"),
            "FATAL:   stand-in apptainer: boom"
        );
    }

    #[test]
    fn verbosity_filters_like_the_real_tools() {
        assert!(Verbosity::Normal.shows(Level::Info));
        assert!(Verbosity::Quiet.shows(Level::Warning));
        assert!(!Verbosity::Quiet.shows(Level::Info));
        assert!(!Verbosity::Silent.shows(Level::Warning));
    }
}
