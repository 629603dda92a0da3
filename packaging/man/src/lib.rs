//! carme-slurm's man pages: carme-launch(1) with one page per subcommand,
//! carme.toml(5), carme-prolog(8) and carme-epilog(8).
//!
//! A program's page is generated from the program's own command line: its
//! `cli.rs` is included here as it is (clap's `CommandFactory`), so
//! synopsis, options, defaults and subcommands cannot drift from the code.
//! What only a man page says (what the program is for, exit status,
//! environment, files) is written here; carme.toml(5) carries the
//! annotated example config verbatim.

mod config;
mod launch;
mod node;
mod text;

// Only the command lines are used here, never the parsed values.
#[allow(dead_code)]
#[path = "../../../epilog/src/cli.rs"]
mod epilog_cli;
#[allow(dead_code)]
#[path = "../../../carme-launch/src/cli.rs"]
mod launch_cli;
#[allow(dead_code)]
#[path = "../../../prolog/src/cli.rs"]
mod prolog_cli;

use std::path::{Path, PathBuf};

/// One man page: its file name (`NAME.SECTION`) and its roff source.
pub struct Generated {
    pub file: String,
    pub text: String,
}

impl Generated {
    fn new(file: String, text: String) -> Generated {
        Generated { file, text }
    }
}

/// Every page.
pub fn pages() -> Vec<Generated> {
    let mut pages = launch::pages();
    pages.push(config::page());
    pages.push(node::prolog());
    pages.push(node::epilog());
    pages
}

/// Write every page into `dir` (made if missing); the files written.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    pages()
        .into_iter()
        .map(|p| {
            let path = dir.join(&p.file);
            std::fs::write(&path, p.text)?;
            Ok(path)
        })
        .collect()
}

