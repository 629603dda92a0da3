//! The facts carme-launch gathers before asking carme-core what to do: the
//! node, the job, the environment and working directory, and a user's
//! groups (NSS, for `explain` and `images`). All of it as the calling
//! user: nothing here needs root. (The driver's CUDA version comes from
//! `carme_node::taskplan::driver_for`.)

use std::ffi::OsString;
use std::path::PathBuf;

use carme_core::launch::TaskFacts;

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

impl Task {
    /// The facts the launch plan reads, as this user sees the mounts.
    pub fn facts(&self) -> TaskFacts<'_> {
        TaskFacts {
            node: &self.node,
            job: self.job,
            env: &self.env,
            cwd: self.cwd.as_deref(),
            source_exists: &carme_node::taskplan::source_exists,
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
