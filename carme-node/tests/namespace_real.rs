//! The step namespace for real, as root: each test prepares a temp dir
//! tree on the host, runs this test binary again as a child process
//! (`CARME_NS_CHILD=<scenario>`, only the `child_entry` test) that builds
//! the namespace with `LinuxSyscall` and checks it from inside, then checks
//! from the host that nothing leaked. The machine's /dev, /tmp and /dev/shm
//! are never mount targets: every path is a temp dir (the real-/dev test
//! only reads /dev, through a bind inside the child's namespace).
//!
//! In the child, the test harness runs `child_entry` in a thread of its
//! own; `unshare(CLONE_NEWNS)` moves only that thread (as in slurmstepd,
//! which has threads too), so the child checks everything from it and reads
//! `/proc/thread-self/mountinfo`, not `/proc/self/…` (the main thread's).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use carme_node::devview::DeviceView;
use carme_node::gpus::plan_gpus;
use carme_node::namespace::{
    JobDir, NamespaceError, Shm, StepNamespace, build, build_held, ensure_job_dir, enter_held,
};
use carme_node::syscall::{Kind, LinuxSyscall, Syscall};
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

const CHILD: &str = "CARME_NS_CHILD";
const ROOT: &str = "CARME_NS_ROOT";
const JOB: u32 = 4242;
const NOBODY: u32 = 65534;
const SHM_BYTES: u64 = 4 << 20;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests build real mount namespaces and device nodes: run them as root \
         (make test does)"
    );
}

/// A fresh root-owned 0755 temp dir for one test.
fn test_root(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("carme-nsreal-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir(&d).unwrap();
    chmod(&d, 0o755);
    d
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(p: &Path, mode: u32) {
    fs::create_dir(p).unwrap();
    chmod(p, mode);
}

fn char_node(p: &Path, major: u64, minor: u64, mode: u32, gid: u32) {
    mknod(p, SFlag::S_IFCHR, Mode::empty(), makedev(major, minor)).unwrap();
    nix::unistd::chown(p, None, Some(nix::unistd::Gid::from_raw(gid))).unwrap();
    chmod(p, mode);
}

/// One line of mountinfo: mount point, per-mount options, fs type, fs options.
#[derive(Debug)]
struct Mount {
    point: String,
    opts: String,
    fstype: String,
    super_opts: String,
}

fn mounts(mountinfo: &str) -> Vec<Mount> {
    fs::read_to_string(mountinfo)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-").unwrap();
            Mount {
                point: f[4].to_string(),
                opts: f[5].to_string(),
                fstype: f[sep + 1].to_string(),
                super_opts: f[sep + 3].to_string(),
            }
        })
        .collect()
}

/// The mount on top at `point` in the child's (thread's) namespace.
fn mount_at(point: &Path) -> Mount {
    let p = point.to_str().unwrap();
    mounts("/proc/thread-self/mountinfo")
        .into_iter()
        .rfind(|m| m.point == p)
        .unwrap_or_else(|| panic!("nothing mounted at {p}"))
}

