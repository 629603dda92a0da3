//! What NVML (libnvidia-ml, through nvml-wrapper) says about this node's
//! GPUs and driver: each GPU's NVML index, minor number (`/dev/nvidiaN`),
//! UUID and PCI bus id, and the CUDA version the driver supports. The
//! plugin uses the UUIDs for `CUDA_VISIBLE_DEVICES` (issue 4); carme-launch
//! compares the CUDA version with an image's (issue 6).
//!
//! Without an NVIDIA driver there is no libnvidia-ml: [`probe`] then says
//! [`NvmlError::NotLoaded`] and callers fall back (GPU indices, no CUDA
//! check). Every other failure is [`NvmlError::Failed`], with a message for
//! the admin's log. `probe` never panics: the plugin runs it inside
//! slurmstepd, once per Carme step, so it loads the library, reads what it
//! needs, shuts NVML down and unloads it again, holding nothing between
//! steps.
//!
//! A hung driver makes NVML block (in the kernel) for as long as it likes:
//! slurmstepd runs the probe in a forked child bounded by [`PROBE_TIMEOUT`]
//! (the plugin's fork, [`crate::bounded::collect_answer`] for the wait),
//! which hands its answer back as [`encode_answer`] bytes.

use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError as WrapperError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How long slurmstepd waits for the NVML probe (a child process) before
/// it goes on without NVML's answer, as without NVML.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The most bytes a probe's answer may have (a few hundred per GPU).
pub const MAX_ANSWER: usize = 1 << 20;

/// One GPU as NVML enumerates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlGpu {
    /// NVML's index (`nvmlDeviceGetHandleByIndex_v2`); not necessarily the
    /// minor number's or CUDA's order.
    pub index: u32,
    /// N of `/dev/nvidiaN`: what ties NVML's GPU to a device node and so to
    /// Slurm's gres.conf `File=` entry.
    pub minor: u32,
    /// `GPU-…` (or `MIG-…`), as `CUDA_VISIBLE_DEVICES` accepts it.
    pub uuid: String,
    /// NVML's `DDDDDDDD:BB:DD.F` form.
    pub pci_bus_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlFacts {
    /// As NVML reports it: 12040 is CUDA 12.4 (major = v / 1000,
    /// minor = v % 1000 / 10, `NVML_CUDA_DRIVER_VERSION_MAJOR/MINOR`).
    pub cuda_driver_version: u32,
    /// In NVML's index order.
    pub gpus: Vec<NvmlGpu>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NvmlError {
    /// The library is not there: the normal case on nodes without NVIDIA.
    NotLoaded(String),
    /// It is there but did not work (driver not running, not NVML, a call
    /// failed): worth an admin's attention.
    Failed(String),
}

impl fmt::Display for NvmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NvmlError::NotLoaded(m) | NvmlError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for NvmlError {}

/// Read the node's GPUs and CUDA driver version through NVML.
///
/// `library` is a library name the dynamic loader searches for
/// (`libnvidia-ml.so.1`) or a path (anything with a `/`, as `dlopen` takes
/// it; config key `[gpu] nvml`).
pub fn probe(library: &Path) -> Result<NvmlFacts, NvmlError> {
    // nvml-wrapper is not expected to panic, but a panic here would unwind
    // through slurmstepd's C frames: turn it into an error instead.
    catch_unwind(AssertUnwindSafe(|| probe_unguarded(library))).unwrap_or_else(|_| {
        Err(NvmlError::Failed(format!(
            "NVML {}: the NVML probe panicked",
            library.display()
        )))
    })
}

/// [`probe`], asked once per process and library: slurmstepd wants the
/// answer twice per step (the GPUs' UUIDs, the image's driver check), and
/// NVML's init is slow on nodes with many GPUs.
pub fn probe_cached(library: &Path) -> Result<NvmlFacts, NvmlError> {
    probe_cached_with(library, &probe)
}

/// [`probe_cached`] with the probe `how` (slurmstepd's bounded one).
pub fn probe_cached_with(
    library: &Path,
    how: &dyn Fn(&Path) -> Result<NvmlFacts, NvmlError>,
) -> Result<NvmlFacts, NvmlError> {
    type Last = Option<(PathBuf, Result<NvmlFacts, NvmlError>)>;
    static LAST: Mutex<Last> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((path, result)) = last.as_ref()
        && path == library
    {
        return result.clone();
    }
    let result = how(library);
    *last = Some((library.to_path_buf(), result.clone()));
    result
}

/// A probe's result as bytes, for a child process to hand back.
pub fn encode_answer(result: &Result<NvmlFacts, NvmlError>) -> Vec<u8> {
    serde_json::to_vec(result).unwrap_or_default()
}

/// What [`encode_answer`] made (a garbled answer is a failed probe).
pub fn decode_answer(library: &Path, bytes: &[u8]) -> Result<NvmlFacts, NvmlError> {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        Err(NvmlError::Failed(format!(
            "NVML {}: the probe's answer is garbled: {e}",
            library.display()
        )))
    })
}

