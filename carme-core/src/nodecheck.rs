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
mod tests;