fn host_mountinfo() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Run `scenario` in a child process; panic with its output if it failed.
fn run_child(scenario: &str, root: &Path) -> String {
    let before = host_mountinfo();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .env(ROOT, root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing of the child's namespace reached the host's mount table.
    let after = host_mountinfo();
    let r = root.to_str().unwrap();
    let leaked: Vec<_> = after
        .difference(&before)
        .filter(|l| {
            l.contains(r)
                || [" /tmp ", " /dev ", " /dev/shm "]
                    .iter()
                    .any(|p| l.contains(p))
        })
        .collect();
    assert!(leaked.is_empty(), "{scenario} leaked mounts: {leaked:?}");
    assert!(
        !after.iter().any(|l| l.contains(r)),
        "{scenario}: host mounts under {r}"
    );
    stdout
}

/// The fake node: a device dir with four GPUs, shared NVIDIA nodes and one
/// entry of every kind; the job's bases; fake /tmp; staging.
fn fake_node(root: &Path) {
    let dev = root.join("dev");
    mkdir(&dev, 0o755);
    for n in 0..4 {
        char_node(&dev.join(format!("nvidia{n}")), 195, n, 0o666, 0);
    }
    // Owner and mode kept: group video (44), 0660.
    chmod(&dev.join("nvidia1"), 0o660);
    nix::unistd::chown(
        &dev.join("nvidia1"),
        None,
        Some(nix::unistd::Gid::from_raw(44)),
    )
    .unwrap();
    char_node(&dev.join("nvidiactl"), 195, 255, 0o666, 0);
    char_node(&dev.join("nvidia-uvm"), 511, 0, 0o666, 0);
    char_node(&dev.join("null"), 1, 3, 0o666, 0);
    mkdir(&dev.join("shm"), 0o1777);
    mkdir(&dev.join("sub"), 0o755);
    fs::write(dev.join("sub/hello"), "hello").unwrap();
    mkdir(&dev.join("mnt"), 0o755);
    std::os::unix::fs::symlink("/proc/self/fd", dev.join("fd")).unwrap();
    fs::write(dev.join("data"), "payload").unwrap();
    nix::unistd::mkfifo(&dev.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    mkdir(&root.join("stage"), 0o700);
    mkdir(&root.join("tmpbase"), 0o711);
    mkdir(&root.join("scratchbase"), 0o711);
    mkdir(&root.join("tmp"), 0o1777);
    mkdir(&root.join("shm"), 0o1777);
}

fn step(root: &Path, hide: Option<Vec<String>>) -> StepNamespace {
    let dev = root.join("dev");
    StepNamespace {
        job_id: JOB,
        uid: NOBODY,
        gid: NOBODY,
        tmp: JobDir {
            base: root.join("tmpbase"),
            target: root.join("tmp"),
        },
        scratch: Some(JobDir {
            base: root.join("scratchbase"),
            target: root.join("scratch"),
        }),
        shm: Shm {
            target: if hide.is_some() {
                dev.join("shm")
            } else {
                root.join("shm")
            },
            bytes: SHM_BYTES,
        },
        devices: hide.map(|hide| DeviceView {
            device_dir: dev,
            staging: root.join("stage"),
            hide,
        }),
    }
}

fn check_shm(target: &Path) {
    let m = mount_at(target);
    assert_eq!(m.fstype, "tmpfs");
    assert!(
        m.opts.contains("nosuid") && m.opts.contains("nodev"),
        "{m:?}"
    );
    assert!(m.super_opts.contains("size=4096k"), "{m:?}");
    let vfs = nix::sys::statvfs::statvfs(target).unwrap();
    assert_eq!(vfs.blocks() * vfs.fragment_size(), SHM_BYTES);
    // tmpfs leaves its default mode=1777 out of mountinfo: stat it.
    let st = fs::metadata(target).unwrap();
    assert_eq!(st.mode() & 0o7777, 0o1777);
}

// ---- child side -------------------------------------------------------

/// The child's entry point: does nothing unless run by `run_child`.
#[test]
fn child_entry() {
    let Ok(scenario) = std::env::var(CHILD) else {
        return;
    };
    let root = PathBuf::from(std::env::var(ROOT).unwrap());
    match scenario.as_str() {
        "fake_dev" => child_fake_dev(&root),
        "write_tmp" => child_write_tmp(&root),
        "read_tmp" => child_read_tmp(&root),
        "fail_midway" => child_fail_midway(&root),
        "real_dev" => child_real_dev(&root),
        "held" => child_held(&root),
        "held_fails" => child_held_fails(&root),
        s => panic!("unknown scenario {s}"),
    }
    println!("child {scenario}: all checks passed");
}

fn child_fake_dev(root: &Path) {
    let sys = LinuxSyscall;
    let dev = root.join("dev");
    // Like /dev/pts: a submount the view must carry. Mounted in a namespace
    // of the child's own, so the host never sees it.
    sys.unshare_mount_ns().unwrap();
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )
    .unwrap();
    sys.mount(
        Some(Path::new("tmpfs")),
        &dev.join("mnt"),
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=64k"),
    )
    .unwrap();
    fs::write(dev.join("mnt/inner"), "inner").unwrap();

    let entries = sys.list_dir(&dev).unwrap();
    let plan = plan_gpus(&entries, &[1, 3], None, true).unwrap();
    assert_eq!(plan.hide, ["nvidia0", "nvidia2"]);
    assert_eq!(
        plan.env[0],
        ("CUDA_VISIBLE_DEVICES".into(), Some("0,1".into()))
    );

    build(&sys, &step(root, Some(plan.hide.clone()))).unwrap();

    // GPUs: only the job's, plus the shared nodes.
    let nv: Vec<_> = names(&dev)
        .into_iter()
        .filter(|n| n.starts_with("nvidia"))
        .collect();
    assert_eq!(nv, ["nvidia-uvm", "nvidia1", "nvidia3", "nvidiactl"]);
    for hidden in ["nvidia0", "nvidia2"] {
        let e = fs::File::open(dev.join(hidden)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{hidden}");
    }
    let st = fs::symlink_metadata(dev.join("nvidia1")).unwrap();
    assert_eq!(sys.lstat(&dev.join("nvidia1")).unwrap().kind, Kind::Char);
    assert_eq!(
        (st.rdev(), st.mode() & 0o7777, st.uid(), st.gid()),
        (makedev(195, 1), 0o660, 0, 44)
    );
    // The node is there (no driver behind 195 here, so not NotFound but ENXIO).
    let e = fs::File::open(dev.join("nvidia3")).unwrap_err();
    assert_ne!(e.kind(), std::io::ErrorKind::NotFound);

    // The view is read-only, yet devices in it still work for writing.
    let mut null = fs::OpenOptions::new()
        .write(true)
        .open(dev.join("null"))
        .unwrap();
    null.write_all(b"discarded").unwrap();
    let e = fs::write(dev.join("new"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(nix::libc::EROFS));
    let e = mknod(
        &dev.join("nvidia0"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(195, 0),
    )
    .unwrap_err();
    assert_eq!(
        e,
        nix::errno::Errno::EROFS,
        "a hidden node cannot be re-created"
    );
    assert!(
        mount_at(&dev).opts.starts_with("ro,"),
        "{:?}",
        mount_at(&dev)
    );

    // Every other kind of entry came along.
    assert_eq!(fs::read_to_string(dev.join("sub/hello")).unwrap(), "hello");
    assert_eq!(fs::read_to_string(dev.join("mnt/inner")).unwrap(), "inner");
    assert_eq!(
        fs::read_link(dev.join("fd")).unwrap(),
        Path::new("/proc/self/fd")
    );
    assert_eq!(fs::read_to_string(dev.join("data")).unwrap(), "payload");
    assert_eq!(sys.lstat(&dev.join("fifo")).unwrap().kind, Kind::Fifo);

    // The step's shm, in the view.
    check_shm(&dev.join("shm"));
    fs::write(dev.join("shm/seg"), "shm").unwrap();

    // The job's /tmp and scratch.
    let tmp = root.join("tmp");
    let st = fs::metadata(&tmp).unwrap();
    assert_eq!(
        (st.uid(), st.gid(), st.mode() & 0o7777),
        (NOBODY, NOBODY, 0o700)
    );
    fs::write(tmp.join("from-step"), "step").unwrap();
    let scratch = root.join("scratch");
    assert_eq!(fs::metadata(&scratch).unwrap().uid(), NOBODY);
    fs::write(scratch.join("result"), "r").unwrap();
    println!("plan env: {:?}", plan.env);
}

fn child_write_tmp(root: &Path) {
    build(&LinuxSyscall, &step(root, None)).unwrap();
    fs::write(root.join("tmp/note"), "from step 0").unwrap();
    check_shm(&root.join("shm"));
    fs::write(root.join("shm/seg0"), "x").unwrap();
}

fn child_read_tmp(root: &Path) {
    build(&LinuxSyscall, &step(root, None)).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("tmp/note")).unwrap(),
        "from step 0"
    );
    // Each step has its own shm.
    check_shm(&root.join("shm"));
    assert!(
        names(&root.join("shm")).is_empty(),
        "step 0's shm is not step 1's"
    );
}

fn child_fail_midway(root: &Path) {
    // The device view and shm get mounted, then the tmp target is missing.
    fs::remove_dir(root.join("tmp")).unwrap_or(());
    let e = build(&LinuxSyscall, &step(root, Some(vec!["nvidia0".into()]))).unwrap_err();
    let tmp = root.join("tmp");
    assert!(
        matches!(&e, NamespaceError::Failed { path, .. } if *path == tmp),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "mount point {}: No such file or directory (os error 2)",
            tmp.display()
        )
    );
    // Inside the half-built namespace the view is there; the parent checks
    // the host saw none of it.
    assert!(!root.join("dev/nvidia0").exists());
    println!("error as logged: {e}");
}

fn child_real_dev(root: &Path) {
    let sys = LinuxSyscall;
    let dev = root.join("dev");
    // The real /dev, read through a bind in the child's own namespace.
    sys.unshare_mount_ns().unwrap();
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )
    .unwrap();
    sys.mount(
        Some(Path::new("/dev")),
        &dev,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .unwrap();
    let host = names(Path::new("/dev"));
    // Hide a node this machine surely has but no test needs.
    let hidden = ["tty9", "tty1", "loop0"]
        .into_iter()
        .find(|n| host.contains(*n))
        .expect("a tty or loop node in /dev")
        .to_string();

    let t = Instant::now();
    build(&sys, &step(root, Some(vec![hidden.clone()]))).unwrap();
    println!(
        "built over the real /dev ({} entries) in {:?}",
        host.len(),
        t.elapsed()
    );

    let mut want = host.clone();
    want.remove(&hidden);
    assert_eq!(names(&dev), want, "every entry but the hidden one");
    assert!(fs::symlink_metadata(dev.join(&hidden)).is_err());

    fs::OpenOptions::new()
        .write(true)
        .open(dev.join("null"))
        .unwrap()
        .write_all(b"x")
        .unwrap();
    let mut zero = [1u8; 16];
    fs::File::open(dev.join("zero"))
        .unwrap()
        .read_exact(&mut zero)
        .unwrap();
    assert_eq!(zero, [0; 16]);
    let mut rnd = [0u8; 16];
    fs::File::open(dev.join("urandom"))
        .unwrap()
        .read_exact(&mut rnd)
        .unwrap();
    // ptmx finds its devpts through the sibling pts, which is the bound one.
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev.join("ptmx"))
        .expect("a pty from the view's ptmx");
    assert_eq!(mount_at(&dev.join("pts")).fstype, "devpts");
    if host.contains("mqueue") && mount_at(Path::new("/dev/mqueue")).fstype == "mqueue" {
        assert_eq!(mount_at(&dev.join("mqueue")).fstype, "mqueue");
    }
    check_shm(&dev.join("shm"));
    assert!(
        names(&dev.join("shm")).is_empty(),
        "a fresh shm, not the host's"
    );
    assert_eq!(
        fs::read_link(dev.join("fd")).unwrap(),
        Path::new("/proc/self/fd")
    );
    assert!(!names(&dev.join("fd")).is_empty());
}