fn probe_unguarded(library: &Path) -> Result<NvmlFacts, NvmlError> {
    let name = library.display();
    if library.as_os_str().is_empty() {
        // dlopen("") would return the main program, not a library.
        return Err(NvmlError::Failed("NVML: no library named".into()));
    }
    let failed =
        |what: &str, e: WrapperError| NvmlError::Failed(format!("NVML {name}: {what}: {e}"));

    // Plain nvmlInit_v2, no flags: it attaches no GPU yet (GPUs are
    // initialised by the handle lookups below), so it stays cheap and one
    // broken GPU does not hide the others.
    let nvml = Nvml::builder()
        .lib_path(library.as_os_str())
        .init()
        .map_err(|e| init_error(library, e))?;

    let version = nvml
        .sys_cuda_driver_version()
        .map_err(|e| failed("nvmlSystemGetCudaDriverVersion_v2", e))?;
    let cuda_driver_version = u32::try_from(version).map_err(|_| {
        NvmlError::Failed(format!(
            "NVML {name}: CUDA driver version {version} is negative"
        ))
    })?;

    let count = nvml
        .device_count()
        .map_err(|e| failed("nvmlDeviceGetCount_v2", e))?;
    // No capacity from `count`: a broken library's huge count must fail at
    // the first bad index, not abort on allocation.
    let mut gpus = Vec::new();
    for index in 0..count {
        let at = |what: &str| format!("{what} for GPU {index}");
        let device = nvml
            .device_by_index(index)
            .map_err(|e| failed(&at("nvmlDeviceGetHandleByIndex_v2"), e))?;
        gpus.push(NvmlGpu {
            index,
            minor: device
                .minor_number()
                .map_err(|e| failed(&at("nvmlDeviceGetMinorNumber"), e))?,
            uuid: device
                .uuid()
                .map_err(|e| failed(&at("nvmlDeviceGetUUID"), e))?,
            pci_bus_id: device
                .pci_info()
                .map_err(|e| failed(&at("nvmlDeviceGetPciInfo_v3"), e))?
                .bus_id,
        });
    }

    // On the error returns above, dropping `nvml` shuts NVML down and
    // unloads the library too (ignoring errors); here a failing shutdown is
    // reported, as it means NVML is not in the state it says.
    nvml.shutdown().map_err(|e| failed("nvmlShutdown", e))?;
    Ok(NvmlFacts {
        cuda_driver_version,
        gpus,
    })
}

/// Tell a missing library (normal without NVIDIA) from one that is there
/// but does not load or initialise (an admin's problem).
fn init_error(library: &Path, e: WrapperError) -> NvmlError {
    let name = library.display();
    match e {
        WrapperError::LibloadingError(load) => {
            let why = load.to_string();
            if is_missing(library, &why) {
                NvmlError::NotLoaded(format!("NVML {name} is not installed: {why}"))
            } else {
                NvmlError::Failed(format!("NVML {name} cannot be loaded: {why}"))
            }
        }
        WrapperError::FailedToLoadSymbol(why) => {
            NvmlError::Failed(format!("NVML {name} is not an NVML library: {why}"))
        }
        e => NvmlError::Failed(format!("NVML {name}: nvmlInit_v2: {e}")),
    }
}

/// Whether `dlopen` failed because `library` does not exist (rather than,
/// say, being unreadable, not a library, or missing a dependency of its own).
fn is_missing(library: &Path, dlerror: &str) -> bool {
    if library.as_os_str().as_encoded_bytes().contains(&b'/') {
        // dlopen takes a name with a slash as a path and searches nothing.
        matches!(library.try_exists(), Ok(false))
    } else {
        // Searched for: glibc says the name could not be found (for a
        // dependency it would name the dependency). The message is glibc's
        // untranslated one: slurmstepd and our programs run in the C locale.
        dlerror
            == format!(
                "{}: cannot open shared object file: No such file or directory",
                library.display()
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_means_not_there_not_broken() {
        let gone = Path::new("/nonexistent/libnvidia-ml.so.1");
        assert!(is_missing(gone, "anything"));
        // Exists (a directory, which dlopen cannot load): broken, not missing.
        assert!(!is_missing(Path::new("/"), "cannot read file data"));
        let bare = Path::new("libnvidia-ml.so.1");
        assert!(is_missing(
            bare,
            "libnvidia-ml.so.1: cannot open shared object file: No such file or directory"
        ));
        // A dependency of the library is missing: the library is there.
        assert!(!is_missing(
            bare,
            "libfoo.so.2: cannot open shared object file: No such file or directory"
        ));
        assert!(!is_missing(
            bare,
            "libnvidia-ml.so.1: cannot open shared object file: Permission denied"
        ));
    }
}
