//! `carme-launch check-node`'s decisions: from the facts of one node
//! (gathered by carme-node's `nodecheck`, without changing anything) to
//! findings, each ok, a warning or an error, with what to fix. Every check
//! runs whatever the others found, so an admin sees all problems at once.
//!
//! What is checked, and the check ids (stable: `--json` carries them):
//! - `config`: the config parses (every error); `config-trust`: only
//!   root can change it (as root-side code requires);
//! - `runtime`: each runtime binary (`[runtime] path`, per-image
//!   runtimes) is an executable file, and its version;
//! - `image`: each image's path exists;
//! - `exec-helper`: carme-exec is executable where the Slurm series needs
//!   it (< 23.11), not needed from 23.11 on;
//! - `base-dir`: each base directory (state, tmp, scratch, logs, BeeOND's)
//!   and every directory above it is root's and not writable by group or
//!   others (sticky ones like /tmp count as writable: a user could create
//!   the base first); one that does not exist yet is fine when what
//!   exists of its path is (carme-prolog creates the rest);
//! - `slurm-version`: the running Slurm; `plugin`: Carme's plugstack line
//!   and the plugin it loads, built for that Slurm series;
//! - `gate-feature`: this node has `[gate] feature`;
//! - `prolog`, `epilog`, `prolog-flags`, `constrain-devices`: slurm.conf
//!   runs carme-prolog/carme-epilog, with `PrologFlags=Alloc`, and the
//!   kernel constrains devices (`ConstrainDevices=yes`) where Carme hides
//!   unallocated GPUs.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH, RuntimeKind};
use crate::slurminfo::{self, PlugstackLine, ShowConfig, SlurmVersion};
use crate::trust::Meta;

/// The first Slurm series whose SPANK API can prepend to a task's argv:
/// from it on the plugin needs no carme-exec.
pub const PREPEND_ARGV_SINCE: (u32, u32) = (23, 11);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check's id (see the module doc).
    pub check: &'static str,
    /// What it is about, where a check has several (an image's name, a
    /// base directory's key, a binary's path).
    pub subject: Option<String>,
    pub status: Status,
    pub message: String,
    /// What to do (warnings and errors).
    pub fix: Option<String>,
}

fn finding(
    check: &'static str,
    subject: Option<String>,
    status: Status,
    message: String,
) -> Finding {
    Finding {
        check,
        subject,
        status,
        message,
        fix: None,
    }
}

fn ok(check: &'static str, subject: Option<String>, message: String) -> Finding {
    finding(check, subject, Status::Ok, message)
}

fn problem(
    check: &'static str,
    subject: Option<String>,
    status: Status,
    message: String,
    fix: String,
) -> Finding {
    Finding {
        check,
        subject,
        status,
        message,
        fix: Some(fix),
    }
}

/// What `stat` (following symlinks) says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathFacts {
    Missing,
    Unreadable(String),
    Found(Meta),
}

/// A program Carme runs: the file, and `--version`'s answer where asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramFacts {
    pub file: PathFacts,
    /// The first line `--version` printed, or why there is none.
    pub version: Option<Result<String, String>>,
    /// Why `--version` was not run (check-node runs as root: never a
    /// program others than root could change, nor one named by a config
    /// others could change).
    pub unprobed: Option<String>,
}

/// One existing component of a base directory's path, from `/` down,
/// as `lstat` sees it (or why it could not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    pub path: PathBuf,
    pub meta: Result<Meta, String>,
}

/// What exists of a base directory's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseFacts {
    /// `/` first; ends at the base, at the first missing component
    /// (not included), or at one that could not be checked.
    pub steps: Vec<PathStep>,
    pub exists: bool,
}

/// A base directory of the config, as this node expands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDir {
    /// `paths.tmp_base`, ...
    pub key: &'static str,
    pub template: String,
    /// Expanded for the node, cut before a component with `%j`.
    pub path: PathBuf,
}

/// The config: how root-side code would read it, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFacts {
    pub path: PathBuf,
    /// Why root-side code must not use it, if so.
    pub trust: Option<ConfigError>,
    /// Its text, when readable.
    pub text: Option<String>,
    /// The config, or every error (one when it cannot be read at all).
    pub parsed: Result<Config, Vec<ConfigError>>,
}

/// A plugin Carme's plugstack line loads (or `--plugin` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFacts {
    /// The plugstack file and line naming it; None for `--plugin`.
    pub line: Option<(PathBuf, PlugstackLine)>,
    /// The plugin file (relative plugstack paths resolved in PluginDir).
    pub path: PathBuf,
    /// Its `plugin_version`, or why it could not be read.
    pub version: Result<u32, String>,
}

/// How the plugin was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSearch {
    /// `--plugin PATH`.
    Given,
    /// Through the plugstack config Slurm uses (None: unknown, because
    /// `scontrol show config` failed), following `include` lines.
    Plugstack {
        file: Option<PathBuf>,
        /// Files (or include patterns) that could not be read, and why.
        unreadable: Vec<(PathBuf, String)>,
    },
}

/// What `Prolog=`/`Epilog=` names: one entry per program (a glob or a
/// comma list may name several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFacts {
    pub path: PathBuf,
    /// The file it resolves to (symlinks followed), or why not.
    pub real: Result<PathBuf, String>,
    /// Its text, when it is a small text file (a wrapper script).
    pub text: Option<String>,
}

/// Everything check-node looks at on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    pub node: String,
    pub config: ConfigFacts,
    /// Per runtime binary of the config (`[runtime]`, per-image ones).
    pub runtimes: Vec<(PathBuf, ProgramFacts)>,
    /// Per image name: its path.
    pub images: Vec<(String, PathFacts)>,
    pub exec_helper: Option<ProgramFacts>,
    pub bases: Vec<(BaseDir, BaseFacts)>,
    /// `slurmd -V` (else `scontrol -V`): the command and its output.
    pub slurm_version: (String, Result<String, String>),
    pub show_config: Result<String, String>,
    pub show_node: Result<String, String>,
    pub plugin_search: PluginSearch,
    pub plugins: Vec<PluginFacts>,
    pub prolog: Vec<ScriptFacts>,
    pub epilog: Vec<ScriptFacts>,
}

