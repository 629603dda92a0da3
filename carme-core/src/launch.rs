//! The container runtime's command line and environment for a task, per
//! runtime kind: carme-launch execs exactly this, `explain` prints it.
//!
//! [`plan`] is pure: the task's facts (node, job, environment, working
//! directory, which mount sources exist) go in, a [`LaunchPlan`] comes out.
//!
//! What the container gets, for every runtime:
//! - binds: the global `[[mounts]]`, then the image's, then the step's own
//!   paths (scratch target, a device dir other than /dev) at the same
//!   place. A source that does not exist refuses the task (see
//!   [`LaunchPlan::refusal`]) unless the mount is `optional`, when it is
//!   left out.
//! - environment: the task's own (Slurm's, MPI's, the GPU variables, the
//!   Carme paths the plugin set), the image's `env` and Carme's job
//!   variables ([`CARME_VARS`]); Carme's win over the image's. Values are
//!   literal in every runtime (never shell-expanded).
//! - working directory: the image's `workdir`, else the task's working
//!   directory (the submit dir, or `--chdir`) where it lies under a bind,
//!   translated to its container path; else the runtime's default.
//!
//! How, per runtime:
//! - Charliecloud (`ch-run`) passes the task's environment through; the
//!   image's and Carme's variables go in as `--env-no-expand
//!   --set-env=NAME=VALUE`. It binds the task's `$TMPDIR` at `/tmp` and
//!   unsets the variable, so `TMPDIR=/tmp` is set again. `-c DIR` sets the
//!   working directory. No read-only binds: `mode = "ro"` is not enforced.
//! - Apptainer / SingularityCE (`exec`): the step's /tmp is also bound at
//!   /var/tmp, in place of the node's shared one the runtimes bind by
//!   default (docs/images.md has each default bind and why). Every variable the container must
//!   see is passed as `APPTAINERENV_NAME` / `SINGULARITYENV_NAME`, the
//!   task's Slurm, MPI (PMI, PMIx), GPU and Carme variables included
//!   ([`FORWARD_PREFIXES`], [`FORWARD_NAMES`]), so they arrive even when
//!   the admin adds `--cleanenv` or `--containall`; `--no-eval` keeps the
//!   values literal; `--cwd DIR`; `--nv` for `gpu = true` images.
//! - The image's `runtime_args` come last, just before the image, so where
//!   a runtime takes the last value of a flag the admin's wins.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::config::{Config, Image, MountMode, RuntimeKind, bind_path_problem};
use crate::hostlist;
use crate::refusal::Refusal;
use crate::text::{self, escape_os};

/// Variables of the launcher's own plumbing: never passed on.
pub const LAUNCH_ENV_PREFIX: &str = "CARME_LAUNCH_";

/// Task variables Apptainer/SingularityCE get as `*ENV_` copies (by
/// prefix): Slurm's task environment and the MPI wire-up variables of
/// srun's PMI-2 and PMIx plugins.
pub const FORWARD_PREFIXES: &[&str] = &["SLURM_", "SLURMD_", "PMI_", "PMIX_"];

/// ... and by name: the GPU selection, the job's /tmp and Carme's paths
/// (set by the SPANK plugin).
pub const FORWARD_NAMES: &[&str] = &[
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "GPU_DEVICE_ORDINAL",
    "ROCR_VISIBLE_DEVICES",
    "TMPDIR",
    "CARME_TMPDIR",
    "CARME_LOCAL_SSD_PATH",
    "CARME_BEEOND_PATH",
];

/// Carme's job variables inside the image, and the task variable each is
/// derived from (`CARME_IMAGE_NAME` is the image that runs).
pub const CARME_VARS: &[(&str, &str)] = &[
    ("CARME_JOB_ID", "SLURM_JOB_ID"),
    ("CARME_JOB_NAME", "SLURM_JOB_NAME"),
    ("CARME_NODES", "SLURM_JOB_NODELIST"),
    ("CARME_MASTER", "SLURM_JOB_NODELIST"),
    ("CARME_IMAGE_NAME", "--carme-image"),
    ("CARME_JOB_GPUS", "SLURM_STEP_GPUS"),
];

