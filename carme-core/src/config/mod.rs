//! The Carme config file (TOML): parsing, validation and the typed `Config`.
//!
//! Strict on purpose: an unknown key, a wrong type or a value that cannot be
//! right is an error that names the file, the line and the dotted key, so an
//! admin reading a job's refusal (or the log) can go straight to the fix.
//! Reading the file is the only I/O in this crate.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::limits::Limits;
use crate::sections;
use crate::template::PathTemplate;

mod locate;
mod raw;
mod validate;

#[cfg(test)]
mod config_arg_tests;
#[cfg(test)]
mod node_key_tests;
#[cfg(test)]
mod tests;

use locate::{line_of_key, remove_key};
use raw::{deserialize, locator};
use validate::validate;
pub use validate::{bind_path_problem, valid_env_name, valid_feature, valid_image_name};

/// Where the plugin, prolog, epilog and carme-launch look when not told.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/carme/carme.toml";

/// The value of a root-run program's `--config` (carme-prolog,
/// carme-epilog): an absolute path only, so that what root reads never
/// depends on the directory slurmd started it in.
pub fn absolute_config_arg(arg: &str) -> Result<PathBuf, String> {
    if arg.starts_with('/') {
        Ok(PathBuf::from(arg))
    } else {
        Err("needs an absolute path".to_string())
    }
}

/// The feature a job's constraint must name to be a Carme job, when
/// `[gate] feature` is not set (or the config cannot be read at all).
pub const DEFAULT_FEATURE: &str = "carme";

/// Where carme-exec (the tasks' hop on Slurm < 23.11) is installed on the
/// nodes when `[runtime] exec_helper` is not set.
pub const DEFAULT_EXEC_HELPER: &str = "/usr/libexec/carme/carme-exec";

/// Where carme-prolog records Carme jobs for slurmstepd, per node.
pub const DEFAULT_STATE_DIR: &str = "/run/carme/%n";
/// Not under /var/tmp (or any directory every user can write): a user
/// could create it there first.
pub const DEFAULT_TMP_BASE: &str = "/var/lib/carme/tmp/%n";
/// BeeOND's status files: root's alone (beeond acts as root on what they
/// name), under /run like the state dir.
pub const DEFAULT_BEEOND_STATUS_DIR: &str = "/run/carme/beeond";
/// Directories every user may write to on a usual Linux node. Root-managed
/// directories of ours must not lie in them: a user can create such a path
/// first, or put things in it.
pub const SHARED_WRITABLE_DIRS: [&str; 6] = [
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run/shm",
    "/run/lock",
    "/var/lock",
];

/// The shared, user-writable directory `path` is in (or is), if any.
pub fn in_shared_writable_dir(path: &Path) -> Option<&'static str> {
    SHARED_WRITABLE_DIRS
        .into_iter()
        .find(|d| path.starts_with(d))
}
pub const DEFAULT_SCRATCH_TARGET: &str = "/scratch";
pub const DEFAULT_SHM_SIZE: &str = "8G";
pub const DEFAULT_LOG_DIR: &str = "/var/log/carme";

/// The most errors [`Config::parse_all`] reports (a file of garbage needs
/// no thousand lines of them).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// A config that could not be used, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `images.base.mounts[0].mode`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The whole validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from (for messages).
    pub source: PathBuf,
    pub gate: Gate,
    pub runtime: Runtime,
    /// Bind mounts for every image, before the image's own.
    pub mounts: Vec<Mount>,
    pub images: BTreeMap<String, Image>,
    pub paths: Paths,
    pub gpu: Gpu,
    pub beeond: Option<Beeond>,
    /// With a scoped load, only the rules that can apply to that user.
    pub limits: Limits,
}

/// Whose rules to load: the user's own and their groups' (account rules
/// are few and always loaded; the account may only be known later).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
}

impl Scope<'static> {
    /// No user's or group's rules: enough for the gate, and cheap.
    pub const NOBODY: Scope<'static> = Scope {
        user: "",
        groups: &[],
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// Node feature whose presence in a job's constraint makes it a Carme job.
    pub feature: String,
    /// Image for Carme jobs that do not name one.
    pub default_image: Option<String>,
    /// How slurmstepd learns a job's constraint.
    pub job_facts: JobFactSource,
}

