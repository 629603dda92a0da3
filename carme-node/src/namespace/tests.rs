use super::*;
use crate::syscall::{Call, DevEntry, RecordingSyscall};
use nix::errno::Errno;

const UID: u32 = 1000;
const GID: u32 = 100;

fn ns() -> StepNamespace {
    StepNamespace {
        job_id: 42,
        uid: UID,
        gid: GID,
        tmp: JobDir {
            base: "/var/carme/tmp".into(),
            target: "/tmp".into(),
        },
        scratch: Some(JobDir {
            base: "/local/carme".into(),
            target: "/scratch".into(),
        }),
        shm: Shm {
            target: "/dev/shm".into(),
            bytes: 1 << 30,
        },
        devices: Some(DeviceView {
            device_dir: "/dev".into(),
            staging: "/var/lib/carme".into(),
            hide: vec!["nvidia1".into()],
        }),
    }
}

/// A node as it usually is: root's dirs, a small /dev, no job dirs yet.
fn node() -> RecordingSyscall {
    RecordingSyscall::new()
        .with_stat("/tmp", Stat::dir(0o1777, 0, 0))
        .with_stat("/scratch", Stat::dir(0o755, 0, 0))
        .with_stat("/dev", Stat::dir(0o755, 0, 0))
        .with_listing(
            "/dev",
            vec![
                DevEntry::char("null", 1, 3, 0o666),
                DevEntry::char("nvidia0", 195, 0, 0o666),
                DevEntry::char("nvidia1", 195, 1, 0o666),
                DevEntry::char("nvidiactl", 195, 255, 0o666),
                DevEntry::new("pts", Stat::dir(0o755, 0, 0)),
                DevEntry::new("shm", Stat::dir(0o1777, 0, 0)),
                DevEntry::symlink("fd", "/proc/self/fd"),
                DevEntry::char("tty", 5, 0, 0o666),
                // Group tty: the view keeps owners.
                DevEntry::new(
                    "tty1",
                    Stat {
                        gid: 5,
                        ..Stat::char(4, 1, 0o620)
                    },
                ),
            ],
        )
}

fn p(s: &str) -> PathBuf {
    s.into()
}

fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        src: src.map(p),
        target: p(target),
        fstype: fstype.map(str::to_string),
        flags,
        data: data.map(str::to_string),
    }
}

fn erd(dir: &str, mode: u32) -> Call {
    Call::EnsureRootDir { dir: p(dir), mode }
}

fn chmod(path: &str, mode: u32) -> Call {
    Call::Chmod {
        path: p(path),
        mode,
    }
}

fn node_call(path: &str, major: u32, minor: u32, mode: u32) -> Call {
    Call::Mknod {
        path: p(path),
        kind: Kind::Char,
        mode,
        major,
        minor,
    }
}

fn job_dir_calls(base: &str) -> Vec<Call> {
    let dir = format!("{base}/42");
    vec![
        erd(base, 0o711),
        Call::Mkdir {
            path: p(&dir),
            mode: 0o700,
        },
        Call::Chown {
            path: p(&dir),
            uid: UID,
            gid: GID,
        },
        chmod(&dir, 0o700),
    ]
}

#[test]
fn typical_step() {
    let sys = node();
    build(&sys, &ns()).unwrap();
    let st = "/var/lib/carme";
    let mut want = vec![
        Call::UnshareMountNs,
        mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None),
        // The device view.
        erd("/", 0o755),
        erd(st, 0o700),
        mount(
            Some("tmpfs"),
            st,
            Some("tmpfs"),
            MsFlags::MS_NOSUID,
            Some("mode=755"),
        ),
        Call::Symlink {
            target: p("/proc/self/fd"),
            link: p("/var/lib/carme/fd"),
        },
        node_call("/var/lib/carme/null", 1, 3, 0o666),
        chmod("/var/lib/carme/null", 0o666),
        node_call("/var/lib/carme/nvidia0", 195, 0, 0o666),
        chmod("/var/lib/carme/nvidia0", 0o666),
        // nvidia1 is hidden.
        node_call("/var/lib/carme/nvidiactl", 195, 255, 0o666),
        chmod("/var/lib/carme/nvidiactl", 0o666),
        Call::Mkdir {
            path: p("/var/lib/carme/pts"),
            mode: 0o755,
        },
        mount(
            Some("/dev/pts"),
            "/var/lib/carme/pts",
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ),
        Call::Mkdir {
            path: p("/var/lib/carme/shm"),
            mode: 0o1777,
        },
        chmod("/var/lib/carme/shm", 0o1777),
        node_call("/var/lib/carme/tty", 5, 0, 0o666),
        chmod("/var/lib/carme/tty", 0o666),
        node_call("/var/lib/carme/tty1", 4, 1, 0o620),
        Call::Chown {
            path: p("/var/lib/carme/tty1"),
            uid: 0,
            gid: 5,
        },
        chmod("/var/lib/carme/tty1", 0o620),
        mount(
            None,
            st,
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
            None,
        ),
        mount(Some(st), "/dev", None, MsFlags::MS_MOVE, None),
        // The step's shm.
        erd("/dev", 0o755),
        mount(
            Some("tmpfs"),
            "/dev/shm",
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777,size=1073741824"),
        ),
    ];
    want.extend(job_dir_calls("/local/carme"));
    want.extend([
        erd("/", 0o755),
        mount(
            Some("/local/carme/42"),
            "/scratch",
            None,
            MsFlags::MS_BIND,
            None,
        ),
    ]);
    want.extend(job_dir_calls("/var/carme/tmp"));
    want.extend([
        erd("/", 0o755),
        mount(
            Some("/var/carme/tmp/42"),
            "/tmp",
            None,
            MsFlags::MS_BIND,
            None,
        ),
    ]);
    assert_eq!(sys.calls(), want);
}