/// Host variables the runtime itself needs: an image's value for one of
/// them reaches the container through the runtime, the runtime keeps the
/// host's.
const RUNTIME_OWN: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "TMPDIR",
];

/// What the launch depends on besides the config.
pub struct TaskFacts<'a> {
    /// The node (`%n` in mount sources).
    pub node: &'a str,
    /// The job id (`%j`), when in a job.
    pub job: Option<u32>,
    /// The task's environment, as Slurm and the plugin left it.
    pub env: &'a [(OsString, OsString)],
    /// The task's working directory on the host.
    pub cwd: Option<&'a Path>,
    /// Whether a mount source exists (as the task's user sees it).
    pub source_exists: &'a dyn Fn(&Path) -> bool,
}

impl TaskFacts<'_> {
    fn var(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k.as_bytes() == name.as_bytes())
            .map(|(_, v)| v.as_os_str())
    }
}

/// Whether the plan is for exec or for `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Variables whose task variable is missing are left out.
    Exec,
    /// They appear as `<SLURM_JOB_ID>`-style placeholders.
    Explain,
}

/// Where a bind comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOrigin {
    /// `[[mounts]]`
    Global,
    /// The image's `mounts`.
    Image,
    /// The step's scratch or device dir, bound at the same place.
    Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMount {
    /// `%n`/`%j` expanded.
    pub source: PathBuf,
    pub target: PathBuf,
    pub mode: MountMode,
    pub optional: bool,
    pub origin: MountOrigin,
    /// The source exists: the bind is made. A missing optional one is
    /// left out; a missing required one refuses the task.
    pub present: bool,
    /// Why the expanded source or target cannot go into the runtime's
    /// bind spec (`%n`/`%j` put `:`, `,` or `..` in it): never bound, and
    /// the task is refused, optional or not.
    pub unsafe_path: Option<&'static str>,
}

/// Where a container variable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// The image's `env`.
    Image,
    /// Carme's job variables, from the named task variable.
    Carme { from: &'static str },
    /// The task's own variable, passed on.
    Task,
    /// A variable the SPANK plugin sets in every Carme step's environment
    /// (`CARME_TMPDIR`, `CARME_LOCAL_SSD_PATH`, `CARME_BEEOND_PATH`), listed
    /// by `explain` outside a job; it reaches the container like the
    /// task's own. A None value: only BeeOND jobs have it.
    Plugin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerVar {
    pub name: String,
    /// None: the task variable it comes from is missing (outside a job).
    pub value: Option<OsString>,
    pub source: EnvSource,
}

/// Why the working directory is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkdirSource {
    /// The image's `workdir`.
    Image,
    /// The task's working directory `host`, under the bind at `target`.
    TaskCwd {
        host: PathBuf,
        mount_target: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workdir {
    pub path: PathBuf,
    pub source: WorkdirSource,
}

/// Everything carme-launch does to start the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// The image that runs.
    pub image: String,
    pub runtime: RuntimeKind,
    /// Program first.
    pub argv: Vec<OsString>,
    pub mounts: Vec<PlannedMount>,
    /// What the container's environment gets on top of the runtime's own.
    pub container_env: Vec<ContainerVar>,
    /// Variables set in the runtime's environment (Apptainer's `*ENV_`).
    pub env_set: Vec<(OsString, OsString)>,
    /// Variables removed from the runtime's environment.
    pub env_unset: Vec<OsString>,
    pub workdir: Option<Workdir>,
    /// Details for the debug log.
    pub notes: Vec<String>,
}

impl LaunchPlan {
    /// Required mounts whose source does not exist.
    pub fn missing_mounts(&self) -> impl Iterator<Item = &PlannedMount> {
        self.mounts.iter().filter(|m| !m.present && !m.optional)
    }

    /// The refusal when a mount's expanded path cannot be bound safely,
    /// or a required mount's source is missing.
    pub fn refusal(&self, node: &str) -> Option<Refusal> {
        if let Some((m, why)) = self.mounts.iter().find_map(|m| Some((m, m.unsafe_path?))) {
            return Some(Refusal::new(format!(
                "cannot start the task in image '{}': the mount {} -> {} {why} once %n \
                 (node {}) and %j are put in, so the runtime could not bind it safely. \
                 Please tell your cluster admins.",
                self.image,
                escape_os(m.source.as_os_str()),
                escape_os(m.target.as_os_str()),
                text::escape(node),
            )));
        }
        let missing: Vec<String> = self
            .missing_mounts()
            .map(|m| {
                format!(
                    "{} (for {}{})",
                    m.source.display(),
                    m.target.display(),
                    match m.origin {
                        MountOrigin::Image => format!(", a mount of image '{}'", self.image),
                        _ => String::new(),
                    }
                )
            })
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(Refusal::new(format!(
            "cannot start the task in image '{}': the mount source{} {} do{} not exist on node \
             {node}. Please tell your cluster admins (they can mark a mount optional = true).",
            self.image,
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "es" } else { "" },
        )))
    }
}