/// Where slurmstepd gets the facts that decide whether a job is a Carme job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobFactSource {
    /// carme-prolog records every job on the node, Carme or not, so a
    /// missing record means no prolog ran there (not "not Carme"): the
    /// step then asks slurmctld once and keeps the answer for the job's
    /// later steps on the node. Fast and safe with or without `Prolog=`.
    #[default]
    Auto,
    /// Ask slurmctld for every step (one RPC each; needs nothing else).
    Slurmctld,
    /// carme-prolog (Slurm `Prolog=`) records each Carme job on the node;
    /// steps of jobs without a record cost nothing. Steps that ask for an
    /// image without a record still ask slurmctld, to say why. Unsafe
    /// where `Prolog=` is not set: a Carme job that names no image runs
    /// there unchecked.
    Prolog,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Root-owned directory for per-job records (`%n`: node name).
    pub state_dir: PathTemplate,
    /// Per-job tmp: `<tmp_base>/<jobid>`, the job's /tmp on each node.
    pub tmp_base: PathTemplate,
    /// Per-job local scratch `<scratch_base>/<jobid>`; None: no scratch.
    pub scratch_base: Option<PathTemplate>,
    /// Where the job sees its scratch directory.
    pub scratch_target: PathBuf,
    /// Size of each step's /dev/shm tmpfs, in bytes.
    pub shm_size: u64,
    /// Per-job logs of the prolog and epilog: `<log_dir>/<jobid>.log`.
    pub log_dir: PathTemplate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Where the GPU device nodes are (`nvidia<N>`).
    pub device_dir: PathTemplate,
    /// Hide the device nodes of GPUs not allocated to the step.
    pub hide_unallocated: bool,
    /// libnvidia-ml to load: a library name (found by the loader) or an
    /// absolute path.
    pub nvml: PathBuf,
}

/// BeeOND (BeeGFS On Demand) for jobs that ask for it; absent: disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beeond {
    pub command: PathBuf,
    /// A job whose constraint names this feature gets a BeeOND.
    pub feature: String,
    pub data_dir: PathTemplate,
    /// Mount point: `<mount_base>/<jobid>`.
    pub mount_base: PathTemplate,
    /// Status file: `<status_dir>/beeond-<jobid>.tmp`.
    pub status_dir: PathTemplate,
    pub start_timeout: std::time::Duration,
    pub stop_timeout: std::time::Duration,
    /// How long the job's other nodes wait for the mount.
    pub wait_timeout: std::time::Duration,
    pub extra_start_args: Vec<String>,
}

/// A CUDA version as NVML reports it (major * 1000 + minor * 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CudaVersion(pub u32);

impl CudaVersion {
    pub fn parse(s: &str) -> Result<CudaVersion, String> {
        let bad = || format!("`{s}` is not a CUDA version such as \"12.4\"");
        let (maj, min) = s.split_once('.').ok_or_else(bad)?;
        let maj: u32 = maj.parse().map_err(|_| bad())?;
        let min: u32 = min.parse().map_err(|_| bad())?;
        if maj == 0 || maj > 99 || min > 9 {
            return Err(bad());
        }
        Ok(CudaVersion(maj * 1000 + min * 10))
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 1000, (self.0 % 1000) / 10)
    }
}

/// What slurmstepd, the prolog and the epilog need to tell Carme jobs
/// from others; known (best effort) even for a broken config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateBasics {
    pub feature: String,
    pub job_facts: JobFactSource,
    pub state_dir: PathTemplate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Charliecloud,
    Apptainer,
    Singularity,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Charliecloud => "charliecloud",
            RuntimeKind::Apptainer => "apptainer",
            RuntimeKind::Singularity => "singularity",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub kind: RuntimeKind,
    /// The runtime binary (ch-run, apptainer, singularity).
    pub path: PathBuf,
    /// carme-exec on the compute nodes (used with Slurm < 23.11 only).
    pub exec_helper: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountMode {
    Rw,
    Ro,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path; may use `%n` (node) and `%j` (job id).
    pub source: PathTemplate,
    /// Path inside the container.
    pub target: PathBuf,
    pub mode: MountMode,
    /// Skip the mount when its source does not exist (else: refuse).
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    /// Image directory (Charliecloud) or SIF file / sandbox (Apptainer, Singularity).
    pub path: PathBuf,
    pub description: String,
    /// Mounts for this image only, after the global ones.
    pub mounts: Vec<Mount>,
    /// Environment set inside the container.
    pub env: BTreeMap<String, String>,
    /// Working directory inside the container.
    pub workdir: Option<PathBuf>,
    /// Give the container the GPU driver (Apptainer/SingularityCE `--nv`).
    pub gpu: bool,
    /// Runtime for this image instead of `[runtime] kind`.
    pub runtime: Option<RuntimeKind>,
    /// Oldest CUDA the image works with (checked against the driver).
    pub cuda: Option<CudaVersion>,
    /// Extra runtime flags the admin sets, before the image.
    pub runtime_args: Vec<String>,
    /// Other images to fall back to when the driver is too old for this one.
    pub variants: Vec<String>,
}

