//! The prolog's and epilog's node work for real, as root, in temp dirs
//! under /var/lib (root's: BeeOND's status dir may have no sticky or
//! user-writable parent): the symlink-safe removal of job trees (every kind of
//! entry a user can make, mounts inside, unsafe bases), and the BeeOND
//! orchestration with [`LinuxNode`] against small shell-script beeonds
//! (mounting a tmpfs, failing, hanging) — the lazy-unmount fallback and
//! the killing of a hanging start's process group included. Each test
//! unmounts what it mounted, also when it fails.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carme_core::config::Config;
use carme_node::jobclean::{self, Source};
use carme_node::joblog::{Level, MemoryLog};
use carme_node::jobprep;
use carme_node::mounts::is_mounted;
use carme_node::nodejob::{self, JobFacts, NodeJob};
use carme_node::nodeops::LinuxNode;
use carme_node::rmtree::{MAX_DEPTH, Removal, remove_job_dir};

const UID: u32 = 54321;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests remove trees as root and mount tmpfs: run them as root (make test does)"
    );
}

/// A root-owned 0755 temp dir; on drop, whatever is mounted below it is
/// lazily unmounted and it is removed.
struct TestRoot(PathBuf);

impl TestRoot {
    fn new(name: &str) -> TestRoot {
        require_root();
        let d = PathBuf::from(format!("/var/lib/carme-pe-{name}-{}", std::process::id()));
        let t = TestRoot(d);
        t.cleanup();
        fs::create_dir(&t.0).unwrap();
        chmod(&t.0, 0o755);
        t
    }

