//! The mount namespace of one Carme job step: what [`StepNamespace`] asks
//! for, [`build_held`], which makes it through a [`Syscall`] and keeps it
//! for the step's tasks, and [`enter_held`], which moves a task into it.
//!
//! Where it runs: the namespace is built once per step in slurmstepd, as
//! root, in the main thread. In Slurm 22.05 that is the remote
//! `slurm_spank_init_post_opt`, before `_fork_all_tasks`. slurmstepd itself
//! stays in the host's namespace: whatever it does later (munge, the
//! step's output files, other plugins) must see the host, not the job's
//! /tmp, /dev/shm and /dev (a munge socket under /tmp made a step unable
//! to report its end). So the main thread unshares (the kernel gives it its
//! own fs_struct; slurmstepd's other threads are never affected), builds,
//! holds the new namespace open, and returns to the host's namespace and
//! its working directory. Each task enters the held namespace in its
//! forked child, as root, before Slurm drops privileges and changes to the
//! task's working directory (`task_init_privileged`), as Slurm's own
//! job_container/tmpfs does in `_pre_task_child_privileged`. The handle is
//! a descriptor in slurmstepd's memory, not a file: the namespace lives as
//! long as slurmstepd or one of the step's processes, and nothing is left
//! to clean up when the step ends, however it ends.
//!
//! Order, and why:
//! 1. `unshare(CLONE_NEWNS)`, then `/` rslave: host mounts still propagate
//!    in, nothing mounted here propagates out. Nothing is mounted before
//!    this succeeded. ([`build_held`] first holds the host's namespace and
//!    working directory open, to return to.)
//! 2. The device view ([`crate::devview`]), before the shm tmpfs, which
//!    usually lives inside it (/dev/shm) and would be covered by it.
//! 3. The shm tmpfs: fresh per step, `mode=1777,size=<bytes>`, nosuid,nodev.
//! 4. Scratch, then /tmp last: the job's directories belong to the user, so
//!    once one is mounted, paths through its target are the user's to
//!    shape; binding them last keeps every other path resolving through
//!    root's directories (e.g. a scratch base under /tmp).
//!
//! Safety: every path is checked in the view where it is used, right
//! before it is used, and the checks ask for what no user can change
//! afterwards: bases and the parents of mount points must be real,
//! root-owned directories closed to others
//! ([`crate::state::ensure_root_dir`]); mount points and job directories
//! are checked with `lstat`, never followed. A job directory is
//! `<base>/<jobid>`, owned by the job's uid and gid, mode 0700, made here
//! when the prolog has not (all steps of the job share it, so step 1 sees
//! what step 0 wrote); one of another uid is refused, not taken over.
//! Mount points of the job's directories must exist, except the scratch
//! target, which is created (root, 0755, stays on the host like any mount
//! point) when its parent is root's: admins need not prepare every node.
//!
//! When something fails, [`build`] returns at once with the operation and
//! path. What it mounted so far lives in the new namespace only (step 1
//! guarantees it): nothing leaks to the host, and [`build_held`] returns
//! to the host's namespace and drops the new one, which disappears with
//! it; the step must then fail (the plugin refuses it). Directories
//! created on the way (job dirs, the scratch mount point) stay; the epilog
//! removes job dirs.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::devview::{self, DeviceView};
use crate::syscall::{Handle, Kind, Stat, Syscall};

/// A per-job directory `<base>/<jobid>` mounted at `target` (e.g. /tmp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDir {
    pub base: PathBuf,
    pub target: PathBuf,
}

/// The step's own tmpfs (e.g. at /dev/shm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shm {
    pub target: PathBuf,
    pub bytes: u64,
}

/// Everything [`build`] needs, explicit (no config lookups in here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepNamespace {
    pub job_id: u32,
    pub uid: u32,
    pub gid: u32,
    pub tmp: JobDir,
    pub scratch: Option<JobDir>,
    pub shm: Shm,
    pub devices: Option<DeviceView>,
}

