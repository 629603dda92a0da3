//! The checks of the config and of the files it names: `config`,
//! `config-trust`, `runtime`, `image`, `exec-helper`, `base-dir`.

use std::path::{Path, PathBuf};

use crate::slurminfo::SlurmVersion;

use super::*;

pub(super) fn config(c: &ConfigFacts, out: &mut Vec<Finding>) {
    let path = c.path.display();
    match &c.parsed {
        Ok(cfg) => out.push(ok(
            "config",
            None,
            format!(
                "{path} is valid ({} images; limit rules: {} users, {} groups, {} accounts)",
                cfg.images.len(),
                cfg.limits.users.len(),
                cfg.limits.groups.len(),
                cfg.limits.accounts.len()
            ),
        )),
        Err(errors) => {
            for e in errors {
                let fix = match (e.line, &e.key) {
                    (Some(line), _) => format!(
                        "correct line {line} of {path}; every key is documented in the example \
                         carme.toml Carme ships"
                    ),
                    (None, _) if c.text.is_none() => format!(
                        "install the config at {path} (or name it with --config), \
                         readable by root"
                    ),
                    _ => format!("correct {path}"),
                };
                out.push(problem(
                    "config",
                    e.key.clone(),
                    Status::Error,
                    e.to_string(),
                    fix,
                ));
            }
        }
    }
    match &c.trust {
        Some(e) => out.push(problem(
            "config-trust",
            None,
            Status::Error,
            format!("{e}; the plugin, carme-prolog and carme-epilog refuse Carme jobs with it"),
            format!(
                "make {path} and every directory on its way root's and not writable by group \
                 or others: chown root: FILE; chmod 0644 FILE"
            ),
        )),
        None if c.text.is_some() => out.push(ok(
            "config-trust",
            None,
            format!("only root can change {path} (file and directories on its way)"),
        )),
        None => {}
    }
}

/// Why a program file cannot be run, if so; or a warning about who may
/// replace it.
pub(super) fn program_problem(file: &PathFacts) -> Option<(Status, String)> {
    match file {
        PathFacts::Missing => Some((Status::Error, "does not exist".into())),
        PathFacts::Unreadable(e) => Some((Status::Error, format!("cannot be checked: {e}"))),
        PathFacts::Found(m) if !m.is_file() => Some((
            Status::Error,
            format!("is not a regular file ({})", m.describe()),
        )),
        PathFacts::Found(m) if m.mode & 0o111 == 0 => Some((
            Status::Error,
            format!("is not executable ({})", m.describe()),
        )),
        PathFacts::Found(m) if m.uid != 0 || m.mode & 0o022 != 0 => Some((
            Status::Warning,
            format!(
                "can be replaced by others than root ({}): every Carme task runs it",
                m.describe()
            ),
        )),
        PathFacts::Found(_) => None,
    }
}

pub(super) fn runtime(cfg: &Config, facts: &[(PathBuf, ProgramFacts)], out: &mut Vec<Finding>) {
    for (kind, path, users) in runtimes(cfg) {
        let Some((_, p)) = facts.iter().find(|(q, _)| *q == path) else {
            continue;
        };
        let what = if users.is_empty() {
            format!("the {kind} runtime {} ([runtime] path)", path.display())
        } else {
            format!(
                "the {kind} runtime {} (for image{} {})",
                path.display(),
                if users.len() == 1 { "" } else { "s" },
                users.join(", ")
            )
        };
        let subject = Some(path.display().to_string());
        if let Some((status, why)) = program_problem(&p.file) {
            let fix = match status {
                Status::Error => format!(
                    "install {kind} on this node, or point [runtime] path at its binary \
                     (per-image runtimes are looked up beside it)"
                ),
                _ => format!("chown root: {0}; chmod go-w {0}", path.display()),
            };
            out.push(problem(
                "runtime",
                subject.clone(),
                status,
                format!("{what} {why}"),
                fix,
            ));
            if status == Status::Error {
                continue;
            }
        }
        match &p.version {
            Some(Ok(v)) => out.push(ok("runtime", subject, format!("{what}: {v}"))),
            Some(Err(e)) => out.push(problem(
                "runtime",
                subject,
                Status::Warning,
                format!("{what}: `--version` failed: {e}"),
                format!(
                    "run `{} --version` by hand to see what is wrong",
                    path.display()
                ),
            )),
            None => match &p.unprobed {
                Some(why) => out.push(problem(
                    "runtime",
                    subject,
                    Status::Warning,
                    format!("{what}: its version was not asked, as root: {why}"),
                    format!(
                        "make {} and every directory above it root's and not writable by \
                         group or others",
                        path.display()
                    ),
                )),
                None => out.push(ok("runtime", subject, format!("{what} is executable"))),
            },
        }
    }
}

pub(super) fn images(cfg: &Config, facts: &[(String, PathFacts)], out: &mut Vec<Finding>) {
    for img in cfg.images.values() {
        let Some((_, f)) = facts.iter().find(|(n, _)| *n == img.name) else {
            continue;
        };
        let (kind, _) = crate::launch::runtime_of(cfg, img);
        let subject = Some(img.name.clone());
        let at = format!("image `{}` ({})", img.name, img.path.display());
        let fix = format!(
            "put the image at {} on this node (or remove [images.{}])",
            img.path.display(),
            img.name
        );
        out.push(match f {
            PathFacts::Missing => problem(
                "image",
                subject,
                Status::Error,
                format!("{at} does not exist on this node: its jobs fail here"),
                fix,
            ),
            PathFacts::Unreadable(e) => problem(
                "image",
                subject,
                Status::Error,
                format!("{at} cannot be checked: {e}"),
                fix,
            ),
            PathFacts::Found(m) if kind == RuntimeKind::Charliecloud && !m.is_dir() => problem(
                "image",
                subject,
                Status::Error,
                format!("{at} is not a directory: ch-run runs image directories"),
                fix,
            ),
            PathFacts::Found(_) => ok("image", subject, format!("{at} is there")),
        });
    }
}