/// The runtime a task of `image` uses, and its binary. An image whose
/// `runtime` differs from `[runtime] kind` uses the runtime's usual binary
/// name (`ch-run`, `apptainer`, `singularity`) in the directory of
/// `[runtime] path`.
pub fn runtime_of(cfg: &Config, image: &Image) -> (RuntimeKind, PathBuf) {
    let kind = image.runtime.unwrap_or(cfg.runtime.kind);
    if kind == cfg.runtime.kind {
        return (kind, cfg.runtime.path.clone());
    }
    let name = match kind {
        RuntimeKind::Charliecloud => "ch-run",
        RuntimeKind::Apptainer => "apptainer",
        RuntimeKind::Singularity => "singularity",
    };
    let dir = cfg.runtime.path.parent().unwrap_or(Path::new("/"));
    (kind, dir.join(name))
}

/// The prefix that sets a container variable through the runtime's
/// environment, if the runtime has one.
pub fn env_prefix(kind: RuntimeKind) -> Option<&'static str> {
    match kind {
        RuntimeKind::Charliecloud => None,
        RuntimeKind::Apptainer => Some("APPTAINERENV_"),
        RuntimeKind::Singularity => Some("SINGULARITYENV_"),
    }
}

/// True for task variables Apptainer/SingularityCE get as `*ENV_` copies.
pub fn is_forwarded(name: &[u8]) -> bool {
    FORWARD_PREFIXES
        .iter()
        .any(|p| name.starts_with(p.as_bytes()))
        || FORWARD_NAMES.iter().any(|n| name == n.as_bytes())
}

/// The variable the SPANK plugin hands carme-exec the runtime's command line
/// in (Slurm < 23.11). The newline in its name is what makes it the
/// plugin's: Slurm runs the TaskProlog and a user's `--task-prolog` after
/// the plugin's task_init, and they set variables by `export NAME=value`
/// lines, so their names never hold a newline (carme-exec/src/main.rs).
pub const EXEC_SPEC_ENV: &str = "CARME_LAUNCH_EXEC\n";

/// Arguments as carme-exec reads them from [`EXEC_SPEC_ENV`]: each as
/// `<length>:<bytes>`, the length in decimal bytes.
pub fn exec_spec<'a>(args: impl IntoIterator<Item = &'a OsString>) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(a.as_bytes());
    }
    out
}

