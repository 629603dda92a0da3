//! The container runtime's command line for a task, per runtime kind.
//! carme-launch execs exactly this; `explain` prints it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, Image, MountMode, RuntimeKind};

/// What the launch depends on besides the config: where the task runs
/// (for `%n`/`%j` in mount sources) and its environment's TMPDIR.
#[derive(Debug, Clone, Copy)]
pub struct TaskFacts<'a> {
    pub node: &'a str,
    pub job: Option<u32>,
    /// TMPDIR as Slurm set it for the task (Slurm makes sure it exists).
    pub tmpdir: Option<&'a OsStr>,
}

/// Paths of the step's namespace the container must see at the same
/// place: the scratch target and a GPU device dir other than /dev (the
/// runtimes bring /dev, /tmp along themselves).
fn step_binds(cfg: &Config, place: &TaskFacts) -> Vec<PathBuf> {
    let mut binds = Vec::new();
    if cfg.paths.scratch_base.is_some() {
        binds.push(cfg.paths.scratch_target.clone());
    }
    let dev = cfg.gpu.device_dir.expand(place.node, place.job);
    if dev != Path::new("/dev") {
        binds.push(dev);
    }
    binds
}

/// argv (program first) that runs `cmd` inside `image`.
pub fn runtime_argv(
    cfg: &Config,
    image: &Image,
    place: TaskFacts,
    cmd: &[OsString],
) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![cfg.runtime.path.clone().into_os_string()];
    let binds = cfg
        .mounts_for(image)
        .map(|m| {
            let source = m.source.expand(place.node, place.job);
            (source, m.target.clone(), m.mode)
        })
        .chain(
            step_binds(cfg, &place)
                .into_iter()
                .map(|p| (p.clone(), p, MountMode::Rw)),
        );
    match cfg.runtime.kind {
        RuntimeKind::Charliecloud => {
            // ch-run -b SRC:DST ... IMAGE -- CMD...
            for (source, target, _mode) in binds {
                argv.push("-b".into());
                argv.push(join(&[source.as_os_str(), target.as_os_str()]));
            }
            // ch-run binds the host's $TMPDIR at the container's /tmp and
            // unsets the variable; the task still expects it set, so point
            // it at the same directory under its container path.
            if place.tmpdir.is_some() {
                argv.push("--set-env=TMPDIR=/tmp".into());
            }
            argv.push(image.path.clone().into_os_string());
            argv.push("--".into());
        }
        RuntimeKind::Apptainer | RuntimeKind::Singularity => {
            // apptainer exec -B SRC:DST[:ro] ... IMAGE CMD...
            argv.push("exec".into());
            for (source, target, mode) in binds {
                let mut spec = join(&[source.as_os_str(), target.as_os_str()]);
                if mode == MountMode::Ro {
                    spec.push(":ro");
                }
                argv.push("-B".into());
                argv.push(spec);
            }
            argv.push(image.path.clone().into_os_string());
        }
    }
    argv.extend(cmd.iter().cloned());
    argv
}

fn join(parts: &[&OsStr]) -> OsString {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(p.as_bytes());
    }
    <OsString as std::os::unix::ffi::OsStringExt>::from_vec(out)
}

/// Render argv as a shell-like line for logs and `explain`.
pub fn render(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-:=,+%@".contains(c))
            {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `p` names the same file in every mount namespace we care
/// about: absolute and without `..`.
pub fn is_plain_absolute(p: &Path) -> bool {
    p.is_absolute() && !p.components().any(|c| c == std::path::Component::ParentDir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(kind: &str, path: &str) -> Config {
        let text = format!(
            "[runtime]\nkind = \"{kind}\"\npath = \"{path}\"\n\
             [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
             [[mounts]]\nsource = \"/scratch/%n/%j\"\ntarget = \"/scratch\"\nmode = \"ro\"\n\
             [images.base]\npath = \"/srv/base\"\n\
             mounts = [ {{ source = \"/data\", target = \"/data\", mode = \"ro\" }} ]\n"
        );
        Config::parse(&text, Path::new("/c.toml")).unwrap()
    }

    fn argv(c: &Config, tmpdir: Option<&str>) -> Vec<String> {
        let facts = TaskFacts {
            node: "n1",
            job: Some(42),
            tmpdir: tmpdir.map(OsStr::new),
        };
        let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), "echo hi".into()];
        runtime_argv(c, &c.images["base"], facts, &cmd)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn charliecloud_argv() {
        let c = cfg("charliecloud", "/usr/bin/ch-run");
        assert_eq!(
            argv(&c, None),
            [
                "/usr/bin/ch-run",
                "-b",
                "/home:/home",
                "-b",
                "/scratch/n1/42:/scratch",
                "-b",
                "/data:/data",
                "/srv/base",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        let with_tmp = argv(&c, Some("/var/tmp/x"));
        assert!(
            with_tmp.contains(&"--set-env=TMPDIR=/tmp".to_string()),
            "{with_tmp:?}"
        );
        let image_at = with_tmp.iter().position(|a| a == "/srv/base").unwrap();
        let set_at = with_tmp
            .iter()
            .position(|a| a.starts_with("--set-env"))
            .unwrap();
        assert!(set_at < image_at, "options must precede the image");
    }

    #[test]
    fn apptainer_and_singularity_argv() {
        for (kind, path) in [
            ("apptainer", "/usr/bin/apptainer"),
            ("singularity", "/opt/s/bin/singularity"),
        ] {
            let c = cfg(kind, path);
            assert_eq!(
                argv(&c, Some("/tmp/t")),
                [
                    path,
                    "exec",
                    "-B",
                    "/home:/home",
                    "-B",
                    "/scratch/n1/42:/scratch:ro",
                    "-B",
                    "/data:/data:ro",
                    "/srv/base",
                    "sh",
                    "-c",
                    "echo hi"
                ],
                "{kind}"
            );
        }
    }

    #[test]
    fn step_paths_are_bound_at_the_same_place() {
        let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n\
                    [paths]\nscratch_base = \"/local/%n\"\nscratch_target = \"/scratch\"\n\
                    [gpu]\ndevice_dir = \"/fake/%n/dev\"\n[images.base]\npath = \"/i\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let a = argv(&c, None);
        assert_eq!(
            a,
            [
                "/c",
                "-b",
                "/scratch:/scratch",
                "-b",
                "/fake/n1/dev:/fake/n1/dev",
                "/i",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        // Defaults (no scratch, devices in /dev): nothing extra.
        let plain =
            "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n[images.base]\npath = \"/i\"\n";
        let c = Config::parse(plain, Path::new("/c.toml")).unwrap();
        assert_eq!(argv(&c, None), ["/c", "/i", "--", "sh", "-c", "echo hi"]);
    }

    #[test]
    fn render_quotes_what_needs_it() {
        let a: Vec<OsString> = ["ch-run", "-b", "/a:/b", "it's", "two words", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(render(&a), r#"ch-run -b /a:/b 'it'\''s' 'two words' ''"#);
    }
}