    fn cleanup(&self) {
        let prefix = format!("{}/", self.0.display());
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut points: Vec<PathBuf> = carme_node::mounts::mount_points(&info)
            .into_iter()
            .filter(|p| p.to_string_lossy().starts_with(&prefix))
            .collect();
        points.sort();
        for p in points.iter().rev() {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32) {
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        p,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn tmpfs(p: &Path) {
    nix::mount::mount(
        Some("tmpfs"),
        p,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Root's things outside the job tree, to check they survive.
struct Outside {
    dir: PathBuf,
    file: PathBuf,
}

impl Outside {
    fn new(root: &Path) -> Outside {
        let dir = root.join("outside");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o750);
        let file = dir.join("secret");
        fs::write(&file, "root's\n").unwrap();
        chmod(&file, 0o600);
        Outside { dir, file }
    }

    fn intact(&self) {
        let md = fs::metadata(&self.file).unwrap();
        assert_eq!(fs::read_to_string(&self.file).unwrap(), "root's\n");
        assert_eq!(
            (md.uid(), md.mode() & 0o7777, md.nlink()),
            (0, 0o600, 1),
            "outside file changed"
        );
        let md = fs::metadata(&self.dir).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o750));
        assert_eq!(fs::read_dir(&self.dir).unwrap().count(), 1);
    }
}

/// `<root>/base` (root, 0711) with the job dir `42` owned by UID.
fn job_tree(root: &Path) -> (PathBuf, PathBuf) {
    let base = root.join("base");
    fs::create_dir(&base).unwrap();
    chmod(&base, 0o711);
    let job = base.join("42");
    fs::create_dir(&job).unwrap();
    chmod(&job, 0o700);
    chown(&job, UID);
    (base, job)
}

fn complete(r: Removal) -> carme_node::rmtree::TreeReport {
    match r {
        Removal::Tree(t) => {
            assert!(t.complete, "{t:?}");
            assert_eq!(t.problem_count, 0, "{t:?}");
            t
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn removes_every_kind_of_entry_and_follows_nothing() {
    let root = TestRoot::new("kinds");
    let out = Outside::new(&root.0);
    let (base, job) = job_tree(&root.0);
    let j = |p: &str| job.join(p);
    std::os::unix::fs::symlink(&out.dir, j("dirlink")).unwrap();
    std::os::unix::fs::symlink(&out.file, j("filelink")).unwrap();
    std::os::unix::fs::symlink("/", j("rootlink")).unwrap();
    std::os::unix::fs::symlink("../../outside", j("rel")).unwrap();
    fs::hard_link(&out.file, j("hardlink")).unwrap();
    nix::unistd::mkfifo(&j("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(j("sock")).unwrap();
    // Odd names.
    fs::write(j("with\nnewline"), "x").unwrap();
    fs::write(j(" space "), "x").unwrap();
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(job.join(std::ffi::OsStr::from_bytes(b"bad\xffutf8")), "x").unwrap();
    }
    // Unreadable and unwritable directories, a file without permissions.
    fs::create_dir_all(j("locked/inner")).unwrap();
    fs::write(j("locked/inner/f"), "x").unwrap();
    chmod(&j("locked/inner"), 0o000);
    chmod(&j("locked"), 0o000);
    fs::write(j("noperm"), "x").unwrap();
    chmod(&j("noperm"), 0o000);
    // More names than one batch read.
    fs::create_dir(j("many")).unwrap();
    for i in 0..5000 {
        fs::write(j(&format!("many/f{i}")), "").unwrap();
    }
    // Deeper than MAX_DEPTH, with links at the bottom.
    let mut deep = j("deep");
    for i in 0..(3 * MAX_DEPTH) {
        deep.push(format!("d{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    std::os::unix::fs::symlink(&out.dir, deep.join("down-there")).unwrap();
    fs::write(deep.join("f"), "x").unwrap();
    assert_eq!(fs::metadata(&out.file).unwrap().nlink(), 2);

    let r = complete(remove_job_dir(&base, "42", UID, later()).unwrap());
    assert!(!job.exists());
    assert!(r.removed > 5000 + 3 * MAX_DEPTH as u64, "{r:?}");
    assert_eq!((r.detached, r.mounts_left), (0, 0));
    out.intact();
    assert!(Path::new("/etc/passwd").exists());
    // Again: nothing there.
    assert_eq!(
        remove_job_dir(&base, "42", UID, later()).unwrap(),
        Removal::Absent
    );
}

#[test]
fn entries_in_place_of_the_job_dir() {
    let root = TestRoot::new("place");
    let out = Outside::new(&root.0);
    let (base, job) = job_tree(&root.0);
    fs::remove_dir(&job).unwrap();
    // A symlink to root's directory: the link goes, the target stays.
    std::os::unix::fs::symlink(&out.dir, &job).unwrap();
    assert_eq!(
        remove_job_dir(&base, "42", UID, later()).unwrap(),
        Removal::OddEntryRemoved {
            kind: "symlink".into()
        }
    );
    assert!(fs::symlink_metadata(&job).is_err());
    out.intact();
    // Another user's directory is not this job's: left alone.
    fs::create_dir(&job).unwrap();
    fs::write(job.join("theirs"), "x").unwrap();
    chown(&job, UID + 1);
    assert_eq!(
        remove_job_dir(&base, "42", UID, later()).unwrap(),
        Removal::Foreign { uid: UID + 1 }
    );
    assert!(job.join("theirs").exists());
    // A root-owned job dir (made, not yet handed over) is the job's.
    chown(&job, 0);
    complete(remove_job_dir(&base, "42", UID, later()).unwrap());
}

#[test]
fn unsafe_bases_are_refused() {
    let root = TestRoot::new("bases");
    let (base, job) = job_tree(&root.0);
    fs::write(job.join("keep"), "x").unwrap();
    // Writable by others.
    chmod(&base, 0o777);
    let e = remove_job_dir(&base, "42", UID, later()).unwrap_err();
    assert!(
        matches!(
            e.unsafe_why(),
            Some(carme_node::error::Unsafe::NotClosedBase { mode: 0o777, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("not a root-owned directory"), "{e}");
    chmod(&base, 0o711);
    // Owned by a user.
    chown(&base, UID);
    assert!(remove_job_dir(&base, "42", UID, later()).is_err());
    chown(&base, 0);
    // Reached through a symlink.
    let link = root.0.join("link");
    std::os::unix::fs::symlink(&base, &link).unwrap();
    assert!(remove_job_dir(&link, "42", UID, later()).is_err());
    assert!(
        job.join("keep").exists(),
        "nothing removed below an unsafe base"
    );
    // Missing: nothing to do.
    assert_eq!(
        remove_job_dir(&root.0.join("nope"), "42", UID, later()).unwrap(),
        Removal::Absent
    );
}

#[test]
fn mounts_inside_are_detached_not_entered() {
    let root = TestRoot::new("mounts");
    let (base, job) = job_tree(&root.0);
    let m = job.join("sub/mnt");
    fs::create_dir_all(&m).unwrap();
    tmpfs(&m);
    fs::write(m.join("on-tmpfs"), "keep").unwrap();
    // Keep the tmpfs reachable to check that its contents stayed.
    let held = nix::fcntl::open(
        &m,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let r = complete(remove_job_dir(&base, "42", UID, later()).unwrap());
    assert_eq!(r.detached, 1);
    assert!(!job.exists());
    let name = CString::new("on-tmpfs").unwrap();
    assert!(
        nix::sys::stat::fstatat(&held, name.as_c_str(), nix::fcntl::AtFlags::empty()).is_ok(),
        "the removal went into the mounted file system"
    );
    // The job dir itself a mount point.
    let (_, job) = {
        fs::create_dir(&job).unwrap();
        chown(&job, UID);
        (base.clone(), job)
    };
    tmpfs(&job);
    let r = complete(remove_job_dir(&base, "42", UID, later()).unwrap());
    assert_eq!(r.detached, 1);
    assert!(!is_mounted(&job).unwrap() && !job.exists());
}

// ---- BeeOND with LinuxNode and scripted beeonds -------------------------------

/// A config for the test root, with `beeond` as the command.
fn config(root: &Path, beeond: &Path, start: &str) -> Config {
    let r = root.display();
    Config::parse(
        &format!(
            r#"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[paths]
state_dir = "{r}/state/%n"
tmp_base = "{r}/tmp/%n"
scratch_base = "{r}/scratch/%n"
log_dir = "{r}/log"
[beeond]
command = "{b}"
data_dir = "{r}/data"
mount_base = "{r}/mnt/%n"
status_dir = "{r}/status"
start_timeout = "{start}"
stop_timeout = "2s"
wait_timeout = "2s"
"#,
            b = beeond.display()
        ),
        Path::new("/test.toml"),
    )
    .unwrap()
}

fn plan(cfg: &Config, node: &str) -> NodeJob {
    nodejob::plan(
        cfg,
        &JobFacts {
            job_id: 42,
            uid: UID,
            gid: UID,
            node: node.into(),
            nodelist: Some("n1".into()),
            constraint: "carme&beeond".into(),
            restart: 0,
            beeond_option: false,
        },
    )
    .unwrap()
}

/// A beeond script: `start` mounts a tmpfs at -c and writes -i; stop and
/// stoplocal exit 1 (doing nothing) unless `stops_work`.
fn script_beeond(root: &Path, start_body: &str, stops_work: bool) -> PathBuf {
    let p = root.join("beeond");
    let stop = if stops_work {
        "umount -l \"$(cat \"$i.mount\")\"; rm -f \"$i\" \"$i.mount\"; exit 0"
    } else {
        "exit 1"
    };
    fs::write(
        &p,
        format!(
            "#!/bin/sh\nact=$1; shift\nc=; i=\nwhile [ $# -gt 0 ]; do case $1 in -c) c=$2; shift;; \
             -i) i=$2; shift;; esac; shift; done\n\
             case $act in\nstart) {start_body} ;;\nstop|stoplocal) {stop} ;;\nesac\n"
        ),
    )
    .unwrap();
    chmod(&p, 0o755);
    p
}

#[test]
fn beeond_on_one_node_start_then_fallback_to_lazy_unmount() {
    let root = TestRoot::new("beeond");
    let b = script_beeond(
        &root.0,
        "mkdir -p \"$c\" && mount -t tmpfs -o size=1m beegfs_ondemand \"$c\" && echo $c > \"$i.mount\" && touch \"$i\"",
        false,
    );
    let cfg = config(&root.0, &b, "10s");
    let job = plan(&cfg, "n1");
    let state = root.0.join("state/n1");
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[("SLURMD_NODENAME", "n1")]);
    let log = MemoryLog::default();
    jobprep::prepare(&ops, &log, &job, &state).unwrap();
    let mount = root.0.join("mnt/n1/42");
    assert!(is_mounted(&mount).unwrap(), "{}", log.text());
    let md = fs::metadata(&mount).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o7777), (UID, 0o700));
    for dir in [root.0.join("tmp/n1/42"), root.0.join("scratch/n1/42")] {
        assert_eq!(fs::metadata(&dir).unwrap().uid(), UID);
    }
    assert_eq!(nodejob::read(&state, 42).unwrap(), Some(job.clone()));
    // The epilog: stop and stoplocal both fail; the mount is unmounted
    // lazily anyway, and the node is clean.
    let log = MemoryLog::default();
    jobclean::clean(&ops, &log, &job, Source::Record, &state).unwrap();
    assert!(!is_mounted(&mount).unwrap());
    assert!(!mount.exists(), "mount point left");
    assert!(
        log.has(Level::Warning, "lazily unmounted"),
        "{}",
        log.text()
    );
    assert!(!root.0.join("tmp/n1/42").exists());
    assert_eq!(nodejob::read(&state, 42).unwrap(), None);
}

/// Issue 13 (critical): a status dir a user can write to (here sticky and
/// world-writable, like /var/tmp) is never used: a status file planted
/// there (naming a root-only directory as BeeGFS data) never reaches
/// beeond, neither in the prolog nor in the epilog, and nothing it names
/// is touched.
#[test]
fn a_user_writable_status_dir_never_reaches_beeond() {
    let root = TestRoot::new("sticky-status");
    let calls = root.0.join("calls");
    let b = root.0.join("beeond");
    fs::write(
        &b,
        format!("#!/bin/sh\necho \"$*\" >> {}\nexit 0\n", calls.display()),
    )
    .unwrap();
    chmod(&b, 0o755);
    let cfg = config(&root.0, &b, "10s");
    let job = plan(&cfg, "n1");
    let state = root.0.join("state/n1");
    let status = root.0.join("status");
    fs::create_dir(&status).unwrap();
    chmod(&status, 0o1777);
    let victim = root.0.join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("precious"), "x").unwrap();
    let planted = &job.beeond.as_ref().unwrap().setup.status_file;
    fs::write(
        planted,
        format!("n1,beegfs-storage,{},-,/nonexistent\n", victim.display()),
    )
    .unwrap();
    chown(planted, UID);
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[("SLURMD_NODENAME", "n1")]);
    let log = MemoryLog::default();
    let f = jobprep::prepare(&ops, &log, &job, &state).unwrap_err();
    assert_eq!(f.short, "carme: unsafe BeeOND status_dir", "{}", f.message);
    assert!(f.message.contains("mode 1777"), "{}", f.message);
    let log = MemoryLog::default();
    jobclean::clean(&ops, &log, &job, Source::Record, &state).unwrap();
    assert!(
        log.has(Level::Error, "beeond stop/stoplocal are not run"),
        "{}",
        log.text()
    );
    assert!(
        !calls.exists(),
        "beeond ran: {:?}",
        fs::read_to_string(&calls)
    );
    assert!(victim.join("precious").exists());
}

/// Issue 13 (review): BeeOND's data dir under a world-writable sticky
/// parent (like a 1777 /local) is refused before any user has created
/// anything there: whether the prolog fails depends on the config alone,
/// never on who created `<parent>/beeond` first.
#[test]
fn beeond_dirs_under_a_sticky_parent_are_refused_whoever_made_them() {
    let root = TestRoot::new("sticky-data");
    let b = script_beeond(&root.0, "exit 0", true);
    let local = root.0.join("local");
    fs::create_dir(&local).unwrap();
    chmod(&local, 0o1777);
    let cfg = config(&root.0, &b, "10s");
    let mut job = plan(&cfg, "n1");
    let bee = job.beeond.as_mut().unwrap();
    bee.setup.data_dir = local.join("beeond/42");
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[("SLURMD_NODENAME", "n1")]);
    let log = MemoryLog::default();
    let state = root.0.join("state/n1");
    let f = jobprep::prepare(&ops, &log, &job, &state).unwrap_err();
    assert_eq!(
        f.short, "carme: unsafe BeeOND data directory",
        "{}",
        f.message
    );
    assert!(f.message.contains("mode 1777"), "{}", f.message);
    assert!(!local.join("beeond").exists(), "made nothing there");
}

#[test]
fn stop_and_stoplocal_that_hang_are_killed_at_their_bounds() {
    // Both hang (a child in the background too): each is killed with its
    // process group at stop_timeout, and the epilog ends within
    // 2 x (stop_timeout + kill grace).
    let root = TestRoot::new("busy");
    let b = script_beeond(&root.0, "exit 0", false);
    fs::write(&b, "#!/bin/sh\nsleep 60 & sleep 60\n").unwrap();
    let cfg = config(&root.0, &b, "10s");
    let job = plan(&cfg, "n1");
    let state = root.0.join("state/n1");
    fs::create_dir_all(root.0.join("status")).unwrap();
    fs::write(&job.beeond.as_ref().unwrap().setup.status_file, "").unwrap();
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[]);
    let log = MemoryLog::default();
    let t = Instant::now();
    jobclean::clean(&ops, &log, &job, Source::Record, &state).unwrap();
    let took = t.elapsed();
    let bound = 2 * (Duration::from_secs(2) + carme_node::bounded::GRACE);
    assert!(took < bound + Duration::from_secs(1), "{took:?}");
    assert!(
        log.has(Level::Warning, "did not finish within 2s and was killed"),
        "{}",
        log.text()
    );
}

#[test]
fn hanging_start_is_killed_with_its_process_group() {
    let root = TestRoot::new("hang");
    let pidfile = root.0.join("child.pid");
    let b = script_beeond(
        &root.0,
        &format!(
            "touch \"$i\"; sleep 60 & echo $! > {}; wait",
            pidfile.display()
        ),
        true,
    );
    let cfg = config(&root.0, &b, "1s");
    let job = plan(&cfg, "n1");
    let state = root.0.join("state/n1");
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[]);
    let log = MemoryLog::default();
    let t = Instant::now();
    let f = jobprep::prepare(&ops, &log, &job, &state).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(1) + carme_node::bounded::GRACE + Duration::from_secs(3)
    );
    assert_eq!(f.short, "carme: BeeOND start timed out after 1s");
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = (0..100).any(|_| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let dead = stat.is_empty() || stat.contains(") Z ");
        if !dead {
            std::thread::sleep(Duration::from_millis(20));
        }
        dead
    });
    assert!(gone, "the start's child {pid} survived");
}

// ---- leftovers after the removal bound (issue 13, item 12) ---------------------

#[test]
fn removal_out_of_time_keeps_the_record_and_a_later_run_finishes() {
    let root = TestRoot::new("left");
    let b = script_beeond(&root.0, "exit 1", false);
    let cfg = config(&root.0, &b, "10s");
    let facts = |job_id| JobFacts {
        job_id,
        uid: UID,
        gid: UID,
        node: "n1".into(),
        nodelist: Some("n1".into()),
        constraint: "carme".into(),
        restart: 0,
        beeond_option: false,
    };
    let job = nodejob::plan(&cfg, &facts(42)).unwrap();
    let state = root.0.join("state/n1");
    // Removing anything takes longer than this node allows (a tree of
    // tens of millions of files in 10 minutes, in small).
    let slow = LinuxNode::new(Path::new("/var/tmp"), &[]).with_remove_bound(Duration::ZERO);
    let log = MemoryLog::default();
    jobprep::prepare(&slow, &log, &job, &state).unwrap();
    let tmp = root.0.join("tmp/n1/42");
    for d in 0..4 {
        fs::create_dir(tmp.join(format!("d{d}"))).unwrap();
        for f in 0..200 {
            fs::write(tmp.join(format!("d{d}/f{f}")), "x").unwrap();
        }
    }
    let log = MemoryLog::default();
    let r = jobclean::clean(&slow, &log, &job, Source::Record, &state).unwrap();
    assert!(matches!(r, jobclean::Cleaned::Left { .. }), "{r:?}");
    assert!(tmp.join("d3/f199").exists());
    let kept = nodejob::read(&state, 42)
        .unwrap()
        .expect("the record of what is left stays");
    assert_eq!(kept.leftover.map(|t| t.tries), Some(1));
    assert!(
        log.has(Level::Error, "the next prolog or epilog of a Carme job"),
        "{}",
        log.text()
    );

    // Job 43's prolog on the node retries, within its own bound.
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[]);
    let log = MemoryLog::default();
    let job43 = nodejob::plan(&cfg, &facts(43)).unwrap();
    jobprep::prepare(&ops, &log, &job43, &state).unwrap();
    jobclean::retry_leftovers(&ops, &log, &state, 43, jobclean::PROLOG_RETRY);
    assert!(!tmp.exists(), "{}", log.text());
    assert!(!root.0.join("scratch/n1/42").exists());
    assert_eq!(nodejob::read(&state, 42).unwrap(), None);
    assert!(
        log.has(Level::Info, "the leftovers of ended job 42 are removed"),
        "{}",
        log.text()
    );
    // Job 43 itself is untouched.
    assert_eq!(nodejob::read(&state, 43).unwrap(), Some(job43));
    assert!(root.0.join("tmp/n1/43").is_dir());
}