/// The pages of carme-slurm and Slurm's that every page refers to, less
/// the page itself.
fn see_also(this: &str) -> Vec<(&'static str, &'static str)> {
    [
        ("carme-launch", "1"),
        ("carme.toml", "5"),
        ("carme-prolog", "8"),
        ("carme-epilog", "8"),
        ("slurm.conf", "5"),
        ("spank", "8"),
    ]
    .into_iter()
    .filter(|(name, _)| *name != this)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::process::{Command, Stdio};

    fn page(file: &str) -> String {
        pages()
            .into_iter()
            .find(|p| p.file == file)
            .unwrap_or_else(|| panic!("no page {file}"))
            .text
    }

    /// A name as roff source writes it (dashes escaped).
    fn roff(name: &str) -> String {
        name.replace('-', "\\-")
    }

    /// The pages made from a program's command line, with that command.
    fn commands() -> Vec<(String, clap::Command)> {
        let launch = launch::command();
        let mut all = vec![("carme-launch.1".to_string(), launch.clone())];
        for sub in launch.get_subcommands() {
            all.push((format!("carme-launch-{}.1", sub.get_name()), sub.clone()));
        }
        all.push(("carme-prolog.8".into(), prolog_cli::Cli::command()));
        all.push(("carme-epilog.8".into(), epilog_cli::Cli::command()));
        all
    }

    #[test]
    fn every_page_is_generated_once_and_names_its_section() {
        let mut expected: Vec<String> = commands().into_iter().map(|(f, _)| f).collect();
        expected.push("carme.toml.5".into());
        expected.sort();
        let pages = pages();
        let mut files: Vec<String> = pages.iter().map(|p| p.file.clone()).collect();
        files.sort();
        assert_eq!(files, expected);
        for p in &pages {
            let (name, section) = p.file.rsplit_once('.').unwrap();
            let th = format!(
                ".TH \"{name}\" {section} \"\" \"carme-slurm {}\"\n",
                env!("CARGO_PKG_VERSION")
            );
            assert!(p.text.starts_with(&th), "{}:\n{}", p.file, p.text);
            assert!(p.text.len() > th.len() + 200, "{} is nearly empty", p.file);
            for heading in [".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n"] {
                assert!(p.text.contains(heading), "{}: no {heading}", p.file);
            }
        }
    }

    /// The subcommands come from carme-launch's Cli itself: a new one
    /// without a doc comment, or missing from carme-launch(1), fails here.
    #[test]
    fn carme_launch_lists_every_subcommand_and_each_is_documented() {
        let main = page("carme-launch.1");
        let subs: Vec<_> = launch_cli::Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        assert!(subs.len() >= 5, "{subs:?}");
        for name in &subs {
            let listed = roff(&format!("carme-launch-{name}(1)"));
            assert!(
                main.contains(&listed),
                "carme-launch.1 lacks {listed}:\n{main}"
            );
        }
        for (file, cmd) in commands() {
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(
                !about.trim().is_empty(),
                "{file}: `{}` has no doc comment (its --help and man page text)",
                cmd.get_name()
            );
            let text = page(&file);
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(
                    arg.get_help()
                        .is_some_and(|h| !h.to_string().trim().is_empty()),
                    "{file}: option `{id}` has no doc comment"
                );
                if let Some(long) = arg.get_long() {
                    let shown = format!("\\fB{}\\fR", roff(&format!("--{long}")));
                    assert!(text.contains(&shown), "{file} lacks {shown}:\n{text}");
                }
            }
        }
    }

    #[test]
    fn prolog_and_epilog_pages_say_what_drains_and_what_they_read() {
        for file in ["carme-prolog.8", "carme-epilog.8"] {
            let text = page(file);
            for needle in [
                ".SH \"EXIT STATUS\"",
                "drains the node",
                ".SH ENVIRONMENT",
                "SLURM_JOB_CONSTRAINTS",
                ".SH FILES",
                ".SH \"SEE ALSO\"",
                "<log_dir>/<jobid>.log",
            ] {
                assert!(text.contains(needle), "{file} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn write_all_writes_every_page() {
        let dir = std::env::temp_dir().join(format!("carme-man-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = write_all(&dir.join("sub")).unwrap();
        assert_eq!(files.len(), pages().len());
        for (f, p) in files.iter().zip(pages()) {
            assert_eq!(f, &dir.join("sub").join(&p.file));
            assert_eq!(std::fs::read_to_string(f).unwrap(), p.text);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// groff's output for `source` (preconv for UTF-8 input, plain text
    /// out) and its stderr.
    fn groff(source: &str, args: &[&str]) -> (String, String) {
        use std::io::Write;
        let mut child = match Command::new("groff")
            .args(["-k", "-man", "-Tutf8"])
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            // Never a silent skip: make test installs groff-base.
            Err(e) => panic!("groff: {e} (tests/cluster/install-deps.sh installs groff-base)"),
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(source.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "groff failed: {out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn plain(source: &str) -> String {
        groff(source, &["-P-cbou", "-rLL=200n"]).0
    }

    #[test]
    fn every_page_renders_without_warnings() {
        for p in pages() {
            let (_, warnings) = groff(&p.text, &["-ww", "-z"]);
            assert_eq!(warnings, "", "{}", p.file);
        }
    }

    /// `lines` appear in `rendered` one after the other, each with the
    /// same indentation as the first.
    fn assert_verbatim(rendered: &str, lines: &str) {
        let out: Vec<&str> = rendered.lines().map(str::trim_end).collect();
        let want: Vec<&str> = lines.lines().map(str::trim_end).collect();
        let first = want.iter().position(|l| !l.is_empty()).unwrap();
        let at = out
            .iter()
            .position(|l| l.trim_start() == want[first].trim_start())
            .unwrap_or_else(|| panic!("{:?} not rendered:\n{rendered}", want[first]));
        let indent = &out[at][..out[at].len() - out[at].trim_start().len()];
        for (i, line) in want.iter().enumerate().skip(first) {
            let expected = if line.is_empty() {
                String::new()
            } else {
                format!("{indent}{line}")
            };
            assert_eq!(out[at + i - first], expected, "line {} of\n{lines}", i + 1);
        }
    }

    #[test]
    fn the_example_config_renders_verbatim() {
        let text = page("carme.toml.5");
        assert!(text.contains(".SH EXAMPLE\n"));
        let rendered = plain(&text);
        assert_verbatim(&rendered, config::EXAMPLE);
    }

    /// What roff would take for requests, escapes or fancy quotes comes
    /// out as written.
    #[test]
    fn verbatim_text_survives_roff() {
        let tricky = ".TH evil 1\n'br\n\\fBnot bold\\fR \\n \\\\\n  --flag 'x' \"y\" `z`\n\n.\n'\n";
        let mut p = text::Page::new("x", "5");
        p.section("NAME", &[text::Block::P("x - y")]);
        p.section("EXAMPLE", &[text::Block::Verbatim(tricky)]);
        let rendered = plain(&p.finish());
        assert_verbatim(&rendered, tricky);
    }
}