/// Plan the launch of `cmd` in `image` (the image that runs: a variant
/// when driver matching chose one).
pub fn plan(
    cfg: &Config,
    image: &Image,
    facts: &TaskFacts,
    cmd: &[OsString],
    mode: Mode,
) -> LaunchPlan {
    let (kind, program) = runtime_of(cfg, image);
    let mut notes = Vec::new();
    let mounts = plan_mounts(cfg, image, facts, kind);
    for m in mounts
        .iter()
        .filter(|m| !m.present && m.optional && m.unsafe_path.is_none())
    {
        notes.push(format!(
            "optional mount {} -> {} left out: the source does not exist",
            m.source.display(),
            m.target.display()
        ));
    }
    let workdir = workdir(image, facts.cwd, &mounts);
    let container_env = container_env(cfg, image, facts, kind, mode, &mut notes);

    let mut argv: Vec<OsString> = vec![program.into_os_string()];
    let mut env_set: Vec<(OsString, OsString)> = Vec::new();
    let mut env_unset: Vec<OsString> = facts
        .env
        .iter()
        .filter(|(k, _)| k.as_bytes().starts_with(LAUNCH_ENV_PREFIX.as_bytes()))
        .map(|(k, _)| k.clone())
        .collect();
    let bound = mounts.iter().filter(|m| m.present);
    let value_of = |v: &ContainerVar| -> Option<OsString> {
        match (&v.value, mode, &v.source) {
            (Some(x), _, _) => Some(x.clone()),
            (None, Mode::Explain, EnvSource::Carme { from }) => Some(format!("<{from}>").into()),
            (None, Mode::Explain, EnvSource::Plugin) => Some(BEEOND_ONLY.into()),
            (None, _, _) => None,
        }
    };
    match kind {
        RuntimeKind::Charliecloud => {
            // ch-run -b SRC:DST ... [-c DIR] [--set-env...] [args] IMAGE -- CMD...
            for m in bound {
                argv.push("-b".into());
                argv.push(join(&[m.source.as_os_str(), m.target.as_os_str()]));
            }
            if let Some(w) = &workdir {
                argv.push("-c".into());
                argv.push(w.path.clone().into_os_string());
            }
            // The task's own variables pass through ch-run by themselves.
            let sets: Vec<(String, OsString)> = container_env
                .iter()
                .filter(|v| !matches!(v.source, EnvSource::Task | EnvSource::Plugin))
                .filter_map(|v| value_of(v).map(|x| (v.name.clone(), x)))
                .collect();
            if !sets.is_empty() {
                argv.push("--env-no-expand".into());
            }
            for (name, value) in sets {
                argv.push(set_env_arg(&name, &value));
            }
            argv.extend(image.runtime_args.iter().map(OsString::from));
            argv.push(image.path.clone().into_os_string());
            argv.push("--".into());
        }
        RuntimeKind::Apptainer | RuntimeKind::Singularity => {
            // apptainer exec -B SRC:DST[:ro] ... [--nv] --no-eval [--cwd DIR] [args] IMAGE CMD...
            let prefix = env_prefix(kind).expect("apptainer and singularity have one");
            argv.push("exec".into());
            for m in bound {
                let mut spec = join(&[m.source.as_os_str(), m.target.as_os_str()]);
                if m.mode == MountMode::Ro {
                    spec.push(":ro");
                }
                argv.push("-B".into());
                argv.push(spec);
            }
            if image.gpu {
                argv.push("--nv".into());
            }
            argv.push("--no-eval".into());
            if let Some(w) = &workdir {
                argv.push("--cwd".into());
                argv.push(w.path.clone().into_os_string());
            }
            for v in &container_env {
                let Some(value) = value_of(v) else { continue };
                let mut name = OsString::from(prefix);
                name.push(&v.name);
                // The prefixed copy carries it; the host's other value is
                // dropped so it is the only one (Apptainer 1.4.5 would
                // prefer the copy anyway, silently).
                if !matches!(v.source, EnvSource::Task | EnvSource::Plugin)
                    && !RUNTIME_OWN.contains(&v.name.as_str())
                    && facts.var(&v.name).is_some_and(|h| h != value)
                {
                    env_unset.push(v.name.clone().into());
                }
                env_set.push((name, value));
            }
            argv.extend(image.runtime_args.iter().map(OsString::from));
            argv.push(image.path.clone().into_os_string());
        }
    }
    argv.extend(cmd.iter().cloned());
    LaunchPlan {
        image: image.name.clone(),
        runtime: kind,
        argv,
        mounts,
        container_env,
        env_set,
        env_unset,
        workdir,
        notes,
    }
}

