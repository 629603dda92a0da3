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
    sys.ensure_root_dir(base, 0o711)
        .map_err(|e| refused(base)(e.to_string()))?;
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
mod tests;
