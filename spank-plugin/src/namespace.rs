//! The per-step mount namespace of a Carme step: the job's own /tmp, a
//! fresh /dev/shm, the job's local scratch, and a device dir without the
//! GPUs the step was not given; also the environment that goes with it.
//! Built once in slurmstepd's main thread (root) before the tasks are
//! forked, held open, and entered by each task in `task_init_privileged`
//! (the container runtime inherits it from the task); slurmstepd itself
//! stays in the host's namespace (see carme_node::namespace).

use std::path::PathBuf;

use carme_core::Refusal;
use carme_core::config::Config;
use carme_core::gpulist::{GpuSet, step_gpus};
use carme_node::devview::DeviceView;
use carme_node::gpus::plan_gpus;
use carme_node::namespace::{self, JobDir, Shm, StepNamespace};
use carme_node::syscall::{Handle, LinuxSyscall, Syscall};

use crate::ffi::{Level, Spank, log};

/// Who and where: the facts the namespace is built from.
pub struct StepPlace<'a> {
    pub job_id: u32,
    pub uid: u32,
    pub gid: u32,
    pub node: &'a str,
    /// Task steps get `SLURM_STEP_GPUS`; batch/interactive `SLURM_JOB_GPUS`.
    pub batch_like: bool,
    /// The job's GPUs on this node, from a source the user cannot set.
    pub job_gpus: GpuSet,
}

/// Build the step's namespace and set the matching environment; the
/// namespace held for the tasks to enter, or a refusal (a node fault, for
/// the admin's log) if anything fails.
pub fn build(sp: &Spank, cfg: &Config, place: &StepPlace) -> Result<Handle, Refusal> {
    let sys = LinuxSyscall;
    let fail = |what: String| {
        log(
            Level::Error,
            &format!("carme: job {}: {what}", place.job_id),
        );
        Refusal::node_not_ready(&what)
    };
    let (job, node) = (Some(place.job_id), place.node);
    let state_dir = cfg.paths.state_dir.expand(node, job);

    let gpu_var = if place.batch_like {
        "SLURM_JOB_GPUS"
    } else {
        "SLURM_STEP_GPUS"
    };
    // Set (or unset when the step has no GPUs) by slurmstepd's gpu GRES
    // plugin before SPANK runs — but only on nodes with GresTypes=gpu:
    // elsewhere it is the user's. So it may only narrow the job's GPUs.
    let allocated = step_gpus(&place.job_gpus, sp.getenv(gpu_var).as_deref())
        .map_err(|e| fail(format!("{gpu_var}: {e}")))?
        .indices();
    let device_dir = cfg.gpu.device_dir.expand(node, job);
    let entries = sys
        .list_dir(&device_dir)
        .map_err(|e| fail(format!("cannot list {}: {e}", device_dir.display())))?;
    let uuids = gpu_uuids(cfg, &entries, &allocated);
    let gpus = plan_gpus(
        &entries,
        &allocated,
        uuids.as_deref(),
        cfg.gpu.hide_unallocated,
    )
    .map_err(|e| fail(e.to_string()))?;
    let devices = if cfg.gpu.hide_unallocated {
        // The view is assembled in the root-only state dir, then moved over.
        carme_node::state::ensure_root_dir(&state_dir, 0o700).map_err(|e| fail(e.to_string()))?;
        Some(DeviceView {
            device_dir,
            staging: state_dir.clone(),
            hide: gpus.hide.clone(),
        })
    } else {
        None
    };

    let ns = StepNamespace {
        job_id: place.job_id,
        uid: place.uid,
        gid: place.gid,
        tmp: JobDir {
            base: cfg.paths.tmp_base.expand(node, job),
            target: PathBuf::from("/tmp"),
        },
        scratch: cfg.paths.scratch_base.as_ref().map(|b| JobDir {
            base: b.expand(node, job),
            target: cfg.paths.scratch_target.clone(),
        }),
        shm: Shm {
            target: PathBuf::from("/dev/shm"),
            bytes: cfg.paths.shm_size,
        },
        devices,
    };
    let held = namespace::build_held(&sys, &ns).map_err(|e| fail(e.to_string()))?;

    let mut env: Vec<(String, Option<String>)> = vec![
        ("TMPDIR".into(), Some("/tmp".into())),
        ("CARME_TMPDIR".into(), Some("/tmp".into())),
    ];
    if ns.scratch.is_some() {
        env.push((
            "CARME_LOCAL_SSD_PATH".into(),
            Some(cfg.paths.scratch_target.display().to_string()),
        ));
    }
    // BeeOND exists only where carme-prolog set it up: its record for this
    // job on this node (root's, in the state dir) is the truth, whether the
    // job asked by constraint or with --carme-beeond.
    // Without BeeOND here the variable is unset: a value of the user's own
    // must not make the runtime bind the whole mount base (other jobs').
    let beeond = match carme_node::nodejob::read(&state_dir, place.job_id) {
        // Only this job's own record: not one another uid's earlier job
        // with this id left, nor an ended job's leftovers.
        Ok(Some(rec)) if rec.uid == place.uid && rec.leftover.is_none() => {
            rec.beeond.map(|b| b.mount.display().to_string())
        }
        Ok(_) => None,
        Err(e) => {
            log(
                Level::Error,
                &format!(
                    "carme: job {}: cannot read the prolog's record: {e}; CARME_BEEOND_PATH \
                     not set",
                    place.job_id
                ),
            );
            None
        }
    };
    env.push(("CARME_BEEOND_PATH".into(), beeond));
    env.extend(gpus.env);
    for (k, v) in env {
        let r = match v {
            Some(v) => sp.setenv(&k, v),
            None => sp.unsetenv(&k),
        };
        r.map_err(|e| fail(format!("cannot set {k}: {e}")))?;
    }
    Ok(held)
}

/// In a task, as root: enter the step's namespace from [`build`].
pub fn enter(job_id: u32, held: &Handle) -> Result<(), ()> {
    namespace::enter_held(&LinuxSyscall, held).map_err(|e| {
        log(Level::Error, &format!("carme: job {job_id}: {e}"));
    })
}

/// UUIDs of the allocated GPUs from NVML, when it loads and knows them all;
/// None otherwise (the environment then uses indices).
fn gpu_uuids(
    cfg: &Config,
    entries: &[carme_node::syscall::DevEntry],
    allocated: &[u32],
) -> Option<Vec<String>> {
    if allocated.is_empty() {
        return None;
    }
    let facts = nvml_facts(cfg)?;
    // Slurm's index N is the device node nvidiaN (gres.conf order); NVML
    // knows each GPU by the minor number of its node.
    allocated
        .iter()
        .map(|idx| {
            let minor = entries
                .iter()
                .find(|e| carme_node::gpus::gpu_index(e) == Some(*idx))
                .map(|e| e.stat.minor)?;
            facts
                .gpus
                .iter()
                .find(|g| g.minor == minor)
                .map(|g| g.uuid.clone())
        })
        .collect()
}

/// NVML's view of this node's GPUs; None without NVML (the usual case on
/// machines without NVIDIA's driver), logged for admins only.
fn nvml_facts(cfg: &Config) -> Option<carme_node::nvml::NvmlFacts> {
    match crate::bounded::nvml_facts(&cfg.gpu.nvml) {
        Ok(f) => Some(f),
        Err(e) => {
            log(
                Level::Debug,
                &format!("carme: NVML: {e}; using GPU indices"),
            );
            None
        }
    }
}