/// The thread's mount namespace, as /proc names it (`mnt:[4026531841]`).
fn thread_ns() -> PathBuf {
    fs::read_link("/proc/thread-self/ns/mnt").unwrap()
}

fn child_held(root: &Path) {
    let sys = LinuxSyscall;
    let host = thread_ns();
    let cwd = root.join("dev");
    std::env::set_current_dir(&cwd).unwrap();
    let held = build_held(&sys, &step(root, Some(vec!["nvidia0".into()]))).unwrap();
    // Back in the host's namespace and working directory: the host's view
    // of the mount points, the hidden GPU there.
    assert_eq!(thread_ns(), host);
    assert_eq!(std::env::current_dir().unwrap(), cwd);
    assert!(root.join("dev/nvidia0").exists());
    assert!(!root.join(format!("tmp/{JOB}")).exists());
    assert!(
        mounts("/proc/thread-self/mountinfo")
            .iter()
            .all(|m| !m.point.starts_with(root.to_str().unwrap()))
    );
    // A second build: each held namespace is its own.
    let other = build_held(&sys, &step(root, None)).unwrap();
    assert_eq!(thread_ns(), host);

    // What a task does: enter the held one, where the step's mounts are.
    enter_held(&sys, &held).unwrap();
    let inside = thread_ns();
    assert_ne!(inside, host);
    assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
    assert!(!root.join("dev/nvidia0").exists());
    check_shm(&root.join("dev/shm"));
    let st = fs::metadata(root.join("tmp")).unwrap();
    assert_eq!((st.uid(), st.mode() & 0o7777), (NOBODY, 0o700));
    fs::write(root.join("tmp/task"), "task").unwrap();
    enter_held(&sys, &other).unwrap();
    assert_ne!(thread_ns(), inside);
    assert!(root.join("dev/nvidia0").exists());
    println!("held namespaces: host {host:?}, step {inside:?}");
}