/// Why a step's namespace could not be built; the message says which
/// operation on which path.
#[derive(Debug)]
pub enum NamespaceError {
    /// The inputs are not usable; nothing was done.
    Invalid(String),
    /// A path is not safe to use (owner, mode, type).
    Refused { path: PathBuf, why: String },
    /// An operation failed. `op` names it with its paths; `path` is the
    /// one it failed on (empty for unshare).
    Failed {
        op: String,
        path: PathBuf,
        err: io::Error,
    },
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceError::Invalid(m) => write!(f, "step namespace: {m}"),
            NamespaceError::Refused { path, why } => write!(f, "{}: {why}", path.display()),
            NamespaceError::Failed { op, err, .. } => write!(f, "{op}: {err}"),
        }
    }
}

impl std::error::Error for NamespaceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NamespaceError::Failed { err, .. } => Some(err),
            _ => None,
        }
    }
}

/// Map an io::Error of `op` on `path`.
pub(crate) fn failed(op: String, path: &Path) -> impl FnOnce(io::Error) -> NamespaceError {
    let path = path.to_path_buf();
    move |err| NamespaceError::Failed { op, path, err }
}

fn refused(path: &Path) -> impl FnOnce(String) -> NamespaceError {
    let path = path.to_path_buf();
    move |why| NamespaceError::Refused { path, why }
}

/// `<base>/<jobid>`.
pub fn job_dir_path(base: &Path, job_id: u32) -> PathBuf {
    base.join(job_id.to_string())
}

/// Make sure `<base>/<jobid>` exists as the job's own directory (see the
/// module doc) and return its path. Also for the prolog.
pub fn ensure_job_dir(
    sys: &dyn Syscall,
    base: &Path,
    job_id: u32,
    uid: u32,
    gid: u32,
) -> Result<PathBuf, NamespaceError> {
    // 0711: users reach their own dir by path (e.g. from an ssh session
    // outside the step) but cannot list the others.
    sys.ensure_root_dir(base, 0o711).map_err(refused(base))?;
    let dir = job_dir_path(base, job_id);
    let stat_err = |e| failed(format!("cannot lstat {}", dir.display()), &dir)(e);
    let st = match sys.lstat(&dir) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match sys.mkdir(&dir, 0o700) {
            Ok(()) => return give_to_job(sys, dir, uid, gid),
            // Another step of the job, or the prolog, was faster.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                sys.lstat(&dir).map_err(stat_err)?
            }
            Err(e) => return Err(failed(format!("cannot create {}", dir.display()), &dir)(e)),
        },
        Err(e) => return Err(stat_err(e)),
    };
    if st.kind != Kind::Dir {
        return Err(NamespaceError::Refused {
            path: dir,
            why: format!("is a {:?}, not a directory; refusing to use it", st.kind),
        });
    }
    if st.uid == uid {
        // The user's own: its mode is theirs to choose.
        return Ok(dir);
    }
    if st.uid == 0 {
        // Created but not yet handed over by a concurrent creator.
        return give_to_job(sys, dir, uid, gid);
    }
    Err(NamespaceError::Refused {
        path: dir,
        why: format!(
            "belongs to uid {}, not to the job's uid {uid} (left over from an earlier \
             job with this id?); refusing to use it",
            st.uid
        ),
    })
}

fn give_to_job(
    sys: &dyn Syscall,
    dir: PathBuf,
    uid: u32,
    gid: u32,
) -> Result<PathBuf, NamespaceError> {
    sys.chown(&dir, uid, gid).map_err(failed(
        format!("cannot chown {} to {uid}:{gid}", dir.display()),
        &dir,
    ))?;
    sys.chmod(&dir, 0o700).map_err(failed(
        format!("cannot chmod {} to 700", dir.display()),
        &dir,
    ))?;
    Ok(dir)
}

