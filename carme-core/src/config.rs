//! The Carme config file (TOML): parsing, validation and the typed `Config`.
//!
//! Strict on purpose: an unknown key, a wrong type or a value that cannot be
//! right is an error that names the file, the line and the dotted key, so an
//! admin reading a job's refusal (or the log) can go straight to the fix.
//! Reading the file is the only I/O in this crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::glob::Glob;
use crate::limits::{LimitSet, Limits};
use crate::sections;
use crate::slurmtime;
use crate::template::PathTemplate;

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

// ---- raw (serde) layer ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gate: RawGate,
    runtime: RawRuntime,
    #[serde(default)]
    mounts: Vec<RawMount>,
    #[serde(default)]
    images: BTreeMap<String, RawImage>,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    gpu: RawGpu,
    beeond: Option<RawBeeond>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default)]
    default: RawLimitSet,
    #[serde(default)]
    users: BTreeMap<String, RawLimitSet>,
    #[serde(default)]
    groups: BTreeMap<String, RawLimitSet>,
    #[serde(default)]
    accounts: BTreeMap<String, RawLimitSet>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimitSet {
    images: Option<Vec<String>>,
    max_gpus_per_job: Option<u32>,
    max_gpus_per_node: Option<u32>,
    max_nodes_per_job: Option<u32>,
    max_running_jobs: Option<u32>,
    max_time: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGate {
    feature: Option<String>,
    default_image: Option<String>,
    #[serde(default)]
    job_facts: JobFactSource,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    state_dir: Option<String>,
    tmp_base: Option<String>,
    scratch_base: Option<String>,
    scratch_target: Option<PathBuf>,
    shm_size: Option<String>,
    log_dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGpu {
    device_dir: Option<String>,
    hide_unallocated: Option<bool>,
    nvml: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBeeond {
    command: Option<PathBuf>,
    feature: Option<String>,
    data_dir: Option<String>,
    mount_base: Option<String>,
    status_dir: Option<String>,
    start_timeout: Option<String>,
    stop_timeout: Option<String>,
    wait_timeout: Option<String>,
    #[serde(default)]
    extra_start_args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    kind: RuntimeKind,
    path: PathBuf,
    exec_helper: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    source: String,
    target: PathBuf,
    #[serde(default = "default_mode")]
    mode: MountMode,
    #[serde(default)]
    optional: bool,
}

fn default_mode() -> MountMode {
    MountMode::Rw
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    path: PathBuf,
    #[serde(default)]
    description: String,
    #[serde(default)]
    mounts: Vec<RawMount>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    workdir: Option<PathBuf>,
    #[serde(default)]
    gpu: bool,
    runtime: Option<RuntimeKind>,
    cuda: Option<String>,
    #[serde(default)]
    runtime_args: Vec<String>,
    #[serde(default)]
    variants: Vec<String>,
}

fn deserialize(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, path, None, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = (key != "." && !key.is_empty()).then_some(key);
        toml_error(text, path, key, e.inner())
    })
}

/// Errors of the validation layer for the key path, located in `text`.
fn locator<'a>(text: &'a str, path: &'a Path) -> impl Fn(&str, String) -> ConfigError + 'a {
    move |key: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        line: line_of_key(text, key),
        key: Some(key.to_string()),
        message,
    }
}

fn toml_error(text: &str, path: &Path, key: Option<String>, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|s| line_at(text, s.start))
        .or_else(|| key.as_deref().and_then(|k| line_of_key(text, k)));
    ConfigError {
        file: path.to_path_buf(),
        line,
        key,
        message: e.message().trim().to_string(),
    }
}

// ---- validation layer ---------------------------------------------------------

/// Errors found so far: validation goes on past each one (with the key
/// left out), so that [`Config::parse_all`] can report them all.
struct Found(Vec<ConfigError>);

impl Found {
    /// The value, or None with its error noted.
    fn ok<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    fn note(&mut self, e: ConfigError) {
        self.0.push(e);
    }
}

