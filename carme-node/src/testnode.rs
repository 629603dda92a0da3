//! A scripted node for the prolog's and epilog's orchestration tests: a
//! fake clock, a mount table and files that change over time or when
//! "beeond" runs, and a trace of everything done. It is its own
//! [`Syscall`]: `lstat` and lazy unmounts see its files and mount table,
//! the other privileged syscalls go to a [`RecordingSyscall`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;

use carme_core::record::JobRecord;

use crate::bounded::{Exit, Ran};
use crate::error::{NodeError, Unsafe};
use crate::nodeops::NodeOps;
use crate::rmtree::Removal;
use crate::slurmctl::JobState;
use crate::syscall::{DevEntry, Handle, Kind, RecordingSyscall, Stat, Syscall};
use nix::mount::{MntFlags, MsFlags};

/// What a scripted beeond run does to the node and returns.
pub type Responder = Box<dyn Fn(&FakeNode, &str) -> (Exit, Duration)>;

/// Something another process does to the node meanwhile.
pub type Hook = Box<dyn Fn(&FakeNode)>;

pub struct FakeNode {
    pub sys: RecordingSyscall,
    pub clock: Cell<Duration>,
    pub mounts: RefCell<BTreeSet<PathBuf>>,
    pub files: RefCell<BTreeMap<PathBuf, Stat>>,
    /// (when, path, appears): mounts that come or go at a time.
    pub timed: RefCell<Vec<(Duration, PathBuf, bool)>>,
    pub trace: RefCell<Vec<String>>,
    pub responder: RefCell<Option<Responder>>,
    pub job_state: RefCell<Result<JobState, String>>,
    pub unmount_fails: Cell<bool>,
    pub removal: RefCell<Option<Removal>>,
    /// Directories [`NodeOps::prepare_private_dir`] refuses, with why.
    pub unsafe_dirs: RefCell<BTreeMap<PathBuf, Unsafe>>,
    /// Job ids whose lock another run holds.
    pub locked: RefCell<BTreeSet<u32>>,
    /// Results of the next removals, in order (then `removal`).
    pub removals: RefCell<std::collections::VecDeque<Removal>>,
    /// The time each removal was given.
    pub withins: RefCell<Vec<Duration>>,
    pub remove_bound: Cell<Duration>,
    /// The text of the root files written (records).
    pub texts: RefCell<BTreeMap<PathBuf, String>>,
    /// Run during each removal (another process acting meanwhile).
    pub during_removal: RefCell<Option<Hook>>,
    /// What slurmctld answers for the nodes lacking a feature.
    pub lacking: RefCell<Result<Vec<String>, String>>,
    /// The job records written, by state dir and job id.
    pub records: RefCell<BTreeMap<(PathBuf, u32), JobRecord>>,
}

impl FakeNode {
    pub fn new() -> FakeNode {
        FakeNode::with_sys(RecordingSyscall::new())
    }

    pub fn with_sys(sys: RecordingSyscall) -> FakeNode {
        FakeNode {
            sys,
            clock: Cell::new(Duration::ZERO),
            mounts: RefCell::new(BTreeSet::new()),
            files: RefCell::new(BTreeMap::new()),
            timed: RefCell::new(Vec::new()),
            trace: RefCell::new(Vec::new()),
            responder: RefCell::new(None),
            job_state: RefCell::new(Err("not scripted".into())),
            unmount_fails: Cell::new(false),
            removal: RefCell::new(None),
            unsafe_dirs: RefCell::new(BTreeMap::new()),
            locked: RefCell::new(BTreeSet::new()),
            removals: RefCell::new(Default::default()),
            withins: RefCell::new(Vec::new()),
            remove_bound: Cell::new(crate::nodeops::REMOVE_BOUND),
            texts: RefCell::new(BTreeMap::new()),
            during_removal: RefCell::new(None),
            lacking: RefCell::new(Ok(Vec::new())),
            records: RefCell::new(BTreeMap::new()),
        }
    }

    pub fn respond(&self, f: impl Fn(&FakeNode, &str) -> (Exit, Duration) + 'static) {
        *self.responder.borrow_mut() = Some(Box::new(f));
    }

    pub fn mount(&self, p: &str) {
        self.mounts.borrow_mut().insert(p.into());
    }

    pub fn unmount(&self, p: &str) {
        self.mounts.borrow_mut().remove(Path::new(p));
    }

    pub fn root_file(&self, p: &str) {
        self.files
            .borrow_mut()
            .insert(p.into(), Stat::new(Kind::File, 0o600, 0, 0));
    }

    pub fn remove_file(&self, p: &str) {
        self.files.borrow_mut().remove(Path::new(p));
    }

    pub fn is_mounted(&self, p: &str) -> bool {
        self.mounts.borrow().contains(Path::new(p))
    }

    pub fn has_file(&self, p: &str) -> bool {
        self.files.borrow().contains_key(Path::new(p))
    }

    /// Mount (or unmount) `p` once the clock reaches `at`.
    pub fn at(&self, at: Duration, p: &str, appears: bool) {
        self.timed.borrow_mut().push((at, p.into(), appears));
    }

    pub fn trace(&self) -> Vec<String> {
        self.trace.borrow().clone()
    }

    /// The beeond actions run, in order.
    pub fn runs(&self) -> Vec<String> {
        self.trace()
            .into_iter()
            .filter_map(|t| t.strip_prefix("run ").map(str::to_string))
            .collect()
    }

    fn note(&self, s: String) {
        self.trace.borrow_mut().push(s);
    }

    fn tick(&self) {
        let now = self.clock.get();
        let mut timed = self.timed.borrow_mut();
        timed.retain(|(at, p, appears)| {
            if *at > now {
                return true;
            }
            if *appears {
                self.mounts.borrow_mut().insert(p.clone());
            } else {
                self.mounts.borrow_mut().remove(p);
            }
            false
        });
    }
}

/// The node's syscalls: its own mount table and files for `lstat` and
/// lazy unmounts, everything else recorded by [`FakeNode::sys`] (whose
/// scripted stats answer paths the node has no file for).
impl Syscall for FakeNode {
    fn unshare_mount_ns(&self) -> io::Result<()> {
        self.sys.unshare_mount_ns()
    }

    fn open_mount_ns(&self) -> io::Result<Handle> {
        self.sys.open_mount_ns()
    }

    fn enter_mount_ns(&self, ns: &Handle) -> io::Result<()> {
        self.sys.enter_mount_ns(ns)
    }

    fn open_cwd(&self) -> io::Result<Handle> {
        self.sys.open_cwd()
    }