fn child_held_fails(root: &Path) {
    let host = thread_ns();
    fs::remove_dir(root.join("tmp")).unwrap_or(());
    let e = build_held(&LinuxSyscall, &step(root, Some(vec!["nvidia0".into()]))).unwrap_err();
    assert!(e.to_string().starts_with("mount point "), "{e}");
    // Back on the host after the failure.
    assert_eq!(thread_ns(), host);
    assert!(root.join("dev/nvidia0").exists());
}

// ---- host side --------------------------------------------------------

#[test]
fn fake_gpus_are_hidden_and_nothing_leaks() {
    require_root();
    let root = test_root("fake");
    fake_node(&root);
    let out = run_child("fake_dev", &root);
    assert!(out.contains("all checks passed"), "{out}");

    // The host's device dir is whole; its submount was the child's only.
    let dev = root.join("dev");
    for n in 0..4 {
        assert!(fs::symlink_metadata(dev.join(format!("nvidia{n}"))).is_ok());
    }
    assert!(names(&dev.join("mnt")).is_empty());
    assert!(names(&dev.join("shm")).is_empty());
    // What the step wrote went to the job's dirs, not to the mount points.
    assert!(names(&root.join("tmp")).is_empty());
    let job_tmp = root.join(format!("tmpbase/{JOB}"));
    assert_eq!(
        fs::read_to_string(job_tmp.join("from-step")).unwrap(),
        "step"
    );
    let job_scratch = root.join(format!("scratchbase/{JOB}"));
    let st = fs::metadata(&job_scratch).unwrap();
    assert_eq!(
        (st.uid(), st.gid(), st.mode() & 0o7777),
        (NOBODY, NOBODY, 0o700)
    );
    assert!(job_scratch.join("result").exists());
    // The scratch mount point was created and stays, root's and empty.
    let st = fs::metadata(root.join("scratch")).unwrap();
    assert_eq!((st.uid(), st.mode() & 0o7777), (0, 0o755));
    assert!(names(&root.join("scratch")).is_empty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn steps_share_the_jobs_tmp_but_not_shm() {
    require_root();
    let root = test_root("steps");
    fake_node(&root);
    run_child("write_tmp", &root);
    run_child("read_tmp", &root);
    assert!(root.join(format!("tmpbase/{JOB}/note")).exists());
    assert!(names(&root.join("shm")).is_empty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_failure_midway_leaves_the_host_untouched() {
    require_root();
    let root = test_root("fail");
    fake_node(&root);
    let out = run_child("fail_midway", &root);
    assert!(out.contains("error as logged: mount point"), "{out}");
    assert!(root.join("dev/nvidia0").exists());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn real_dev_view_keeps_what_jobs_need() {
    require_root();
    let root = test_root("realdev");
    mkdir(&root.join("dev"), 0o755);
    mkdir(&root.join("stage"), 0o700);
    mkdir(&root.join("tmpbase"), 0o711);
    mkdir(&root.join("scratchbase"), 0o711);
    mkdir(&root.join("tmp"), 0o1777);
    let before = names(Path::new("/dev"));
    let out = run_child("real_dev", &root);
    print!("{out}");
    assert_eq!(
        names(Path::new("/dev")),
        before,
        "the host's /dev is unchanged"
    );
    assert!(names(&root.join("dev")).is_empty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_held_namespace_leaves_the_builder_on_the_host() {
    require_root();
    let root = test_root("held");
    fake_node(&root);
    let out = run_child("held", &root);
    assert!(out.contains("all checks passed"), "{out}");
    // What the "task" wrote is in the job's dir.
    let note = root.join(format!("tmpbase/{JOB}/task"));
    assert_eq!(fs::read_to_string(note).unwrap(), "task");
    run_child("held_fails", &root);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn job_dirs_are_made_safely() {
    require_root();
    let root = test_root("jobdirs");
    let sys = LinuxSyscall;
    let base = root.join("base");

    // Made on demand (the base too), the job's, 0700; again is a no-op.
    let d = ensure_job_dir(&sys, &base, 7, NOBODY, NOBODY).unwrap();
    let st = fs::metadata(&d).unwrap();
    assert_eq!(
        (st.uid(), st.gid(), st.mode() & 0o7777),
        (NOBODY, NOBODY, 0o700)
    );
    assert_eq!(fs::metadata(&base).unwrap().mode() & 0o7777, 0o711);
    // The user's own choice of mode stays.
    chmod(&d, 0o750);
    ensure_job_dir(&sys, &base, 7, NOBODY, NOBODY).unwrap();
    assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o750);

    // Someone else's dir is not taken over.
    let e = ensure_job_dir(&sys, &base, 7, 1000, 1000).unwrap_err();
    assert!(e.to_string().contains("belongs to uid 65534"), "{e}");

    // A symlink in its place is refused and not followed.
    let elsewhere = root.join("elsewhere");
    mkdir(&elsewhere, 0o755);
    std::os::unix::fs::symlink(&elsewhere, base.join("8")).unwrap();
    let e = ensure_job_dir(&sys, &base, 8, NOBODY, NOBODY).unwrap_err();
    assert!(e.to_string().contains("is a Symlink"), "{e}");
    let st = fs::metadata(&elsewhere).unwrap();
    assert_eq!((st.uid(), st.mode() & 0o7777), (0, 0o755));

    // Bases open to others or not root's are refused.
    let open = root.join("open");
    mkdir(&open, 0o777);
    let e = ensure_job_dir(&sys, &open, 1, NOBODY, NOBODY).unwrap_err();
    assert!(matches!(e, NamespaceError::Refused { .. }), "{e}");
    let users = root.join("users");
    mkdir(&users, 0o755);
    nix::unistd::chown(&users, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let e = ensure_job_dir(&sys, &users, 1, NOBODY, NOBODY).unwrap_err();
    assert!(e.to_string().contains("not a root-owned directory"), "{e}");
    assert!(!users.join("1").exists());
    fs::remove_dir_all(&root).unwrap();
}
