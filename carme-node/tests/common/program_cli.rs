//! The command line every root-run program of ours shares (carme-prolog,
//! carme-epilog: carme_node::args): `--help`, `--version`, and usage
//! errors that exit 2 before anything is read or touched (no root
//! needed). Each program's tests/cli.rs includes this file and calls
//! `program_cli_tests!(NAME, env!("CARGO_BIN_EXE_NAME"))`.

#[macro_export]
macro_rules! program_cli_tests {
    ($name:literal, $bin:expr) => {
        fn run(args: &[&str]) -> std::process::Output {
            std::process::Command::new($bin)
                .args(args)
                .env_clear()
                .output()
                .unwrap()
        }

        fn text(b: &[u8]) -> String {
            String::from_utf8_lossy(b).into_owned()
        }

        #[test]
        fn help_shows_usage_and_the_config_option() {
            let out = run(&["--help"]);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert!(
                stdout.contains(concat!("Usage: ", $name, " [OPTIONS]")),
                "{stdout}"
            );
            assert!(stdout.contains("--config <PATH>"), "{stdout}");
            assert!(stdout.contains("/etc/carme/carme.toml"), "{stdout}");
        }

        #[test]
        fn version_is_the_crate_version() {
            let out = run(&["--version"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert_eq!(
                text(&out.stdout),
                format!("{} {}\n", $name, env!("CARGO_PKG_VERSION"))
            );
        }

        #[test]
        fn usage_errors_exit_2_naming_the_program() {
            for args in [
                &["-v"][..],
                &["--config"],
                &["--config", "rel.toml"],
                &["extra"],
            ] {
                let out = run(args);
                let stderr = text(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
                assert!(
                    stderr.starts_with(concat!($name, ": ")),
                    "{args:?}: {stderr}"
                );
                assert!(out.stdout.is_empty(), "{args:?}");
            }
            let stderr = text(&run(&["--config", "rel.toml"]).stderr);
            assert!(stderr.contains("needs an absolute path"), "{stderr}");
        }
    };
}