#[test]
fn minimal_step_with_existing_job_dir() {
    // No devices, no scratch; the prolog made the job's tmp already.
    let (n, sys) = minimal();
    build(&sys, &n).unwrap();
    let mut want = vec![Call::UnshareMountNs];
    want.extend(minimal_mounts());
    assert_eq!(sys.calls(), want);
}

#[test]
fn scratch_target_is_created_when_missing() {
    let mut n = ns();
    n.devices = None;
    let sys = RecordingSyscall::new()
        .with_stat("/tmp", Stat::dir(0o1777, 0, 0))
        .with_stat("/dev/shm", Stat::dir(0o1777, 0, 0));
    build(&sys, &n).unwrap();
    let calls = sys.calls();
    let at = calls
        .iter()
        .position(|c| {
            *c == Call::Mkdir {
                path: p("/scratch"),
                mode: 0o755,
            }
        })
        .expect("creates /scratch");
    assert_eq!(calls[at - 1], erd("/", 0o755), "after checking its parent");
    assert_eq!(calls[at + 1], chmod("/scratch", 0o755));
    // But /tmp must exist.
    let sys = RecordingSyscall::new().with_stat("/dev/shm", Stat::dir(0o1777, 0, 0));
    let e = build(&sys, &n).unwrap_err();
    assert!(
        matches!(&e, NamespaceError::Failed { path, .. } if path == Path::new("/tmp")),
        "{e}"
    );
    assert!(e.to_string().starts_with("mount point /tmp: "), "{e}");
}

#[test]
fn a_failing_mount_names_its_path_and_stops() {
    let sys = node().fail_when(
        |c| matches!(c, Call::Mount { target, .. } if target == Path::new("/scratch")),
        Errno::EPERM,
    );
    let e = build(&sys, &ns()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot bind-mount /local/carme/42 onto /scratch: Operation not permitted (os error 1)"
    );
    assert!(matches!(&e, NamespaceError::Failed { path, .. } if path == Path::new("/scratch")));
    // Nothing after the failure was attempted: /tmp is not mounted.
    let calls = sys.calls();
    assert!(
        matches!(calls.last(), Some(Call::Mount { target, .. }) if target == Path::new("/scratch"))
    );
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::Mount { target, .. } if target == Path::new("/tmp")))
    );
}

#[test]
fn nothing_is_mounted_unless_rslave_worked() {
    // Without rslave, mounts would propagate to the host.
    let sys = node().fail_nth(1, Errno::EINVAL);
    let e = build(&sys, &ns()).unwrap_err();
    assert!(e.to_string().starts_with("cannot make / rslave"), "{e}");
    assert_eq!(sys.calls().len(), 2);
    let sys = node().fail_nth(0, Errno::EPERM);
    let e = build(&sys, &ns()).unwrap_err();
    assert!(e.to_string().contains("unshare CLONE_NEWNS"), "{e}");
    assert_eq!(sys.calls(), vec![Call::UnshareMountNs]);
}

#[test]
fn device_view_errors_name_the_entry() {
    let sys = node().fail_when(
        |c| matches!(c, Call::Mknod { minor: 255, .. }),
        Errno::ENOSPC,
    );
    let e = build(&sys, &ns()).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "cannot create device node /var/lib/carme/nvidiactl (Char 195:255) for /dev/nvidiactl"
        ),
        "{e}"
    );
    let sys = node().fail_when(
        |c| matches!(c, Call::Mount { flags, .. } if flags.contains(MsFlags::MS_MOVE)),
        Errno::EINVAL,
    );
    let e = build(&sys, &ns()).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot move the device view from /var/lib/carme onto /dev"),
        "{e}"
    );
}

