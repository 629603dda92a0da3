//! The stand-in's library state, as NVML documents it for `nvmlInit_v2` and
//! `nvmlShutdown`: a reference count of initialisations; the node file is
//! read when the count goes from 0 to 1 (so a fresh init after shutdown sees
//! a changed file or environment) and dropped when it returns to 0. Safe
//! Rust: [`crate::ffi`] only moves values across the C ABI.

use crate::code::*;
use crate::config::{self, Node};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

struct State {
    refcount: u32,
    /// Whether an init ever succeeded: NVML reports no error for more
    /// shutdowns than inits, but does for a shutdown before any init.
    ever_initialized: bool,
    node: Option<Node>,
}

static STATE: Mutex<State> = Mutex::new(State {
    refcount: 0,
    ever_initialized: false,
    node: None,
});

fn lock() -> MutexGuard<'static, State> {
    // A panic while holding the lock left consistent data (every update is
    // one assignment); keep serving rather than fail every later call.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tell whoever runs the host process why a call failed (NVML itself has
/// `nvmlErrorString` only, which the stand-in does not export). A write
/// error is ignored: stderr may be closed in a daemon.
pub fn complain(function: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "libnvidia-ml stand-in: {function}: {why}"
    );
}

fn node_file(library: &Path) -> std::path::PathBuf {
    config::node_file(library, std::env::var_os("SLURMD_NODENAME"))
}

/// `nvmlInit_v2`. `library` is the stand-in's own path (`None`: unknown).
pub fn init(library: Option<&Path>) -> NvmlReturn {
    let mut s = lock();
    if s.refcount > 0 {
        s.refcount += 1;
        return SUCCESS;
    }
    match std::env::var(crate::FAIL_VAR).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("") => {}
        Ok("init") => {
            complain(
                "nvmlInit_v2",
                &format!("failing as asked by {}=init", crate::FAIL_VAR),
            );
            return ERROR_DRIVER_NOT_LOADED;
        }
        Ok("hang") => {
            // A driver that stopped answering: NVML blocks in the kernel.
            drop(s);
            complain(
                "nvmlInit_v2",
                &format!("hanging as asked by {}=hang", crate::FAIL_VAR),
            );
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Ok(other) => {
            complain(
                "nvmlInit_v2",
                &format!(
                    "{}={other:?} is not a stand-in failure (init)",
                    crate::FAIL_VAR
                ),
            );
            return ERROR_UNKNOWN;
        }
        Err(e) => {
            complain("nvmlInit_v2", &format!("{}: {e}", crate::FAIL_VAR));
            return ERROR_UNKNOWN;
        }
    }
    let Some(library) = library else {
        complain("nvmlInit_v2", "cannot find the stand-in library's own path");
        return ERROR_UNKNOWN;
    };
    match config::read_node(&node_file(library)) {
        Ok(node) => {
            s.node = Some(node);
            s.refcount = 1;
            s.ever_initialized = true;
            SUCCESS
        }
        Err(why) => {
            complain("nvmlInit_v2", &why);
            ERROR_UNKNOWN
        }
    }
}

/// `nvmlShutdown`.
pub fn shutdown() -> NvmlReturn {
    let mut s = lock();
    match s.refcount {
        0 if s.ever_initialized => SUCCESS,
        0 => ERROR_UNINITIALIZED,
        1 => {
            s.refcount = 0;
            s.node = None;
            SUCCESS
        }
        _ => {
            s.refcount -= 1;
            SUCCESS
        }
    }
}

/// Run `f` on the node when initialised, else `NVML_ERROR_UNINITIALIZED`.
pub fn with_node<T>(f: impl FnOnce(&Node) -> Result<T, NvmlReturn>) -> Result<T, NvmlReturn> {
    match &lock().node {
        Some(node) => f(node),
        None => Err(ERROR_UNINITIALIZED),
    }
}

/// `nvmlSystemGetCudaDriverVersion_v2`. NVML documents no
/// `NVML_ERROR_UNINITIALIZED` for it (it asks libcuda, not the driver
/// state), so before init the stand-in reads the node file on the spot; a
/// node without a CUDA version is NVML without libcuda.so.1.
pub fn cuda_driver_version(library: Option<&Path>) -> Result<i32, NvmlReturn> {
    const F: &str = "nvmlSystemGetCudaDriverVersion_v2";
    let version = match &lock().node {
        Some(node) => node.cuda_driver_version,
        None => {
            let Some(library) = library else {
                complain(F, "cannot find the stand-in library's own path");
                return Err(ERROR_UNKNOWN);
            };
            match config::read_node(&node_file(library)) {
                Ok(node) => node.cuda_driver_version,
                Err(why) => {
                    complain(F, &why);
                    return Err(ERROR_LIBRARY_NOT_FOUND);
                }
            }
        }
    };
    version.ok_or_else(|| {
        complain(
            F,
            "the node file has no cuda_driver_version (as if libcuda.so.1 were missing)",
        );
        ERROR_LIBRARY_NOT_FOUND
    })
}
