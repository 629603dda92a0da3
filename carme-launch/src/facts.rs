//! The facts carme-launch gathers before asking carme-core what to do: the
//! node, the job, the task's environment and working directory, the NVIDIA
//! driver's CUDA version (NVML), and a user's groups (NSS, for `explain`
//! and `images`). All of it as the calling user: nothing here needs root.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use carme_core::config::{Config, CudaVersion, Image};
use carme_core::driver::{DriverFacts, needs_driver};
use carme_node::nvml::{self, NvmlError};

use crate::debug::debug;

/// Where and as what the task runs.
pub struct Task {
    pub node: String,
    pub job: Option<u32>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
}

impl Task {
    pub fn current() -> Task {
        Task {
            node: node_name(),
            job: std::env::var("SLURM_JOB_ID")
                .ok()
                .and_then(|j| j.parse().ok()),
            env: std::env::vars_os().collect(),
            cwd: std::env::current_dir().ok(),
        }
    }
}

/// Slurm's name for this node, else the host name.
pub fn node_name() -> String {
    std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Whether a mount source exists, as this user sees it.
pub fn source_exists(p: &Path) -> bool {
    std::fs::metadata(p).is_ok()
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

/// The driver's CUDA version, when the choice of image depends on it.
pub fn driver_for(cfg: &Config, image: &Image) -> (DriverFacts, NvmlStatus) {
    if !needs_driver(image) {
        return (DriverFacts::NotProbed, NvmlStatus::NotProbed);
    }
    match nvml::probe(&cfg.gpu.nvml) {
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

/// A user and the names of their groups, as NSS (passwd, group) knows
/// them: what the limit rules are keyed by.
pub struct Person {
    pub name: String,
    pub groups: Vec<String>,
}

impl Person {
    /// `name`, or the calling user.
    pub fn lookup(name: Option<&str>) -> Result<Person, String> {
        use nix::unistd::{Group, Uid, User, getgrouplist};
        let user = match name {
            Some(n) => User::from_name(n)
                .map_err(|e| format!("cannot look up user '{n}': {e}"))?
                .ok_or_else(|| {
                    format!("user '{n}' is not known on this host (passwd). Check the name.")
                })?,
            None => User::from_uid(Uid::current())
                .map_err(|e| format!("cannot look up your user: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "your uid {} has no passwd entry on this host. Please tell your \
                         cluster admins.",
                        Uid::current()
                    )
                })?,
        };
        let cname = std::ffi::CString::new(user.name.clone())
            .map_err(|_| format!("user name {:?} contains a NUL byte", user.name))?;
        let gids = getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
        let mut groups: Vec<String> = gids
            .into_iter()
            .filter_map(|g| Group::from_gid(g).ok().flatten().map(|g| g.name))
            .collect();
        groups.sort();
        groups.dedup();
        Ok(Person {
            name: user.name,
            groups,
        })
    }
}