#[test]
fn refuses_unsafe_paths() {
    let mut n = ns();
    n.devices = None;
    n.scratch = None;
    // The base fails the root-dir check (the real check's message passes through).
    let sys = RecordingSyscall::new()
        .with_stat("/tmp", Stat::dir(0o1777, 0, 0))
        .with_stat("/dev/shm", Stat::dir(0o1777, 0, 0))
        .fail_when(
            |c| matches!(c, Call::EnsureRootDir { dir, .. } if dir == Path::new("/var/carme/tmp")),
            Errno::EACCES,
        );
    let e = build(&sys, &n).unwrap_err();
    assert!(
        matches!(&e, NamespaceError::Refused { path, .. } if path == Path::new("/var/carme/tmp")),
        "{e}"
    );
    // A job dir of someone else, or a symlink in its place.
    for (st, says) in [
        (
            Stat::dir(0o700, 1001, 100),
            "belongs to uid 1001, not to the job's uid 1000",
        ),
        (
            Stat::new(Kind::Symlink, 0o777, UID, GID),
            "is a Symlink, not a directory",
        ),
    ] {
        let sys = RecordingSyscall::new()
            .with_stat("/tmp", Stat::dir(0o1777, 0, 0))
            .with_stat("/dev/shm", Stat::dir(0o1777, 0, 0))
            .with_stat("/var/carme/tmp/42", st);
        let e = build(&sys, &n).unwrap_err().to_string();
        assert!(
            e.starts_with("/var/carme/tmp/42: ") && e.contains(says),
            "{e}"
        );
        assert!(
            !sys.calls()
                .iter()
                .any(|c| matches!(c, Call::Mount { target, .. } if target == Path::new("/tmp")))
        );
    }
    // A mount point owned by a user, or a symlink.
    let sys = RecordingSyscall::new()
        .with_stat("/tmp", Stat::new(Kind::Symlink, 0o777, UID, GID))
        .with_stat("/dev/shm", Stat::dir(0o1777, 0, 0));
    let e = build(&sys, &n).unwrap_err().to_string();
    assert!(
        e.starts_with("/tmp: mount point is a Symlink owned by uid 1000"),
        "{e}"
    );
}

#[test]
fn root_owned_job_dir_is_handed_over() {
    // A concurrent step made it and has not chowned yet.
    let sys = RecordingSyscall::new().with_stat("/b/7", Stat::dir(0o700, 0, 0));
    let d = ensure_job_dir(&sys, Path::new("/b"), 7, UID, GID).unwrap();
    assert_eq!(d, p("/b/7"));
    assert_eq!(
        sys.calls(),
        vec![
            erd("/b", 0o711),
            Call::Chown {
                path: p("/b/7"),
                uid: UID,
                gid: GID
            },
            chmod("/b/7", 0o700),
        ]
    );
}

#[test]
fn invalid_inputs_do_nothing() {
    type Change = fn(&mut StepNamespace);
    let cases: Vec<(Change, &str)> = vec![
        (|n| n.shm.bytes = 0, "unlimited"),
        (
            |n| n.tmp.base = "var/tmp".into(),
            "tmp base var/tmp is not a plain absolute path",
        ),
        (|n| n.tmp.target = "/".into(), "tmp target / is not"),
        (
            |n| n.shm.target = "/dev/../tmp".into(),
            "shm target /dev/../tmp",
        ),
        (
            |n| n.scratch.as_mut().unwrap().target = "/tmp".into(),
            "scratch target and tmp target are both /tmp",
        ),
        (
            |n| n.devices.as_mut().unwrap().staging = "/dev/stage".into(),
            "must not contain each other",
        ),
    ];
    for (change, says) in cases {
        let mut n = ns();
        change(&mut n);
        let sys = node();
        let e = build(&sys, &n).unwrap_err();
        assert!(matches!(e, NamespaceError::Invalid(_)), "{e}");
        assert!(e.to_string().contains(says), "{e} lacks {says}");
        assert!(sys.calls().is_empty());
    }
}

// ---- build_held / enter_held: slurmstepd stays in the host's namespace

fn minimal() -> (StepNamespace, RecordingSyscall) {
    let mut n = ns();
    n.devices = None;
    n.scratch = None;
    let sys = RecordingSyscall::new()
        .with_stat("/tmp", Stat::dir(0o1777, 0, 0))
        .with_stat("/dev/shm", Stat::dir(0o1777, 0, 0))
        .with_stat("/var/carme/tmp/42", Stat::dir(0o700, UID, GID));
    (n, sys)
}

