//! How the command line of the root-run programs (carme-prolog,
//! carme-epilog) ends: each declares its options in its own `cli.rs`
//! (clap); here `--help` and `--version` print to stdout and exit 0, and a
//! usage error prints `PROGRAM: what is wrong` and the usage to stderr and
//! exits 2, as Slurm's own tools do.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// Why a program stops after parsing its arguments.
#[derive(Debug)]
pub struct Exit {
    pub text: String,
    /// 0 for --help and --version, 2 for a usage error.
    pub code: u8,
}

impl Exit {
    /// Print the text (stdout for 0, stderr otherwise); the exit code.
    pub fn print(&self) -> ExitCode {
        // Nothing to tell anyone if the stream is gone (a closed pipe).
        let _ = if self.code == 0 {
            std::io::stdout().write_all(self.text.as_bytes())
        } else {
            std::io::stderr().write_all(self.text.as_bytes())
        };
        ExitCode::from(self.code)
    }
}

/// Parse `argv` (argv[0] included) as `me`'s command line `P`.
pub fn parse<P: clap::Parser>(
    me: &str,
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<P, Exit> {
    P::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        match e.exit_code() {
            0 => Exit { text, code: 0 },
            _ => Exit {
                text: format!("{me}: {}", text.strip_prefix("error: ").unwrap_or(&text)),
                code: 2,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[derive(clap::Parser, Debug)]
    #[command(name = "p", version = "9.8.7")]
    struct Cli {
        #[arg(long, default_value = "/etc/x.toml",
              value_parser = carme_core::config::absolute_config_arg)]
        config: PathBuf,
    }

    fn p(argv: &[&str]) -> Result<Cli, Exit> {
        parse("p", std::iter::once("p").chain(argv.iter().copied()))
    }

    #[test]
    fn options_are_parsed() {
        assert_eq!(p(&[]).unwrap().config, PathBuf::from("/etc/x.toml"));
        assert_eq!(
            p(&["--config", "/y.toml"]).unwrap().config,
            PathBuf::from("/y.toml")
        );
    }

    #[test]
    fn help_and_version_exit_0() {
        let v = p(&["--version"]).unwrap_err();
        assert_eq!((v.code, v.text.as_str()), (0, "p 9.8.7\n"));
        let h = p(&["--help"]).unwrap_err();
        assert_eq!(h.code, 0);
        assert!(h.text.contains("--config <CONFIG>"), "{}", h.text);
    }

    #[test]
    fn usage_errors_exit_2_with_the_program_first() {
        for argv in [
            &["-v"][..],
            &["--config"],
            &["--config", "rel.toml"],
            &["x"],
        ] {
            let e = p(argv).unwrap_err();
            assert_eq!(e.code, 2, "{argv:?}");
            assert!(e.text.starts_with("p: "), "{argv:?}: {}", e.text);
            assert!(!e.text.contains("error:"), "{argv:?}: {}", e.text);
        }
        let e = p(&["--config", "rel.toml"]).unwrap_err();
        assert!(e.text.contains("needs an absolute path"), "{}", e.text);
    }
}