fn plan_mounts(
    cfg: &Config,
    image: &Image,
    facts: &TaskFacts,
    kind: RuntimeKind,
) -> Vec<PlannedMount> {
    let mut out: Vec<PlannedMount> = Vec::new();
    for (m, origin) in cfg
        .mounts
        .iter()
        .map(|m| (m, MountOrigin::Global))
        .chain(image.mounts.iter().map(|m| (m, MountOrigin::Image)))
    {
        let source = m.source.expand(facts.node, facts.job);
        let unsafe_path = bind_path_problem(&source);
        let present = unsafe_path.is_none() && (facts.source_exists)(&source);
        out.push(PlannedMount {
            source,
            target: m.target.clone(),
            mode: m.mode,
            optional: m.optional,
            origin,
            present,
            unsafe_path,
        });
    }
    for p in step_binds(cfg, facts) {
        // An admin's mount at the same target already covers it.
        if out.iter().any(|m| m.target == p) {
            continue;
        }
        let unsafe_path = bind_path_problem(&p);
        out.push(PlannedMount {
            source: p.clone(),
            target: p,
            mode: MountMode::Rw,
            optional: false,
            origin: MountOrigin::Step,
            present: unsafe_path.is_none(),
            unsafe_path,
        });
    }
    // Apptainer and SingularityCE bind the node's /var/tmp by default
    // (`mount tmp`): shared by every job and user on the node, and kept
    // after the job. The step's /tmp (the job's own directory, removed by
    // the epilog) goes there instead, unless an admin's mount targets it.
    if kind != RuntimeKind::Charliecloud && !out.iter().any(|m| m.target == Path::new(VAR_TMP)) {
        out.push(PlannedMount {
            source: PathBuf::from("/tmp"),
            target: PathBuf::from(VAR_TMP),
            mode: MountMode::Rw,
            optional: false,
            origin: MountOrigin::Step,
            present: true,
            unsafe_path: None,
        });
    }
    out
}

/// Where Apptainer/SingularityCE bind the node's /var/tmp by default.
const VAR_TMP: &str = "/var/tmp";

/// Paths of the step's namespace the container must see at the same
/// place: the scratch target, a GPU device dir other than /dev (the
/// runtimes bring /dev, /tmp along themselves) and, for a BeeOND job, the
/// node's `[beeond] mount_base` (not the job's own mount point: Charliecloud
/// can bind only onto a directory the image has, and images cannot have
/// one per job id; other jobs' mount roots there are closed, 0700).
fn step_binds(cfg: &Config, facts: &TaskFacts) -> Vec<PathBuf> {
    let mut binds = Vec::new();
    if cfg.paths.scratch_base.is_some() {
        binds.push(cfg.paths.scratch_target.clone());
    }
    if let Some(b) = &cfg.beeond
        && facts.var("CARME_BEEOND_PATH").is_some()
    {
        binds.push(b.mount_base.expand(facts.node, facts.job));
    }
    let dev = cfg.gpu.device_dir.expand(facts.node, facts.job);
    if dev != Path::new("/dev") {
        binds.push(dev);
    }
    binds
}