/// A mount point must be a real root-owned directory whose parents are
/// root's (so no one can redirect the mount); `create` makes a missing one.
pub(crate) fn check_target(
    sys: &dyn Syscall,
    target: &Path,
    create: bool,
) -> Result<Stat, NamespaceError> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    sys.ensure_root_dir(parent, 0o755)
        .map_err(|why| NamespaceError::Refused {
            path: target.to_path_buf(),
            why: format!("its parent is unsafe: {why}"),
        })?;
    match sys.lstat(target) {
        Ok(st) if st.kind == Kind::Dir && st.uid == 0 => Ok(st),
        Ok(st) => Err(NamespaceError::Refused {
            path: target.to_path_buf(),
            why: format!(
                "mount point is a {:?} owned by uid {}, not a root-owned directory; \
                 refusing to mount there",
                st.kind, st.uid
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            sys.mkdir(target, 0o755).map_err(failed(
                format!("cannot create mount point {}", target.display()),
                target,
            ))?;
            sys.chmod(target, 0o755).map_err(failed(
                format!("cannot chmod {} to 755", target.display()),
                target,
            ))?;
            Ok(Stat::dir(0o755, 0, 0))
        }
        Err(e) => Err(failed(format!("mount point {}", target.display()), target)(
            e,
        )),
    }
}

fn plain_absolute(what: &str, p: &Path) -> Result<(), NamespaceError> {
    let plain = p.is_absolute()
        && p.parent().is_some()
        && !p
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    if plain {
        Ok(())
    } else {
        Err(NamespaceError::Invalid(format!(
            "{what} {} is not a plain absolute path below /",
            p.display()
        )))
    }
}

/// Check the inputs alone (no I/O): paths, sizes, overlaps.
pub fn validate(ns: &StepNamespace) -> Result<(), NamespaceError> {
    let mut targets = vec![
        ("tmp target", &ns.tmp.target),
        ("shm target", &ns.shm.target),
    ];
    plain_absolute("tmp base", &ns.tmp.base)?;
    if let Some(s) = &ns.scratch {
        plain_absolute("scratch base", &s.base)?;
        targets.push(("scratch target", &s.target));
    }
    if let Some(d) = &ns.devices {
        plain_absolute("staging dir", &d.staging)?;
        targets.push(("device dir", &d.device_dir));
        if d.staging.starts_with(&d.device_dir) || d.device_dir.starts_with(&d.staging) {
            return Err(NamespaceError::Invalid(format!(
                "staging dir {} and device dir {} must not contain each other",
                d.staging.display(),
                d.device_dir.display()
            )));
        }
    }
    for (i, (what, t)) in targets.iter().enumerate() {
        plain_absolute(what, t)?;
        if let Some((other, _)) = targets[..i].iter().find(|(_, o)| o == t) {
            return Err(NamespaceError::Invalid(format!(
                "{what} and {other} are both {}",
                t.display()
            )));
        }
    }
    if ns.shm.bytes == 0 {
        // tmpfs reads size=0 as "unlimited".
        return Err(NamespaceError::Invalid(
            "shm size 0 would be an unlimited tmpfs".into(),
        ));
    }
    Ok(())
}

fn bind_job_dir(
    sys: &dyn Syscall,
    ns: &StepNamespace,
    jd: &JobDir,
    create_target: bool,
) -> Result<(), NamespaceError> {
    let src = ensure_job_dir(sys, &jd.base, ns.job_id, ns.uid, ns.gid)?;
    check_target(sys, &jd.target, create_target)?;
    sys.mount(Some(&src), &jd.target, None, MsFlags::MS_BIND, None)
        .map_err(failed(
            format!(
                "cannot bind-mount {} onto {}",
                src.display(),
                jd.target.display()
            ),
            &jd.target,
        ))
}

/// Put the calling thread into a new mount namespace made as `ns` says
/// (see the module doc for the order and what a failure leaves).
pub fn build(sys: &dyn Syscall, ns: &StepNamespace) -> Result<(), NamespaceError> {
    validate(ns)?;
    unshare(sys)?;
    populate(sys, ns)
}

fn unshare(sys: &dyn Syscall) -> Result<(), NamespaceError> {
    sys.unshare_mount_ns().map_err(failed(
        "cannot create the step's mount namespace (unshare CLONE_NEWNS)".into(),
        Path::new(""),
    ))
}

/// Everything after `unshare`, in the order of the module doc.
fn populate(sys: &dyn Syscall, ns: &StepNamespace) -> Result<(), NamespaceError> {
    let root = Path::new("/");
    sys.mount(None, root, None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None)
        .map_err(failed(
            "cannot make / rslave in the step's namespace".into(),
            root,
        ))?;

    if let Some(view) = &ns.devices {
        let shm_entry = match ns.shm.target.parent() {
            Some(p) if p == view.device_dir => ns.shm.target.file_name(),
            _ => None,
        };
        devview::build_view(sys, view, shm_entry)?;
    }

    check_target(sys, &ns.shm.target, false)?;
    let data = format!("mode=1777,size={}", ns.shm.bytes);
    sys.mount(
        Some(Path::new("tmpfs")),
        &ns.shm.target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&data),
    )
    .map_err(failed(
        format!(
            "cannot mount the step's tmpfs ({data}) on {}",
            ns.shm.target.display()
        ),
        &ns.shm.target,
    ))?;

    if let Some(s) = &ns.scratch {
        bind_job_dir(sys, ns, s, true)?;
    }
    bind_job_dir(sys, ns, &ns.tmp, false)
}

