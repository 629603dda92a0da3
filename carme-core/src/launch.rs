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
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(kind: &str, path: &str) -> Config {
        let text = format!(
            "[runtime]\nkind = \"{kind}\"\npath = \"{path}\"\n\
             [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
             [[mounts]]\nsource = \"/scratch/%n/%j\"\ntarget = \"/scratch\"\nmode = \"ro\"\n\
             [images.base]\npath = \"/srv/base\"\n\
             mounts = [ {{ source = \"/data\", target = \"/data\", mode = \"ro\" }} ]\n\
             [images.full]\npath = \"/srv/full.sif\"\ngpu = true\nworkdir = \"/work\"\n\
             runtime_args = [\"--writable-tmpfs\"]\n\
             env = {{ OMP_NUM_THREADS = \"8\", TAG = \"'q' $HOME\", CARME_JOB_ID = \"no\", \
             LANG = \"C\" }}\n\
             mounts = [ {{ source = \"/opt/ds\", target = \"/datasets\", optional = true }},\n\
             {{ source = \"/opt/must\", target = \"/must\" }} ]\n"
        );
        Config::parse(&text, Path::new("/c.toml")).unwrap()
    }

    fn env(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn job_env() -> Vec<(OsString, OsString)> {
        env(&[
            ("SLURM_JOB_ID", "42"),
            ("SLURM_JOB_NAME", "my $job"),
            ("SLURM_JOB_NODELIST", "n[1-2]"),
            ("SLURM_PROCID", "3"),
            ("SLURM_STEP_GPUS", "0,2"),
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("PMIX_RANK", "3"),
            ("TMPDIR", "/tmp"),
            ("CARME_TMPDIR", "/tmp"),
            ("CARME_LAUNCH_IMAGE", "full"),
            ("CARME_STANDIN_LOG", "/x"),
            ("LANG", "de_DE.UTF-8"),
            ("HOME", "/home/u"),
            ("FOO", "bar"),
        ])
    }

    fn exists_all(_: &Path) -> bool {
        true
    }

    fn exists_none_opt(p: &Path) -> bool {
        !p.starts_with("/opt")
    }

    fn plan_for(
        c: &Config,
        image: &str,
        env: &[(OsString, OsString)],
        cwd: Option<&str>,
        exists: &dyn Fn(&Path) -> bool,
        mode: Mode,
    ) -> LaunchPlan {
        let facts = TaskFacts {
            node: "n1",
            job: Some(42),
            env,
            cwd: cwd.map(Path::new),
            source_exists: exists,
        };
        let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), "echo hi".into()];
        plan(c, &c.images[image], &facts, &cmd, mode)
    }

    fn strings(v: &[OsString]) -> Vec<String> {
        v.iter().map(|a| a.to_str().unwrap().to_string()).collect()
    }

    fn pairs(v: &[(OsString, OsString)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_str().unwrap().into(), b.to_str().unwrap().into()))
            .collect()
    }

    #[test]
    fn exec_spec_is_length_prefixed_and_exact() {
        let args: Vec<OsString> = ["/usr/bin/ch-run", "-b", "a:b", "", "x\ny 9:", "\u{e9}"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            exec_spec(&args),
            b"15:/usr/bin/ch-run2:-b3:a:b0:6:x\ny 9:2:\xc3\xa9".to_vec()
        );
        assert!(exec_spec(&[]).is_empty());
    }

    #[test]
    fn charliecloud_argv_without_a_job() {
        let c = cfg("charliecloud", "/usr/bin/ch-run");
        let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
        assert_eq!(
            strings(&p.argv),
            [
                "/usr/bin/ch-run",
                "-b",
                "/home:/home",
                "-b",
                "/scratch/n1/42:/scratch",
                "-b",
                "/data:/data",
                "--env-no-expand",
                "--set-env=CARME_IMAGE_NAME=base",
                "/srv/base",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        assert!(p.env_set.is_empty() && p.env_unset.is_empty());
        assert_eq!(p.workdir, None);
    }

    #[test]
    fn charliecloud_argv_in_a_job() {
        let c = cfg("charliecloud", "/usr/bin/ch-run");
        let e = job_env();
        let p = plan_for(&c, "full", &e, Some("/home/u/x"), &exists_all, Mode::Exec);
        assert_eq!(
            strings(&p.argv),
            [
                "/usr/bin/ch-run",
                "-b",
                "/home:/home",
                "-b",
                "/scratch/n1/42:/scratch",
                "-b",
                "/opt/ds:/datasets",
                "-b",
                "/opt/must:/must",
                "-c",
                "/work",
                "--env-no-expand",
                "--set-env=TMPDIR=/tmp",
                "--set-env=LANG=C",
                "--set-env=OMP_NUM_THREADS=8",
                "--set-env=TAG=''q' $HOME'",
                "--set-env=CARME_JOB_ID=42",
                "--set-env=CARME_JOB_NAME=my $job",
                "--set-env=CARME_NODES=n1,n2",
                "--set-env=CARME_MASTER=n1",
                "--set-env=CARME_IMAGE_NAME=full",
                "--set-env=CARME_JOB_GPUS=0,2",
                "--writable-tmpfs",
                "/srv/full.sif",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        // Only the plumbing is removed; the rest passes through ch-run.
        assert_eq!(strings(&p.env_unset), ["CARME_LAUNCH_IMAGE"]);
        assert!(p.env_set.is_empty());
        assert!(p.notes.iter().any(|n| n.contains("CARME_JOB_ID ignored")));
    }

    #[test]
    fn apptainer_and_singularity_argv() {
        for (kind, path, prefix) in [
            ("apptainer", "/usr/bin/apptainer", "APPTAINERENV_"),
            ("singularity", "/opt/s/bin/singularity", "SINGULARITYENV_"),
        ] {
            let c = cfg(kind, path);
            let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
            assert_eq!(
                strings(&p.argv),
                [
                    path,
                    "exec",
                    "-B",
                    "/home:/home",
                    "-B",
                    "/scratch/n1/42:/scratch:ro",
                    "-B",
                    "/data:/data:ro",
                    "-B",
                    "/tmp:/var/tmp",
                    "--no-eval",
                    "/srv/base",
                    "sh",
                    "-c",
                    "echo hi"
                ],
                "{kind}"
            );
            assert_eq!(
                pairs(&p.env_set),
                [(format!("{prefix}CARME_IMAGE_NAME"), "base".to_string())]
            );
        }
    }

    /// The runtimes' default /var/tmp (the node's, shared) becomes the
    /// step's /tmp; an admin's mount there wins; ch-run binds no /var/tmp.
    #[test]
    fn var_tmp_is_the_steps_tmp_for_apptainer_and_singularity() {
        let var_tmp = |c: &Config| -> Vec<(String, String)> {
            plan_for(c, "base", &[], None, &exists_all, Mode::Exec)
                .mounts
                .iter()
                .filter(|m| m.target == Path::new("/var/tmp"))
                .map(|m| (m.source.display().to_string(), format!("{:?}", m.origin)))
                .collect()
        };
        for kind in ["apptainer", "singularity"] {
            assert_eq!(
                var_tmp(&cfg(kind, "/a")),
                [("/tmp".to_string(), "Step".to_string())],
                "{kind}"
            );
        }
        assert!(var_tmp(&cfg("charliecloud", "/a")).is_empty());
        let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [[mounts]]\nsource = \"/local/vt\"\ntarget = \"/var/tmp\"\n\
                    [images.base]\npath = \"/srv/base\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        assert_eq!(
            var_tmp(&c),
            [("/local/vt".to_string(), "Global".to_string())]
        );
    }

    #[test]
    fn apptainer_passes_the_job_environment_as_prefixed_copies() {
        let c = cfg("apptainer", "/usr/bin/apptainer");
        let e = job_env();
        let p = plan_for(
            &c,
            "full",
            &e,
            Some("/home/u/x"),
            &exists_none_opt,
            Mode::Exec,
        );
        assert_eq!(
            strings(&p.argv),
            [
                "/usr/bin/apptainer",
                "exec",
                "-B",
                "/home:/home",
                "-B",
                "/scratch/n1/42:/scratch:ro",
                "-B",
                "/tmp:/var/tmp",
                "--nv",
                "--no-eval",
                "--cwd",
                "/work",
                "--writable-tmpfs",
                "/srv/full.sif",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        let set = pairs(&p.env_set);
        let get = |k: &str| {
            set.iter()
                .find(|(n, _)| n == &format!("APPTAINERENV_{k}"))
                .map(|(_, v)| v.as_str())
        };
        for (k, v) in [
            ("SLURM_PROCID", "3"),
            ("SLURM_JOB_ID", "42"),
            ("PMIX_RANK", "3"),
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("TMPDIR", "/tmp"),
            ("CARME_TMPDIR", "/tmp"),
            ("CARME_JOB_ID", "42"),
            ("CARME_JOB_NAME", "my $job"),
            ("CARME_NODES", "n1,n2"),
            ("CARME_MASTER", "n1"),
            ("CARME_IMAGE_NAME", "full"),
            ("CARME_JOB_GPUS", "0,2"),
            ("OMP_NUM_THREADS", "8"),
            ("LANG", "C"),
        ] {
            assert_eq!(get(k), Some(v), "{k}: {set:?}");
        }
        // Not the user's own variables (the runtime passes those unless
        // told not to), not the plumbing, not unrelated CARME_ names.
        for k in ["FOO", "HOME", "CARME_LAUNCH_IMAGE", "CARME_STANDIN_LOG"] {
            assert_eq!(get(k), None, "{k}");
        }
        // The host's LANG differs from the image's: removed so the
        // runtime has nothing to warn about.
        assert_eq!(strings(&p.env_unset), ["CARME_LAUNCH_IMAGE", "LANG"]);
        // The optional mount was left out, the required one is missing.
        assert_eq!(
            p.mounts
                .iter()
                .map(|m| (m.target.to_str().unwrap(), m.present))
                .collect::<Vec<_>>(),
            [
                ("/home", true),
                ("/scratch", true),
                ("/datasets", false),
                ("/must", false),
                ("/var/tmp", true)
            ]
        );
        assert!(p.notes.iter().any(|n| n.contains("optional mount /opt/ds")));
        assert_eq!(
            p.refusal("n1").unwrap().message(),
            "carme: cannot start the task in image 'full': the mount source /opt/must (for \
             /must, a mount of image 'full') does not exist on node n1. Please tell your \
             cluster admins (they can mark a mount optional = true)."
        );
    }

    #[test]
    fn missing_required_mounts_are_named() {
        let c = cfg("charliecloud", "/c");
        let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
        let r = p.refusal("n9").unwrap();
        assert!(
            r.message().contains(
                "mount sources /home (for /home), /scratch/n1/42 (for /scratch), /data (for \
                 /data, a mount of image 'base') do not exist on node n9"
            ),
            "{}",
            r.message()
        );
        // None of them is bound.
        assert!(!strings(&p.argv).contains(&"-b".to_string()));
        let ok = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
        assert_eq!(ok.refusal("n1"), None);
    }

    #[test]
    fn working_directory_follows_the_binds() {
        let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
                    [[mounts]]\nsource = \"/srv/shared\"\ntarget = \"/data\"\n\
                    [[mounts]]\nsource = \"/srv/shared/deep\"\ntarget = \"/deep\"\n\
                    [images.i]\npath = \"/i\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let cases = [
            (Some("/home/u/proj"), Some("/home/u/proj")),
            (Some("/home"), Some("/home")),
            (Some("/srv/shared/x/y"), Some("/data/x/y")),
            (Some("/srv/shared/deep/z"), Some("/deep/z")),
            (Some("/srv/sharedx"), None),
            (Some("/var/tmp"), None),
            // Not through the step's /tmp at /var/tmp: the runtime's own
            // /tmp bind has it at the same path.
            (Some("/tmp/ci-check"), None),
            (Some("/home/../etc"), None),
            (None, None),
        ];
        for (cwd, want) in cases {
            let p = plan_for(&c, "i", &[], cwd, &exists_all, Mode::Exec);
            assert_eq!(
                p.workdir.as_ref().map(|w| w.path.to_str().unwrap()),
                want,
                "{cwd:?}"
            );
            let a = strings(&p.argv);
            match want {
                Some(w) => assert!(a.windows(2).any(|x| x == ["--cwd", w]), "{a:?}"),
                None => assert!(!a.contains(&"--cwd".to_string()), "{a:?}"),
            }
        }
        // A missing (optional) bind does not count.
        let p = plan_for(
            &c,
            "i",
            &[],
            Some("/srv/shared/deep/z"),
            &|p| p != Path::new("/srv/shared/deep"),
            Mode::Exec,
        );
        assert_eq!(p.workdir.unwrap().path, Path::new("/data/deep/z"));
    }

    #[test]
    fn step_paths_are_bound_at_the_same_place() {
        let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n\
                    [paths]\nscratch_base = \"/local/%n\"\nscratch_target = \"/scratch\"\n\
                    [gpu]\ndevice_dir = \"/fake/%n/dev\"\n[images.base]\npath = \"/i\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
        assert_eq!(
            strings(&p.argv)[..5],
            [
                "/c",
                "-b",
                "/scratch:/scratch",
                "-b",
                "/fake/n1/dev:/fake/n1/dev"
            ]
        );
        assert_eq!(p.refusal("n1"), None, "step paths are not checked");
        let plain =
            "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n[images.base]\npath = \"/i\"\n";
        let c = Config::parse(plain, Path::new("/c.toml")).unwrap();
        let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
        assert_eq!(p.mounts, []);
    }

    /// `%n` and `%j` must not smuggle a second bind or an option into the
    /// runtime's bind spec: such a task is refused and nothing of the path
    /// is bound, in every runtime, whatever the mount's kind.
    #[test]
    fn expanded_paths_that_would_split_a_bind_spec_refuse_the_task() {
        let text = |kind: &str| {
            format!(
                "[runtime]\nkind = \"{kind}\"\npath = \"/rt\"\n\
                 [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
                 [[mounts]]\nsource = \"/data/%n\"\ntarget = \"/data\"\nmode = \"ro\"\n\
                 [[mounts]]\nsource = \"/opt/%n\"\ntarget = \"/opt\"\noptional = true\n\
                 [paths]\nscratch_base = \"/local/%n\"\n\
                 [gpu]\ndevice_dir = \"/fake/%n/dev\"\n\
                 [beeond]\nmount_base = \"/mnt/beeond/%n\"\n\
                 [images.base]\npath = \"/i\"\n\
                 mounts = [ {{ source = \"/img/%n/%j\", target = \"/img\" }} ]\n"
            )
        };
        let env = [("CARME_BEEOND_PATH".into(), "/mnt/beeond/x/42".into())];
        // (node name, refused, what the refusal names)
        let cases = [
            ("n1", false, ""),
            (
                "a,b",
                true,
                "/data/a,b -> /data must not contain `:` or `,`",
            ),
            (
                "x:/etc",
                true,
                "/data/x:_etc -> /data must not contain `:` or `,`",
            ),
            // PathTemplate::expand already turns a node named `..` into `__`.
            ("..", false, ""),
            ("n1,/etc", true, "node n1,/etc"),
            ("n\n1:", true, "/data/n\\n1: -> /data"),
        ];
        for kind in ["charliecloud", "apptainer", "singularity"] {
            let c = Config::parse(&text(kind), Path::new("/c.toml")).unwrap();
            for (node, refused, names) in cases {
                let facts = TaskFacts {
                    node,
                    job: Some(42),
                    env: &env,
                    cwd: None,
                    source_exists: &exists_all,
                };
                let p = plan(&c, &c.images["base"], &facts, &[], Mode::Exec);
                let r = p.refusal(node);
                assert_eq!(r.is_some(), refused, "{kind} {node:?}: {r:?}");
                if let Some(r) = r {
                    let m = r.message();
                    assert!(m.contains(names), "{kind} {node:?}: {m}");
                    assert!(m.contains("Please tell your cluster admins"), "{m}");
                    assert_eq!(m.lines().count(), 1, "{m}");
                }
                // Whatever the verdict, each bind spec is one source and
                // one target, and every bind the node name went into is
                // left out of the command line.
                let a = strings(&p.argv);
                let specs: Vec<&String> = a
                    .windows(2)
                    .filter(|w| w[0] == "-b" || w[0] == "-B")
                    .map(|w| &w[1])
                    .collect();
                assert!(!specs.is_empty(), "{kind} {node:?}: {a:?}");
                for spec in specs {
                    assert!(!spec.contains(','), "{kind} {node:?}: {a:?}");
                    let parts: Vec<&str> = spec.split(':').collect();
                    match parts[..] {
                        [src, dst] | [src, dst, "ro"] => {
                            assert!(!src.contains("..") && !dst.contains(".."), "{a:?}");
                            assert!(src.starts_with('/') && dst.starts_with('/'), "{a:?}");
                        }
                        _ => panic!("{kind} {node:?}: bind spec {spec:?} in {a:?}"),
                    }
                    assert!(!refused || !spec.contains(node), "{kind} {node:?}: {a:?}");
                }
                assert_eq!(
                    p.mounts.iter().filter(|m| m.unsafe_path.is_some()).count(),
                    if refused { 5 } else { 0 },
                    "{kind} {node:?}: {:?}",
                    p.mounts
                );
            }
        }
    }

    #[test]
    fn beeond_jobs_get_the_nodes_mount_base() {
        let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n\
                    [beeond]\nmount_base = \"/mnt/beeond/%n\"\n[images.base]\npath = \"/i\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let env = [("CARME_BEEOND_PATH".into(), "/mnt/beeond/n1/42".into())];
        let p = plan_for(&c, "base", &env, None, &|_| false, Mode::Exec);
        assert_eq!(
            strings(&p.argv)[..3],
            ["/c", "-b", "/mnt/beeond/n1:/mnt/beeond/n1"]
        );
        // A job without BeeOND: no bind.
        let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
        assert!(!strings(&p.argv).iter().any(|a| a.contains("beeond")));
    }

    #[test]
    fn explain_shows_placeholders_for_job_values() {
        let c = cfg("charliecloud", "/usr/bin/ch-run");
        let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Explain);
        let a = strings(&p.argv);
        for want in [
            "--set-env=TMPDIR=/tmp",
            "--set-env=CARME_JOB_ID=<SLURM_JOB_ID>",
            "--set-env=CARME_NODES=<SLURM_JOB_NODELIST>",
            "--set-env=CARME_JOB_GPUS=<SLURM_STEP_GPUS>",
            "--set-env=CARME_IMAGE_NAME=base",
        ] {
            assert!(a.contains(&want.to_string()), "{want}: {a:?}");
        }
        let c = cfg("singularity", "/usr/bin/singularity");
        let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Explain);
        assert!(
            pairs(&p.env_set).contains(&(
                "SINGULARITYENV_CARME_MASTER".into(),
                "<SLURM_JOB_NODELIST>".into()
            )),
            "{:?}",
            p.env_set
        );
    }

    #[test]
    fn explain_lists_the_plugins_variables() {
        let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [paths]\nscratch_base = \"/local/%n\"\nscratch_target = \"/scratch\"\n\
                    [beeond]\n[images.i]\npath = \"/i\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let plugin = |p: &LaunchPlan| -> Vec<(String, Option<String>)> {
            p.container_env
                .iter()
                .filter(|v| v.source == EnvSource::Plugin)
                .map(|v| {
                    (
                        v.name.clone(),
                        v.value.clone().map(|x| x.into_string().unwrap()),
                    )
                })
                .collect()
        };
        let p = plan_for(&c, "i", &[], None, &exists_all, Mode::Explain);
        assert_eq!(
            plugin(&p),
            [
                ("CARME_TMPDIR".into(), Some("/tmp".into())),
                ("CARME_LOCAL_SSD_PATH".into(), Some("/scratch".into())),
                ("CARME_BEEOND_PATH".into(), None),
            ]
        );
        assert!(
            pairs(&p.env_set).contains(&(
                "APPTAINERENV_CARME_BEEOND_PATH".into(),
                "<BeeOND jobs only>".into()
            )),
            "{:?}",
            p.env_set
        );
        // In a job they are the task's own, passed on as such.
        let e = env(&[("CARME_TMPDIR", "/tmp"), ("CARME_BEEOND_PATH", "/mnt/b/7")]);
        let p = plan_for(&c, "i", &e, None, &exists_all, Mode::Explain);
        assert_eq!(
            plugin(&p),
            [("CARME_LOCAL_SSD_PATH".into(), Some("/scratch".into()))]
        );
        // Exec never adds them: the plugin does, or there is no job.
        let p = plan_for(&c, "i", &[], None, &exists_all, Mode::Exec);
        assert_eq!(plugin(&p), []);
        // Charliecloud passes them through: listed, never --set-env.
        let c = Config::parse(
            &text.replace("apptainer", "charliecloud"),
            Path::new("/c.toml"),
        )
        .unwrap();
        let p = plan_for(&c, "i", &e, None, &exists_all, Mode::Explain);
        assert_eq!(plugin(&p).len(), 3);
        assert_eq!(plugin(&p)[2].1.as_deref(), Some("/mnt/b/7"));
        assert!(
            !strings(&p.argv)
                .iter()
                .any(|a| a.contains("CARME_TMPDIR") || a.contains("CARME_BEEOND")),
            "{:?}",
            p.argv
        );
    }

    /// The value the container gets for `k`, if any.
    fn get(p: &LaunchPlan, k: &str) -> Option<String> {
        p.container_env
            .iter()
            .find(|v| v.name == k)
            .and_then(|v| v.value.clone())
            .map(|v| v.into_string().unwrap())
    }

    #[test]
    fn carme_variables_edge_cases() {
        let c = cfg("apptainer", "/a");
        // In a job without GPUs: CARME_JOB_GPUS is set, empty.
        let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", "a,b[08-09]")]);
        let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
        assert_eq!(get(&p, "CARME_JOB_GPUS").as_deref(), Some(""));
        assert_eq!(get(&p, "CARME_NODES").as_deref(), Some("a,b08,b09"));
        assert_eq!(get(&p, "CARME_MASTER").as_deref(), Some("a"));
        assert_eq!(get(&p, "CARME_JOB_NAME"), None);
        // A nodelist we cannot read: left out, noted.
        let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", "n[1-")]);
        let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
        assert_eq!(get(&p, "CARME_NODES"), None);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("SLURM_JOB_NODELIST=n[1-"))
        );
        assert!(
            !pairs(&p.env_set)
                .iter()
                .any(|(k, _)| k == "APPTAINERENV_CARME_NODES")
        );
    }

    /// Finding 2 of issue 14: a 2 KB nodelist ran the plan out of memory,
    /// and `n[1-65536]` made a 400 KB CARME_NODES, over Linux's 128 KiB
    /// per string. Huge jobs get the compressed list.
    #[test]
    fn huge_jobs_get_the_compressed_nodelist() {
        let c = cfg("apptainer", "/a");
        for (list, nodes, master) in [
            ("n[1-65536]", "n[1-65536]", "n1"),
            (
                "rack[1-100]-n[0001-9999]",
                "rack[1-100]-n[0001-9999]",
                "rack1-n0001",
            ),
            ("n[1-12000]", "n[1-12000]", "n1"),
            ("n[1-8000]", "", "n1"),
        ] {
            let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", list)]);
            let t = std::time::Instant::now();
            let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
            assert!(t.elapsed().as_millis() < 1000, "{list}: {:?}", t.elapsed());
            let got = get(&p, "CARME_NODES").unwrap();
            assert!(got.len() as u64 <= CARME_NODES_MAX_EXPANDED, "{list}");
            // assert! not assert_eq!: the values are too long to print.
            if nodes.is_empty() {
                assert!(got == hostlist::expand(list).unwrap().join(","), "{list}");
            } else {
                assert!(got == nodes, "{list}");
            }
            assert_eq!(get(&p, "CARME_MASTER").as_deref(), Some(master));
            for (k, v) in pairs(&p.env_set) {
                assert!(k.len() + v.len() < 128 << 10, "{k}");
            }
        }
        // A list too large to expand at all: left out, noted, quickly.
        let bomb = format!("{}[1-1000][1-1000]", "a".repeat(1000));
        let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", &bomb)]);
        let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
        assert_eq!(get(&p, "CARME_NODES"), None);
        assert!(p.notes.iter().any(|n| n.contains("bytes in all")));
    }

    #[test]
    fn image_runtime_override_uses_the_sibling_binary() {
        let text = "[runtime]\nkind = \"apptainer\"\npath = \"/opt/rt/apptainer\"\n\
                    [images.a]\npath = \"/a\"\n\
                    [images.s]\npath = \"/s\"\nruntime = \"singularity\"\n\
                    [images.c]\npath = \"/c\"\nruntime = \"charliecloud\"\n";
        let c = Config::parse(text, Path::new("/c.toml")).unwrap();
        let r = |n: &str| {
            let (k, p) = runtime_of(&c, &c.images[n]);
            (k, p.to_str().unwrap().to_string())
        };
        assert_eq!(r("a"), (RuntimeKind::Apptainer, "/opt/rt/apptainer".into()));
        assert_eq!(
            r("s"),
            (RuntimeKind::Singularity, "/opt/rt/singularity".into())
        );
        assert_eq!(r("c"), (RuntimeKind::Charliecloud, "/opt/rt/ch-run".into()));
        let p = plan_for(&c, "c", &[], None, &exists_all, Mode::Exec);
        assert_eq!(p.runtime, RuntimeKind::Charliecloud);
        assert_eq!(strings(&p.argv)[0], "/opt/rt/ch-run");
    }

    #[test]
    fn set_env_values_stay_literal() {
        let s = |v: &str| set_env_arg("X", OsStr::new(v)).into_string().unwrap();
        assert_eq!(s("plain"), "--set-env=X=plain");
        assert_eq!(s(""), "--set-env=X=");
        assert_eq!(s("$HOME"), "--set-env=X=$HOME");
        assert_eq!(s("'q'"), "--set-env=X=''q''");
        assert_eq!(s("'"), "--set-env=X='''");
        assert_eq!(s("'it's"), "--set-env=X=''it's'");
        assert_eq!(s("it's"), "--set-env=X=it's");
        assert_eq!(s("a=b"), "--set-env=X=a=b");
    }

    #[test]
    fn render_quotes_what_needs_it() {
        let a: Vec<OsString> = ["ch-run", "-b", "/a:/b", "it's", "two words", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(render(&a), r#"ch-run -b /a:/b 'it'\''s' 'two words' ''"#);
        // Control characters: one line, nothing for the terminal, and the
        // same word for bash.
        let a: Vec<OsString> = ["x\nforged", "it's\x1b[31m\\", "\u{9b}\u{e9}"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            render(&a),
            r#"$'x\x0aforged' $'it\'s\x1b[31m\\' $'\xc2\x9bé'"#
        );
    }
}
