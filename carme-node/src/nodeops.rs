//! Everything carme-prolog and carme-epilog do to a node, behind one trait
//! ([`NodeOps`]) so that their orchestration ([`crate::jobprep`],
//! [`crate::jobclean`]) is tested against a scripted node (time, mounts,
//! beeond's behaviour) and run against [`LinuxNode`].
//!
//! The privileged syscalls shared with the plugin (mkdir, chown, chmod,
//! umount, the root-dir checks) go through [`Syscall`]; the rest are the
//! prolog's and epilog's own: bounded runs of beeond and scontrol, the
//! mount table, root-only files, the symlink-safe removal of job trees.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carme_core::record::JobRecord;
use nix::mount::MntFlags;

use crate::bounded::{self, Ran};
use crate::error::{NodeError, Op};
use crate::rmtree::{self, Removal};
use crate::slurmctl::{self, JobState};
use crate::syscall::{LinuxSyscall, Syscall};

pub trait NodeOps {
    /// The privileged syscalls (job directories, chown of the mount root).
    fn sys(&self) -> &dyn Syscall;
    /// Time since this node handle was made (a fake clock in tests).
    fn elapsed(&self) -> Duration;
    fn sleep(&self, d: Duration);
    /// Whether something is mounted on `path`.
    fn mounted(&self, path: &Path) -> io::Result<bool>;
    /// Remove the entry `path` itself; its directory must be root's
    /// (sticky ones allowed). Ok(false): nothing there.
    fn unlink(&self, path: &Path) -> Result<bool, NodeError>;
    /// Write a root-only file atomically (its directory made safe first).
    fn write_root_file(&self, path: &Path, text: &str) -> Result<(), NodeError>;
    /// Make sure `dir` exists (made with `mode`) as a root-owned directory
    /// that only root can write, and so can all its parents (none sticky):
    /// for BeeOND's directories, where a user who could create one first
    /// would drain the node, and its status file, which beeond trusts as
    /// root ([`crate::state::ensure_private_root_dir`]).
    fn prepare_private_dir(&self, dir: &Path, mode: u32) -> Result<(), NodeError>;
    /// The lock of job id `job`'s paths in `state_dir`, waiting at most
    /// `wait`; Ok(None) when another run still holds it
    /// ([`crate::state::lock_job`]). Held until the box is dropped.
    fn lock_job(
        &self,
        state_dir: &Path,
        job: u32,
        wait: Duration,
    ) -> Result<Option<Box<dyn std::any::Any>>, NodeError>;
    /// Run an admin tool for at most `timeout` (see [`crate::bounded`]).
    fn run(&self, argv: &[OsString], timeout: Duration) -> Ran;
    /// Remove `<base>/<jobid>` symlink-safely (see [`crate::rmtree`]),
    /// stopping after `within`.
    fn remove_job_dir(
        &self,
        base: &Path,
        job: u32,
        uid: u32,
        within: Duration,
    ) -> Result<Removal, NodeError>;
    /// Longest time the removal of one job directory may take
    /// ([`REMOVE_BOUND`] unless a test sets another).
    fn remove_bound(&self) -> Duration;
    /// A root-owned regular file of at most `max` bytes (never following a
    /// symlink); None if absent.
    fn read_root_file(&self, path: &Path, max: u64) -> Result<Option<String>, NodeError>;
    /// The names in the trusted root directory `dir` (none if absent).
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>, NodeError>;
    /// Remove the directory `path` if empty. Ok(false): nothing there.
    fn remove_empty_dir(&self, path: &Path) -> Result<bool, NodeError>;
    /// slurmctld's view of `job`.
    fn job_state(&self, job: u32) -> Result<JobState, NodeError>;
    /// Drain `node` with `reason`.
    fn drain(&self, node: &str, reason: &str) -> Result<(), NodeError>;
    /// Of `nodes`, those whose features lack `feature`
    /// ([`crate::slurmctl::nodes_without_feature`]).
    fn nodes_without_feature(
        &self,
        nodes: &[String],
        feature: &str,
    ) -> Result<Vec<String>, NodeError>;
    /// Write the job's record in `state_dir`, dropping a limits verdict
    /// left there ([`crate::state::write_record`]).
    fn write_record(&self, state_dir: &Path, rec: &JobRecord) -> Result<(), NodeError>;
    /// Remove job `job`'s record and verdict from `state_dir`
    /// ([`crate::state::remove_job`]). Ok(false): none there.
    fn remove_job_record(&self, state_dir: &Path, job: u32) -> Result<bool, NodeError>;
}

