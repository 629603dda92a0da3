//! The step's view of the device dir (`/dev`) without the GPUs it was not
//! given: the host's nodes cannot be deleted (every job and the host share
//! them), so the step gets its own directory over `device_dir` that has
//! every entry of the original except the hidden ones.
//!
//! How, and why so:
//! - The view is a fresh tmpfs, filled at `staging` (an existing root-owned
//!   directory outside `device_dir`, e.g. the state dir; covered only for a
//!   moment and only in the new namespace), then remounted read-only and
//!   moved over `device_dir` with one `MS_MOVE`. While it is filled the
//!   original is still at `device_dir` to read and bind from; no copy of
//!   the original (hidden nodes included) is ever mounted elsewhere, so
//!   there is nothing to detach afterwards and no failure that leaves one
//!   reachable.
//! - Char and block devices are re-created with `mknod` (same type,
//!   major:minor, owner, mode): one cheap call each instead of one bind
//!   mount per node (/dev has a few hundred entries; that many mounts per
//!   step would bloat every mount table read in the job). A re-created
//!   node opens the same driver. Lost: ACLs/xattrs on nodes and nodes that
//!   appear after the step starts (a snapshot, as in containers).
//! - Directories are bind-mounted recursively: they may be mount points
//!   (/dev/pts, /dev/mqueue, /dev/hugepages) or trees kept up to date by
//!   udev (disk/by-*, dri, input, net, vfio), and a recursive bind keeps
//!   them live with their submounts. /dev/ptmx is re-created as a node; the
//!   kernel opens the devpts instance at its sibling `pts`, which is the
//!   bound devpts, so ptys work.
//! - Symlinks (fd, stdin, core, log, …) are re-created: a bind mount would
//!   follow them.
//! - Regular files, FIFOs and sockets are bind-mounted onto an empty file:
//!   a re-created FIFO or socket would be a new, unconnected object.
//! - The entry where the step's shm tmpfs goes (`/dev/shm`) becomes an
//!   empty directory with the original's owner and mode, not a bind of the
//!   host's: other jobs' shared memory is not even underneath. The step's
//!   tmpfs is mounted there after the move (mounting the view first would
//!   cover it).
//! - Read-only: device nodes on a read-only mount still open for writing
//!   (the kernel skips that check for special files), but nothing can be
//!   created there, in particular not by the setuid `nvidia-modprobe` that
//!   libcuda runs to create missing `/dev/nvidiaN` nodes, which would
//!   otherwise re-create a hidden GPU's node. So every node a job needs
//!   must exist when the step starts (create /dev/nvidia-uvm at boot:
//!   nvidia-persistenced or `nvidia-modprobe -u -c0`).
//!
//! Only top-level entries are hidden: /dev/nvidia-caps (MIG) and the
//! /dev/dri nodes of NVIDIA GPUs come whole with their directories. The
//! view is what the step sees, not a security boundary by itself: a
//! process of the user outside this namespace (an ssh session adopted by
//! pam_slurm_adopt joins the job's cgroup, not this namespace) sees the
//! host's /dev. Slurm's `ConstrainDevices=yes` is what enforces.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::namespace::{NamespaceError, check_target, failed};
use crate::syscall::{DevEntry, Kind, Syscall};

/// The device dir a step sees, without the entries named in `hide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub device_dir: PathBuf,
    /// An existing root-owned directory outside `device_dir`, covered for
    /// a moment in the new namespace while the view is built.
    pub staging: PathBuf,
    /// Entry names to leave out (from [`crate::gpus::plan_gpus`]).
    pub hide: Vec<String>,
}