impl Config {
    /// Read and validate the whole config at `path`, whoever may have
    /// written it: for tools that run as the user (`carme-launch run`,
    /// `explain`). Root-side code uses `carme_node::configfile`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_scoped(path, None)
    }

    /// Read the config with only the limit rules `scope` needs (all when
    /// None). Rules of other users and groups are not even parsed, so a
    /// config with many thousands of them loads fast, and a mistake in one
    /// user's rule does not stop everybody else's jobs; `carme-launch
    /// check-config` validates everything.
    pub fn load_scoped(path: &Path, scope: Option<&Scope>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse_scoped(&text, path, scope)
    }

    /// Validate `text` as the contents of the config file `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_scoped(text, path, None)
    }

    pub fn parse_scoped(
        text: &str,
        path: &Path,
        scope: Option<&Scope>,
    ) -> Result<Config, ConfigError> {
        match scope {
            None => Config::parse_text(text, path),
            Some(scope) => {
                // Parse only what can matter, then name the file's lines.
                // Where the lexer cannot tell the sections apart (a typo
                // such as an unclosed `[` may swallow the headers after
                // it), parse the whole text as check-config does: fail
                // like it, never load a config with rules silently lost.
                let cfg = match sections::extract(text, |s| !other_rule(s, scope)) {
                    Some((part, lines)) => Config::parse_text(&part, path).map_err(|mut e| {
                        e.line = e.line.and_then(|l| lines.get(l - 1).copied());
                        e
                    })?,
                    None => Config::parse_text(text, path)?,
                };
                Ok(cfg.only_for(scope))
            }
        }
    }

    fn parse_text(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw = deserialize(text, path)?;
        validate(raw, path, &locator(text, path)).map_err(|mut all| all.swap_remove(0))
    }

    /// Validate `text` as the config file `path`, reporting every error
    /// that can be found in one go (for `carme-launch check-node`), in the
    /// order [`Config::parse`] checks, so the first is the one it reports.
    /// A key the config does not know is an error that is then left out,
    /// so the rest is still read; any other TOML syntax or type error
    /// stops there (what follows it cannot be read reliably). At most
    /// [`MAX_REPORTED_ERRORS`].
    pub fn parse_all(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        // The text with the unknown keys found so far left out; lines are
        // always those of the original.
        let mut doc: Option<toml_edit::DocumentMut> = None;
        let mut current = text.to_string();
        let raw = loop {
            match deserialize(&current, path) {
                Ok(raw) => break raw,
                Err(mut e) => {
                    if current != text {
                        e.line = e.key.as_deref().and_then(|k| line_of_key(text, k));
                    }
                    let unknown = e.message.starts_with("unknown field");
                    let key = e.key.clone();
                    errors.push(e);
                    if !unknown || errors.len() >= MAX_REPORTED_ERRORS {
                        return Err(errors);
                    }
                    let doc = match &mut doc {
                        Some(d) => d,
                        None => match text.parse::<toml_edit::DocumentMut>() {
                            Ok(d) => doc.insert(d),
                            Err(_) => return Err(errors),
                        },
                    };
                    if !key.is_some_and(|k| remove_key(doc, &k)) {
                        return Err(errors);
                    }
                    current = doc.to_string();
                }
            }
        };
        match validate(raw, path, &locator(text, path)) {
            Ok(cfg) if errors.is_empty() => Ok(cfg),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                errors.truncate(MAX_REPORTED_ERRORS);
                Err(errors)
            }
        }
    }

    /// The config with only the limit rules of `scope`'s user and groups
    /// (what a scoped load returns, whichever way it was read).
    fn only_for(mut self, scope: &Scope) -> Config {
        self.limits.users.retain(|u, _| u == scope.user);
        self.limits.groups.retain(|g, _| scope.groups.contains(g));
        self
    }

    /// The mounts an image gets: global ones first, then its own.
    pub fn mounts_for<'a>(&'a self, image: &'a Image) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts.iter().chain(image.mounts.iter())
    }

    /// Image names, sorted, for messages that list the choices.
    pub fn image_names(&self) -> Vec<&str> {
        self.images.keys().map(String::as_str).collect()
    }
}