/// The runtimes the config uses: kind, binary, and the images that use a
/// runtime other than `[runtime] kind` (through `launch::runtime_of`).
pub fn runtimes(cfg: &Config) -> Vec<(RuntimeKind, PathBuf, Vec<String>)> {
    let mut out = vec![(cfg.runtime.kind, cfg.runtime.path.clone(), Vec::new())];
    for img in cfg.images.values() {
        let (kind, path) = crate::launch::runtime_of(cfg, img);
        if kind == cfg.runtime.kind {
            continue;
        }
        match out.iter_mut().find(|(_, p, _)| *p == path) {
            Some((_, _, users)) => users.push(img.name.clone()),
            None => out.push((kind, path, vec![img.name.clone()])),
        }
    }
    out
}

/// The base directories root makes things in on `node`.
pub fn base_dirs(cfg: &Config, node: &str) -> Vec<BaseDir> {
    let p = &cfg.paths;
    let mut out = vec![
        ("paths.state_dir", &p.state_dir),
        ("paths.tmp_base", &p.tmp_base),
    ];
    if let Some(s) = &p.scratch_base {
        out.push(("paths.scratch_base", s));
    }
    out.push(("paths.log_dir", &p.log_dir));
    if let Some(b) = &cfg.beeond {
        out.push(("beeond.data_dir", &b.data_dir));
        out.push(("beeond.mount_base", &b.mount_base));
        out.push(("beeond.status_dir", &b.status_dir));
    }
    out.into_iter()
        .map(|(key, t)| {
            let expanded = t.expand(node, None);
            // `%j` is the job's part: root makes it per job, inside what
            // comes before it.
            let path: PathBuf = expanded
                .components()
                .take_while(|c| !c.as_os_str().to_string_lossy().contains("%j"))
                .collect();
            BaseDir {
                key,
                template: t.as_str().to_string(),
                path,
            }
        })
        .collect()
}

/// Whether tasks reach the runtime through carme-exec on this series.
pub fn needs_exec_helper(series: (u32, u32)) -> bool {
    series < PREPEND_ARGV_SINCE
}

/// All findings for `f`, in the order of the checks.
pub fn evaluate(f: &NodeFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let cfg = f.config.parsed.as_ref().ok();
    config(&f.config, &mut out);
    let version = slurm_version(f, &mut out);
    if let Some(cfg) = cfg {
        runtime(cfg, &f.runtimes, &mut out);
        images(cfg, &f.images, &mut out);
        exec_helper(cfg, f.exec_helper.as_ref(), version, &mut out);
        for (base, facts) in &f.bases {
            out.push(base_dir(base, facts));
        }
    }
    plugin(f, version, &mut out);
    gate_feature(f, version, &mut out);
    slurm_conf(f, cfg, &mut out);
    out
}