pub(super) fn exec_helper(
    cfg: &Config,
    facts: Option<&ProgramFacts>,
    version: Option<SlurmVersion>,
    out: &mut Vec<Finding>,
) {
    let path = cfg.runtime.exec_helper.display();
    if let Some(v) = version
        && !needs_exec_helper(v.series())
    {
        out.push(ok(
            "exec-helper",
            None,
            format!(
                "not needed on Slurm {}: the plugin hands tasks to the runtime itself",
                v.series_text()
            ),
        ));
        return;
    }
    let Some(facts) = facts else {
        return;
    };
    let why_needed = match version {
        Some(v) => format!("Slurm {} needs it for every Carme task", v.series_text()),
        None => "Slurm before 23.11 needs it for every Carme task (this Slurm's version is \
                 unknown)"
            .to_string(),
    };
    match program_problem(&facts.file) {
        Some((status, why)) => {
            // With the version unknown, a missing helper may be fine.
            let status = if version.is_none() && status == Status::Error {
                Status::Warning
            } else {
                status
            };
            let fix = if status == Status::Warning && version.is_some() {
                format!("chown root: {path}; chmod 0755 {path}")
            } else {
                format!(
                    "install carme-exec at {path} (root's, mode 0755), or point [runtime] \
                     exec_helper at it"
                )
            };
            out.push(problem(
                "exec-helper",
                None,
                status,
                format!("carme-exec {path} {why}; {why_needed}"),
                fix,
            ));
        }
        None => out.push(ok(
            "exec-helper",
            None,
            format!("carme-exec {path} is executable; {why_needed}"),
        )),
    }
}

/// Why a directory on the way to (or at) a base lets others than root in,
/// and whether it is one all users share (sticky, like /tmp: the base
/// must move, not the directory change).
pub(super) fn dir_problem(m: &Meta) -> Option<(String, bool)> {
    let open = m.mode & 0o022 != 0;
    let sticky = m.mode & 0o1000 != 0;
    if m.is_symlink() {
        Some((
            "is a symlink (carme-prolog never follows one)".into(),
            false,
        ))
    } else if !m.is_dir() {
        Some((format!("is not a directory ({})", m.describe()), false))
    } else if m.uid != 0 {
        Some((format!("is not root's ({})", m.describe()), false))
    } else if open && sticky {
        Some((
            format!(
                "is sticky and writable by others ({}): any user can create what is below \
                 it first",
                m.describe()
            ),
            true,
        ))
    } else if open {
        Some((
            format!("is writable by group or others ({})", m.describe()),
            false,
        ))
    } else {
        None
    }
}

pub(super) fn base_dir(base: &BaseDir, facts: &BaseFacts) -> Finding {
    let subject = Some(base.key.to_string());
    let (section, key) = base.key.split_once('.').unwrap_or(("", base.key));
    let name = if Path::new(&base.template) == base.path {
        format!("[{section}] {key} {}", base.path.display())
    } else {
        format!(
            "[{section}] {key} {} ({})",
            base.path.display(),
            base.template
        )
    };
    let mut bad = Vec::new();
    let mut shared = None;
    let mut unchecked = None;
    for s in &facts.steps {
        match &s.meta {
            Ok(m) => {
                if let Some((why, is_shared)) = dir_problem(m) {
                    if is_shared && shared.is_none() {
                        shared = Some(s.path.clone());
                    }
                    bad.push(format!("{} {why}", s.path.display()));
                }
            }
            Err(e) => unchecked = Some(format!("{} cannot be checked: {e}", s.path.display())),
        }
    }
    if !bad.is_empty() {
        let fix = match shared {
            Some(dir) => format!(
                "set {key} to a directory only root can write, not under {}",
                dir.display()
            ),
            None => format!(
                "make each of them root's and closed to others (chown root: DIR; chmod go-w \
                 DIR), or set {key} to a directory only root can write"
            ),
        };
        return problem(
            "base-dir",
            subject,
            Status::Error,
            format!(
                "{name}: {}; a user could create or replace what root makes there",
                bad.join("; ")
            ),
            fix,
        );
    }
    if let Some(why) = unchecked {
        return problem(
            "base-dir",
            subject,
            Status::Error,
            format!("{name}: {why}"),
            "run check-node as root".into(),
        );
    }
    if facts.exists {
        ok(
            "base-dir",
            subject,
            format!("{name}: root's, closed to others, and so is every directory above it"),
        )
    } else {
        let nearest = facts
            .steps
            .last()
            .map(|s| s.path.display().to_string())
            .unwrap_or_else(|| "/".into());
        ok(
            "base-dir",
            subject,
            format!(
                "{name} does not exist yet (carme-prolog creates it); {nearest} and every \
                 directory above it are root's and closed to others"
            ),
        )
    }
}
