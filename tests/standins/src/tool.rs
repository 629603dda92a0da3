//! Which runtime the stand-in plays, chosen by the name it was invoked by.
//!
//! Apptainer and SingularityCE share their command line (both descend from
//! Singularity 3), but differ in the environment variable prefixes they read,
//! in a few exec flags, and in the runtime variables they set inside the
//! container. Everything tool-specific is answered here.

use std::path::Path;

/// The runtime being emulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Apptainer; flag set and behaviour of the 1.3 series.
    Apptainer,
    /// SingularityCE; flag set and behaviour of the 4.1 series.
    Singularity,
}

impl Tool {
    /// The tool named by the basename of `argv[0]`, if it is one we emulate.
    pub fn from_argv0(argv0: &str) -> Option<Tool> {
        match Path::new(argv0).file_name()?.to_str()? {
            "apptainer" => Some(Tool::Apptainer),
            "singularity" => Some(Tool::Singularity),
            _ => None,
        }
    }

    /// The command name, as used in messages and in the record.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Apptainer => "apptainer",
            Tool::Singularity => "singularity",
        }
    }

    /// The release series whose documented `exec` interface is emulated.
    pub fn emulates(self) -> &'static str {
        match self {
            Tool::Apptainer => "Apptainer 1.3",
            Tool::Singularity => "SingularityCE 4.1",
        }
    }

    /// Prefixes of variables that configure the runtime itself
    /// (`APPTAINER_BIND`, ...), highest precedence first. Apptainer still
    /// honours the legacy `SINGULARITY_` prefix; such variables are never
    /// forwarded into the container.
    pub fn config_prefixes(self) -> &'static [&'static str] {
        match self {
            Tool::Apptainer => &["APPTAINER_", "SINGULARITY_"],
            Tool::Singularity => &["SINGULARITY_"],
        }
    }

    /// Prefixes that set a container variable (`APPTAINERENV_FOO=x` sets
    /// `FOO=x` inside), highest precedence first.
    pub fn env_prefixes(self) -> &'static [&'static str] {
        match self {
            Tool::Apptainer => &["APPTAINERENV_", "SINGULARITYENV_"],
            Tool::Singularity => &["SINGULARITYENV_"],
        }
    }

    /// The prefix the runtime uses for variables it sets inside the
    /// container (`APPTAINER_CONTAINER`, ...).
    pub fn runtime_prefix(self) -> &'static str {
        match self {
            Tool::Apptainer => "APPTAINER_",
            Tool::Singularity => "SINGULARITY_",
        }
    }

    /// The default prompt the container's base environment sets.
    pub fn prompt(self) -> &'static str {
        match self {
            Tool::Apptainer => "Apptainer> ",
            Tool::Singularity => "Singularity> ",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_selects_the_tool() {
        assert_eq!(Tool::from_argv0("apptainer"), Some(Tool::Apptainer));
        assert_eq!(
            Tool::from_argv0("/x/y/singularity"),
            Some(Tool::Singularity)
        );
        assert_eq!(Tool::from_argv0("./carme-runtime-standin"), None);
        assert_eq!(Tool::from_argv0("apptainer-suid"), None);
        assert_eq!(Tool::from_argv0(""), None);
    }
}