fn config(c: &ConfigFacts, out: &mut Vec<Finding>) {
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

/// The running Slurm's version, with its finding.
fn slurm_version(f: &NodeFacts, out: &mut Vec<Finding>) -> Option<SlurmVersion> {
    let (cmd, result) = &f.slurm_version;
    let fix = "install Slurm's slurmd on this node (check-node asks `slurmd -V`, else \
               `scontrol -V` with SLURM_CONF)"
        .to_string();
    match result {
        Ok(text) => match slurminfo::parse_version_output(text) {
            Some(v) => {
                out.push(ok(
                    "slurm-version",
                    None,
                    format!("Slurm {v} (series {}, from `{cmd}`)", v.series_text()),
                ));
                Some(v)
            }
            None => {
                out.push(problem(
                    "slurm-version",
                    None,
                    Status::Error,
                    format!(
                        "cannot tell the Slurm version: `{cmd}` printed {:?}",
                        first_line(text)
                    ),
                    fix,
                ));
                None
            }
        },
        Err(e) => {
            out.push(problem(
                "slurm-version",
                None,
                Status::Error,
                format!("cannot tell the Slurm version: `{cmd}`: {e}"),
                fix,
            ));
            None
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// Why a program file cannot be run, if so; or a warning about who may
/// replace it.
fn program_problem(file: &PathFacts) -> Option<(Status, String)> {
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

fn runtime(cfg: &Config, facts: &[(PathBuf, ProgramFacts)], out: &mut Vec<Finding>) {
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

fn images(cfg: &Config, facts: &[(String, PathFacts)], out: &mut Vec<Finding>) {
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

fn exec_helper(
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
fn dir_problem(m: &Meta) -> Option<(String, bool)> {
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

fn base_dir(base: &BaseDir, facts: &BaseFacts) -> Finding {
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

fn plugin(f: &NodeFacts, version: Option<SlurmVersion>, out: &mut Vec<Finding>) {
    let where_ = match &f.plugin_search {
        PluginSearch::Given => "--plugin".to_string(),
        PluginSearch::Plugstack { file: Some(p), .. } => p.display().to_string(),
        PluginSearch::Plugstack { file: None, .. } => "the plugstack config".to_string(),
    };
    if let PluginSearch::Plugstack { file, unreadable } = &f.plugin_search {
        if file.is_none() {
            out.push(problem(
                "plugin",
                None,
                Status::Error,
                "cannot find the plugstack config: `scontrol show config` gave no \
                 PlugStackConfig"
                    .into(),
                "check that slurmctld answers (SLURM_CONF), or name the plugin with --plugin \
                 PATH"
                    .into(),
            ));
        }
        for (p, e) in unreadable {
            out.push(problem(
                "plugin",
                Some(p.display().to_string()),
                Status::Error,
                format!("cannot read the plugstack file {}: {e}", p.display()),
                "make it readable (Slurm reads it on every srun, sbatch and salloc too)".into(),
            ));
        }
        if file.is_some() && f.plugins.is_empty() {
            out.push(problem(
                "plugin",
                None,
                Status::Error,
                format!("no line of {where_} (or the files it includes) loads Carme"),
                format!(
                    "add `required /PATH/libcarme_spank.so config={}` to {where_} (see Carme's \
                     plugstack snippet)",
                    DEFAULT_CONFIG_PATH
                ),
            ));
        }
    }
    if f.plugins.len() > 1 {
        let all: Vec<String> = f
            .plugins
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        out.push(problem(
            "plugin",
            None,
            Status::Warning,
            format!(
                "Carme is loaded {} times: {}",
                f.plugins.len(),
                all.join(", ")
            ),
            "keep one plugstack line for Carme".into(),
        ));
    }
    for p in &f.plugins {
        let subject = Some(p.path.display().to_string());
        let at = match &p.line {
            Some((file, line)) => {
                let n = match line {
                    PlugstackLine::Include { line, .. }
                    | PlugstackLine::Plugin { line, .. }
                    | PlugstackLine::Unknown { line, .. } => *line,
                };
                format!("the plugin {} ({}:{n})", p.path.display(), file.display())
            }
            None => format!("the plugin {}", p.path.display()),
        };
        match (&p.version, version) {
            (Err(e), _) => out.push(problem(
                "plugin",
                subject.clone(),
                Status::Error,
                format!("{at}: cannot read its plugin_version: {e}"),
                "install Carme's plugin there (the package for this Slurm series)".into(),
            )),
            (Ok(n), Some(running)) => {
                let built = SlurmVersion::from_number(*n);
                if built.series() == running.series() {
                    out.push(ok(
                        "plugin",
                        subject.clone(),
                        format!(
                            "{at} is built for Slurm {}, the series running here",
                            built.series_text()
                        ),
                    ));
                } else {
                    out.push(problem(
                        "plugin",
                        subject.clone(),
                        Status::Error,
                        format!(
                            "{at} is built for Slurm {} but this node runs Slurm {}: Slurm \
                             refuses to load it (\"Incompatible plugin version\"), and with \
                             `required` every srun, sbatch and salloc here fails",
                            built.series_text(),
                            running
                        ),
                        format!(
                            "install Carme's package for Slurm {0} (or rebuild the plugin \
                             against Slurm {0}'s libslurm-dev)",
                            running.series_text()
                        ),
                    ));
                }
            }
            (Ok(n), None) => out.push(problem(
                "plugin",
                subject.clone(),
                Status::Warning,
                format!(
                    "{at} is built for Slurm {}; the running Slurm's version is unknown",
                    SlurmVersion::from_number(*n).series_text()
                ),
                "see slurm-version".into(),
            )),
        }
        if let Some((_, line @ PlugstackLine::Plugin { required, .. })) = &p.line {
            if !required {
                out.push(problem(
                    "plugin",
                    subject.clone(),
                    Status::Warning,
                    format!(
                        "{at} is loaded `optional`: where it fails to load, Slurm runs Carme \
                         jobs without Carme's checks and containers"
                    ),
                    "use `required` (the plugin fails only Carme jobs for a broken config)".into(),
                ));
            }
            let reads = line.config_arg().unwrap_or(DEFAULT_CONFIG_PATH);
            if Path::new(reads) != f.config.path {
                out.push(problem(
                    "plugin",
                    subject,
                    Status::Warning,
                    format!(
                        "{at} reads the config {reads}, not {} that was checked",
                        f.config.path.display()
                    ),
                    format!("run check-node --config {reads}, or correct its config= argument"),
                ));
            }
        }
    }
}

fn gate_feature(f: &NodeFacts, version: Option<SlurmVersion>, out: &mut Vec<Finding>) {
    let feature = match (&f.config.parsed, &f.config.text) {
        (Ok(cfg), _) => cfg.gate.feature.clone(),
        (Err(_), Some(text)) => crate::config::basics_of_broken_config(text).feature,
        (Err(_), None) => crate::config::DEFAULT_FEATURE.to_string(),
    };
    let node = &f.node;
    let text = match &f.show_node {
        Ok(t) => t,
        Err(e) => {
            out.push(problem(
                "gate-feature",
                None,
                Status::Error,
                format!("cannot ask slurmctld about node {node}: {e}"),
                "check that slurmctld answers `scontrol show node` here (SLURM_CONF)".into(),
            ));
            return;
        }
    };
    let Some(info) = slurminfo::parse_nodes(text)
        .into_iter()
        .find(|n| &n.name == node)
    else {
        out.push(problem(
            "gate-feature",
            None,
            Status::Error,
            format!(
                "slurmctld does not know a node {node}: {}",
                first_line(text)
            ),
            "name the node as slurm.conf's NodeName does with --node NAME (default: this \
             host's short name)"
                .into(),
        ));
        return;
    };
    let has = |list: &[String]| list.contains(&feature);
    let shown = |list: &[String]| {
        if list.is_empty() {
            "(none)".to_string()
        } else {
            list.join(",")
        }
    };
    if !has(&info.available_features) {
        out.push(problem(
            "gate-feature",
            None,
            Status::Error,
            format!(
                "node {node} lacks the gate feature `{feature}` ([gate] feature; its features: \
                 {}): Carme jobs (--constraint={feature}) never run here",
                shown(&info.available_features)
            ),
            format!(
                "add {feature} to Feature= of NodeName={node} in slurm.conf, then `scontrol \
                 reconfigure` (or restart slurmctld and slurmd)"
            ),
        ));
    } else if !has(&info.active_features) {
        out.push(problem(
            "gate-feature",
            None,
            Status::Warning,
            format!(
                "node {node} has the gate feature `{feature}` but it is not active (active: {})",
                shown(&info.active_features)
            ),
            "see your node features plugin (the node may need a reboot)".into(),
        ));
    } else {
        out.push(ok(
            "gate-feature",
            None,
            format!("node {node} has the gate feature `{feature}`"),
        ));
    }
    // The slurmd running for this node, against the installed one.
    if let (Some(running), Some(installed)) = (
        info.version.as_deref().and_then(SlurmVersion::parse),
        version,
    ) && running.series() != installed.series()
    {
        out.push(problem(
            "slurm-version",
            None,
            Status::Warning,
            format!("the slurmd running for {node} is {running}, the one installed is {installed}"),
            "restart slurmd after the upgrade (with the plugin for the new series installed)"
                .into(),
        ));
    }
}

/// Whether `Prolog=`/`Epilog=`'s programs include `program`: directly
/// (or through a symlink), or through a wrapper script that runs it.
fn runs_ours(scripts: &[ScriptFacts], program: &str) -> Option<String> {
    scripts.iter().find_map(|s| {
        let named = |p: &Path| p.file_name().is_some_and(|n| n == program);
        if named(&s.path) || s.real.as_ref().is_ok_and(|r| named(r)) {
            Some(format!("{} is {program}", s.path.display()))
        } else if s
            .text
            .as_deref()
            .is_some_and(|t| slurminfo::script_runs(t, program))
        {
            Some(format!("{} runs {program}", s.path.display()))
        } else {
            None
        }
    })
}

fn slurm_conf(f: &NodeFacts, cfg: Option<&Config>, out: &mut Vec<Finding>) {
    let conf = match &f.show_config {
        Ok(t) => slurminfo::parse_show_config(t),
        Err(e) => {
            out.push(problem(
                "prolog",
                None,
                Status::Error,
                format!(
                    "cannot read the running slurm.conf (`scontrol show config`): {e}; Prolog, \
                     Epilog, PrologFlags and ConstrainDevices are not checked"
                ),
                "check that slurmctld answers here (SLURM_CONF)".into(),
            ));
            return;
        }
    };
    for (check, key, program, wrapper, scripts) in [
        (
            "prolog",
            "Prolog",
            "carme-prolog",
            "/etc/carme/prolog",
            &f.prolog,
        ),
        (
            "epilog",
            "Epilog",
            "carme-epilog",
            "/etc/carme/epilog",
            &f.epilog,
        ),
    ] {
        let fix = format!(
            "set {key}={wrapper} in slurm.conf (the package's wrapper, which runs \
             /usr/libexec/carme/{program}; see Carme's slurm.conf snippet), then \
             `scontrol reconfigure`"
        );
        match conf.list(key) {
            None => out.push(problem(
                check,
                None,
                Status::Error,
                format!(
                    "slurm.conf sets no {key}: nothing makes or removes Carme jobs' directories \
                     and BeeOND, or records jobs for slurmstepd"
                ),
                fix,
            )),
            Some(value) => match runs_ours(scripts, program) {
                Some(how) => out.push(ok(check, None, format!("{key}={value}: {how}"))),
                None => out.push(problem(
                    check,
                    None,
                    Status::Error,
                    format!("{key}={value} does not run {program}"),
                    fix,
                )),
            },
        }
    }
    match conf.get("PrologFlags") {
        Some(flags)
            if flags.split(',').any(|x| {
                ["alloc", "contain", "runinjob"].contains(&x.trim().to_ascii_lowercase().as_str())
            }) =>
        {
            out.push(ok("prolog-flags", None, format!("PrologFlags={flags}")))
        }
        other => out.push(problem(
            "prolog-flags",
            None,
            Status::Error,
            format!(
                "PrologFlags={} lacks Alloc: the prolog runs only where a step starts, so \
                 BeeOND and the job's directories are not ready on every node at allocation",
                other.unwrap_or("(none)")
            ),
            "add Alloc to PrologFlags= in slurm.conf (PrologFlags=Alloc)".into(),
        )),
    }
    constrain_devices(&conf, cfg, out);
}

fn constrain_devices(conf: &ShowConfig, cfg: Option<&Config>, out: &mut Vec<Finding>) {
    if let Some(cfg) = cfg
        && !cfg.gpu.hide_unallocated
    {
        out.push(ok(
            "constrain-devices",
            None,
            "not needed: [gpu] hide_unallocated is false".into(),
        ));
        return;
    }
    let fix = "set ConstrainDevices=yes in cgroup.conf with TaskPlugin=task/cgroup in \
               slurm.conf (restart slurmd), or set [gpu] hide_unallocated = false"
        .to_string();
    let setting = conf
        .cgroup
        .as_ref()
        .and_then(|c| c.get("ConstrainDevices"))
        .map(String::as_str);
    match setting {
        Some(v) if v.eq_ignore_ascii_case("yes") => out.push(ok(
            "constrain-devices",
            None,
            "ConstrainDevices=yes: the kernel keeps jobs off GPUs not allocated to them".into(),
        )),
        Some(v) => out.push(problem(
            "constrain-devices",
            None,
            Status::Error,
            format!(
                "ConstrainDevices={v}: Carme hides unallocated GPUs ([gpu] hide_unallocated), \
                 but the kernel does not keep a job off them"
            ),
            fix,
        )),
        None => out.push(problem(
            "constrain-devices",
            None,
            Status::Error,
            format!(
                "no cgroup plugin constrains devices (TaskPlugin={}, no cgroup.conf settings \
                 in `scontrol show config`): Carme hides unallocated GPUs ([gpu] \
                 hide_unallocated), but the kernel does not keep a job off them",
                conf.get("TaskPlugin").unwrap_or("(none)")
            ),
            fix,
        )),
    }
}

/// How many findings have each status: (ok, warnings, errors).
pub fn tally(findings: &[Finding]) -> (usize, usize, usize) {
    let n = |s| findings.iter().filter(|f| f.status == s).count();
    (n(Status::Ok), n(Status::Warning), n(Status::Error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const CONFIG_PATH: &str = "/var/lib/carme-test/h-checknode/etc/carme.toml";
    const PLUGSTACK: &str = "/var/lib/carme-test/h-checknode/etc/plugstack.conf";
    const PLUGIN: &str = "/var/lib/carme-test/h-checknode/lib/libcarme_spank.so";
    const PROLOG: &str = "/var/lib/carme-test/h-checknode/libexec/prolog.sh";
    const EPILOG: &str = "/var/lib/carme-test/h-checknode/libexec/epilog.sh";
    const SHOW_CONFIG_CGROUP: &str = include_str!("../testdata/slurm-22.05/show-config-cgroup.txt");
    const SHOW_CONFIG: &str = include_str!("../testdata/slurm-22.05/show-config.txt");
    const SHOW_CONFIG_NODEV: &str =
        include_str!("../testdata/slurm-22.05/show-config-cgroup-nodevices.txt");
    const NODE_N1: &str = include_str!("../testdata/slurm-22.05/show-node-o-n1.txt");
    const NODE_N3: &str = include_str!("../testdata/slurm-22.05/show-node-n3.txt");

    const TOML: &str = r#"
[gate]
feature = "carme"

[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
exec_helper = "/usr/libexec/carme/carme-exec"

[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/lib/carme/tmp/%n"
scratch_base = "/local/%n/%j/scratch"

[images.base]
path = "/srv/images/base"

[images.sif]
path = "/srv/images/x.sif"
runtime = "apptainer"
"#;

    fn dir(uid: u32, mode: u32) -> Meta {
        Meta {
            uid,
            mode: 0o040_000 | mode,
            size: 0,
        }
    }

    fn file(uid: u32, mode: u32) -> Meta {
        Meta {
            uid,
            mode: 0o100_000 | mode,
            size: 1,
        }
    }

    fn link() -> Meta {
        Meta {
            uid: 0,
            mode: 0o120_777,
            size: 1,
        }
    }

    /// Every component of `path` a root-owned 0755 directory.
    fn chain(path: &Path) -> BaseFacts {
        let mut steps = Vec::new();
        let mut cur = PathBuf::new();
        for c in path.components() {
            cur.push(c);
            steps.push(PathStep {
                path: cur.clone(),
                meta: Ok(dir(0, 0o755)),
            });
        }
        BaseFacts {
            steps,
            exists: true,
        }
    }

    fn program(version: &str) -> ProgramFacts {
        ProgramFacts {
            file: PathFacts::Found(file(0, 0o755)),
            version: Some(Ok(version.into())),
            unprobed: None,
        }
    }

    fn config_facts(text: &str) -> ConfigFacts {
        ConfigFacts {
            path: CONFIG_PATH.into(),
            trust: None,
            text: Some(text.into()),
            parsed: Config::parse_all(text, Path::new(CONFIG_PATH)),
        }
    }

    fn wrapper(program: &str) -> String {
        format!(
            "#!/bin/sh\nexec /var/lib/carme-test/h-checknode/libexec/{program} --config \
             {CONFIG_PATH}\n"
        )
    }

    /// A node where every check passes (Slurm 22.05, as captured).
    fn good() -> NodeFacts {
        let config = config_facts(TOML);
        let cfg = config.parsed.clone().unwrap();
        NodeFacts {
            node: "n1".into(),
            runtimes: vec![
                ("/usr/bin/ch-run".into(), program("0.38")),
                (
                    "/usr/bin/apptainer".into(),
                    program("apptainer version 1.4.0"),
                ),
            ],
            images: vec![
                ("base".into(), PathFacts::Found(dir(0, 0o755))),
                ("sif".into(), PathFacts::Found(file(0, 0o644))),
            ],
            exec_helper: Some(program("")),
            bases: base_dirs(&cfg, "n1")
                .into_iter()
                .map(|b| {
                    let c = chain(&b.path);
                    (b, c)
                })
                .collect(),
            config,
            slurm_version: ("slurmd -V".into(), Ok("slurm-wlm 22.05.8\n".into())),
            show_config: Ok(SHOW_CONFIG_CGROUP.into()),
            show_node: Ok(NODE_N1.into()),
            plugin_search: PluginSearch::Plugstack {
                file: Some(PLUGSTACK.into()),
                unreadable: vec![],
            },
            plugins: vec![PluginFacts {
                line: Some((
                    PLUGSTACK.into(),
                    slurminfo::parse_plugstack(&format!("required {PLUGIN} config={CONFIG_PATH}"))
                        .remove(0),
                )),
                path: PLUGIN.into(),
                version: Ok(0x160508),
            }],
            prolog: vec![ScriptFacts {
                path: PROLOG.into(),
                real: Ok(PROLOG.into()),
                text: Some(wrapper("carme-prolog")),
            }],
            epilog: vec![ScriptFacts {
                path: EPILOG.into(),
                real: Ok(EPILOG.into()),
                text: Some(wrapper("carme-epilog")),
            }],
        }
    }

    fn not_ok(findings: &[Finding]) -> Vec<(&'static str, Status)> {
        findings
            .iter()
            .filter(|f| f.status != Status::Ok)
            .map(|f| (f.check, f.status))
            .collect()
    }

    #[test]
    fn a_good_node_passes_every_check() {
        let all = evaluate(&good());
        assert_eq!(not_ok(&all), [], "{all:#?}");
        let checks: BTreeSet<_> = all.iter().map(|f| f.check).collect();
        for c in [
            "config",
            "config-trust",
            "slurm-version",
            "runtime",
            "image",
            "exec-helper",
            "base-dir",
            "plugin",
            "gate-feature",
            "prolog",
            "epilog",
            "prolog-flags",
            "constrain-devices",
        ] {
            assert!(checks.contains(c), "{c} missing: {all:#?}");
        }
        assert_eq!(tally(&all), (all.len(), 0, 0));
        // One finding per runtime, image and base.
        let n = |c| all.iter().filter(|f| f.check == c).count();
        assert_eq!((n("runtime"), n("image"), n("base-dir")), (2, 2, 4));
        let rt: Vec<_> = all.iter().filter(|f| f.check == "runtime").collect();
        assert!(
            rt[0]
                .message
                .contains("charliecloud runtime /usr/bin/ch-run ([runtime] path): 0.38")
        );
        assert!(
            rt[1]
                .message
                .contains("apptainer runtime /usr/bin/apptainer (for image sif)")
        );
    }

    use std::collections::BTreeSet;

    type Case = (
        &'static str,
        fn(&mut NodeFacts),
        &'static [(&'static str, Status, &'static str)],
    );

    /// Each broken fact: exactly the findings it must cause, no others.
    #[test]
    fn every_check_fails_on_its_own_facts() {
        use Status::{Error, Warning};
        let cases: &[Case] = &[
            (
                "two config errors",
                |f| {
                    f.config = config_facts(
                        &TOML
                            .replace("feature = \"carme\"", "feature = \"car me\"")
                            .replace("path = \"/srv/images/base\"", "path = \"base\""),
                    )
                },
                &[
                    ("config", Error, "gate.feature"),
                    ("config", Error, "images.base.path"),
                ],
            ),
            (
                "untrusted config",
                |f| {
                    f.config.trust = Some(ConfigError {
                        file: CONFIG_PATH.into(),
                        line: None,
                        key: None,
                        message: "root must not use this config: mode 0664".into(),
                    })
                },
                &[("config-trust", Error, "mode 0664")],
            ),
            (
                "missing config",
                |f| {
                    f.config.text = None;
                    f.config.parsed = Err(vec![ConfigError {
                        file: CONFIG_PATH.into(),
                        line: None,
                        key: None,
                        message: "cannot read the config file: No such file".into(),
                    }]);
                },
                &[("config", Error, "cannot read")],
            ),
            (
                "runtime missing",
                |f| f.runtimes[0].1.file = PathFacts::Missing,
                &[(
                    "runtime",
                    Error,
                    "/usr/bin/ch-run ([runtime] path) does not exist",
                )],
            ),
            (
                "runtime not executable",
                |f| f.runtimes[1].1.file = PathFacts::Found(file(0, 0o644)),
                &[(
                    "runtime",
                    Error,
                    "apptainer runtime /usr/bin/apptainer (for image sif) is not executable",
                )],
            ),
            (
                "runtime a directory",
                |f| f.runtimes[0].1.file = PathFacts::Found(dir(0, 0o755)),
                &[("runtime", Error, "is not a regular file")],
            ),
            (
                "runtime others may replace",
                |f| f.runtimes[0].1.file = PathFacts::Found(file(1000, 0o755)),
                &[(
                    "runtime",
                    Warning,
                    "can be replaced by others than root (owner uid 1000",
                )],
            ),
            (
                "runtime version fails",
                |f| f.runtimes[0].1.version = Some(Err("exit status 1".into())),
                &[("runtime", Warning, "`--version` failed: exit status 1")],
            ),
            (
                "runtime in a directory others can write: not run as root",
                |f| {
                    f.runtimes[0].1.version = None;
                    f.runtimes[0].1.unprobed =
                        Some("/opt is owned by uid 1000 with mode 0755".into());
                },
                &[(
                    "runtime",
                    Warning,
                    "its version was not asked, as root: /opt is owned by uid 1000",
                )],
            ),
            (
                "image missing",
                |f| f.images[0].1 = PathFacts::Missing,
                &[(
                    "image",
                    Error,
                    "image `base` (/srv/images/base) does not exist",
                )],
            ),
            (
                "charliecloud image not a directory",
                |f| f.images[0].1 = PathFacts::Found(file(0, 0o644)),
                &[(
                    "image",
                    Error,
                    "is not a directory: ch-run runs image directories",
                )],
            ),
            (
                "exec helper missing on 22.05",
                |f| f.exec_helper.as_mut().unwrap().file = PathFacts::Missing,
                &[(
                    "exec-helper",
                    Error,
                    "carme-exec /usr/libexec/carme/carme-exec does not exist; Slurm 22.05 needs it",
                )],
            ),
            (
                "exec helper missing on 24.11: not needed",
                |f| {
                    f.exec_helper.as_mut().unwrap().file = PathFacts::Missing;
                    f.slurm_version.1 = Ok("slurm 24.11.5".into());
                    f.plugins[0].version = Ok(0x180b05);
                    f.show_node = Ok(NODE_N1.replace("22.05.8", "24.11.5"));
                },
                &[],
            ),
            (
                "Slurm version unknown",
                |f| {
                    f.exec_helper.as_mut().unwrap().file = PathFacts::Missing;
                    f.slurm_version = ("scontrol -V".into(), Err("exit status 1: fatal".into()));
                },
                &[
                    (
                        "slurm-version",
                        Error,
                        "cannot tell the Slurm version: `scontrol -V`: exit status 1",
                    ),
                    ("exec-helper", Warning, "does not exist"),
                    (
                        "plugin",
                        Warning,
                        "built for Slurm 22.05; the running Slurm's version is unknown",
                    ),
                ],
            ),
            (
                "base group-writable",
                |f| f.bases[1].1.steps.last_mut().unwrap().meta = Ok(dir(0, 0o775)),
                &[(
                    "base-dir",
                    Error,
                    "[paths] tmp_base /var/lib/carme/tmp/n1 (/var/lib/carme/tmp/%n): /var/lib/carme/tmp/n1 is writable by group or others (owner uid 0, mode 0775)",
                )],
            ),
            (
                "base parent sticky",
                |f| f.bases[1].1.steps[2].meta = Ok(dir(0, 0o1777)),
                &[(
                    "base-dir",
                    Error,
                    "/var/lib is sticky and writable by others",
                )],
            ),
            (
                "base parent a user's",
                |f| f.bases[0].1.steps[1].meta = Ok(dir(1000, 0o755)),
                &[(
                    "base-dir",
                    Error,
                    "/run is not root's (owner uid 1000, mode 0755)",
                )],
            ),
            (
                "base parent a symlink",
                |f| f.bases[0].1.steps[2].meta = Ok(link()),
                &[("base-dir", Error, "/run/carme is a symlink")],
            ),
            (
                "base parent unreadable",
                |f| f.bases[0].1.steps[2].meta = Err("Permission denied".into()),
                &[(
                    "base-dir",
                    Error,
                    "/run/carme cannot be checked: Permission denied",
                )],
            ),
            (
                "plugin of another series",
                |f| f.plugins[0].version = Ok(0x180b05),
                &[(
                    "plugin",
                    Error,
                    "is built for Slurm 24.11 but this node runs Slurm 22.05.8",
                )],
            ),
            (
                "plugin unreadable",
                |f| f.plugins[0].version = Err("it is not an ELF file".into()),
                &[(
                    "plugin",
                    Error,
                    "cannot read its plugin_version: it is not an ELF file",
                )],
            ),
            (
                "no plugstack line",
                |f| f.plugins.clear(),
                &[(
                    "plugin",
                    Error,
                    "no line of /var/lib/carme-test/h-checknode/etc/plugstack.conf (or the files it includes) loads Carme",
                )],
            ),
            (
                "plugstack include unreadable",
                |f| {
                    f.plugin_search = PluginSearch::Plugstack {
                        file: Some(PLUGSTACK.into()),
                        unreadable: vec![(
                            "/etc/slurm/plugstack.conf.d/x.conf".into(),
                            "Permission denied".into(),
                        )],
                    }
                },
                &[(
                    "plugin",
                    Error,
                    "cannot read the plugstack file /etc/slurm/plugstack.conf.d/x.conf",
                )],
            ),
            (
                "plugin optional, other config",
                |f| {
                    f.plugins[0].line.as_mut().unwrap().1 =
                        slurminfo::parse_plugstack(&format!("optional {PLUGIN}")).remove(0)
                },
                &[
                    ("plugin", Warning, "is loaded `optional`"),
                    (
                        "plugin",
                        Warning,
                        "reads the config /etc/carme/carme.toml, not /var/lib/carme-test/h-checknode/etc/carme.toml",
                    ),
                ],
            ),
            (
                "loaded twice",
                |f| f.plugins.push(f.plugins[0].clone()),
                &[("plugin", Warning, "Carme is loaded 2 times")],
            ),
            (
                "node without the gate feature",
                |f| {
                    f.node = "n3".into();
                    f.show_node = Ok(NODE_N3.into());
                },
                &[(
                    "gate-feature",
                    Error,
                    "node n3 lacks the gate feature `carme` ([gate] feature; its features: (none))",
                )],
            ),
            (
                "unknown node",
                |f| {
                    f.node = "nope".into();
                    f.show_node = Ok("Node nope not found\n".into());
                },
                &[(
                    "gate-feature",
                    Error,
                    "slurmctld does not know a node nope: Node nope not found",
                )],
            ),
            (
                "feature not active",
                |f| {
                    f.show_node =
                        Ok(NODE_N1.replace("ActiveFeatures=carme,beeond", "ActiveFeatures=beeond"))
                },
                &[("gate-feature", Warning, "is not active (active: beeond)")],
            ),
            (
                "broken config: the gate feature from what can be read",
                |f| {
                    f.config = config_facts(
                        &TOML.replace("feature = \"carme\"", "feature = \"gpu\"\nx = 1"),
                    );
                },
                &[
                    ("config", Error, "gate.x"),
                    ("gate-feature", Error, "lacks the gate feature `gpu`"),
                ],
            ),
            (
                "slurmd restarted for another series",
                |f| f.show_node = Ok(NODE_N1.replace("Version=22.05.8", "Version=21.08.5")),
                &[(
                    "slurm-version",
                    Warning,
                    "the slurmd running for n1 is 21.08.5, the one installed is 22.05.8",
                )],
            ),
            (
                "scontrol show node fails",
                |f| f.show_node = Err("timed out".into()),
                &[(
                    "gate-feature",
                    Error,
                    "cannot ask slurmctld about node n1: timed out",
                )],
            ),
            (
                "no Prolog",
                |f| {
                    f.show_config =
                        Ok(SHOW_CONFIG_CGROUP.replace(&format!("= {PROLOG}"), "= (null)"))
                },
                &[("prolog", Error, "slurm.conf sets no Prolog")],
            ),
            (
                "Prolog of someone else",
                |f| f.prolog[0].text = Some("#!/bin/sh\nexec /etc/slurm/site-prolog\n".into()),
                &[("prolog", Error, "does not run carme-prolog")],
            ),
            (
                "Epilog runs the prolog",
                |f| f.epilog[0].text = Some(wrapper("carme-prolog")),
                &[("epilog", Error, "does not run carme-epilog")],
            ),
            (
                "PrologFlags without Alloc",
                |f| f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("= Alloc", "= Serial")),
                &[("prolog-flags", Error, "PrologFlags=Serial lacks Alloc")],
            ),
            (
                "no cgroup plugin",
                |f| f.show_config = Ok(SHOW_CONFIG.into()),
                &[(
                    "constrain-devices",
                    Error,
                    "no cgroup plugin constrains devices (TaskPlugin=task/none",
                )],
            ),
            (
                "ConstrainDevices=no",
                |f| f.show_config = Ok(SHOW_CONFIG_NODEV.into()),
                &[("constrain-devices", Error, "ConstrainDevices=no")],
            ),
            (
                "scontrol show config fails",
                |f| f.show_config = Err("exit status 1: Unable to contact slurm controller".into()),
                &[(
                    "prolog",
                    Error,
                    "cannot read the running slurm.conf (`scontrol show config`): exit status 1",
                )],
            ),
        ];
        for (name, change, want) in cases {
            let mut f = good();
            change(&mut f);
            let all = evaluate(&f);
            let got = not_ok(&all);
            let want_kinds: Vec<_> = want.iter().map(|(c, s, _)| (*c, *s)).collect();
            assert_eq!(got, want_kinds, "{name}: {all:#?}");
            let bad: Vec<_> = all.iter().filter(|f| f.status != Status::Ok).collect();
            for (f, (_, _, text)) in bad.iter().zip(want.iter()) {
                assert!(
                    f.message.contains(text),
                    "{name}: {:?} lacks {text:?}",
                    f.message
                );
                assert!(
                    f.fix.as_deref().is_some_and(|x| !x.is_empty()),
                    "{name}: no fix"
                );
            }
        }
    }

    #[test]
    fn prolog_forms_that_run_ours() {
        let direct = |p: &str, real: &str| ScriptFacts {
            path: p.into(),
            real: Ok(real.into()),
            text: None,
        };
        let cases: &[(&str, Vec<ScriptFacts>, bool)] = &[
            (
                "the program itself",
                vec![direct("/usr/libexec/carme/carme-prolog", "/usr/libexec/carme/carme-prolog")],
                true,
            ),
            (
                "a prolog.d link to it",
                vec![
                    direct("/etc/slurm/prolog.d/10-site", "/etc/slurm/prolog.d/10-site"),
                    direct("/etc/slurm/prolog.d/50-carme", "/usr/libexec/carme/carme-prolog"),
                ],
                true,
            ),
            (
                "a wrapper that runs it first",
                vec![ScriptFacts {
                    path: "/etc/slurm/prolog.sh".into(),
                    real: Ok("/etc/slurm/prolog.sh".into()),
                    text: Some("#!/bin/sh\n/usr/libexec/carme/carme-prolog || exit $?\nexec /etc/slurm/site\n".into()),
                }],
                true,
            ),
            (
                "the package's wrapper (packaging/files/prolog)",
                vec![ScriptFacts {
                    path: "/etc/carme/prolog".into(),
                    real: Ok("/etc/carme/prolog".into()),
                    text: Some(
                        include_str!("../../packaging/files/prolog").into(),
                    ),
                }],
                true,
            ),
            ("nothing there", vec![], false),
            (
                "a missing file",
                vec![ScriptFacts {
                    path: "/etc/slurm/prolog.sh".into(),
                    real: Err("No such file".into()),
                    text: None,
                }],
                false,
            ),
        ];
        for (name, scripts, want) in cases {
            assert_eq!(
                runs_ours(scripts, "carme-prolog").is_some(),
                *want,
                "{name}"
            );
        }
    }

    #[test]
    fn prolog_flags_that_imply_alloc() {
        for (flags, ok) in [
            ("Alloc", true),
            ("Alloc,Contain", true),
            ("Contain", true),
            ("RunInJob", true),
            ("alloc", true),
            ("Serial", false),
            ("NoHold", false),
        ] {
            let mut f = good();
            f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("= Alloc", &format!("= {flags}")));
            let all = evaluate(&f);
            assert_eq!(not_ok(&all).is_empty(), ok, "{flags}: {all:#?}");
        }
        // Absent altogether.
        let mut f = good();
        f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("PrologFlags             = Alloc\n", ""));
        assert_eq!(not_ok(&evaluate(&f)), [("prolog-flags", Status::Error)]);
    }

    #[test]
    fn constrain_devices_only_where_gpus_are_hidden() {
        let mut f = good();
        f.config = config_facts(&format!("{TOML}\n[gpu]\nhide_unallocated = false\n"));
        f.show_config = Ok(SHOW_CONFIG.into());
        let all = evaluate(&f);
        assert_eq!(not_ok(&all), [], "{all:#?}");
        assert!(all.iter().any(|x| {
            x.check == "constrain-devices"
                && x.message
                    .contains("not needed: [gpu] hide_unallocated is false")
        }));
    }

    #[test]
    fn a_base_that_does_not_exist_yet() {
        let mut f = good();
        // /var/lib/carme exists, tmp/n1 below it not yet.
        let b = &mut f.bases[1].1;
        b.steps.truncate(4);
        b.exists = false;
        let all = evaluate(&f);
        assert_eq!(not_ok(&all), []);
        let tmp = all
            .iter()
            .find(|x| x.subject.as_deref() == Some("paths.tmp_base"))
            .unwrap();
        assert!(
            tmp.message
                .contains("does not exist yet (carme-prolog creates it); /var/lib/carme and every"),
            "{}",
            tmp.message
        );
        // ... but its nearest existing ancestor must pass.
        f.bases[1].1.steps[3].meta = Ok(dir(0, 0o777));
        assert_eq!(not_ok(&evaluate(&f)), [("base-dir", Status::Error)]);
    }

    #[test]
    fn base_dirs_expand_the_node_and_stop_before_the_job() {
        let cfg = Config::parse(
            &format!(
                "{TOML}\n[beeond]\ndata_dir = \"/local/beeond/%n\"\nmount_base = \"/mnt/b/%n/%j\"\n"
            ),
            Path::new("/c.toml"),
        )
        .unwrap();
        let got: Vec<_> = base_dirs(&cfg, "n7")
            .into_iter()
            .map(|b| (b.key, b.path.display().to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("paths.state_dir", "/run/carme/n7".to_string()),
                ("paths.tmp_base", "/var/lib/carme/tmp/n7".into()),
                ("paths.scratch_base", "/local/n7".into()),
                ("paths.log_dir", "/var/log/carme".into()),
                ("beeond.data_dir", "/local/beeond/n7".into()),
                ("beeond.mount_base", "/mnt/b/n7".into()),
                ("beeond.status_dir", "/run/carme/beeond".into()),
            ]
        );
    }

    #[test]
    fn exec_helper_by_series() {
        for (series, needed) in [
            ((22, 5), true),
            ((23, 2), true),
            ((23, 11), false),
            ((24, 11), false),
            ((26, 5), false),
        ] {
            assert_eq!(needs_exec_helper(series), needed, "{series:?}");
        }
    }
}