/// `umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW)`: a busy mount goes too,
/// and a symlink at `path` is never followed.
pub fn lazy_unmount(sys: &dyn Syscall, path: &Path) -> io::Result<()> {
    sys.umount(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
}

/// Longest time the removal of one job directory may take.
pub const REMOVE_BOUND: Duration = Duration::from_secs(600);

/// The real node.
pub struct LinuxNode {
    sys: LinuxSyscall,
    started: Instant,
    /// Root-owned directory for anonymous capture files (the state dir).
    capture_dir: PathBuf,
    /// Extra environment for beeond (e.g. SLURMD_NODENAME).
    extra_env: Vec<(String, String)>,
    /// The whole environment for beeond, made at its first run (it looks
    /// up root's home: not for runs that never start a tool).
    tool_env: std::cell::OnceCell<Vec<(String, String)>>,
    remove_bound: Duration,
}

impl LinuxNode {
    pub fn new(capture_dir: &Path, tool_env: &[(&str, &str)]) -> LinuxNode {
        LinuxNode {
            sys: LinuxSyscall,
            started: Instant::now(),
            capture_dir: capture_dir.to_path_buf(),
            extra_env: tool_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tool_env: std::cell::OnceCell::new(),
            remove_bound: REMOVE_BOUND,
        }
    }

    /// Another bound for the removal of one job directory (tests).
    pub fn with_remove_bound(mut self, bound: Duration) -> LinuxNode {
        self.remove_bound = bound;
        self
    }
}

impl NodeOps for LinuxNode {
    fn sys(&self) -> &dyn Syscall {
        &self.sys
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }

    fn mounted(&self, path: &Path) -> io::Result<bool> {
        crate::mounts::is_mounted(path)
    }

    fn unlink(&self, path: &Path) -> Result<bool, NodeError> {
        rmtree::unlink_entry(path)
    }

    fn write_root_file(&self, path: &Path, text: &str) -> Result<(), NodeError> {
        crate::state::write_root_file(path, text)
    }

    fn prepare_private_dir(&self, dir: &Path, mode: u32) -> Result<(), NodeError> {
        crate::state::ensure_private_root_dir(dir, mode)
    }

    fn lock_job(
        &self,
        state_dir: &Path,
        job: u32,
        wait: Duration,
    ) -> Result<Option<Box<dyn std::any::Any>>, NodeError> {
        Ok(crate::state::lock_job(state_dir, job, wait)?
            .map(|l| Box::new(l) as Box<dyn std::any::Any>))
    }

    fn run(&self, argv: &[OsString], timeout: Duration) -> Ran {
        let env = self.tool_env.get_or_init(|| {
            let extra: Vec<(&str, &str)> = self
                .extra_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            bounded::tool_env(&extra)
        });
        bounded::run(argv, env, timeout, &self.capture_dir)
    }

    fn remove_job_dir(
        &self,
        base: &Path,
        job: u32,
        uid: u32,
        within: Duration,
    ) -> Result<Removal, NodeError> {
        rmtree::remove_job_dir(base, &job.to_string(), uid, Instant::now() + within)
    }

    fn remove_bound(&self) -> Duration {
        self.remove_bound
    }

    fn read_root_file(&self, path: &Path, max: u64) -> Result<Option<String>, NodeError> {
        crate::state::read_root_file(path, max)
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>, NodeError> {
        let Some(fd) = rmtree::open_trusted_dir(dir)? else {
            return Ok(Vec::new());
        };
        let mut d = nix::dir::Dir::from_fd(fd).map_err(NodeError::at(Op::Open, dir))?;
        let mut names = Vec::new();
        for e in d.iter() {
            let e = e.map_err(NodeError::at(Op::ReadDir, dir))?;
            if let Ok(n) = e.file_name().to_str()
                && n != "."
                && n != ".."
            {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove_empty_dir(&self, path: &Path) -> Result<bool, NodeError> {
        rmtree::remove_empty_dir(path)
    }

    fn job_state(&self, job: u32) -> Result<JobState, NodeError> {
        slurmctl::job_state(job, &self.capture_dir)
    }

    fn drain(&self, node: &str, reason: &str) -> Result<(), NodeError> {
        slurmctl::drain(node, reason, &self.capture_dir)
    }

    fn nodes_without_feature(
        &self,
        nodes: &[String],
        feature: &str,
    ) -> Result<Vec<String>, NodeError> {
        slurmctl::nodes_without_feature(nodes, feature, &self.capture_dir)
    }

    fn write_record(&self, state_dir: &Path, rec: &JobRecord) -> Result<(), NodeError> {
        crate::state::write_record(state_dir, rec)
    }

    fn remove_job_record(&self, state_dir: &Path, job: u32) -> Result<bool, NodeError> {
        crate::state::remove_job(state_dir, job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    #[test]
    fn a_lazy_unmount_detaches_and_never_follows_a_symlink() {
        let sys = RecordingSyscall::new();
        lazy_unmount(&sys, Path::new("/mnt/carme/beeond")).unwrap();
        assert_eq!(
            sys.calls(),
            vec![Call::Umount {
                target: "/mnt/carme/beeond".into(),
                flags: MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW,
            }]
        );
    }
}
