//! Whose job it is: the user's name and groups, for the limit rules. In
//! the clients it is the calling user; in slurmstepd the job's uid and
//! supplementary gids as Slurm resolved them (trusted, unlike the job's
//! environment).

use carme_core::config::Scope;
use nix::unistd::{Gid, Group, Uid, User};

use crate::ffi::Spank;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUser {
    pub uid: u32,
    pub name: String,
    pub groups: Vec<String>,
}

impl JobUser {
    /// The user running this client (srun, sbatch, salloc).
    pub fn current() -> Option<JobUser> {
        let uid = Uid::current();
        let user = User::from_uid(uid).ok()??;
        let cname = std::ffi::CString::new(user.name.clone()).ok()?;
        let gids = nix::unistd::getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
        Some(JobUser {
            uid: uid.as_raw(),
            groups: group_names(&gids),
            name: user.name,
        })
    }

    /// The job's user, from what slurmstepd knows.
    pub fn of_step(sp: &Spank) -> Option<JobUser> {
        let uid = sp.uid()?;
        let user = User::from_uid(Uid::from_raw(uid)).ok()??;
        let mut gids: Vec<Gid> = sp
            .supplementary_gids()
            .unwrap_or_default()
            .into_iter()
            .map(Gid::from_raw)
            .collect();
        if let Some(gid) = sp.gid() {
            gids.push(Gid::from_raw(gid));
        }
        Some(JobUser {
            uid,
            groups: group_names(&gids),
            name: user.name,
        })
    }

    pub fn scope(&self) -> Scope<'_> {
        Scope {
            user: &self.name,
            groups: &self.groups,
        }
    }
}

fn group_names(gids: &[Gid]) -> Vec<String> {
    let mut names: Vec<String> = gids
        .iter()
        .filter_map(|g| Group::from_gid(*g).ok().flatten().map(|g| g.name))
        .collect();
    names.sort();
    names.dedup();
    names
}