impl Config {
    pub fn basics(&self) -> GateBasics {
        GateBasics {
            feature: self.gate.feature.clone(),
            job_facts: self.gate.job_facts,
            state_dir: self.paths.state_dir.clone(),
        }
    }
}

impl Default for GateBasics {
    fn default() -> GateBasics {
        GateBasics {
            feature: DEFAULT_FEATURE.to_string(),
            job_facts: JobFactSource::default(),
            state_dir: PathTemplate::parse(DEFAULT_STATE_DIR).expect("valid default"),
        }
    }
}

/// A `[limits.users.X...]` or `[limits.groups.X...]` section that cannot
/// apply to `scope`.
fn other_rule(s: &sections::Section, scope: &Scope) -> bool {
    let Some(h) = s.header.filter(|h| !h.array) else {
        return false;
    };
    if h.key(0) != Some(b"limits") {
        return false;
    }
    let Some(name) = h.key(2) else {
        return false;
    };
    match h.key(1) {
        Some(b"users") => name != scope.user.as_bytes(),
        Some(b"groups") => !scope.groups.iter().any(|g| g.as_bytes() == name),
        _ => false,
    }
}

/// Best effort for a config that does not validate: the keys that tell
/// Carme jobs (refused) from others (left alone), each one taken only if
/// it is itself valid, else its default.
pub fn basics_of_broken_config(text: &str) -> GateBasics {
    let mut basics = GateBasics::default();
    let Ok(table) = text.parse::<toml::Table>() else {
        return basics;
    };
    let get = |section: &str, key: &str| {
        table
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    if let Some(f) = get("gate", "feature").filter(|f| valid_feature(f)) {
        basics.feature = f;
    }
    // Anything else keeps the default (auto), which works without the
    // prolog.
    match get("gate", "job_facts").as_deref() {
        Some("prolog") => basics.job_facts = JobFactSource::Prolog,
        Some("slurmctld") => basics.job_facts = JobFactSource::Slurmctld,
        _ => {}
    }
    if let Some(dir) = get("paths", "state_dir")
        .and_then(|d| PathTemplate::parse(&d).ok())
        .filter(PathTemplate::is_absolute)
    {
        basics.state_dir = dir;
    }
    basics
}

/// A config as the executors hold it: usable, or broken with what we could
/// still learn (the gate feature), so non-Carme jobs keep running.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// Boxed: a config with many rules is large, the broken case small.
    Ready(Box<Config>),
    Broken {
        error: ConfigError,
        basics: GateBasics,
    },
}

/// Root-side code reads the file with `carme_node::configfile::load_scoped`,
/// which first checks that only root can have written it.
impl Loaded {
    pub fn from_text(text: &str, path: &Path) -> Loaded {
        Loaded::from_text_scoped(text, path, None)
    }

    pub fn from_text_scoped(text: &str, path: &Path, scope: Option<&Scope>) -> Loaded {
        match Config::parse_scoped(text, path, scope) {
            Ok(cfg) => Loaded::Ready(Box::new(cfg)),
            Err(error) => Loaded::Broken {
                error,
                basics: basics_of_broken_config(text),
            },
        }
    }

    /// The gate feature, known even for a broken config (best effort).
    pub fn feature(&self) -> &str {
        match self {
            Loaded::Ready(c) => &c.gate.feature,
            Loaded::Broken { basics, .. } => &basics.feature,
        }
    }

    /// What tells Carme jobs from others, known even for a broken config.
    pub fn basics(&self) -> GateBasics {
        match self {
            Loaded::Ready(c) => c.basics(),
            Loaded::Broken { basics, .. } => basics.clone(),
        }
    }
}