/// What `build` does for `minimal()` after unshare.
fn minimal_mounts() -> Vec<Call> {
    vec![
        mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None),
        erd("/dev", 0o755),
        mount(
            Some("tmpfs"),
            "/dev/shm",
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777,size=1073741824"),
        ),
        erd("/var/carme/tmp", 0o711),
        erd("/", 0o755),
        mount(
            Some("/var/carme/tmp/42"),
            "/tmp",
            None,
            MsFlags::MS_BIND,
            None,
        ),
    ]
}

#[test]
fn held_namespace_is_built_and_the_thread_returns_to_the_host() {
    let (n, sys) = minimal();
    let step = build_held(&sys, &n).unwrap();
    let mut want = vec![
        // Host namespace (0) and working directory (1), to return to.
        Call::OpenMountNs { id: 0 },
        Call::OpenCwd { id: 1 },
        Call::UnshareMountNs,
    ];
    want.extend(minimal_mounts());
    want.extend([
        // The step's namespace, held for the tasks.
        Call::OpenMountNs { id: 2 },
        Call::EnterMountNs { ns: 0 },
        Call::Fchdir { dir: 1 },
    ]);
    assert_eq!(sys.calls(), want);
    assert_eq!(step.id(), 2);
    // A task enters the held one.
    enter_held(&sys, &step).unwrap();
    assert_eq!(sys.calls().last(), Some(&Call::EnterMountNs { ns: 2 }));
}

#[test]
fn held_build_returns_to_the_host_after_a_failure() {
    let (n, sys) = minimal();
    let sys = sys.fail_when(
        |c| matches!(c, Call::Mount { target, .. } if target == Path::new("/tmp")),
        Errno::EPERM,
    );
    let e = build_held(&sys, &n).unwrap_err();
    assert!(e.to_string().starts_with("cannot bind-mount"), "{e}");
    let calls = sys.calls();
    assert_eq!(
        calls[calls.len() - 2..],
        [Call::EnterMountNs { ns: 0 }, Call::Fchdir { dir: 1 }]
    );
    assert!(!calls.contains(&Call::OpenMountNs { id: 2 }), "{calls:?}");
}

#[test]
fn held_build_stays_put_when_unshare_fails() {
    // setns would fail anyway: the thread still shares its fs_struct.
    let (n, sys) = minimal();
    let sys = sys.fail_when(|c| *c == Call::UnshareMountNs, Errno::EPERM);
    let e = build_held(&sys, &n).unwrap_err();
    assert!(e.to_string().contains("unshare CLONE_NEWNS"), "{e}");
    assert_eq!(
        sys.calls(),
        [
            Call::OpenMountNs { id: 0 },
            Call::OpenCwd { id: 1 },
            Call::UnshareMountNs
        ]
    );
}

#[test]
fn held_build_says_when_it_cannot_go_back() {
    let (n, sys) = minimal();
    let sys = sys
        .fail_when(|c| matches!(c, Call::EnterMountNs { .. }), Errno::EINVAL)
        .fail_when(
            |c| matches!(c, Call::Mount { target, .. } if target == Path::new("/tmp")),
            Errno::EPERM,
        );
    let e = build_held(&sys, &n).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot bind-mount /var/carme/tmp/42 onto /tmp: Operation not permitted")
            && e.contains("; then cannot return to the host's mount namespace"),
        "{e}"
    );
    // Without the earlier failure, only the way back is reported.
    let (n, sys) = minimal();
    let sys = sys.fail_when(|c| matches!(c, Call::Fchdir { .. }), Errno::ENOENT);
    let e = build_held(&sys, &n).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot return to the working directory"),
        "{e}"
    );
}

#[test]
fn held_build_checks_inputs_before_opening_anything() {
    let (mut n, sys) = minimal();
    n.shm.bytes = 0;
    assert!(matches!(
        build_held(&sys, &n),
        Err(NamespaceError::Invalid(_))
    ));
    assert!(sys.calls().is_empty());
}

#[test]
fn entering_names_the_failure() {
    let (n, sys) = minimal();
    let step = build_held(&sys, &n).unwrap();
    let sys = RecordingSyscall::new().fail_nth(0, Errno::EPERM);
    let e = enter_held(&sys, &step).unwrap_err().to_string();
    assert_eq!(
        e,
        "cannot enter the step's mount namespace (setns CLONE_NEWNS): \
             Operation not permitted (os error 1)"
    );
}