/// What to make for one entry of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewOp {
    /// A char or block device node like the original.
    Node {
        name: OsString,
        kind: Kind,
        major: u32,
        minor: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An empty directory (where the step's own tmpfs will go).
    EmptyDir {
        name: OsString,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A recursive bind of the original directory.
    BindDir {
        name: OsString,
    },
    /// A bind of the original file, FIFO or socket.
    BindFile {
        name: OsString,
    },
    Symlink {
        name: OsString,
        target: PathBuf,
    },
}

/// The view of `entries` without `hide`; `empty_dir` is the entry that
/// becomes an empty directory (made 1777 root if the original lacks it).
pub fn plan_view(entries: &[DevEntry], hide: &[String], empty_dir: Option<&OsStr>) -> Vec<ViewOp> {
    let mut ops = Vec::new();
    for e in entries {
        let name = e.name.clone();
        let s = &e.stat;
        if Some(name.as_os_str()) == empty_dir && s.kind == Kind::Dir {
            ops.push(ViewOp::EmptyDir {
                name,
                mode: s.mode,
                uid: s.uid,
                gid: s.gid,
            });
            continue;
        }
        if hide.iter().any(|h| OsStr::new(h) == name) {
            continue;
        }
        ops.push(match s.kind {
            Kind::Char | Kind::Block => ViewOp::Node {
                name,
                kind: s.kind,
                major: s.major,
                minor: s.minor,
                mode: s.mode,
                uid: s.uid,
                gid: s.gid,
            },
            Kind::Dir => ViewOp::BindDir { name },
            Kind::Symlink => ViewOp::Symlink {
                name,
                target: e.link.clone().unwrap_or_default(),
            },
            Kind::File | Kind::Fifo | Kind::Socket => ViewOp::BindFile { name },
        });
    }
    if let Some(n) = empty_dir
        && !entries
            .iter()
            .any(|e| e.name == n && e.stat.kind == Kind::Dir)
    {
        ops.push(ViewOp::EmptyDir {
            name: n.to_os_string(),
            mode: 0o1777,
            uid: 0,
            gid: 0,
        });
    }
    ops
}

/// Set owner (when not root, which mknod/mkdir by root already gave) and
/// the exact mode (mknod/mkdir apply the umask).
fn own(sys: &dyn Syscall, p: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), NamespaceError> {
    if uid != 0 || gid != 0 {
        sys.chown(p, uid, gid).map_err(failed(
            format!("cannot chown {} to {uid}:{gid}", p.display()),
            p,
        ))?;
    }
    sys.chmod(p, mode).map_err(failed(
        format!("cannot chmod {} to {mode:o}", p.display()),
        p,
    ))
}

fn apply(sys: &dyn Syscall, dev: &Path, stage: &Path, op: &ViewOp) -> Result<(), NamespaceError> {
    match op {
        ViewOp::Node {
            name,
            kind,
            major,
            minor,
            mode,
            uid,
            gid,
        } => {
            let p = stage.join(name);
            sys.mknod(&p, *kind, *mode, *major, *minor).map_err(failed(
                format!(
                    "cannot create device node {} ({kind:?} {major}:{minor}) for {}",
                    p.display(),
                    dev.join(name).display()
                ),
                &p,
            ))?;
            own(sys, &p, *mode, *uid, *gid)
        }
        ViewOp::EmptyDir {
            name,
            mode,
            uid,
            gid,
        } => {
            let p = stage.join(name);
            sys.mkdir(&p, *mode)
                .map_err(failed(format!("cannot create {}", p.display()), &p))?;
            own(sys, &p, *mode, *uid, *gid)
        }
        ViewOp::BindDir { name } => {
            let (src, p) = (dev.join(name), stage.join(name));
            sys.mkdir(&p, 0o755)
                .map_err(failed(format!("cannot create {}", p.display()), &p))?;
            sys.mount(
                Some(&src),
                &p,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(failed(
                format!("cannot bind-mount {} onto {}", src.display(), p.display()),
                &src,
            ))
        }
        ViewOp::BindFile { name } => {
            let (src, p) = (dev.join(name), stage.join(name));
            sys.mknod(&p, Kind::File, 0o600, 0, 0)
                .map_err(failed(format!("cannot create {}", p.display()), &p))?;
            sys.mount(Some(&src), &p, None, MsFlags::MS_BIND, None)
                .map_err(failed(
                    format!("cannot bind-mount {} onto {}", src.display(), p.display()),
                    &src,
                ))
        }
        ViewOp::Symlink { name, target } => {
            let p = stage.join(name);
            sys.symlink(target, &p).map_err(failed(
                format!(
                    "cannot create symlink {} -> {}",
                    p.display(),
                    target.display()
                ),
                &p,
            ))
        }
    }
}

/// Build the view and move it over `device_dir` (in the current mount
/// namespace, which must already be the step's own).
pub fn build_view(
    sys: &dyn Syscall,
    view: &DeviceView,
    empty_dir: Option<&OsStr>,
) -> Result<(), NamespaceError> {
    let dev = &view.device_dir;
    let stage = &view.staging;
    let st = check_target(sys, dev, false)?;
    sys.ensure_root_dir(stage, 0o700)
        .map_err(|why| NamespaceError::Refused {
            path: stage.clone(),
            why: why.to_string(),
        })?;
    let entries = sys
        .list_dir(dev)
        .map_err(failed(format!("cannot list {}", dev.display()), dev))?;
    let ops = plan_view(&entries, &view.hide, empty_dir);

    let data = format!("mode={:o}", st.mode);
    sys.mount(
        Some(Path::new("tmpfs")),
        stage,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some(&data),
    )
    .map_err(failed(
        format!(
            "cannot mount the device view's tmpfs on {}",
            stage.display()
        ),
        stage,
    ))?;
    for op in &ops {
        apply(sys, dev, stage, op)?;
    }
    // Per-mount flags only (MS_BIND): submounts such as pts stay writable.
    sys.mount(
        None,
        stage,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
        None,
    )
    .map_err(failed(
        format!(
            "cannot make the device view at {} read-only",
            stage.display()
        ),
        stage,
    ))?;
    sys.mount(Some(stage), dev, None, MsFlags::MS_MOVE, None)
        .map_err(failed(
            format!(
                "cannot move the device view from {} onto {}",
                stage.display(),
                dev.display()
            ),
            dev,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::Stat;

    fn os(s: &str) -> OsString {
        s.into()
    }

    #[test]
    fn what_is_recreated_and_what_is_bound() {
        let entries = vec![
            DevEntry::char("null", 1, 3, 0o666),
            DevEntry::new(
                "sda",
                Stat {
                    major: 8,
                    minor: 0,
                    ..Stat::new(Kind::Block, 0o660, 0, 6)
                },
            ),
            DevEntry::char("nvidia0", 195, 0, 0o666),
            DevEntry::char("nvidia1", 195, 1, 0o666),
            DevEntry::new("pts", Stat::dir(0o755, 0, 0)),
            DevEntry::new("shm", Stat::dir(0o1777, 0, 0)),
            DevEntry::symlink("fd", "/proc/self/fd"),
            DevEntry::new("log", Stat::new(Kind::Socket, 0o666, 0, 0)),
            DevEntry::new("initctl", Stat::new(Kind::Fifo, 0o600, 0, 0)),
        ];
        let ops = plan_view(&entries, &["nvidia1".into()], Some(OsStr::new("shm")));
        assert_eq!(
            ops,
            vec![
                ViewOp::Node {
                    name: os("null"),
                    kind: Kind::Char,
                    major: 1,
                    minor: 3,
                    mode: 0o666,
                    uid: 0,
                    gid: 0
                },
                ViewOp::Node {
                    name: os("sda"),
                    kind: Kind::Block,
                    major: 8,
                    minor: 0,
                    mode: 0o660,
                    uid: 0,
                    gid: 6
                },
                ViewOp::Node {
                    name: os("nvidia0"),
                    kind: Kind::Char,
                    major: 195,
                    minor: 0,
                    mode: 0o666,
                    uid: 0,
                    gid: 0
                },
                ViewOp::BindDir { name: os("pts") },
                ViewOp::EmptyDir {
                    name: os("shm"),
                    mode: 0o1777,
                    uid: 0,
                    gid: 0
                },
                ViewOp::Symlink {
                    name: os("fd"),
                    target: "/proc/self/fd".into()
                },
                ViewOp::BindFile { name: os("log") },
                ViewOp::BindFile {
                    name: os("initctl")
                },
            ]
        );
    }

    #[test]
    fn missing_shm_dir_is_made() {
        let ops = plan_view(
            &[DevEntry::char("null", 1, 3, 0o666)],
            &[],
            Some(OsStr::new("shm")),
        );
        assert_eq!(
            ops.last(),
            Some(&ViewOp::EmptyDir {
                name: os("shm"),
                mode: 0o1777,
                uid: 0,
                gid: 0
            })
        );
        // Without an empty dir asked for, the host's shm is bound like any dir.
        let ops = plan_view(&[DevEntry::new("shm", Stat::dir(0o1777, 0, 0))], &[], None);
        assert_eq!(ops, vec![ViewOp::BindDir { name: os("shm") }]);
    }
}
