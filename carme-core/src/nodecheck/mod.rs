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
//!
//! The config and file checks are in `files.rs`, the Slurm ones in
//! `slurm.rs`; here the facts, the findings and the order of the checks.

use std::path::PathBuf;

use crate::config::{Config, ConfigError, RuntimeKind};
use crate::slurminfo::PlugstackLine;
use crate::trust::Meta;

mod files;
mod slurm;

use files::{base_dir, config, exec_helper, images, runtime};
use slurm::{gate_feature, plugin, slurm_conf, slurm_version};

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
    /// Why others than root could change it (the file, or a directory
    /// above its resolved path); None where it is root's alone or absent.
    pub others_can_change: Option<String>,
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
    /// As for [`PluginFacts::others_can_change`]: slurmd runs it as root.
    pub others_can_change: Option<String>,
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

/// How many findings have each status: (ok, warnings, errors).
pub fn tally(findings: &[Finding]) -> (usize, usize, usize) {
    let n = |s| findings.iter().filter(|f| f.status == s).count();
    (n(Status::Ok), n(Status::Warning), n(Status::Error))
}

#[cfg(test)]
mod tests;