/// The image's workdir, else the task's cwd through the bind whose source
/// holds it (the deepest such source).
fn workdir(image: &Image, cwd: Option<&Path>, mounts: &[PlannedMount]) -> Option<Workdir> {
    if let Some(w) = &image.workdir {
        return Some(Workdir {
            path: w.clone(),
            source: WorkdirSource::Image,
        });
    }
    let cwd = cwd.filter(|c| is_plain_absolute(c))?;
    let (m, rest) = mounts
        .iter()
        .filter(|m| m.present)
        // The step's /tmp at /var/tmp is an alias: a cwd in /tmp is at the
        // same path in the container (the runtime binds /tmp itself).
        .filter(|m| !(m.source == Path::new("/tmp") && m.target == Path::new(VAR_TMP)))
        .filter_map(|m| Some((m, cwd.strip_prefix(&m.source).ok()?)))
        .max_by_key(|(m, _)| m.source.components().count())?;
    Some(Workdir {
        path: if rest.as_os_str().is_empty() {
            m.target.clone()
        } else {
            m.target.join(rest)
        },
        source: WorkdirSource::TaskCwd {
            host: cwd.to_path_buf(),
            mount_target: m.target.clone(),
        },
    })
}

fn container_env(
    cfg: &Config,
    image: &Image,
    facts: &TaskFacts,
    kind: RuntimeKind,
    mode: Mode,
    notes: &mut Vec<String>,
) -> Vec<ContainerVar> {
    let carme = carme_vars(image, facts, notes);
    let mut out: Vec<ContainerVar> = Vec::new();
    if kind != RuntimeKind::Charliecloud {
        // Passed on as *ENV_ copies so --cleanenv cannot drop them.
        for (k, v) in facts.env {
            let Some(name) = k.to_str() else { continue };
            if is_forwarded(k.as_bytes())
                && !carme.iter().any(|c| c.name == name)
                && !image.env.contains_key(name)
                && !out.iter().any(|c| c.name == name)
            {
                out.push(ContainerVar {
                    name: name.to_string(),
                    value: Some(v.clone()),
                    source: EnvSource::Task,
                });
            }
        }
    } else if facts.var("TMPDIR").is_some() || mode == Mode::Explain {
        // ch-run binds $TMPDIR at /tmp and unsets it.
        out.push(ContainerVar {
            name: "TMPDIR".to_string(),
            value: Some("/tmp".into()),
            source: EnvSource::Carme { from: "TMPDIR" },
        });
    }
    for (name, value) in &image.env {
        if carme.iter().any(|c| &c.name == name) {
            notes.push(format!(
                "image env {name} ignored: Carme sets it for every job"
            ));
            continue;
        }
        out.retain(|c| &c.name != name);
        out.push(ContainerVar {
            name: name.clone(),
            value: Some(value.into()),
            source: EnvSource::Image,
        });
    }
    out.extend(carme);
    if mode == Mode::Explain {
        // What the plugin adds in a job, where the task lacks it here.
        for (name, value) in plugin_vars(cfg) {
            let present = facts.var(name).is_some();
            if !out.iter().any(|c| c.name == name)
                && (!present || kind == RuntimeKind::Charliecloud)
            {
                out.push(ContainerVar {
                    name: name.to_string(),
                    value: facts.var(name).map(OsStr::to_os_string).or(value),
                    source: EnvSource::Plugin,
                });
            }
        }
    }
    out
}

/// The placeholder `explain` shows for `CARME_BEEOND_PATH`.
const BEEOND_ONLY: &str = "<BeeOND jobs only>";

/// The Carme paths the SPANK plugin sets in a Carme step's environment.
fn plugin_vars(cfg: &Config) -> Vec<(&'static str, Option<OsString>)> {
    let mut vars = vec![("CARME_TMPDIR", Some(OsString::from("/tmp")))];
    if cfg.paths.scratch_base.is_some() {
        vars.push((
            "CARME_LOCAL_SSD_PATH",
            Some(cfg.paths.scratch_target.clone().into_os_string()),
        ));
    }
    if cfg.beeond.is_some() {
        vars.push(("CARME_BEEOND_PATH", None));
    }
    vars
}