    fn fchdir(&self, dir: &Handle) -> io::Result<()> {
        self.sys.fchdir(dir)
    }

    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.sys.mount(src, target, fstype, flags, data)
    }

    /// Only lazy unmounts (the epilog's) change the node's mount table.
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        if !flags.contains(MntFlags::MNT_DETACH) {
            return self.sys.umount(target, flags);
        }
        // Root never follows a symlink a user may have put at a mount point.
        assert!(
            flags.contains(MntFlags::UMOUNT_NOFOLLOW),
            "lazy unmount of {} without UMOUNT_NOFOLLOW",
            target.display()
        );
        self.note(format!("umount -l {}", target.display()));
        if self.unmount_fails.get() {
            return Err(io::Error::from(Errno::EBUSY));
        }
        self.mounts.borrow_mut().remove(target);
        Ok(())
    }

    fn mknod(&self, path: &Path, kind: Kind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        self.sys.mknod(path, kind, mode, major, minor)
    }

    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.sys.mkdir(path, mode)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.sys.chown(path, uid, gid)
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.sys.chmod(path, mode)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.sys.symlink(target, link)
    }

    fn ensure_root_dir(&self, dir: &Path, mode: u32) -> Result<(), NodeError> {
        self.sys.ensure_root_dir(dir, mode)
    }

    /// A mount point reads as a root-owned sticky directory, a file the
    /// node holds as its stat; other paths as the recording syscall's
    /// scripted stats (absent: ENOENT).
    fn lstat(&self, path: &Path) -> io::Result<Stat> {
        self.tick();
        if self.mounts.borrow().contains(path) {
            return Ok(Stat::dir(0o1777, 0, 0));
        }
        if let Some(st) = self.files.borrow().get(path) {
            return Ok(st.clone());
        }
        self.sys.lstat(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DevEntry>> {
        self.sys.list_dir(dir)
    }
}

impl NodeOps for FakeNode {
    fn sys(&self) -> &dyn Syscall {
        self
    }

    fn elapsed(&self) -> Duration {
        self.clock.get()
    }

    fn sleep(&self, d: Duration) {
        self.clock.set(self.clock.get() + d);
    }

    fn mounted(&self, path: &Path) -> io::Result<bool> {
        self.tick();
        Ok(self.mounts.borrow().contains(path))
    }

    fn unlink(&self, path: &Path) -> Result<bool, NodeError> {
        self.note(format!("unlink {}", path.display()));
        self.texts.borrow_mut().remove(path);
        Ok(self.files.borrow_mut().remove(path).is_some())
    }

    fn write_root_file(&self, path: &Path, text: &str) -> Result<(), NodeError> {
        self.note(format!("write {}", path.display()));
        self.root_file(&path.to_string_lossy());
        self.texts.borrow_mut().insert(path.into(), text.into());
        Ok(())
    }

    fn read_root_file(&self, path: &Path, max: u64) -> Result<Option<String>, NodeError> {
        match self.texts.borrow().get(path) {
            Some(t) if t.len() as u64 > max => {
                Err(NodeError::Invalid(format!("{}: too large", path.display())))
            }
            t => Ok(t.cloned()),
        }
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>, NodeError> {
        Ok(self
            .files
            .borrow()
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn lock_job(
        &self,
        _state_dir: &Path,
        job: u32,
        wait: Duration,
    ) -> Result<Option<Box<dyn std::any::Any>>, NodeError> {
        if self.locked.borrow().contains(&job) {
            self.note(format!("lock job-{job} busy"));
            self.clock.set(self.clock.get() + wait);
            return Ok(None);
        }
        self.note(format!("lock job-{job}"));
        Ok(Some(Box::new(())))
    }

    fn prepare_private_dir(&self, dir: &Path, _mode: u32) -> Result<(), NodeError> {
        self.note(format!("private dir {}", dir.display()));
        match self.unsafe_dirs.borrow().get(dir) {
            Some(why) => Err(NodeError::refused(dir, why.clone())),
            None => Ok(()),
        }
    }

    fn run(&self, argv: &[OsString], timeout: Duration) -> Ran {
        let words: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let action = words.get(1).cloned().unwrap_or_default();
        self.note(format!("run {action}"));
        self.note(format!("argv {}", words.join(" ")));
        let (exit, took) = match &*self.responder.borrow() {
            Some(f) => f(self, &action),
            None => (Exit::Code(0), Duration::from_millis(10)),
        };
        let took = if exit == Exit::TimedOut {
            timeout
        } else {
            took.min(timeout)
        };
        self.clock.set(self.clock.get() + took);
        Ran {
            output: match exit {
                Exit::Code(0) => String::new(),
                _ => format!("ERROR: {action} went wrong\n"),
            },
            exit,
            elapsed: took,
        }
    }

    fn remove_job_dir(
        &self,
        base: &Path,
        job: u32,
        uid: u32,
        within: Duration,
    ) -> Result<Removal, NodeError> {
        self.note(format!("rmtree {}/{job} uid {uid}", base.display()));
        self.withins.borrow_mut().push(within);
        if let Some(f) = &*self.during_removal.borrow() {
            f(self);
        }
        let next = self.removals.borrow_mut().pop_front();
        let r = next.unwrap_or_else(|| self.removal.borrow().clone().unwrap_or(Removal::Absent));
        if matches!(&r, Removal::Tree(t) if t.out_of_time) {
            self.clock.set(self.clock.get() + within);
        }
        Ok(r)
    }

    fn remove_bound(&self) -> Duration {
        self.remove_bound.get()
    }

    fn remove_empty_dir(&self, path: &Path) -> Result<bool, NodeError> {
        self.note(format!("rmdir {}", path.display()));
        Ok(true)
    }

    fn job_state(&self, job: u32) -> Result<JobState, NodeError> {
        self.note(format!("job_state {job}"));
        // Scripted failures are texts: what the test reads back.
        self.job_state.borrow().clone().map_err(NodeError::Invalid)
    }

    fn drain(&self, node: &str, reason: &str) -> Result<(), NodeError> {
        self.note(format!("drain {node}: {reason}"));
        Ok(())
    }

    fn nodes_without_feature(
        &self,
        nodes: &[String],
        feature: &str,
    ) -> Result<Vec<String>, NodeError> {
        self.note(format!("lacking {feature}: {}", nodes.join(",")));
        self.lacking.borrow().clone().map_err(NodeError::Invalid)
    }

    fn write_record(&self, state_dir: &Path, rec: &JobRecord) -> Result<(), NodeError> {
        self.note(format!(
            "record job {} in {}",
            rec.job_id,
            state_dir.display()
        ));
        self.records
            .borrow_mut()
            .insert((state_dir.into(), rec.job_id), rec.clone());
        Ok(())
    }

    fn remove_job_record(&self, state_dir: &Path, job: u32) -> Result<bool, NodeError> {
        self.note(format!("unrecord job {job} in {}", state_dir.display()));
        Ok(self
            .records
            .borrow_mut()
            .remove(&(state_dir.into(), job))
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobclean::{self, Cleaned, Source, Unclean};
    use crate::joblog::{Level, MemoryLog};
    use crate::jobprep;
    use crate::nodejob::{self, JobFacts, NodeJob};
    use crate::syscall::Call;
    use carme_core::config::Config;

    const STATE: &str = "/run/carme/n1";
    const MOUNT1: &str = "/mnt/beeond/n1/42";
    const MOUNT2: &str = "/mnt/beeond/n2/42";
    const STATUS: &str = "/run/carme/beeond/beeond-42.tmp";

    fn config() -> Config {
        Config::parse(
            r#"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/tmp/carme/%n"
scratch_base = "/local/carme/%n"
log_dir = "/var/log/carme"
[beeond]
command = "/usr/bin/beeond"
data_dir = "/local/beeond"
mount_base = "/mnt/beeond/%n"
status_dir = "/run/carme/beeond"
start_timeout = "90s"
stop_timeout = "30s"
wait_timeout = "120s"
"#,
            Path::new("/c.toml"),
        )
        .unwrap()
    }

    fn job(node: &str, constraint: &str, restart: u32) -> NodeJob {
        nodejob::plan(
            &config(),
            &JobFacts {
                job_id: 42,
                uid: 1000,
                gid: 100,
                node: node.into(),
                nodelist: Some("n[1-2]".into()),
                constraint: constraint.into(),
                restart,
                beeond_option: false,
            },
        )
        .unwrap()
    }

    fn bee(node: &str) -> NodeJob {
        job(node, "carme&beeond", 0)
    }

    fn chowned(sys: &RecordingSyscall, path: &str) -> bool {
        sys.calls().contains(&Call::Chown {
            path: path.into(),
            uid: 1000,
            gid: 100,
        }) && sys.calls().contains(&Call::Chmod {
            path: path.into(),
            mode: 0o700,
        })
    }

    /// The harness's beeond: start mounts every node, stop unmounts every
    /// node, stoplocal this node; each writes/removes the status file.
    fn working_beeond(n: &FakeNode, action: &str) -> (Exit, Duration) {
        match action {
            "start" => {
                n.root_file(STATUS);
                n.mount(MOUNT1);
                n.mount(MOUNT2);
            }
            "stop" => {
                n.unmount(MOUNT1);
                n.unmount(MOUNT2);
                n.remove_file(STATUS);
            }
            "stoplocal" => {
                n.unmount(MOUNT1);
                n.remove_file(STATUS);
            }
            _ => panic!("{action}"),
        }
        (Exit::Code(0), Duration::from_millis(300))
    }

    // ---- prolog ----------------------------------------------------------------

    #[test]
    fn carme_job_gets_tmp_and_scratch() {
        let n = FakeNode::new();
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 0), Path::new(STATE)).unwrap();
        assert_eq!(n.trace(), [format!("write {STATE}/job-42.node")]);
        let calls = n.sys.calls();
        for base in ["/var/tmp/carme/n1", "/local/carme/n1"] {
            let dir = format!("{base}/42");
            let at = calls
                .iter()
                .position(|c| {
                    *c == Call::EnsureRootDir {
                        dir: base.into(),
                        mode: 0o711,
                    }
                })
                .unwrap();
            assert_eq!(
                calls[at + 1],
                Call::Mkdir {
                    path: dir.clone().into(),
                    mode: 0o700
                }
            );
            assert!(chowned(&n.sys, &dir));
        }
        assert!(
            log.has(Level::Info, "ready job=42 node=n1 took="),
            "{}",
            log.text()
        );
        assert!(n.runs().is_empty());
    }

    /// Issue 13: a base a user created first must not let them drain the
    /// node: the prolog logs it for the admin and succeeds (the plugin
    /// refuses the job's steps here); the other base is still prepared.
    #[test]
    fn unsafe_base_is_logged_never_a_node_fault() {
        let sys = RecordingSyscall::new().fail_when(
            |c| matches!(c, Call::EnsureRootDir { dir, .. } if dir == Path::new("/local/carme/n1")),
            Errno::EACCES,
        );
        let n = FakeNode::with_sys(sys);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 0), Path::new(STATE)).unwrap();
        assert!(
            log.has(Level::Error, "scratch base /local/carme/n1"),
            "{}",
            log.text()
        );
        assert!(
            log.has(Level::Error, "Carme jobs are refused on this node"),
            "{}",
            log.text()
        );
        assert!(chowned(&n.sys, "/var/tmp/carme/n1/42"));
        assert!(!chowned(&n.sys, "/local/carme/n1/42"));
    }

    #[test]
    fn planted_job_path_is_left_and_reported() {
        let sys = RecordingSyscall::new().with_stat(
            "/var/tmp/carme/n1/42",
            Stat::new(Kind::Symlink, 0o777, 1000, 100),
        );
        let n = FakeNode::with_sys(sys);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 0), Path::new(STATE)).unwrap();
        assert!(log.has(Level::Warning, "Left untouched"), "{}", log.text());
        assert!(
            !n.sys.calls().iter().any(|c| matches!(c, Call::Chown { path, .. } | Call::Chmod { path, .. } if path.starts_with("/var/tmp/carme/n1/42"))),
            "touched the planted path"
        );
        // Scratch was still made.
        assert!(chowned(&n.sys, "/local/carme/n1/42"));
    }

    #[test]
    fn first_node_starts_beeond() {
        let n = FakeNode::new();
        n.respond(working_beeond);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap();
        assert_eq!(n.runs(), ["start"]);
        let t = n.trace();
        let argv = t.iter().find(|l| l.starts_with("argv ")).unwrap();
        assert_eq!(
            argv,
            "argv /usr/bin/beeond start -n /run/carme/n1/job-42.beeond-nodes -d /local/beeond/42 \
             -c /mnt/beeond/n1/42 -i /run/carme/beeond/beeond-42.tmp -p 1430 -P -F -L /var/log/carme/beeond-42 -q"
        );
        // The node file is written before the start.
        let nf = t
            .iter()
            .position(|l| l.ends_with("job-42.beeond-nodes"))
            .unwrap();
        let st = t.iter().position(|l| l == "run start").unwrap();
        assert!(nf < st);
        assert!(chowned(&n.sys, MOUNT1));
        assert!(
            log.has(Level::Info, "beeond=/mnt/beeond/n1/42 beeond_started_by=n1"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn start_that_hangs_is_killed_cleaned_up_and_a_fault() {
        let n = FakeNode::new();
        n.respond(|n, action| match action {
            // beeond writes its status file, then hangs waiting for servers.
            "start" => {
                n.root_file(STATUS);
                (Exit::TimedOut, Duration::ZERO)
            }
            other => working_beeond(n, other),
        });
        let log = MemoryLog::default();
        let f = jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap_err();
        assert_eq!(f.short, "carme: BeeOND start timed out after 90s");
        assert!(
            f.message
                .contains("did not finish within 90s and was killed"),
            "{}",
            f.message
        );
        assert_eq!(
            n.runs(),
            ["start", "stop"],
            "what it started is stopped again"
        );
        assert!(!n.has_file(STATUS));
        // Bounded: start_timeout + the cleanup stop.
        assert!(
            n.elapsed() <= Duration::from_secs(90 + 30),
            "{:?}",
            n.elapsed()
        );
        assert!(!chowned(&n.sys, MOUNT1));
    }

    #[test]
    fn failed_start_leaves_nothing_mounted() {
        let n = FakeNode::new();
        n.respond(|n, action| match action {
            "start" => {
                n.mount(MOUNT1);
                (Exit::Code(1), Duration::from_secs(2))
            }
            // The cleanup stop fails too.
            _ => (Exit::Code(1), Duration::from_secs(1)),
        });
        let log = MemoryLog::default();
        let f = jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap_err();
        assert_eq!(f.short, "carme: BeeOND start failed");
        assert!(
            f.message.contains("exit status 1: ERROR: start went wrong"),
            "{}",
            f.message
        );
        assert!(n.trace().contains(&format!("umount -l {MOUNT1}")));
        assert!(!n.is_mounted(MOUNT1));
    }

    #[test]
    fn start_without_a_mount_is_a_fault() {
        let n = FakeNode::new();
        n.respond(|_, _| (Exit::Code(0), Duration::from_millis(5)));
        let log = MemoryLog::default();
        let f = jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap_err();
        assert!(
            f.message
                .contains("nothing is mounted at /mnt/beeond/n1/42"),
            "{}",
            f.message
        );
        assert_eq!(n.runs(), ["start", "stop"]);
    }

    #[test]
    fn stale_status_file_or_requeue_cleans_up_first() {
        for (stale, restart) in [(true, 0), (false, 2)] {
            let n = FakeNode::new();
            if stale {
                n.root_file(STATUS);
            }
            n.respond(|n, action| {
                if action == "start" && n.has_file(STATUS) {
                    // Like beeond: refuse to start over an existing status file.
                    return (Exit::Code(1), Duration::from_millis(5));
                }
                working_beeond(n, action)
            });
            let log = MemoryLog::default();
            jobprep::prepare(
                &n,
                &log,
                &job("n1", "carme&beeond", restart),
                Path::new(STATE),
            )
            .unwrap();
            assert_eq!(n.runs(), ["stop", "start"]);
            assert!(
                log.has(Level::Warning, "cleaning up an earlier BeeOND"),
                "{}",
                log.text()
            );
            assert!(n.is_mounted(MOUNT1));
        }
    }

    #[test]
    fn planted_status_file_is_removed_not_trusted() {
        let n = FakeNode::new();
        n.files
            .borrow_mut()
            .insert(STATUS.into(), Stat::new(Kind::Symlink, 0o777, 1000, 100));
        n.respond(working_beeond);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap();
        assert!(n.trace().contains(&format!("unlink {STATUS}")));
        assert_eq!(n.runs(), ["start"], "no cleanup stop for a planted file");
        assert!(
            log.has(Level::Warning, "not beeond's status file"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn other_nodes_wait_for_the_mount() {
        let n = FakeNode::new();
        n.at(Duration::from_secs(3), MOUNT2, true);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n2"), Path::new("/run/carme/n2")).unwrap();
        assert!(n.runs().is_empty(), "only the first node runs beeond");
        assert!(chowned(&n.sys, MOUNT2));
        let t = n.elapsed();
        assert!(
            t >= Duration::from_secs(3) && t < Duration::from_secs(4),
            "{t:?}"
        );
        assert!(
            log.has(Level::Info, "beeond_started_by=n1"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn mount_that_never_comes() {
        // The first node gave up and Slurm requeued the job: not our fault.
        let n = FakeNode::new();
        *n.job_state.borrow_mut() = Ok(JobState {
            state: "PENDING".into(),
            restarts: 1,
        });
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n2"), Path::new("/run/carme/n2")).unwrap();
        assert_eq!(
            n.elapsed(),
            Duration::from_secs(120),
            "waits exactly wait_timeout"
        );
        assert!(n.trace().contains(&"job_state 42".to_string()));
        assert!(
            log.has(Level::Info, "the first node gave up"),
            "{}",
            log.text()
        );
        assert!(!chowned(&n.sys, MOUNT2));

        // Still starting: this node cannot see the file system.
        let n = FakeNode::new();
        *n.job_state.borrow_mut() = Ok(JobState {
            state: "RUNNING".into(),
            restarts: 0,
        });
        let f = jobprep::prepare(&n, &log, &bee("n2"), Path::new("/run/carme/n2")).unwrap_err();
        // Past wait_timeout it waits, asking slurmctld every 5s, until the
        // first node's own bound: 30s + 90s + 30s + 3 x 5s + 10s.
        assert_eq!(n.elapsed(), Duration::from_secs(175));
        assert_eq!(f.short, "carme: BeeOND did not appear within 175s");
        assert!(
            f.message.contains("the first node n1 starts it"),
            "{}",
            f.message
        );
        let asks = n.trace().iter().filter(|t| *t == "job_state 42").count();
        assert!((11..=13).contains(&asks), "{asks} asks");

        // Still starting at wait_timeout, there a little later: fine.
        let n = FakeNode::new();
        *n.job_state.borrow_mut() = Ok(JobState {
            state: "CONFIGURING".into(),
            restarts: 0,
        });
        n.at(Duration::from_secs(150), MOUNT2, true);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n2"), Path::new("/run/carme/n2")).unwrap();
        assert!(chowned(&n.sys, MOUNT2));
        assert!(log.has(Level::Info, "still starting"), "{}", log.text());

        // slurmctld cannot be asked: a fault, saying so.
        let n = FakeNode::new();
        let f = jobprep::prepare(&n, &log, &bee("n2"), Path::new("/run/carme/n2")).unwrap_err();
        assert!(
            f.message.contains("slurmctld could not tell"),
            "{}",
            f.message
        );
    }

    // ---- epilog ----------------------------------------------------------------

    fn clean(n: &FakeNode, j: &NodeJob, source: Source) -> (Result<Cleaned, Unclean>, MemoryLog) {
        let log = MemoryLog::default();
        let r = jobclean::clean(n, &log, j, source, Path::new(STATE));
        (r, log)
    }

    #[test]
    fn first_node_stops_beeond_then_removes_directories() {
        let n = FakeNode::new();
        n.mount(MOUNT1);
        n.mount(MOUNT2);
        n.root_file(STATUS);
        n.respond(working_beeond);
        let (r, log) = clean(&n, &bee("n1"), Source::Record);
        r.unwrap();
        assert_eq!(n.runs(), ["stop"]);
        let t = n.trace();
        let stop = t.iter().position(|l| l == "run stop").unwrap();
        let rm = t
            .iter()
            .position(|l| l.starts_with("rmtree /var/tmp/carme/n1/42"))
            .unwrap();
        assert!(stop < rm, "{t:?}");
        assert!(t.contains(&"rmtree /local/carme/n1/42 uid 1000".to_string()));
        assert!(t.contains(&format!("rmdir {MOUNT1}")));
        assert!(t.contains(&format!("unlink {STATE}/job-42.node")));
        assert!(t.contains(&"unlink /run/carme/n1/job-42.beeond-nodes".to_string()));
        assert!(
            log.has(Level::Info, "beeond_stopped=n1,n2 beeond_took="),
            "{}",
            log.text()
        );
    }

    #[test]
    fn failed_stop_falls_back_to_stoplocal_then_lazy_unmount() {
        // stop fails; stoplocal works.
        let n = FakeNode::new();
        n.mount(MOUNT1);
        n.root_file(STATUS);
        n.respond(|n, a| match a {
            "stop" => (Exit::Code(1), Duration::from_secs(1)),
            other => working_beeond(n, other),
        });
        let (r, log) = clean(&n, &bee("n1"), Source::Record);
        r.unwrap();
        assert_eq!(n.runs(), ["stop", "stoplocal"]);
        assert!(
            log.has(Level::Warning, "falls back to beeond stoplocal"),
            "{}",
            log.text()
        );

        // stop times out, stoplocal fails: the mount is lazily unmounted.
        let n = FakeNode::new();
        n.mount(MOUNT1);
        n.root_file(STATUS);
        n.respond(|_, a| match a {
            "stop" => (Exit::TimedOut, Duration::ZERO),
            _ => (Exit::Code(1), Duration::from_secs(1)),
        });
        let (r, log) = clean(&n, &bee("n1"), Source::Record);
        r.unwrap();
        assert_eq!(n.runs(), ["stop", "stoplocal"]);
        assert!(n.trace().contains(&format!("umount -l {MOUNT1}")));
        assert!(
            log.has(Level::Warning, "lazily unmounted"),
            "{}",
            log.text()
        );
        assert!(n.elapsed() <= Duration::from_secs(2 * 30));
    }

    #[test]
    fn a_mount_that_stays_is_unclean_and_keeps_the_record() {
        let n = FakeNode::new();
        n.mount(MOUNT1);
        n.unmount_fails.set(true);
        n.respond(|_, _| (Exit::Code(1), Duration::from_secs(1)));
        let (r, log) = clean(&n, &bee("n1"), Source::Record);
        let u = r.unwrap_err();
        assert_eq!(u.short, "carme: BeeOND mount of job 42 left");
        assert!(
            u.message.contains("fuser -vm /mnt/beeond/n1/42"),
            "{}",
            u.message
        );
        assert!(!n.trace().contains(&format!("unlink {STATE}/job-42.node")));
        assert!(log.has(Level::Error, "left unclean"), "{}", log.text());
    }

    #[test]
    fn other_nodes_wait_for_the_first_nodes_stop() {
        let n = FakeNode::new();
        n.mount(MOUNT2);
        n.at(Duration::from_secs(2), MOUNT2, false);
        let (r, log) = clean(&n, &bee("n2"), Source::Record);
        r.unwrap();
        assert!(n.runs().is_empty());
        let t = n.trace();
        // Directories first on the other nodes.
        assert!(t[0].starts_with("rmtree /var/tmp/carme/n2/42"), "{t:?}");
        assert!(
            log.has(Level::Info, "beeond_stopped_by=n1"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn other_nodes_fall_back_when_the_stop_never_comes() {
        let n = FakeNode::new();
        n.mount(MOUNT2);
        n.respond(|n, a| {
            assert_eq!(a, "stoplocal");
            n.unmount(MOUNT2);
            (Exit::Code(0), Duration::from_millis(100))
        });
        let (r, log) = clean(&n, &bee("n2"), Source::Record);
        r.unwrap();
        assert_eq!(n.runs(), ["stoplocal"]);
        let waited = n.elapsed() - Duration::from_millis(100);
        assert_eq!(waited, Duration::from_secs(30) + jobclean::STOP_GRACE);
        assert!(
            log.has(Level::Warning, "still here after 32s"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn a_planted_status_file_never_reaches_beeond_in_the_epilog() {
        // A user's file, or a hard link to root's, where the status file
        // goes: removed, and nothing left means nothing to stop.
        for planted in [
            Stat::new(Kind::File, 0o644, 1000, 100),
            Stat {
                nlink: 2,
                ..Stat::new(Kind::File, 0o600, 0, 0)
            },
        ] {
            for node in ["n1", "n2"] {
                let n = FakeNode::new();
                n.files.borrow_mut().insert(STATUS.into(), planted.clone());
                let (r, log) = clean(&n, &bee(node), Source::Derived);
                r.unwrap();
                assert!(n.runs().is_empty(), "{node}: {:?}", n.trace());
                assert!(!n.has_file(STATUS), "{node}");
                assert!(
                    log.has(Level::Warning, "not beeond's status file"),
                    "{}",
                    log.text()
                );
            }
        }
    }

    /// Issue 13 (critical): beeond never runs with a status dir others
    /// could write, in the prolog (first node and others) or the epilog;
    /// the epilog still unmounts the job's BeeOND here.
    #[test]
    fn an_unsafe_status_dir_is_never_handed_to_beeond() {
        let unsafe_dir = |n: &FakeNode| {
            n.unsafe_dirs.borrow_mut().insert(
                "/run/carme/beeond".into(),
                Unsafe::NotClosedDir {
                    uid: 0,
                    mode: 0o1777,
                },
            );
        };
        for node in ["n1", "n2"] {
            let n = FakeNode::new();
            unsafe_dir(&n);
            n.root_file(STATUS);
            let log = MemoryLog::default();
            let f = jobprep::prepare(&n, &log, &bee(node), Path::new(STATE)).unwrap_err();
            assert!(n.runs().is_empty(), "{node}: {:?}", n.trace());
            assert_eq!(f.short, "carme: unsafe BeeOND status_dir");
            assert!(f.message.contains("[beeond] status_dir"), "{}", f.message);
            assert!(n.has_file(STATUS), "not even read: {:?}", n.trace());

            let n = FakeNode::new();
            unsafe_dir(&n);
            n.root_file(STATUS);
            n.mount(if node == "n1" { MOUNT1 } else { MOUNT2 });
            let (r, log) = clean(&n, &bee(node), Source::Record);
            r.unwrap();
            assert!(n.runs().is_empty(), "{node}: {:?}", n.trace());
            assert!(!n.is_mounted(MOUNT1) && !n.is_mounted(MOUNT2));
            assert!(
                log.has(Level::Error, "beeond stop/stoplocal are not run"),
                "{}",
                log.text()
            );
        }
    }

    #[test]
    fn epilog_twice_does_nothing_the_second_time() {
        let n = FakeNode::new();
        n.mount(MOUNT1);
        n.mount(MOUNT2);
        n.root_file(STATUS);
        n.respond(working_beeond);
        clean(&n, &bee("n1"), Source::Record).0.unwrap();
        n.trace.borrow_mut().clear();
        // The record is gone: the second run derives, finds nothing.
        for node in ["n1", "n2"] {
            let (r, _) = clean(&n, &bee(node), Source::Derived);
            r.unwrap();
        }
        assert!(n.runs().is_empty(), "{:?}", n.trace());
        assert_eq!(n.elapsed(), Duration::from_millis(300), "no waiting");
    }

    #[test]
    fn job_directory_results() {
        use crate::rmtree::TreeReport;
        let n = FakeNode::new();
        *n.removal.borrow_mut() = Some(Removal::Tree(TreeReport {
            removed: 3,
            mounts_left: 1,
            problem_count: 1,
            problems: vec![
                "/var/tmp/carme/n1/42/m is a mount point that cannot be detached".into(),
            ],
            ..TreeReport::default()
        }));
        let (r, log) = clean(&n, &job("n1", "carme", 0), Source::Record);
        let u = r.unwrap_err();
        assert_eq!(u.short, "carme: mount left in tmp of job 42");
        assert!(
            log.has(
                Level::Warning,
                "could not remove all of /var/tmp/carme/n1/42"
            ),
            "{}",
            log.text()
        );

        let n = FakeNode::new();
        *n.removal.borrow_mut() = Some(Removal::OddEntryRemoved {
            kind: "symlink".into(),
        });
        let (r, log) = clean(&n, &job("n1", "carme", 0), Source::Record);
        r.unwrap();
        assert!(
            log.has(Level::Warning, "was a symlink, not the job's tmp directory"),
            "{}",
            log.text()
        );

        let n = FakeNode::new();
        *n.removal.borrow_mut() = Some(Removal::Foreign { uid: 7 });
        let (r, log) = clean(&n, &job("n1", "carme", 0), Source::Record);
        r.unwrap();
        assert!(
            log.has(Level::Warning, "belongs to uid 7"),
            "{}",
            log.text()
        );
    }

    // ---- leftovers of ended jobs (issue 13, item 12) ------------------------------

    fn out_of_time(removed: u64) -> Removal {
        Removal::Tree(crate::rmtree::TreeReport {
            removed,
            out_of_time: true,
            ..Default::default()
        })
    }

    fn complete(removed: u64) -> Removal {
        Removal::Tree(crate::rmtree::TreeReport {
            removed,
            complete: true,
            ..Default::default()
        })
    }

    fn record_text(n: &FakeNode, job: u32) -> Option<String> {
        n.texts
            .borrow()
            .get(&PathBuf::from(format!("{STATE}/job-{job}.node")))
            .cloned()
    }

    /// Put the record of an ended job with leftovers (or of a running job:
    /// `tries` None) in the state dir.
    fn put_record(n: &FakeNode, id: u32, tries: Option<carme_core::leftover::Tries>) {
        let mut j = job("n1", "carme", 0);
        j.job_id = id;
        j.leftover = tries;
        n.write_root_file(
            &Path::new(STATE).join(nodejob::record_name(id)),
            &j.to_text().unwrap(),
        )
        .unwrap();
    }

    fn tries(tries: u32, fruitless: u32) -> Option<carme_core::leftover::Tries> {
        Some(carme_core::leftover::Tries { tries, fruitless })
    }

    #[test]
    fn removal_out_of_time_keeps_the_record_and_a_later_run_retries() {
        let n = FakeNode::new();
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &job("n1", "carme", 0).to_text().unwrap(),
        )
        .unwrap();
        // tmp runs out of time after removing 1000 entries; scratch gets
        // what time is left (none) and is left too.
        n.removals
            .borrow_mut()
            .extend([out_of_time(1000), out_of_time(0)]);
        let (r, log) = clean(&n, &job("n1", "carme", 0), Source::Record);
        assert_eq!(
            r.unwrap(),
            Cleaned::Left {
                tries: tries(1, 0).unwrap(),
            }
        );
        let rec = NodeJob::parse(&record_text(&n, 42).expect("record kept")).unwrap();
        assert_eq!(rec.leftover, tries(1, 0));
        assert_eq!(rec.beeond, None);
        assert!(!n.trace().contains(&format!("unlink {STATE}/job-42.node")));
        assert_eq!(
            n.withins.borrow().clone(),
            [crate::nodeops::REMOVE_BOUND, Duration::ZERO],
            "one bound for all of the job's directories"
        );
        assert!(
            log.has(
                Level::Error,
                "left /var/tmp/carme/n1/42 (not finished within 600s (1000 entries removed))"
            ),
            "{}",
            log.text()
        );
        assert!(
            log.has(Level::Error, "the next prolog or epilog of a Carme job"),
            "{}",
            log.text()
        );
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));

        // A later run (another job's) finishes it, within its own bound.
        n.trace.borrow_mut().clear();
        n.withins.borrow_mut().clear();
        // A requeue's prolog wrote the job's record meanwhile: the retry
        // (issue 13 review) never unlinks it, whosever it is.
        n.root_file(&format!("{STATE}/job-42"));
        n.root_file(&format!("{STATE}/job-42.limits"));
        n.removals
            .borrow_mut()
            .extend([complete(5), Removal::Absent]);
        let log = MemoryLog::default();
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 43, Duration::from_secs(5));
        assert_eq!(record_text(&n, 42), None, "{:?}", n.trace());
        assert!(n.has_file(&format!("{STATE}/job-42.limits")));
        assert!(n.has_file(&format!("{STATE}/job-42")));
        assert!(
            n.withins
                .borrow()
                .iter()
                .all(|w| *w <= Duration::from_secs(5))
        );
        assert!(
            log.has(Level::Info, "the leftovers of ended job 42 are removed"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn retries_are_bounded_per_run_and_leave_running_jobs_alone() {
        let n = FakeNode::new();
        put_record(&n, 40, tries(1, 0));
        put_record(&n, 41, tries(3, 0));
        put_record(&n, 44, None); // running
        put_record(&n, 45, tries(1, 0)); // the current job: its own run's
        // 40 takes the whole budget and is still not done.
        n.removals.borrow_mut().extend([out_of_time(7)]);
        let log = MemoryLog::default();
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 45, Duration::from_secs(5));
        assert_eq!(n.elapsed(), Duration::from_secs(5));
        let rm: Vec<String> = n
            .trace()
            .into_iter()
            .filter(|t| t.starts_with("rmtree"))
            .collect();
        assert_eq!(
            rm,
            [
                "rmtree /var/tmp/carme/n1/40 uid 1000",
                "rmtree /local/carme/n1/40 uid 1000"
            ]
        );
        let rec = NodeJob::parse(&record_text(&n, 40).unwrap()).unwrap();
        assert_eq!(rec.leftover, tries(2, 0), "progress: no fruitless try");
        assert!(
            log.has(
                Level::Info,
                "leftovers of ended job(s) 41 wait for a later run"
            ),
            "{}",
            log.text()
        );
        assert_eq!(
            NodeJob::parse(&record_text(&n, 44).unwrap())
                .unwrap()
                .leftover,
            None
        );
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));
    }

    #[test]
    /// Issue 13 (review): leftovers no try removes (a user's read-only
    /// btrfs snapshot) must never let the user drain the node: the log asks
    /// an admin to look, the record stays, later runs keep retrying.
    fn tries_that_remove_nothing_never_drain_the_node() {
        let stuck = Removal::Tree(crate::rmtree::TreeReport {
            problem_count: 2,
            problems: vec![
                "cannot remove the btrfs subvolume /var/tmp/carme/n1/42/snap: ENOTEMPTY".into(),
            ],
            ..Default::default()
        });
        // Two fruitless tries so far: the third asks for an admin.
        let n = FakeNode::new();
        put_record(&n, 42, tries(6, 2));
        *n.removal.borrow_mut() = Some(stuck.clone());
        let log = MemoryLog::default();
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 50, Duration::from_secs(5));
        assert!(
            !n.trace().iter().any(|t| t.starts_with("drain")),
            "{:?}",
            n.trace()
        );
        assert!(log.has(Level::Warning, "ENOTEMPTY"), "{}", log.text());
        assert!(
            log.has(Level::Error, "an admin must look"),
            "{}",
            log.text()
        );
        assert!(
            log.has(Level::Error, "the node stays in service"),
            "{}",
            log.text()
        );
        assert_eq!(
            NodeJob::parse(&record_text(&n, 42).unwrap())
                .unwrap()
                .leftover,
            tries(7, 3),
            "the record stays for the admin"
        );
        // And again: still no drain.
        let n2 = FakeNode::new();
        put_record(&n2, 42, tries(7, 3));
        *n2.removal.borrow_mut() = Some(stuck.clone());
        jobclean::retry_leftovers(&n2, &log, Path::new(STATE), 50, Duration::from_secs(5));
        assert!(!n2.trace().iter().any(|t| t.starts_with("drain")));
        // One fruitless try so far: no admin needed yet.
        let n = FakeNode::new();
        put_record(&n, 42, tries(1, 1));
        *n.removal.borrow_mut() = Some(stuck);
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 50, Duration::from_secs(5));
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));
    }

    // ---- a reused job id (issue 13, item 13) ----------------------------------------

    /// Job 42 of another user (uid 2000), as an earlier slurmctld ran it.
    fn earlier(node: &str, nodelist: &str) -> NodeJob {
        nodejob::plan(
            &config(),
            &JobFacts {
                job_id: 42,
                uid: 2000,
                gid: 200,
                node: node.into(),
                nodelist: Some(nodelist.into()),
                constraint: "carme&beeond".into(),
                restart: 0,
                beeond_option: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn an_earlier_jobs_beeond_is_never_taken_for_the_new_jobs() {
        // Node n2 still has the BeeOND of an earlier job 42 (its epilog
        // never ran) when a new job 42 of another user starts there.
        let state = Path::new("/run/carme/n2");
        let n = FakeNode::new();
        let old = earlier("n2", "n[1-2]");
        n.write_root_file(&state.join("job-42.node"), &old.to_text().unwrap())
            .unwrap();
        n.mount(MOUNT2);
        n.respond(|n, action| {
            assert_eq!(action, "stoplocal");
            n.unmount(MOUNT2);
            (Exit::Code(0), Duration::from_millis(100))
        });
        // The new job's BeeOND, started by n1, appears later.
        n.at(Duration::from_secs(10), MOUNT2, true);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n2"), state).unwrap();
        assert_eq!(n.runs(), ["stoplocal"], "the earlier BeeOND is stopped");
        assert!(
            n.elapsed() >= Duration::from_secs(10),
            "took the earlier job's mount for the new one ({:?})",
            n.elapsed()
        );
        assert!(chowned(&n.sys, MOUNT2));
        let t = n.trace();
        let rm_old = t
            .iter()
            .position(|l| l == "rmtree /var/tmp/carme/n2/42 uid 2000")
            .expect("the earlier job's tmp removed");
        let write_new = t
            .iter()
            .rposition(|l| l == "write /run/carme/n2/job-42.node")
            .unwrap();
        assert!(rm_old < write_new, "{t:?}");
        let rec = NodeJob::parse(&n.texts.borrow()[&state.join("job-42.node")]).unwrap();
        assert_eq!(rec, bee("n2"));
        assert!(
            log.has(Level::Warning, "is of an earlier job 42 (uid 2000"),
            "{}",
            log.text()
        );
    }

    #[test]
    fn an_earlier_beeond_is_stopped_on_its_own_nodes_then_the_new_one_starts() {
        // The first node: the earlier job 42 ran BeeOND on n1 and n3; the
        // new job 42 runs on n1 and n2. The earlier one is stopped with
        // its own node file, before the new one is written.
        let n = FakeNode::new();
        let old = earlier("n1", "n1,n3");
        let old_nodes = "/run/carme/n1/job-42.beeond-nodes";
        n.write_root_file(Path::new(old_nodes), &nodefile_text(&old))
            .unwrap();
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &old.to_text().unwrap(),
        )
        .unwrap();
        n.root_file(STATUS);
        n.mount(MOUNT1);
        n.respond(|n, action| {
            let nodes = n.texts.borrow()[Path::new(old_nodes)].clone();
            n.note(format!("nodes at {action}: {}", nodes.replace('\n', " ")));
            working_beeond(n, action)
        });
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &bee("n1"), Path::new(STATE)).unwrap();
        assert_eq!(n.runs(), ["stop", "start"]);
        let t = n.trace();
        assert!(t.contains(&"nodes at stop: n1 n3 ".to_string()), "{t:?}");
        assert!(t.contains(&"nodes at start: n1 n2 ".to_string()), "{t:?}");
        assert!(n.is_mounted(MOUNT1) && chowned(&n.sys, MOUNT1));
    }

    fn nodefile_text(j: &NodeJob) -> String {
        carme_core::beeond::nodefile_text(&j.beeond.as_ref().unwrap().setup.nodes)
    }

    /// Issue 13 (review): leftovers of another user's earlier job with this
    /// id (slurmctld's ids restarted) never drain the node, and are never
    /// handed to the new job: its steps are refused that directory.
    #[test]
    fn leftovers_of_another_users_earlier_job_never_drain_nor_are_handed_on() {
        let sys =
            RecordingSyscall::new().with_stat("/var/tmp/carme/n1/42", Stat::dir(0o700, 2000, 200));
        let n = FakeNode::with_sys(sys);
        let mut old = job("n1", "carme", 0);
        old.uid = 2000;
        old.gid = 200;
        old.leftover = tries(1, 0);
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &old.to_text().unwrap(),
        )
        .unwrap();
        n.removals.borrow_mut().extend([out_of_time(10)]);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 0), Path::new(STATE)).unwrap();
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));
        assert!(
            log.has(
                Level::Error,
                "what an earlier job 42 (uid 2000) left on this node stays"
            ),
            "{}",
            log.text()
        );
        assert!(
            !chowned(&n.sys, "/var/tmp/carme/n1/42"),
            "handed to the new job"
        );
        assert!(log.has(Level::Warning, "Left untouched"), "{}", log.text());
        let rec = NodeJob::parse(&record_text(&n, 42).unwrap()).unwrap();
        assert_eq!(
            (rec.uid, rec.leftover),
            (1000, None),
            "the new job's record"
        );
    }

    /// Issue 13 (review): a user who requeues their own job onto the node
    /// its earlier run left a huge or unremovable tree on must not drain
    /// it: the leftovers are theirs, and stay for the new run.
    #[test]
    fn a_requeue_never_waits_for_or_drains_over_its_own_leftovers() {
        let n = FakeNode::new();
        let mut old = job("n1", "carme", 0);
        old.leftover = tries(3, 3);
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &old.to_text().unwrap(),
        )
        .unwrap();
        n.removals.borrow_mut().extend([out_of_time(0)]);
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 1), Path::new(STATE)).unwrap();
        assert!(
            !n.trace().iter().any(|t| t.starts_with("rmtree")),
            "{:?}",
            n.trace()
        );
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));
        assert!(
            log.has(Level::Warning, "by the same user left directories"),
            "{}",
            log.text()
        );
        let rec = NodeJob::parse(&record_text(&n, 42).unwrap()).unwrap();
        assert_eq!(
            (rec.restart, rec.leftover),
            (1, None),
            "the new run's record"
        );
    }

    /// Issue 13 (review): a retry never works in paths another run holds
    /// (the prolog of a requeue, another retry), and a prolog waits for a
    /// retry at most its bound, then goes on.
    #[test]
    fn runs_cleaning_up_after_one_job_id_take_turns() {
        let n = FakeNode::new();
        put_record(&n, 42, tries(1, 0));
        n.locked.borrow_mut().insert(42);
        let log = MemoryLog::default();
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 50, Duration::from_secs(5));
        assert!(
            !n.trace().iter().any(|t| t.starts_with("rmtree")),
            "{:?}",
            n.trace()
        );
        assert!(
            log.has(Level::Info, "another run is at them"),
            "{}",
            log.text()
        );
        assert!(record_text(&n, 42).is_some(), "left to the other run");

        // The requeue's prolog: another run holds job 42 past the bound.
        let mut old = job("n1", "carme", 0);
        old.leftover = tries(1, 0);
        let n = FakeNode::new();
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &old.to_text().unwrap(),
        )
        .unwrap();
        n.locked.borrow_mut().insert(42);
        let log = MemoryLog::default();
        let t0 = n.elapsed();
        jobprep::prepare(&n, &log, &job("n1", "carme", 1), Path::new(STATE)).unwrap();
        assert!(n.elapsed() - t0 >= jobclean::EPILOG_RETRY, "did not wait");
        assert!(
            log.has(Level::Warning, "another run still cleans up"),
            "{}",
            log.text()
        );
        assert!(!n.trace().iter().any(|t| t.starts_with("drain")));
    }

    #[test]
    fn the_same_jobs_record_is_its_own() {
        // The prolog run again for the same attempt: nothing is removed.
        let n = FakeNode::new();
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &job("n1", "carme", 0).to_text().unwrap(),
        )
        .unwrap();
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 0), Path::new(STATE)).unwrap();
        assert!(!n.trace().iter().any(|t| t.starts_with("rmtree")));
        // A requeued attempt is a new one: the earlier attempt's go first.
        let log = MemoryLog::default();
        jobprep::prepare(&n, &log, &job("n1", "carme", 1), Path::new(STATE)).unwrap();
        assert!(n.trace().iter().any(|t| t.starts_with("rmtree")));
    }

    #[test]
    fn a_record_replaced_meanwhile_is_left_to_its_new_owner() {
        // While job 50's epilog retries the ended job 42, the prolog of a
        // new job 42 cleans up after it and writes its own record.
        let n = FakeNode::new();
        let mut old = job("n1", "carme", 0);
        old.uid = 2000;
        old.leftover = tries(1, 0);
        n.write_root_file(
            &Path::new(STATE).join("job-42.node"),
            &old.to_text().unwrap(),
        )
        .unwrap();
        *n.during_removal.borrow_mut() = Some(Box::new(|n: &FakeNode| {
            n.write_root_file(
                &Path::new(STATE).join("job-42.node"),
                &job("n1", "carme", 0).to_text().unwrap(),
            )
            .unwrap();
            n.root_file(&format!("{STATE}/job-42"));
        }));
        *n.removal.borrow_mut() = Some(complete(3));
        let log = MemoryLog::default();
        jobclean::retry_leftovers(&n, &log, Path::new(STATE), 50, Duration::from_secs(5));
        assert_eq!(
            NodeJob::parse(&record_text(&n, 42).unwrap()).unwrap(),
            job("n1", "carme", 0),
            "the new job's record was overwritten"
        );
        assert!(log.has(Level::Info, "changed meanwhile"), "{}", log.text());
        assert!(
            n.has_file(&format!("{STATE}/job-42")),
            "the new job's job record went"
        );
    }

    #[test]
    fn the_prologs_record_and_its_question_to_slurmctld_go_through_the_node() {
        use carme_core::beeond_fallback::without_beeond;
        let n = FakeNode::new();
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        *n.lacking.borrow_mut() = Ok(vec!["n2".into()]);
        let ask = || n.nodes_without_feature(&nodes, "beeond");
        let why = without_beeond("carme", "carme", "beeond", ask).unwrap();
        assert!(
            why.contains("node(s) n2 lack the feature 'beeond'"),
            "{why}"
        );
        *n.lacking.borrow_mut() = Err("scontrol timed out".into());
        let ask = || n.nodes_without_feature(&nodes, "beeond");
        let why = without_beeond("carme", "carme", "beeond", ask).unwrap();
        assert!(
            why.contains("could not be checked: scontrol timed out"),
            "{why}"
        );
        // A constraint that names the feature: slurmctld is not asked.
        let ask = || n.nodes_without_feature(&nodes, "beeond");
        assert_eq!(without_beeond("carme&beeond", "carme", "beeond", ask), None);

        let rec = JobRecord {
            job_id: 42,
            uid: 1000,
            gid: 1000,
            constraint: "carme".into(),
            account: None,
            gpus: None,
            until: None,
        };
        n.write_record(Path::new(STATE), &rec).unwrap();
        assert!(n.remove_job_record(Path::new(STATE), 42).unwrap());
        assert!(!n.remove_job_record(Path::new(STATE), 42).unwrap());
        assert_eq!(
            n.trace(),
            [
                "lacking beeond: n1,n2",
                "lacking beeond: n1,n2",
                "record job 42 in /run/carme/n1",
                "unrecord job 42 in /run/carme/n1",
                "unrecord job 42 in /run/carme/n1",
            ]
        );
    }
}