/// The config, or every error found in the order of the checks (so the
/// first is the one a single-error parse reports). Each section is checked
/// by its own function; one with errors yields None and notes them.
fn validate(
    raw: RawConfig,
    path: &Path,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Config, Vec<ConfigError>> {
    let mut found = Found(Vec::new());
    let feature = gate_feature(raw.gate.feature, &mut found, locate);
    let runtime = runtime_section(raw.runtime, &mut found, locate);
    let global_mounts = found
        .ok(mounts(raw.mounts, "mounts", &[], locate))
        .unwrap_or_default();
    let (images, broken_images) = images_section(raw.images, &global_mounts, &mut found, locate);
    default_image(
        raw.gate.default_image.as_deref(),
        &images,
        &broken_images,
        &mut found,
        locate,
    );
    image_variants(&images, &broken_images, &mut found, locate);
    let paths = paths_section(raw.paths, &mut found, locate);
    let gpu = gpu_section(raw.gpu, &mut found, locate);
    let beeond = raw.beeond.map(|b| found.ok(beeond_section(b, locate)));
    let limits = limits_section(raw.limits, &mut found, locate);

    let (Some(runtime), Some(paths), Some(gpu), Some(beeond), Some(limits)) = (
        runtime,
        paths,
        gpu,
        beeond.map_or(Some(None), |b| b.map(Some)),
        limits,
    ) else {
        return Err(found.0);
    };
    if !found.0.is_empty() {
        return Err(found.0);
    }

    Ok(Config {
        source: path.to_path_buf(),
        gate: Gate {
            feature,
            default_image: raw.gate.default_image,
            job_facts: raw.gate.job_facts,
        },
        runtime,
        mounts: global_mounts,
        images,
        paths,
        gpu,
        beeond,
        limits,
    })
}

/// `[gate] feature`, its default when not given (an invalid one is noted).
fn gate_feature(
    feature: Option<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> String {
    let feature = feature.unwrap_or_else(|| DEFAULT_FEATURE.to_string());
    if !valid_feature(&feature) {
        found.note(locate(
            "gate.feature",
            format!(
                "`{feature}` is not a usable node feature name \
                 (letters, digits, `_`, `-`, `.`; not empty)"
            ),
        ));
    }
    feature
}

/// `[gate] default_image` names a defined image (or one with errors of its
/// own, which are reported instead).
fn default_image(
    default: Option<&str>,
    images: &BTreeMap<String, Image>,
    broken_images: &BTreeSet<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) {
    if let Some(default) = default
        && !images.contains_key(default)
        && !broken_images.contains(default)
    {
        found.note(locate(
            "gate.default_image",
            format!(
                "default image `{default}` is not defined; defined images: {}",
                list_or_none(images.keys())
            ),
        ));
    }
}

fn runtime_section(
    raw: RawRuntime,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Runtime> {
    let path = found.ok(absolute(raw.path, "runtime.path", locate));
    let exec_helper = found.ok(absolute(
        raw.exec_helper
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_HELPER)),
        "runtime.exec_helper",
        locate,
    ));
    Some(Runtime {
        kind: raw.kind,
        path: path?,
        exec_helper: exec_helper?,
    })
}

/// The valid images, and the names of those with errors of their own:
/// others that name them are not blamed for it.
fn images_section(
    raw: BTreeMap<String, RawImage>,
    global_mounts: &[Mount],
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> (BTreeMap<String, Image>, BTreeSet<String>) {
    let mut images = BTreeMap::new();
    let mut broken_images = BTreeSet::new();
    for (name, img) in raw {
        match image(&name, img, global_mounts, found, locate) {
            Some(image) => {
                images.insert(name, image);
            }
            None => {
                broken_images.insert(name);
            }
        }
    }
    (images, broken_images)
}

/// One `[images.NAME]`, or None with its errors noted.
fn image(
    name: &str,
    img: RawImage,
    global_mounts: &[Mount],
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Image> {
    let key = format!("images.{name}");
    if !valid_image_name(name) {
        found.note(locate(
            &key,
            format!(
                "`{name}` is not a valid image name (start with a letter or digit; \
                 then letters, digits, `.`, `_`, `-`)"
            ),
        ));
        return None;
    }
    let before = found.0.len();
    for var in img.env.keys() {
        if !valid_env_name(var) {
            found.note(locate(
                &format!("{key}.env.{var}"),
                format!("`{var}` is not a usable environment variable name"),
            ));
        } else if var.starts_with("CARME_LAUNCH_") || var.starts_with("SLURM_") {
            found.note(locate(
                &format!("{key}.env.{var}"),
                format!("`{var}` belongs to Slurm or Carme and cannot be set per image"),
            ));
        }
    }
    let workdir = img
        .workdir
        .map(|w| found.ok(absolute(w, &format!("{key}.workdir"), locate)));
    let cuda = img
        .cuda
        .map(|c| found.ok(CudaVersion::parse(&c).map_err(|e| locate(&format!("{key}.cuda"), e))));
    let image_path = found.ok(absolute(img.path, &format!("{key}.path"), locate));
    let image_mounts = found.ok(mounts(
        img.mounts,
        &format!("{key}.mounts"),
        global_mounts,
        locate,
    ));
    let (Some(workdir), Some(cuda), Some(image_path), Some(image_mounts)) = (
        workdir.map_or(Some(None), |w| w.map(Some)),
        cuda.map_or(Some(None), |c| c.map(Some)),
        image_path,
        image_mounts,
    ) else {
        return None;
    };
    if found.0.len() > before {
        return None;
    }
    Some(Image {
        path: image_path,
        description: img.description,
        mounts: image_mounts,
        env: img.env,
        workdir,
        gpu: img.gpu,
        runtime: img.runtime,
        cuda,
        runtime_args: img.runtime_args,
        variants: img.variants,
        name: name.to_string(),
    })
}

/// Variants name other images that state their CUDA version.
fn image_variants(
    images: &BTreeMap<String, Image>,
    broken_images: &BTreeSet<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) {
    for (name, img) in images {
        for (i, v) in img.variants.iter().enumerate() {
            let key = format!("images.{name}.variants[{i}]");
            match images.get(v) {
                None if broken_images.contains(v) => {}
                None => found.note(locate(&key, format!("image `{v}` is not defined"))),
                Some(_) if v == name => {
                    found.note(locate(&key, "an image cannot be its own variant".into()));
                }
                Some(other) if other.cuda.is_none() => {
                    found.note(locate(
                        &key,
                        format!("variant `{v}` must state its `cuda` version"),
                    ));
                }
                Some(_) => {}
            }
        }
        if !img.variants.is_empty() && img.cuda.is_none() {
            found.note(locate(
                &format!("images.{name}.cuda"),
                "an image with variants must state its `cuda` version".into(),
            ));
        }
    }
}

fn paths_section(
    p: RawPaths,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Paths> {
    let state_dir = found.ok(template_dir(
        p.state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR),
        "paths.state_dir",
        locate,
    ));
    let tmp_base = found.ok(template_dir(
        p.tmp_base.as_deref().unwrap_or(DEFAULT_TMP_BASE),
        "paths.tmp_base",
        locate,
    ));
    let scratch_base = p
        .scratch_base
        .as_deref()
        .map(|s| found.ok(template_dir(s, "paths.scratch_base", locate)));
    let scratch_target = found
        .ok(absolute(
            p.scratch_target
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SCRATCH_TARGET)),
            "paths.scratch_target",
            locate,
        ))
        .and_then(|t| {
            if t == Path::new("/") {
                found.note(locate("paths.scratch_target", "cannot be `/`".into()));
                None
            } else {
                Some(t)
            }
        });
    let shm_size = found.ok(crate::units::parse_size(
        p.shm_size.as_deref().unwrap_or(DEFAULT_SHM_SIZE),
    )
    .map_err(|e| locate("paths.shm_size", e)));
    let log_dir = found.ok(template_dir(
        p.log_dir.as_deref().unwrap_or(DEFAULT_LOG_DIR),
        "paths.log_dir",
        locate,
    ));
    Some(Paths {
        state_dir: state_dir?,
        tmp_base: tmp_base?,
        scratch_base: scratch_base.map_or(Some(None), |s| s.map(Some))?,
        scratch_target: scratch_target?,
        shm_size: shm_size?,
        log_dir: log_dir?,
    })
}

fn gpu_section(
    g: RawGpu,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Gpu> {
    let nvml = g.nvml.unwrap_or_else(|| PathBuf::from("libnvidia-ml.so.1"));
    if !nvml.is_absolute() && nvml.to_string_lossy().contains('/') {
        found.note(locate(
            "gpu.nvml",
            format!(
                "`{}` must be a library name or an absolute path",
                nvml.display()
            ),
        ));
    }
    let device_dir = found.ok(template_dir(
        g.device_dir.as_deref().unwrap_or("/dev"),
        "gpu.device_dir",
        locate,
    ));
    Some(Gpu {
        device_dir: device_dir?,
        hide_unallocated: g.hide_unallocated.unwrap_or(true),
        nvml,
    })
}

fn limits_section(
    raw: RawLimits,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Limits> {
    let default = found.ok(limit_set(raw.default, "limits.default", locate));
    let users = limit_sets(raw.users, "limits.users", locate, found);
    let groups = limit_sets(raw.groups, "limits.groups", locate, found);
    let accounts = limit_sets(raw.accounts, "limits.accounts", locate, found);
    Some(Limits {
        default: default?,
        users,
        groups,
        accounts,
    })
}

fn beeond_section(
    b: RawBeeond,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Beeond, ConfigError> {
    let duration = |v: Option<String>, default: &str, key: &str| {
        crate::units::parse_duration(v.as_deref().unwrap_or(default))
            .map_err(|e| locate(&format!("beeond.{key}"), e))
    };
    let feature = b.feature.unwrap_or_else(|| "beeond".to_string());
    if !valid_feature(&feature) {
        return Err(locate(
            "beeond.feature",
            format!("`{feature}` is not a usable node feature name"),
        ));
    }
    crate::beeond::check_extra_start_args(&b.extra_start_args)
        .map_err(|e| locate("beeond.extra_start_args", e.to_string()))?;
    Ok(Beeond {
        command: absolute(
            b.command
                .unwrap_or_else(|| PathBuf::from("/usr/bin/beeond")),
            "beeond.command",
            locate,
        )?,
        feature,
        data_dir: root_only_dir(
            b.data_dir.as_deref().unwrap_or("/local/beeond/%n"),
            "beeond.data_dir",
            locate,
        )?,
        mount_base: root_only_dir(
            b.mount_base.as_deref().unwrap_or("/mnt/beeond"),
            "beeond.mount_base",
            locate,
        )?,
        status_dir: status_dir(b.status_dir.as_deref(), locate)?,
        start_timeout: duration(b.start_timeout, "120s", "start_timeout")?,
        stop_timeout: duration(b.stop_timeout, "60s", "stop_timeout")?,
        wait_timeout: duration(b.wait_timeout, "150s", "wait_timeout")?,
        extra_start_args: b.extra_start_args,
    })
}

/// A directory root makes and trusts, where a user who created it (or a
/// parent) first would make the prolog fail and drain the node: not in a
/// directory every user can write.
fn root_only_dir(
    s: &str,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let t = template_dir(s, key, locate)?;
    match in_shared_writable_dir(Path::new(t.as_str())) {
        Some(shared) => Err(locate(
            key,
            format!(
                "`{}` is in {shared}, where every user can create files: a user who \
                 creates it first would make carme-prolog fail and drain the node. Use a \
                 directory only root can create",
                t.as_str()
            ),
        )),
        None => Ok(t),
    }
}

/// `[beeond] status_dir`: beeond trusts its status file as root (stop and
/// stoplocal delete, kill and unmount what it names), so it must not be in
/// a directory users can write. What is on the node is checked again at
/// every use (carme-node's jobprep); here the usual mistakes are refused.
fn status_dir(
    s: Option<&str>,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let key = "beeond.status_dir";
    let t = template_dir(s.unwrap_or(DEFAULT_BEEOND_STATUS_DIR), key, locate)?;
    if let Some(shared) = in_shared_writable_dir(Path::new(t.as_str())) {
        return Err(locate(
            key,
            format!(
                "`{}` is in {shared}, where every user can create files: beeond acts as \
                 root on what its status file names, so a user could make it delete, kill \
                 or unmount anything. Use a directory only root can write, with no \
                 sticky or group/other-writable parent (default {DEFAULT_BEEOND_STATUS_DIR})",
                t.as_str()
            ),
        ));
    }
    Ok(t)
}

/// Environment variable names as shells accept them.
pub fn valid_env_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// The valid rules; each invalid one's (first) error goes to `found`.
fn limit_sets(
    raw: BTreeMap<String, RawLimitSet>,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
    found: &mut Found,
) -> BTreeMap<String, LimitSet> {
    raw.into_iter()
        .filter_map(|(name, r)| {
            let set = found.ok(limit_set(r, &format!("{key}.{name}"), locate))?;
            Some((name, set))
        })
        .collect()
}

fn limit_set(
    raw: RawLimitSet,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<LimitSet, ConfigError> {
    let images = raw
        .images
        .map(|pats| {
            pats.iter()
                .enumerate()
                .map(|(i, p)| Glob::new(p).map_err(|e| locate(&format!("{key}.images[{i}]"), e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let max_time = raw
        .max_time
        .map(|t| slurmtime::parse(&t).map_err(|e| locate(&format!("{key}.max_time"), e)))
        .transpose()?;
    Ok(LimitSet {
        images,
        max_gpus_per_job: raw.max_gpus_per_job,
        max_gpus_per_node: raw.max_gpus_per_node,
        max_nodes_per_job: raw.max_nodes_per_job,
        max_running_jobs: raw.max_running_jobs,
        max_time,
    })
}

/// An absolute directory template (`%n`, `%j`) without `..`.
fn template_dir(
    s: &str,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let t = PathTemplate::parse(s).map_err(|e| locate(key, e.to_string()))?;
    absolute(PathBuf::from(s), key, locate)?;
    Ok(t)
}

/// `earlier`: mounts that come before these (the global ones, for an
/// image's list); two mounts on one target would leave the runtime to pick.
fn mounts(
    raw: Vec<RawMount>,
    key: &str,
    earlier: &[Mount],
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<Mount>, ConfigError> {
    let mut out: Vec<Mount> = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let key = format!("{key}[{i}]");
        let source = PathTemplate::parse(&m.source)
            .map_err(|e| locate(&format!("{key}.source"), e.to_string()))?;
        // The expanded source is checked again where the task starts.
        absolute(PathBuf::from(&m.source), &format!("{key}.source"), locate)?;
        let target = absolute(m.target, &format!("{key}.target"), locate)?;
        if target == Path::new("/") {
            return Err(locate(
                &format!("{key}.target"),
                "cannot mount over the container's `/`".to_string(),
            ));
        }
        if let Some(prev) = earlier
            .iter()
            .chain(out.iter())
            .find(|p| p.target == target)
        {
            return Err(locate(
                &format!("{key}.target"),
                format!(
                    "`{}` is already the target of the mount from `{}`",
                    target.display(),
                    prev.source
                ),
            ));
        }
        out.push(Mount {
            source,
            target,
            mode: m.mode,
            optional: m.optional,
        });
    }
    Ok(out)
}

fn absolute(
    p: PathBuf,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathBuf, ConfigError> {
    match bind_path_problem(&p) {
        Some(why) => Err(locate(key, format!("`{}` {why}", p.to_string_lossy()))),
        None => Ok(p),
    }
}

/// Why `p` cannot be one side of a runtime's bind spec, if it cannot: it
/// must be absolute, without `..`, `:` or `,` (runtimes split bind specs
/// on `:`, and Apptainer takes several binds joined by `,`).
pub fn bind_path_problem(p: &Path) -> Option<&'static str> {
    if !p.is_absolute() {
        return Some("must be an absolute path");
    }
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        return Some("must not contain `..`");
    }
    let b = p.as_os_str().as_encoded_bytes();
    if b.contains(&b':') || b.contains(&b',') {
        return Some("must not contain `:` or `,`");
    }
    None
}

/// Node feature names as Slurm accepts them in slurm.conf `Features=`.
pub fn valid_feature(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Image names users type after `--carme-image=`: never paths.
pub fn valid_image_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && n.len() <= 64
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

// ---- locating keys --------------------------------------------------------------

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The line where a dotted key (`images.base.mounts[0].mode`) is written, or
/// the closest enclosing key that can be found.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = text.parse::<toml_edit::Document<String>>().ok()?;
    let segments = split_key(key);
    // Try the full path, then ever shorter prefixes.
    for n in (1..=segments.len()).rev() {
        if let Some(offset) = span_of(doc.as_table(), &segments[..n]) {
            return Some(line_at(text, offset));
        }
    }
    None
}

/// Remove the item at a dotted key path (`images.base.shape`) from `doc`;
/// whether there was one.
fn remove_key(doc: &mut toml_edit::DocumentMut, key: &str) -> bool {
    use toml_edit::{Item, Value};
    let segments = split_key(key);
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut item: &mut Item = doc.as_item_mut();
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => item.get_mut(k.as_str()),
            Seg::Index(i) => item.get_mut(*i),
        };
        match next {
            Some(n) => item = n,
            None => return false,
        }
    }
    match (last, item) {
        (Seg::Key(k), item) => item
            .as_table_like_mut()
            .is_some_and(|t| t.remove(k).is_some()),
        (Seg::Index(i), Item::ArrayOfTables(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        (Seg::Index(i), Item::Value(Value::Array(a))) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn split_key(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

fn span_of(table: &toml_edit::Table, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, Value};
    // Where we are: a table-like (to look keys up in) or an array (to index).
    enum Node<'a> {
        Table(&'a dyn toml_edit::TableLike),
        Tables(&'a toml_edit::ArrayOfTables),
        Array(&'a toml_edit::Array),
        Leaf,
    }
    fn node_of(item: &Item) -> Node<'_> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(Value::InlineTable(t)) => Node::Table(t),
            Item::Value(Value::Array(a)) => Node::Array(a),
            _ => Node::Leaf,
        }
    }
    let mut node = Node::Table(table);
    let mut at = None;
    for seg in path {
        node = match (seg, node) {
            (Seg::Key(k), Node::Table(t)) => {
                let (key, item) = t.get_key_value(k)?;
                at = key.span().map(|s| s.start).or(at);
                node_of(item)
            }
            (Seg::Index(i), Node::Tables(a)) => {
                let t = a.get(*i)?;
                at = t.span().map(|s| s.start).or(at);
                Node::Table(t)
            }
            (Seg::Index(i), Node::Array(a)) => {
                let v = a.get(*i)?;
                at = v.span().map(|s| s.start).or(at);
                match v {
                    Value::InlineTable(t) => Node::Table(t),
                    Value::Array(a) => Node::Array(a),
                    _ => Node::Leaf,
                }
            }
            _ => return None,
        };
    }
    at
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[gate]
feature = "carme"
default_image = "base"

[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
exec_helper = "/usr/libexec/carme/carme-exec"

[[mounts]]
source = "/home"
target = "/home"
mode = "rw"

[images.base]
path = "/srv/carme/images/base"
description = "Debian base"
mounts = [ { source = "/data/%n", target = "/data", mode = "ro" } ]

[images.pytorch-2]
path = "/srv/carme/images/pytorch.sif"

[paths]
state_dir = "/run/carme/%n"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/carme/carme.toml"))
    }

    /// The packages install etc/carme.toml as /etc/carme/carme.toml: it
    /// must load as shipped with nothing a site has to fill in first (no
    /// images, no scratch, no limits, no BeeOND), and every example it
    /// shows commented out (`#[table]`, `#key = ...`) must be valid once
    /// an admin removes the `#`.
    #[test]
    fn shipped_config_loads_and_its_examples_are_valid() {
        let shipped = include_str!("../../etc/carme.toml");
        let c = parse(shipped).unwrap();
        assert!(c.images.is_empty() && c.gate.default_image.is_none());
        assert!(c.paths.scratch_base.is_none() && c.beeond.is_none());
        assert_eq!(c.limits, crate::limits::Limits::default());

        let is_example = |l: &str| {
            let rest = l.strip_prefix('#').unwrap_or("");
            rest.starts_with('[')
                || rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
        };
        let enabled: String = shipped
            .lines()
            .map(|l| if is_example(l) { &l[1..] } else { l })
            .flat_map(|l| [l, "\n"])
            .collect();
        let all = parse(&enabled).unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert!(all.images.contains_key("base") && all.gate.default_image.is_some());
        assert!(all.paths.scratch_base.is_some() && all.beeond.is_some());
        assert!(!all.limits.users.is_empty() && !all.limits.groups.is_empty());
    }

    #[test]
    fn good_config_parses_completely() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.gate.feature, "carme");
        assert_eq!(c.gate.default_image.as_deref(), Some("base"));
        assert_eq!(c.runtime.kind, RuntimeKind::Charliecloud);
        assert_eq!(c.runtime.path, Path::new("/usr/bin/ch-run"));
        assert_eq!(
            c.runtime.exec_helper,
            Path::new("/usr/libexec/carme/carme-exec")
        );
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(c.mounts[0].mode, MountMode::Rw);
        let base = &c.images["base"];
        assert_eq!(base.description, "Debian base");
        assert_eq!(base.mounts[0].mode, MountMode::Ro);
        assert_eq!(
            base.mounts[0].source.expand("n1", None),
            Path::new("/data/n1")
        );
        assert_eq!(c.image_names(), ["base", "pytorch-2"]);
        assert_eq!(c.gate.job_facts, JobFactSource::Auto, "default");
        assert_eq!(
            c.paths.state_dir.expand("n2", None),
            Path::new("/run/carme/n2")
        );
        let all: Vec<_> = c.mounts_for(base).map(|m| m.target.clone()).collect();
        assert_eq!(all, [PathBuf::from("/home"), PathBuf::from("/data")]);
    }

    #[test]
    fn defaults_for_optional_keys() {
        let c = parse("[runtime]\nkind = \"apptainer\"\npath = \"/usr/bin/apptainer\"\n").unwrap();
        assert_eq!(c.gate.feature, DEFAULT_FEATURE);
        assert_eq!(c.gate.default_image, None);
        assert_eq!(c.runtime.exec_helper, Path::new(DEFAULT_EXEC_HELPER));
        assert!(c.images.is_empty() && c.mounts.is_empty());
        let c = parse(&GOOD.replace("mode = \"rw\"\n", "")).unwrap();
        assert_eq!(c.mounts[0].mode, MountMode::Rw, "mode defaults to rw");
    }

    /// (what to change in GOOD, expected line, expected key, text in message)
    #[test]
    fn every_bad_value_is_located() {
        let cases: &[(&str, &str, usize, &str, &str)] = &[
            (
                "feature = \"carme\"",
                "feature = \"carme\"\nfoo = 1",
                4,
                "gate.foo",
                "unknown field",
            ),
            (
                "feature = \"carme\"",
                "feature = \"car me\"",
                3,
                "gate.feature",
                "not a usable node feature",
            ),
            (
                "feature = \"carme\"",
                "feature = \"\"",
                3,
                "gate.feature",
                "not a usable",
            ),
            (
                "default_image = \"base\"",
                "default_image = \"nope\"",
                4,
                "gate.default_image",
                "not defined; defined images: base, pytorch-2",
            ),
            (
                "kind = \"charliecloud\"",
                "kind = \"docker\"",
                7,
                "runtime.kind",
                "unknown variant `docker`",
            ),
            (
                "path = \"/usr/bin/ch-run\"",
                "path = \"ch-run\"",
                8,
                "runtime.path",
                "must be an absolute path",
            ),
            (
                "path = \"/usr/bin/ch-run\"",
                "path = \"/usr/../bin/ch-run\"",
                8,
                "runtime.path",
                "must not contain `..`",
            ),
            (
                "exec_helper = \"/usr/libexec/carme/carme-exec\"",
                "exec_helper = 5",
                9,
                "runtime.exec_helper",
                "invalid type",
            ),
            (
                "[[mounts]]\nsource = \"/home\"",
                "[[mounts]]\nsource = \"home\"",
                12,
                "mounts[0].source",
                "absolute",
            ),
            (
                "[[mounts]]\nsource = \"/home\"",
                "[[mounts]]\nsource = \"/home/%x\"",
                12,
                "mounts[0].source",
                "`%x`",
            ),
            (
                "[[mounts]]\nsource = \"/home\"",
                "[[mounts]]\nsource = \"/data/x,/etc\"",
                12,
                "mounts[0].source",
                "must not contain `:` or `,`",
            ),
            (
                "[[mounts]]\nsource = \"/home\"",
                "[[mounts]]\nsource = \"/home:/etc\"",
                12,
                "mounts[0].source",
                "must not contain `:` or `,`",
            ),
            (
                "[[mounts]]\nsource = \"/home\"",
                "[[mounts]]\nsource = \"/home/%n/../..\"",
                12,
                "mounts[0].source",
                "must not contain `..`",
            ),
            (
                "source = \"/data/%n\"",
                "source = \"/data/%n,/etc\"",
                19,
                "images.base.mounts[0].source",
                "must not contain `:` or `,`",
            ),
            (
                "target = \"/home\"",
                "target = \"/\"",
                13,
                "mounts[0].target",
                "container's `/`",
            ),
            (
                "target = \"/home\"",
                "target = \"/ho:me\"",
                13,
                "mounts[0].target",
                "`:`",
            ),
            (
                "mode = \"rw\"",
                "mode = \"rx\"",
                14,
                "mounts[0].mode",
                "unknown variant `rx`",
            ),
            (
                "mode = \"rw\"",
                "mode = \"rw\"\nextra = 1",
                15,
                "mounts[0].extra",
                "unknown field",
            ),
            (
                "description = \"Debian base\"",
                "description = 3",
                18,
                "images.base.description",
                "invalid type",
            ),
            (
                "[images.base]",
                "[images.\"a/b\"]",
                16,
                "images.a/b",
                "not a valid image name",
            ),
            (
                "mode = \"ro\" }",
                "mode = \"ro\", x = 1 }",
                19,
                "images.base.mounts[0].x",
                "unknown field",
            ),
            (
                "target = \"/data\"",
                "target = \"/home\"",
                19,
                "images.base.mounts[0].target",
                "already the target",
            ),
            (
                "[images.pytorch-2]\npath",
                "[images.pytorch-2]\nshape",
                22,
                "images.pytorch-2.shape",
                "unknown field",
            ),
            ("[[mounts]]", "[[mountz]]", 11, "mountz", "unknown field"),
            (
                "default_image = \"base\"",
                "default_image = \"base\"\njob_facts = \"ask\"",
                5,
                "gate.job_facts",
                "unknown variant `ask`",
            ),
            (
                "state_dir = \"/run/carme/%n\"",
                "state_dir = \"run/carme\"",
                25,
                "paths.state_dir",
                "absolute",
            ),
            (
                "state_dir = \"/run/carme/%n\"",
                "state_dir = \"/run/%u\"",
                25,
                "paths.state_dir",
                "`%u`",
            ),
            (
                "state_dir = \"/run/carme/%n\"",
                "state_dir = \"/run\"\nlog = 1",
                26,
                "paths.log",
                "unknown field",
            ),
        ];
        for (from, to, line, key, text) in cases {
            assert!(GOOD.contains(from), "case {from:?} does not apply");
            let bad = GOOD.replacen(from, to, 1);
            let err = parse(&bad).expect_err(&format!("{to:?} must be refused"));
            assert_eq!(err.file, Path::new("/etc/carme/carme.toml"));
            assert_eq!(err.key.as_deref(), Some(*key), "{to:?}: {err}");
            assert_eq!(err.line, Some(*line), "{to:?}: {err}");
            assert!(err.message.contains(text), "{to:?}: {err}");
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("/etc/carme/carme.toml:{line}: key `{key}`: ")),
                "{shown}"
            );
        }
    }

    #[test]
    fn syntax_errors_and_missing_sections_are_located() {
        let err = parse("[runtime\nkind = 1").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        let err = parse("[gate]\n").unwrap_err();
        assert!(err.message.contains("missing field `runtime`"), "{err}");
        let err = parse(&GOOD.replacen(
            "path = \"/srv/carme/images/base\"",
            "path = \"/a\"\npath = \"/b\"",
            1,
        ))
        .unwrap_err();
        assert_eq!(err.line, Some(18), "duplicate key: {err}");
    }

    fn parse_all(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::parse_all(text, Path::new("/etc/carme/carme.toml"))
    }

    fn keys_and_lines(errors: &[ConfigError]) -> Vec<(Option<&str>, Option<usize>)> {
        errors.iter().map(|e| (e.key.as_deref(), e.line)).collect()
    }

    /// check-node reports every error; the first is parse()'s.
    #[test]
    fn parse_all_reports_every_validation_error() {
        assert_eq!(parse_all(GOOD).unwrap(), parse(GOOD).unwrap());
        let bad = GOOD
            .replacen("feature = \"carme\"", "feature = \"car me\"", 1)
            .replacen(
                "path = \"/srv/carme/images/pytorch.sif\"",
                "path = \"x.sif\"",
                1,
            )
            .replacen(
                "state_dir = \"/run/carme/%n\"",
                "state_dir = \"/run/%u\"",
                1,
            );
        let all = parse_all(&bad).unwrap_err();
        assert_eq!(
            keys_and_lines(&all),
            [
                (Some("gate.feature"), Some(3)),
                (Some("images.pytorch-2.path"), Some(22)),
                (Some("paths.state_dir"), Some(25)),
            ]
        );
        assert_eq!(all[0], parse(&bad).unwrap_err());
        assert!(
            all[1].message.contains("must be an absolute path"),
            "{}",
            all[1]
        );
        assert!(all[2].message.contains("`%u`"), "{}", all[2]);
    }

    #[test]
    fn parse_all_reads_past_unknown_keys() {
        let bad = GOOD
            .replacen("feature = \"carme\"", "feature = \"carme\"\nfoo = 1", 1)
            .replacen("[[mounts]]", "[mountz]\nx = 1\n\n[[mounts]]", 1)
            .replacen("state_dir = \"/run/carme/%n\"", "state_dir = \"run\"", 1);
        let all = parse_all(&bad).unwrap_err();
        assert_eq!(
            keys_and_lines(&all),
            [
                (Some("gate.foo"), Some(4)),
                (Some("mountz"), Some(12)),
                (Some("paths.state_dir"), Some(29)),
            ],
            "{all:?}"
        );
        assert!(all[1].message.contains("unknown field"), "{}", all[1]);
        assert_eq!(all[0], parse(&bad).unwrap_err());
    }

    #[test]
    fn parse_all_stops_where_the_file_cannot_be_read_on() {
        // Syntax: nothing after it can be trusted.
        let all = parse_all(&format!("{GOOD}\n[paths\nfoo = 1\n")).unwrap_err();
        assert_eq!(all.len(), 1, "{all:?}");
        // A wrong type (not an unknown key) stops deserialization.
        let bad = GOOD
            .replacen("default_image = \"base\"", "default_image = 5", 1)
            .replacen("state_dir = \"/run/carme/%n\"", "state_dir = \"run\"", 1);
        let all = parse_all(&bad).unwrap_err();
        assert_eq!(
            keys_and_lines(&all),
            [(Some("gate.default_image"), Some(4))]
        );
    }

    #[test]
    fn parse_all_does_not_blame_what_names_a_broken_image() {
        // `base` is broken (its path): the default image and a variant
        // naming it are not errors of their own.
        let bad = GOOD
            .replacen("path = \"/srv/carme/images/base\"", "path = \"base\"", 1)
            .replacen(
                "path = \"/srv/carme/images/pytorch.sif\"",
                "path = \"/p.sif\"\ncuda = \"12.4\"\nvariants = [\"base\"]",
                1,
            );
        let all = parse_all(&bad).unwrap_err();
        assert_eq!(
            keys_and_lines(&all),
            [(Some("images.base.path"), Some(17))],
            "{all:?}"
        );
        // Without the broken image, a variant naming a missing one is.
        let bad = bad.replacen("variants = [\"base\"]", "variants = [\"nope\"]", 1);
        let all = parse_all(&bad).unwrap_err();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[1].key.as_deref(), Some("images.pytorch-2.variants[0]"));
    }

    #[test]
    fn parse_all_reports_bad_limit_rules_each() {
        let text = format!(
            "{GOOD}[limits.users.a]\nmax_time = \"x\"\n[limits.users.b]\nmax_time = \"1\"\n\
             [limits.groups.c]\nimages = [\"[\"]\n"
        );
        let all = parse_all(&text).unwrap_err();
        let keys: Vec<_> = all.iter().map(|e| e.key.as_deref().unwrap()).collect();
        assert_eq!(
            keys,
            ["limits.users.a.max_time", "limits.groups.c.images[0]"]
        );
    }

    #[test]
    fn parse_all_reports_at_most_its_bound() {
        let many: String = (0..MAX_REPORTED_ERRORS + 20)
            .map(|i| format!("k{i} = 1\n"))
            .collect();
        let all = parse_all(&format!("{GOOD}{many}")).unwrap_err();
        assert_eq!(all.len(), MAX_REPORTED_ERRORS);
        assert_eq!(all[0].key.as_deref(), Some("paths.k0"));
        assert_eq!(all[1].key.as_deref(), Some("paths.k1"));
    }

    #[test]
    fn unreadable_file_is_a_config_error() {
        let err = Config::load(Path::new("/nonexistent/carme.toml")).unwrap_err();
        assert!(err.message.contains("cannot read"), "{err}");
    }

    #[test]
    fn broken_config_still_yields_the_gate_basics() {
        let text = "[gate]\nfeature = \"ai\"\njob_facts = \"prolog\"\n[paths]\n\
                    state_dir = \"/run/x/%n\"\n[runtime]\nkind = \"nope\"\n";
        match Loaded::from_text(text, Path::new("/c.toml")) {
            Loaded::Broken { basics, error } => {
                assert_eq!(basics.feature, "ai");
                assert_eq!(basics.job_facts, JobFactSource::Prolog);
                assert_eq!(basics.state_dir.as_str(), "/run/x/%n");
                assert_eq!(error.key.as_deref(), Some("runtime.kind"));
            }
            other => panic!("{other:?}"),
        }
        // Unparseable TOML: fall back to the defaults.
        assert_eq!(
            basics_of_broken_config("[gate\nfeature=\"ai\""),
            GateBasics::default()
        );
        // Unusable values are not trusted either.
        let b = basics_of_broken_config(
            "[gate]\nfeature=\"a b\"\njob_facts=\"x\"\n[paths]\nstate_dir=\"rel/%q\"",
        );
        assert_eq!(b, GateBasics::default());
        assert_eq!(GateBasics::default().job_facts, JobFactSource::Auto);
        // Each valid source is kept from a broken config.
        for (v, want) in [
            ("auto", JobFactSource::Auto),
            ("slurmctld", JobFactSource::Slurmctld),
            ("prolog", JobFactSource::Prolog),
        ] {
            let b = basics_of_broken_config(&format!("[gate]\njob_facts=\"{v}\"\nx=1"));
            assert_eq!(b.job_facts, want, "{v}");
        }
    }

    #[test]
    fn every_job_facts_source_parses() {
        for (v, want) in [
            ("auto", JobFactSource::Auto),
            ("slurmctld", JobFactSource::Slurmctld),
            ("prolog", JobFactSource::Prolog),
        ] {
            let text = format!(
                "[gate]\njob_facts = \"{v}\"\n[runtime]\nkind = \"charliecloud\"\n\
                 path = \"/usr/bin/ch-run\"\n"
            );
            match Loaded::from_text(&text, Path::new("/c.toml")) {
                Loaded::Ready(c) => assert_eq!(c.gate.job_facts, want, "{v}"),
                Loaded::Broken { error, .. } => panic!("{v}: {error}"),
            }
        }
    }

    #[test]
    fn image_names() {
        for ok in ["base", "pytorch-2.1", "a_b", "9x"] {
            assert!(valid_image_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a/b",
            "/srv/x",
            "a b",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(!valid_image_name(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod config_arg_tests {
    use super::*;

    #[test]
    fn only_absolute_config_paths() {
        assert_eq!(absolute_config_arg("/x.toml"), Ok(PathBuf::from("/x.toml")));
        for bad in ["rel.toml", "./x.toml", "", "~/x.toml"] {
            assert!(absolute_config_arg(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod node_key_tests {
    use super::*;
    use std::time::Duration;

    const ALL: &str = r#"
[runtime]
kind = "apptainer"
path = "/usr/bin/apptainer"

[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/tmp/carme/%n"
scratch_base = "/local/carme/%n"
scratch_target = "/scratch"
shm_size = "2G"
log_dir = "/var/log/carme"

[gpu]
device_dir = "/dev"
hide_unallocated = false
nvml = "/opt/nvidia/lib/libnvidia-ml.so.1"

[beeond]
command = "/usr/bin/beeond"
feature = "beeond"
data_dir = "/local/beeond/%n"
mount_base = "/mnt/beeond"
status_dir = "/run/carme/beeond"
start_timeout = "90s"
stop_timeout = "1m"
wait_timeout = "150s"
extra_start_args = ["-T", "-r"]

[images.pytorch]
path = "/srv/pt.sif"
gpu = true
runtime = "singularity"
cuda = "12.4"
workdir = "/work"
runtime_args = ["--writable-tmpfs"]
variants = ["pytorch-cu11"]
env = { OMP_NUM_THREADS = "4" }
mounts = [ { source = "/datasets", target = "/datasets", mode = "ro", optional = true } ]

[images.pytorch-cu11]
path = "/srv/pt11.sif"
cuda = "11.8"
"#;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("/c.toml"))
    }

    #[test]
    fn every_node_key_parses() {
        let c = parse(ALL).unwrap();
        assert_eq!(
            c.paths.tmp_base.expand("n1", Some(7)),
            Path::new("/var/tmp/carme/n1")
        );
        assert_eq!(
            c.paths.scratch_base.as_ref().unwrap().as_str(),
            "/local/carme/%n"
        );
        assert_eq!(c.paths.shm_size, 2 << 30);
        assert!(!c.gpu.hide_unallocated);
        assert_eq!(c.gpu.nvml, Path::new("/opt/nvidia/lib/libnvidia-ml.so.1"));
        let b = c.beeond.as_ref().unwrap();
        assert_eq!(
            (b.start_timeout, b.stop_timeout),
            (Duration::from_secs(90), Duration::from_secs(60))
        );
        assert_eq!(b.extra_start_args, ["-T", "-r"]);
        let pt = &c.images["pytorch"];
        assert!(pt.gpu);
        assert_eq!(pt.runtime, Some(RuntimeKind::Singularity));
        assert_eq!(pt.cuda, Some(CudaVersion(12040)));
        assert_eq!(pt.cuda.unwrap().to_string(), "12.4");
        assert_eq!(pt.env["OMP_NUM_THREADS"], "4");
        assert!(pt.mounts[0].optional);
        assert_eq!(pt.variants, ["pytorch-cu11"]);
    }

    #[test]
    fn node_key_defaults() {
        let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n").unwrap();
        assert_eq!(c.paths.tmp_base.as_str(), DEFAULT_TMP_BASE);
        assert_eq!(c.paths.scratch_base, None);
        assert_eq!(c.paths.scratch_target, Path::new("/scratch"));
        assert_eq!(c.paths.shm_size, 8 << 30);
        assert_eq!(c.gpu.device_dir.as_str(), "/dev");
        assert!(c.gpu.hide_unallocated);
        assert_eq!(c.gpu.nvml, Path::new("libnvidia-ml.so.1"));
        assert_eq!(c.beeond, None, "no [beeond]: BeeOND is off");
        let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
        let b = c.beeond.unwrap();
        assert_eq!(
            (b.feature.as_str(), b.wait_timeout),
            ("beeond", Duration::from_secs(150))
        );
    }

    /// Issue 13: with status_dir in /var/tmp (the old default) any user
    /// could plant the status file beeond stop reads as root.
    #[test]
    fn status_dir_in_a_user_writable_dir_is_a_config_error() {
        for bad in [
            "/var/tmp",
            "/var/tmp/carme-beeond",
            "/tmp",
            "/dev/shm/b",
            "/run/lock/%n",
        ] {
            let t = ALL.replace(
                "status_dir = \"/run/carme/beeond\"",
                &format!("status_dir = \"{bad}\""),
            );
            let e = parse(&t).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("beeond.status_dir"), "{bad}");
            assert!(e.message.contains("every user can create files"), "{e}");
            assert!(e.line.is_some(), "{e}");
        }
        for good in ["/run/carme/beeond", "/var/lib/carme/beeond", "/tmpfs/b"] {
            let t = ALL.replace(
                "status_dir = \"/run/carme/beeond\"",
                &format!("status_dir = \"{good}\""),
            );
            assert!(parse(&t).is_ok(), "{good}");
        }
        // The default: the job's status file under /run, never /var/tmp.
        let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
        assert_eq!(
            c.beeond.unwrap().status_dir.as_str(),
            DEFAULT_BEEOND_STATUS_DIR
        );
        assert_eq!(DEFAULT_BEEOND_STATUS_DIR, "/run/carme/beeond");
    }

    /// Issue 13 (review): a BeeOND data dir or mount base a user could
    /// create first would drain the node; refused at load.
    #[test]
    fn beeond_dirs_in_user_writable_dirs_are_config_errors() {
        for (from, to, key) in [
            (
                "data_dir = \"/local/beeond/%n\"",
                "data_dir = \"/var/tmp/beeond/%n\"",
                "beeond.data_dir",
            ),
            (
                "mount_base = \"/mnt/beeond\"",
                "mount_base = \"/tmp/beeond\"",
                "beeond.mount_base",
            ),
        ] {
            assert!(ALL.contains(from), "{from}");
            let e = parse(&ALL.replace(from, to)).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.message.contains("drain the node"), "{e}");
        }
    }

    /// Issue 13: no default root-managed directory lies where a user could
    /// create it first.
    #[test]
    fn defaults_are_not_in_user_writable_dirs() {
        for d in [
            DEFAULT_STATE_DIR,
            DEFAULT_TMP_BASE,
            DEFAULT_LOG_DIR,
            DEFAULT_BEEOND_STATUS_DIR,
        ] {
            assert_eq!(in_shared_writable_dir(Path::new(d)), None, "{d}");
        }
        let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
        let b = c.beeond.unwrap();
        for t in [
            &b.data_dir,
            &b.mount_base,
            &c.paths.tmp_base,
            &c.paths.state_dir,
        ] {
            assert_eq!(in_shared_writable_dir(Path::new(t.as_str())), None, "{t:?}");
        }
    }

    #[test]
    fn bad_node_keys_are_located() {
        let cases = [
            ("shm_size = \"2G\"", "shm_size = \"0\"", "paths.shm_size"),
            (
                "scratch_target = \"/scratch\"",
                "scratch_target = \"/\"",
                "paths.scratch_target",
            ),
            (
                "tmp_base = \"/var/tmp/carme/%n\"",
                "tmp_base = \"tmp\"",
                "paths.tmp_base",
            ),
            (
                "nvml = \"/opt/nvidia/lib/libnvidia-ml.so.1\"",
                "nvml = \"lib/x.so\"",
                "gpu.nvml",
            ),
            (
                "hide_unallocated = false",
                "hide_unallocated = \"no\"",
                "gpu.hide_unallocated",
            ),
            (
                "start_timeout = \"90s\"",
                "start_timeout = \"90\"",
                "beeond.start_timeout",
            ),
            (
                "feature = \"beeond\"",
                "feature = \"bee ond\"",
                "beeond.feature",
            ),
            (
                "extra_start_args = [\"-T\", \"-r\"]",
                "extra_start_args = [\"-c\", \"/x\"]",
                "beeond.extra_start_args",
            ),
            (
                "cuda = \"12.4\"",
                "cuda = \"twelve\"",
                "images.pytorch.cuda",
            ),
            (
                "workdir = \"/work\"",
                "workdir = \"work\"",
                "images.pytorch.workdir",
            ),
            (
                "runtime = \"singularity\"",
                "runtime = \"podman\"",
                "images.pytorch.runtime",
            ),
            (
                "variants = [\"pytorch-cu11\"]",
                "variants = [\"nope\"]",
                "images.pytorch.variants[0]",
            ),
            (
                "variants = [\"pytorch-cu11\"]",
                "variants = [\"pytorch\"]",
                "images.pytorch.variants[0]",
            ),
            (
                "env = { OMP_NUM_THREADS = \"4\" }",
                "env = { \"1X\" = \"4\" }",
                "images.pytorch.env.1X",
            ),
            (
                "env = { OMP_NUM_THREADS = \"4\" }",
                "env = { CARME_LAUNCH_IMAGE = \"x\" }",
                "images.pytorch.env.CARME_LAUNCH_IMAGE",
            ),
            (
                "optional = true",
                "optional = 1",
                "images.pytorch.mounts[0].optional",
            ),
        ];
        for (from, to, key) in cases {
            assert!(ALL.contains(from), "{from}");
            let bad = ALL.replacen(from, to, 1);
            let err = parse(&bad).expect_err(to);
            assert_eq!(err.key.as_deref(), Some(key), "{to}: {err}");
            let want = bad
                .lines()
                .position(|l| l.contains(to.lines().next().unwrap()))
                .unwrap()
                + 1;
            assert_eq!(err.line, Some(want), "{to}: {err}");
        }
        // A variant without a CUDA version cannot be chosen among.
        let bad = ALL.replacen("cuda = \"11.8\"", "", 1);
        assert_eq!(
            parse(&bad).unwrap_err().key.as_deref(),
            Some("images.pytorch.variants[0]")
        );
    }
}