/// Build the step's namespace as [`build`] does, but leave the calling
/// thread where it was (the host's namespace, its working directory) and
/// return the new namespace, held open for the step's tasks to enter
/// ([`enter_held`]). Whatever fails, the thread is back in the host's
/// namespace when this returns, unless going back itself failed (the
/// error says so).
pub fn build_held(sys: &dyn Syscall, ns: &StepNamespace) -> Result<Handle, NamespaceError> {
    validate(ns)?;
    let here = Path::new("");
    let host = sys.open_mount_ns().map_err(failed(
        "cannot open the host's mount namespace (/proc/thread-self/ns/mnt)".into(),
        here,
    ))?;
    let cwd = sys
        .open_cwd()
        .map_err(failed("cannot open the working directory".into(), here))?;
    // Nothing to go back from when unshare fails: the thread is where it was.
    unshare(sys)?;
    // A panic must not unwind past the way back to the host's namespace
    // (the plugin's FFI guard would catch it with slurmstepd still inside).
    let populated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| populate(sys, ns)))
        .unwrap_or_else(|_| {
            Err(failed(
                "building the step's namespace panicked".into(),
                here,
            )(io::Error::other("panic")))
        });
    let built = populated.and_then(|()| {
        sys.open_mount_ns().map_err(failed(
            "cannot open the step's mount namespace (/proc/thread-self/ns/mnt)".into(),
            here,
        ))
    });
    // Back to the host, also after a failure: slurmstepd must never stay
    // in a job's namespace.
    let back = sys
        .enter_mount_ns(&host)
        .map_err(failed(
            "cannot return to the host's mount namespace (setns CLONE_NEWNS); \
             this thread stays in the step's"
                .into(),
            here,
        ))
        .and_then(|()| {
            sys.fchdir(&cwd).map_err(failed(
                "cannot return to the working directory after setns".into(),
                here,
            ))
        });
    match (built, back) {
        (built, Ok(())) => built,
        // Both: the admin needs the first failure too.
        (Err(first), Err(NamespaceError::Failed { op, path, err })) => {
            Err(NamespaceError::Failed {
                op: format!("{first}; then {op}"),
                path,
                err,
            })
        }
        (_, Err(e)) => Err(e),
    }
}

/// Move the calling thread (a task's child of slurmstepd, as root) into
/// the step's namespace from [`build_held`]. Its working directory becomes
/// the namespace's `/`; Slurm changes to the task's own afterwards, as the
/// user, so the path resolves in the step's namespace.
pub fn enter_held(sys: &dyn Syscall, step: &Handle) -> Result<(), NamespaceError> {
    sys.enter_mount_ns(step).map_err(failed(
        "cannot enter the step's mount namespace (setns CLONE_NEWNS)".into(),
        Path::new(""),
    ))
}

#[cfg(test)]
mod tests {
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
            e.starts_with("cannot create device node /var/lib/carme/nvidiactl (Char 195:255) for /dev/nvidiactl"),
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
                !sys.calls().iter().any(
                    |c| matches!(c, Call::Mount { target, .. } if target == Path::new("/tmp"))
                )
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
}