/// Carme's job variables (see [`CARME_VARS`]).
fn carme_vars(image: &Image, facts: &TaskFacts, notes: &mut Vec<String>) -> Vec<ContainerVar> {
    let in_job = facts.var("SLURM_JOB_ID").is_some();
    let nodes =
        facts
            .var("SLURM_JOB_NODELIST")
            .and_then(|l| match job_nodes(&l.to_string_lossy()) {
                Ok(n) => Some(n),
                Err(e) => {
                    notes.push(format!(
                        "SLURM_JOB_NODELIST={}: {e}; CARME_NODES and CARME_MASTER left out",
                        escape_os(l)
                    ));
                    None
                }
            });
    CARME_VARS
        .iter()
        .map(|&(name, from)| {
            let value: Option<OsString> = match name {
                "CARME_JOB_ID" | "CARME_JOB_NAME" => facts.var(from).map(OsStr::to_os_string),
                "CARME_NODES" => nodes.as_ref().map(|n| n.0.clone().into()),
                "CARME_MASTER" => nodes.as_ref().map(|n| n.1.clone().into()),
                "CARME_IMAGE_NAME" => Some(image.name.clone().into()),
                // No GPUs in the step: set, but empty (as Carme does).
                _ => facts
                    .var(from)
                    .map(OsStr::to_os_string)
                    .or_else(|| in_job.then(OsString::new)),
            };
            ContainerVar {
                name: name.to_string(),
                value,
                source: EnvSource::Carme { from },
            }
        })
        .collect()
}

/// Longest `CARME_NODES` that is written out name by name: 64 KiB, half
/// of what Linux allows one environment string or argument (128 KiB,
/// `--set-env=CARME_NODES=...` included), so a few thousand nodes.
pub const CARME_NODES_MAX_EXPANDED: u64 = 64 << 10;

/// `CARME_NODES` and `CARME_MASTER` of a job: the names comma-separated
/// when they fit in [`CARME_NODES_MAX_EXPANDED`] bytes, else the compressed
/// hostlist as Slurm gives it (as its own `SLURM_JOB_NODELIST`; `scontrol
/// show hostnames` expands either form). Nothing is expanded before its
/// size is known.
pub fn job_nodes(list: &str) -> Result<(String, String), hostlist::HostlistError> {
    let size = hostlist::measure(list)?;
    let master = hostlist::first(list)?;
    if size.joined_len() <= CARME_NODES_MAX_EXPANDED {
        Ok((hostlist::expand(list)?.join(","), master))
    } else {
        Ok((list.to_string(), master))
    }
}

/// `--set-env=NAME=VALUE` that ch-run reads literally: with
/// `--env-no-expand` it expands nothing, but it strips one pair of single
/// quotes around a value, so a value that starts or ends with one is
/// quoted (the outer pair is then the one stripped).
fn set_env_arg(name: &str, value: &OsStr) -> OsString {
    let v = value.as_bytes();
    let mut out = format!("--set-env={name}=").into_bytes();
    if v.first() == Some(&b'\'') || v.last() == Some(&b'\'') {
        out.push(b'\'');
        out.extend_from_slice(v);
        out.push(b'\'');
    } else {
        out.extend_from_slice(v);
    }
    OsString::from_vec(out)
}

fn join(parts: &[&OsStr]) -> OsString {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(p.as_bytes());
    }
    OsString::from_vec(out)
}

/// Render argv as a shell-like line for logs and `explain`.
pub fn render(argv: &[OsString]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// One word, quoted for a POSIX shell where it needs it. A word with
/// control characters is written `$'...'` (bash, zsh, ksh, POSIX.1-2024)
/// with them as `\xHH`, so it stays on one line and off the terminal.
pub fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=,+%@".contains(c))
    {
        s.into_owned()
    } else if s.chars().any(text::is_unsafe) {
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\\' | '\'' => {
                    out.push('\\');
                    out.push(c);
                }
                c if text::is_unsafe(c) => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// True when `p` names the same file in every mount namespace we care
/// about: absolute and without `..`.
pub fn is_plain_absolute(p: &Path) -> bool {
    p.is_absolute() && !p.components().any(|c| c == Component::ParentDir)
}

#[cfg(test)]
mod tests;
