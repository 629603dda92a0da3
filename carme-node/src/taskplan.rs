//! What a task of a Carme step runs, decided where the task runs, as the
//! job's user: the image (a variant when the NVIDIA driver decides), the
//! container runtime's command line and environment. Shared by the SPANK
//! plugin (task_init, in each task) and `carme-launch run` / `argv` (by
//! hand), so both start exactly the same thing.

use std::ffi::OsString;
use std::path::Path;

use carme_core::config::{Config, CudaVersion, Image};
use carme_core::driver::{self, DriverFacts, needs_driver};
use carme_core::launch::{self, LaunchPlan, Mode, TaskFacts};

use crate::nvml::{self, NvmlError};

/// A decided launch.
pub struct TaskPlan {
    pub plan: LaunchPlan,
    /// For the user when a variant runs instead of the image asked for:
    /// print it once per node and step (the node's first task).
    pub note: Option<String>,
}

/// Decide the launch of `cmd` in `image` (by name); `driver` from
/// [`driver_for`]. The error is the user's message (`carme: ...`).
pub fn plan_task(
    cfg: &Config,
    image: &str,
    driver: &DriverFacts,
    facts: &TaskFacts,
    cmd: &[OsString],
    debug: &mut dyn FnMut(String),
) -> Result<TaskPlan, String> {
    let requested = cfg.images.get(image).ok_or_else(|| {
        format!(
            "carme: image '{}' is not known on this node. Images: {}. \
             Choose one with --carme-image=NAME.",
            carme_core::text::escape(image),
            cfg.image_names().join(", ")
        )
    })?;
    let choice =
        driver::choose(cfg, requested, driver, facts.node).map_err(|r| r.message().to_string())?;
    debug(choice.describe());
    let note = choice.variant_note(facts.node);
    let plan = launch::plan(cfg, choice.image, facts, cmd, Mode::Exec);
    for n in &plan.notes {
        debug(n.clone());
    }
    if let Some(r) = plan.refusal(facts.node) {
        return Err(r.message().to_string());
    }
    Ok(TaskPlan { plan, note })
}

/// Whether a mount source exists, as the calling user sees it.
pub fn source_exists(p: &Path) -> bool {
    std::fs::metadata(p).is_ok()
}

/// Slurm creates `$TMPDIR` only in a node's first task, after its SPANK
/// callbacks; the runtimes need it to exist (ch-run binds it at /tmp), so
/// every task makes it (mode 0700, as the user) rather than race the first.
pub fn ensure_tmpdir(tmpdir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::create_dir(tmpdir)
        .and_then(|()| std::fs::set_permissions(tmpdir, std::fs::Permissions::from_mode(0o700)));
}

/// What NVML said, for `explain`.
#[derive(Debug, Clone)]
pub enum NvmlStatus {
    /// Not asked: the image states no CUDA version.
    NotProbed,
    Loaded {
        cuda: CudaVersion,
        gpus: usize,
    },
    /// No library: the node has no NVIDIA driver.
    NotLoaded(String),
    /// The library is there but failed.
    Failed(String),
}

/// The driver's CUDA version, when the choice of image depends on it
/// (NVML is asked only then, through `probe`: [`nvml::probe_cached`], or
/// slurmstepd's bounded probe).
pub fn driver_for(
    cfg: &Config,
    image: &Image,
    probe: &dyn Fn(&Path) -> Result<nvml::NvmlFacts, NvmlError>,
    debug: &mut dyn FnMut(String),
) -> (DriverFacts, NvmlStatus) {
    if !needs_driver(image) {
        return (DriverFacts::NotProbed, NvmlStatus::NotProbed);
    }
    match probe(&cfg.gpu.nvml) {
        Ok(f) => {
            let cuda = CudaVersion(f.cuda_driver_version);
            debug(format!(
                "NVML {}: driver supports CUDA {cuda}, {} GPU(s)",
                cfg.gpu.nvml.display(),
                f.gpus.len()
            ));
            (
                DriverFacts::Cuda(cuda),
                NvmlStatus::Loaded {
                    cuda,
                    gpus: f.gpus.len(),
                },
            )
        }
        Err(NvmlError::NotLoaded(why)) => {
            debug(format!("no NVML, CUDA driver check skipped: {why}"));
            (
                DriverFacts::Unknown(format!("no NVML library ({why})")),
                NvmlStatus::NotLoaded(why),
            )
        }
        Err(NvmlError::Failed(why)) => {
            debug(format!("NVML failed, CUDA driver check skipped: {why}"));
            (
                DriverFacts::Unknown(format!("NVML failed ({why})")),
                NvmlStatus::Failed(why),
            )
        }
    }
}

/// What `stat` (following links, as execve does) says of a program the
/// node runs for a task ([`carme_core::taskmove::runtime_problem`]).
pub fn program_facts(path: &Path) -> carme_core::taskmove::ProgramFacts {
    std::fs::metadata(path)
        .map(|m| crate::configfile::meta(&m))
        .map_err(|e| e.to_string())
}
