//! Why a root-side operation of carme-node failed: [`NodeError`], with the
//! operation, the path and the `io::Error` (or `Errno`) it ended with, so
//! that callers decide by [`NodeError::kind`], [`NodeError::io_kind`] or
//! [`NodeError::errno`], never by the text.
//!
//! Its `Display` is the message the prolog, the epilog and the plugin log
//! (admins and the e2e tests grep for these texts): each variant keeps the
//! wording the string errors it replaced had.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

use crate::bounded::Exit;
use crate::syscall::Kind as FileKind;

/// What was being done to a path when an `io::Error` came; it also
/// decides how the message reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// open(2)/openat(2) of a file or directory: `PATH: ERR`.
    Open,
    /// lstat/fstat/fstatat: `PATH: ERR`.
    Stat,
    Read,
    Write,
    Rename,
    /// flock(2): `PATH: ERR`.
    Lock,
    /// unlink of a name Carme keeps (records, temp files): `PATH: ERR`.
    Unlink,
    /// mkdir(2): `cannot create PATH: ERR`.
    Create,
    /// unlinkat/rmdir of a job's entry or directory: `cannot remove PATH: ERR`.
    Remove,
    /// openat(2) of the job directory: `cannot open PATH: ERR`.
    OpenEntry,
    /// Reading a directory's entries: `cannot read PATH: ERR`.
    ReadDir,
    /// openat(2) of one component of a trusted directory's path:
    /// `PATH: ERR (a symlink or not a directory?)`.
    Walk,
    /// `umount2(MNT_DETACH)`: `umount -l PATH: ERR`.
    LazyUnmount,
}

/// Why a path is refused (nothing is done with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsafe {
    /// Relative, or with `..` in it.
    NotPlainAbsolute,
    /// A file path without a directory part (`/`).
    NoDirectory,
    /// A path without a parent (`/`).
    NoParent,
    /// A component that is not a root-owned directory closed to others
    /// (a symlink, a file, another owner, writable by others and not sticky).
    NotClosedDir { uid: u32, mode: u32 },
    /// [`Unsafe::NotClosedDir`], above a job directory to remove.
    NotClosedBase { uid: u32, mode: u32 },
    /// A directory just created is not what it should be (a racing creator).
    Changed,
    /// A lock file that is not a root-owned regular file.
    NotRootFile,
    /// A file Carme reads back that is not root's, not regular, or too
    /// large (`mode` is the whole `st_mode`).
    NotCarmes { uid: u32, mode: u32 },
    /// A job log file that is not a root-owned regular file.
    NotRootLog,
    /// Where a mounted file system's root should be.
    NotMountRoot(FileKind),
}

/// The ways a child process computing one answer ([`crate::bounded::collect_answer`]) fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildFailure {
    /// No whole answer within the bound (the child was killed).
    NoAnswer(Duration),
    /// It sent more than this many bytes (killed).
    TooLarge(usize),
    Poll(Errno),
    Read(Errno),
    /// It closed its answer but did not exit (killed).
    NoExit,
    Exited(i32),
    Killed(Signal),
    Ended(WaitStatus),
    Waitpid(Errno),
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildFailure::NoAnswer(t) => write!(f, "no answer within {} s", t.as_secs_f32()),
            ChildFailure::TooLarge(max) => write!(f, "the answer is larger than {max} bytes"),
            ChildFailure::Poll(e) => write!(f, "poll: {e}"),
            ChildFailure::Read(e) => write!(f, "read: {e}"),
            ChildFailure::NoExit => f.write_str("it closed its answer but did not exit"),
            ChildFailure::Exited(c) => write!(f, "exit status {c}"),
            ChildFailure::Killed(s) => write!(f, "killed by {s}"),
            ChildFailure::Ended(w) => write!(f, "ended as {w:?}"),
            ChildFailure::Waitpid(e) => write!(f, "waitpid: {e}"),
        }
    }
}

impl std::error::Error for ChildFailure {}

/// Why a carme-node operation failed.
#[derive(Debug)]
pub enum NodeError {
    /// `op` on `path` failed.
    Io {
        op: Op,
        path: PathBuf,
        err: io::Error,
    },
    /// A system call without a path (`pipe`, `fork`).
    Sys { op: &'static str, err: Errno },
    /// Giving a directory (the BeeOND mount's root) to the job's user.
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        err: io::Error,
    },
    /// `path` is not safe to use; nothing was done with it.
    Unsafe { path: PathBuf, why: Unsafe },
    /// BeeOND's status directory cannot be made root's alone (a config
    /// error): `why` is what [`crate::state::ensure_private_root_dir`] said.
    UnsafeStatusDir { dir: PathBuf, why: Box<NodeError> },
    /// Malformed input (from the config, slurmd, scontrol, or a value a
    /// record cannot hold): the text says what.
    Invalid(String),
    /// A record at `path` that does not parse.
    Record { path: PathBuf, why: String },
    /// A record at `path` of another job.
    WrongJob { path: PathBuf, job: u32 },
    /// No scontrol on this node.
    ScontrolMissing,
    /// `scontrol ARGS` ran and failed.
    Scontrol {
        args: String,
        exit: Exit,
        /// The line of its output that best says why.
        reason: Option<String>,
    },
    /// A bounded child computing one answer failed.
    Child(ChildFailure),
    /// The mount table could not be read.
    MountTable(io::Error),
    /// Something stays mounted on `path` after lazy unmounts.
    StillMounted { path: PathBuf },
}

/// [`NodeError`]'s variant, for matching without the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Io,
    Sys,
    Chown,
    Unsafe,
    UnsafeStatusDir,
    Invalid,
    Record,
    WrongJob,
    ScontrolMissing,
    Scontrol,
    /// A bounded child gave no answer within its bound.
    Timeout,
    Child,
    MountTable,
    StillMounted,
}

/// What an operation failed with: an `io::Error`, or a nix `Errno`, which
/// becomes an `io::Error` that still reads as the `Errno` does
/// (`ENOENT: No such file or directory`, as the messages always had it)
/// and still tells its number ([`NodeError::errno`]).
pub trait Cause {
    fn into_io(self) -> io::Error;
}

impl Cause for io::Error {
    fn into_io(self) -> io::Error {
        self
    }
}

impl Cause for Errno {
    fn into_io(self) -> io::Error {
        io::Error::new(io::Error::from(self).kind(), self)
    }
}

impl NodeError {
    /// `op` on `path` failed with `err`.
    pub fn io(op: Op, path: impl Into<PathBuf>, err: impl Cause) -> NodeError {
        NodeError::Io {
            op,
            path: path.into(),
            err: err.into_io(),
        }
    }

    /// For `map_err`: `op` on `path` failed.
    pub fn at<E: Cause>(op: Op, path: &Path) -> impl FnOnce(E) -> NodeError + '_ {
        move |err| NodeError::io(op, path, err)
    }

    pub fn refused(path: impl Into<PathBuf>, why: Unsafe) -> NodeError {
        NodeError::Unsafe {
            path: path.into(),
            why,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::Io { .. } => ErrorKind::Io,
            NodeError::Sys { .. } => ErrorKind::Sys,
            NodeError::Chown { .. } => ErrorKind::Chown,
            NodeError::Unsafe { .. } => ErrorKind::Unsafe,
            NodeError::UnsafeStatusDir { .. } => ErrorKind::UnsafeStatusDir,
            NodeError::Invalid(_) => ErrorKind::Invalid,
            NodeError::Record { .. } => ErrorKind::Record,
            NodeError::WrongJob { .. } => ErrorKind::WrongJob,
            NodeError::ScontrolMissing => ErrorKind::ScontrolMissing,
            NodeError::Scontrol { .. } => ErrorKind::Scontrol,
            NodeError::Child(ChildFailure::NoAnswer(_)) => ErrorKind::Timeout,
            NodeError::Child(_) => ErrorKind::Child,
            NodeError::MountTable(_) => ErrorKind::MountTable,
            NodeError::StillMounted { .. } => ErrorKind::StillMounted,
        }
    }

    /// The `io::Error` it ended with, if one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NodeError::Io { err, .. }
            | NodeError::Chown { err, .. }
            | NodeError::MountTable(err) => Some(err),
            NodeError::UnsafeStatusDir { why, .. } => why.io_error(),
            _ => None,
        }
    }

    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.io_error().map(io::Error::kind)
    }

    /// The system's error number, where one was the cause.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NodeError::Sys { err, .. } => Some(*err),
            NodeError::Child(
                ChildFailure::Poll(e) | ChildFailure::Read(e) | ChildFailure::Waitpid(e),
            ) => Some(*e),
            _ => self.io_error().and_then(|e| {
                e.raw_os_error().map(Errno::from_raw).or_else(|| {
                    e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<Errno>())
                        .copied()
                })
            }),
        }
    }

    /// The path it is about, if one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            NodeError::Io { path, .. }
            | NodeError::Chown { path, .. }
            | NodeError::Unsafe { path, .. }
            | NodeError::Record { path, .. }
            | NodeError::WrongJob { path, .. }
            | NodeError::StillMounted { path } => Some(path),
            NodeError::UnsafeStatusDir { dir, .. } => Some(dir),
            _ => None,
        }
    }

    /// Why the path was refused, for [`ErrorKind::Unsafe`].
    pub fn unsafe_why(&self) -> Option<&Unsafe> {
        match self {
            NodeError::Unsafe { why, .. } => Some(why),
            _ => None,
        }
    }
}

/// `DIR/NAME` as the messages always showed an entry opened below a
/// directory descriptor: byte for byte, a trailing `/` of `dir` kept
/// (`Path::join` would drop it).
pub fn entry_path(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.as_os_str().to_owned();
    p.push("/");
    p.push(name);
    PathBuf::from(p)
}

impl From<ChildFailure> for NodeError {
    fn from(c: ChildFailure) -> NodeError {
        NodeError::Child(c)
    }
}

fn unsafe_text(f: &mut fmt::Formatter<'_>, path: &Path, why: &Unsafe) -> fmt::Result {
    let p = path.display();
    match why {
        Unsafe::NotPlainAbsolute => write!(f, "{p}: not a plain absolute path"),
        Unsafe::NoDirectory => write!(f, "{p}: no directory"),
        Unsafe::NoParent => write!(f, "{p}: no parent"),
        Unsafe::NotClosedDir { uid, mode } => write!(
            f,
            "{p} is not a root-owned directory closed to other users \
             (owner uid {uid}, mode {mode:o}); refusing to use it"
        ),
        Unsafe::NotClosedBase { uid, mode } => write!(
            f,
            "{p} is not a root-owned directory closed to other users (owner uid {uid}, \
             mode {mode:o}); refusing to remove anything below it"
        ),
        Unsafe::Changed => write!(f, "{p} changed under us; refusing it"),
        Unsafe::NotRootFile => write!(f, "{p}: not a root-owned file"),
        Unsafe::NotCarmes { uid, mode } => write!(
            f,
            "{p} was not written by Carme (owner uid {uid}, mode {mode:o})"
        ),
        Unsafe::NotRootLog => write!(f, "{p} is not a root-owned regular file; not writing to it"),
        Unsafe::NotMountRoot(kind) => write!(
            f,
            "{p} is a {kind:?}, not the root of a mounted file system"
        ),
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Io { op, path, err } => {
                let p = path.display();
                match op {
                    Op::Open
                    | Op::Stat
                    | Op::Read
                    | Op::Write
                    | Op::Rename
                    | Op::Lock
                    | Op::Unlink => write!(f, "{p}: {err}"),
                    Op::Create => write!(f, "cannot create {p}: {err}"),
                    Op::Remove => write!(f, "cannot remove {p}: {err}"),
                    Op::OpenEntry => write!(f, "cannot open {p}: {err}"),
                    Op::ReadDir => write!(f, "cannot read {p}: {err}"),
                    Op::Walk => write!(f, "{p}: {err} (a symlink or not a directory?)"),
                    Op::LazyUnmount => write!(f, "umount -l {p}: {err}"),
                }
            }
            NodeError::Sys { op, err } => write!(f, "{op}: {err}"),
            NodeError::Chown {
                path,
                uid,
                gid,
                err,
            } => write!(
                f,
                "cannot give {} to uid {uid} gid {gid}: {err}",
                path.display()
            ),
            NodeError::Unsafe { path, why } => unsafe_text(f, path, why),
            NodeError::UnsafeStatusDir { dir, why } => write!(
                f,
                "config error: [beeond] status_dir {}: {why}. beeond acts as root on what \
                 its status file names, so the directory and all its parents must be \
                 root's, not writable by group or others, and not sticky (default {})",
                dir.display(),
                carme_core::config::DEFAULT_BEEOND_STATUS_DIR
            ),
            NodeError::Invalid(m) => f.write_str(m),
            NodeError::Record { path, why } => write!(f, "{}: {why}", path.display()),
            NodeError::WrongJob { path, job } => {
                write!(f, "{} is for job {job}", path.display())
            }
            NodeError::ScontrolMissing => f.write_str(
                "scontrol not found (looked beside slurmd and in /usr/bin, /usr/local/bin, \
                 /opt/slurm/bin)",
            ),
            NodeError::Scontrol { args, exit, reason } => {
                write!(f, "scontrol {args}: {exit}")?;
                match reason {
                    Some(l) => write!(f, ": {l}"),
                    None => Ok(()),
                }
            }
            NodeError::Child(c) => c.fmt(f),
            NodeError::MountTable(e) => write!(f, "cannot read the mount table: {e}"),
            NodeError::StillMounted { path } => write!(f, "{} is still mounted", path.display()),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NodeError::Io { err, .. }
            | NodeError::Chown { err, .. }
            | NodeError::MountTable(err) => Some(err),
            NodeError::UnsafeStatusDir { why, .. } => Some(why.as_ref()),
            NodeError::Sys { err, .. } => Some(err),
            NodeError::Child(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eio(e: Errno) -> io::Error {
        io::Error::from(e)
    }

    /// Every message, byte for byte as the string errors had it (logs and
    /// the e2e tests grep for them).
    #[test]
    fn messages_are_the_old_texts() {
        let p = || PathBuf::from("/run/carme/n1");
        // An Errno reads as it always did in these messages.
        let io_text = "ENOENT: No such file or directory";
        for (op, want) in [
            (Op::Open, format!("/run/carme/n1: {io_text}")),
            (Op::Stat, format!("/run/carme/n1: {io_text}")),
            (Op::Read, format!("/run/carme/n1: {io_text}")),
            (Op::Write, format!("/run/carme/n1: {io_text}")),
            (Op::Rename, format!("/run/carme/n1: {io_text}")),
            (Op::Lock, format!("/run/carme/n1: {io_text}")),
            (Op::Unlink, format!("/run/carme/n1: {io_text}")),
            (
                Op::Create,
                format!("cannot create /run/carme/n1: {io_text}"),
            ),
            (
                Op::Remove,
                format!("cannot remove /run/carme/n1: {io_text}"),
            ),
            (
                Op::OpenEntry,
                format!("cannot open /run/carme/n1: {io_text}"),
            ),
            (Op::ReadDir, format!("cannot read /run/carme/n1: {io_text}")),
            (
                Op::Walk,
                format!("/run/carme/n1: {io_text} (a symlink or not a directory?)"),
            ),
            (
                Op::LazyUnmount,
                format!("umount -l /run/carme/n1: {io_text}"),
            ),
        ] {
            assert_eq!(NodeError::io(op, p(), Errno::ENOENT).to_string(), want);
        }
        // An io::Error reads as an io::Error.
        assert_eq!(
            NodeError::io(Op::Write, "/x", eio(Errno::ENOSPC)).to_string(),
            format!("/x: {}", eio(Errno::ENOSPC))
        );

        let unsafe_cases = [
            (
                Unsafe::NotPlainAbsolute,
                "/run/carme/n1: not a plain absolute path",
            ),
            (Unsafe::NoDirectory, "/run/carme/n1: no directory"),
            (Unsafe::NoParent, "/run/carme/n1: no parent"),
            (
                Unsafe::NotClosedDir {
                    uid: 1000,
                    mode: 0o1777,
                },
                "/run/carme/n1 is not a root-owned directory closed to other users (owner uid \
                 1000, mode 1777); refusing to use it",
            ),
            (
                Unsafe::NotClosedBase {
                    uid: 0,
                    mode: 0o777,
                },
                "/run/carme/n1 is not a root-owned directory closed to other users (owner uid \
                 0, mode 777); refusing to remove anything below it",
            ),
            (
                Unsafe::Changed,
                "/run/carme/n1 changed under us; refusing it",
            ),
            (Unsafe::NotRootFile, "/run/carme/n1: not a root-owned file"),
            (
                Unsafe::NotCarmes {
                    uid: 1000,
                    mode: 0o100644,
                },
                "/run/carme/n1 was not written by Carme (owner uid 1000, mode 100644)",
            ),
            (
                Unsafe::NotRootLog,
                "/run/carme/n1 is not a root-owned regular file; not writing to it",
            ),
            (
                Unsafe::NotMountRoot(FileKind::Symlink),
                "/run/carme/n1 is a Symlink, not the root of a mounted file system",
            ),
        ];
        for (why, want) in unsafe_cases {
            assert_eq!(NodeError::refused(p(), why).to_string(), want);
        }

        let cases: Vec<(NodeError, String)> = vec![
            (
                NodeError::Sys {
                    op: "fork",
                    err: Errno::EAGAIN,
                },
                format!("fork: {}", Errno::EAGAIN),
            ),
            (
                NodeError::Chown {
                    path: "/mnt/beeond/7".into(),
                    uid: 1000,
                    gid: 100,
                    err: eio(Errno::EPERM),
                },
                format!(
                    "cannot give /mnt/beeond/7 to uid 1000 gid 100: {}",
                    eio(Errno::EPERM)
                ),
            ),
            (
                NodeError::UnsafeStatusDir {
                    dir: "/tmp".into(),
                    why: Box::new(NodeError::refused(
                        "/tmp",
                        Unsafe::NotClosedDir {
                            uid: 0,
                            mode: 0o1777,
                        },
                    )),
                },
                format!(
                    "config error: [beeond] status_dir /tmp: /tmp is not a root-owned \
                     directory closed to other users (owner uid 0, mode 1777); refusing to \
                     use it. beeond acts as root on what its status file names, so the \
                     directory and all its parents must be root's, not writable by group or \
                     others, and not sticky (default {})",
                    carme_core::config::DEFAULT_BEEOND_STATUS_DIR
                ),
            ),
            (
                NodeError::Invalid("record lacks uid".into()),
                "record lacks uid".into(),
            ),
            (
                NodeError::Record {
                    path: "/run/carme/job-7".into(),
                    why: "not a carme job record".into(),
                },
                "/run/carme/job-7: not a carme job record".into(),
            ),
            (
                NodeError::WrongJob {
                    path: "/run/carme/job-7".into(),
                    job: 8,
                },
                "/run/carme/job-7 is for job 8".into(),
            ),
            (
                NodeError::ScontrolMissing,
                "scontrol not found (looked beside slurmd and in /usr/bin, /usr/local/bin, \
                 /opt/slurm/bin)"
                    .into(),
            ),
            (
                NodeError::Scontrol {
                    args: "show job -o 7".into(),
                    exit: Exit::Code(1),
                    reason: Some("slurm_load_jobs error: Invalid job id specified".into()),
                },
                format!(
                    "scontrol show job -o 7: {}: slurm_load_jobs error: Invalid job id specified",
                    Exit::Code(1)
                ),
            ),
            (
                NodeError::Scontrol {
                    args: "-V".into(),
                    exit: Exit::TimedOut,
                    reason: None,
                },
                format!("scontrol -V: {}", Exit::TimedOut),
            ),
            (
                NodeError::MountTable(eio(Errno::EACCES)),
                format!("cannot read the mount table: {}", eio(Errno::EACCES)),
            ),
            (
                NodeError::StillMounted {
                    path: "/mnt/beeond/7".into(),
                },
                "/mnt/beeond/7 is still mounted".into(),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }

        for (c, want) in [
            (
                ChildFailure::NoAnswer(Duration::from_millis(1500)),
                "no answer within 1.5 s".to_string(),
            ),
            (
                ChildFailure::TooLarge(100),
                "the answer is larger than 100 bytes".into(),
            ),
            (
                ChildFailure::Poll(Errno::EBADF),
                format!("poll: {}", Errno::EBADF),
            ),
            (
                ChildFailure::Read(Errno::EIO),
                format!("read: {}", Errno::EIO),
            ),
            (
                ChildFailure::NoExit,
                "it closed its answer but did not exit".into(),
            ),
            (ChildFailure::Exited(3), "exit status 3".into()),
            (
                ChildFailure::Killed(Signal::SIGKILL),
                "killed by SIGKILL".into(),
            ),
            (
                ChildFailure::Ended(WaitStatus::StillAlive),
                "ended as StillAlive".into(),
            ),
            (
                ChildFailure::Waitpid(Errno::ECHILD),
                format!("waitpid: {}", Errno::ECHILD),
            ),
        ] {
            assert_eq!(c.to_string(), want);
            assert_eq!(NodeError::Child(c).to_string(), want);
        }
    }

    #[test]
    fn entry_paths_read_as_dir_slash_name() {
        assert_eq!(
            entry_path(Path::new("/run/carme"), "job-7"),
            Path::new("/run/carme/job-7")
        );
        assert_eq!(
            entry_path(Path::new("/run/carme/"), "x").as_os_str(),
            "/run/carme//x"
        );
    }

    #[test]
    fn kinds_errnos_and_paths() {
        let e = NodeError::io(Op::Create, "/a", Errno::EACCES);
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(
            NodeError::io(Op::Create, "/a", eio(Errno::EACCES)).errno(),
            Some(Errno::EACCES)
        );
        assert_eq!(e.errno(), Some(Errno::EACCES));
        assert_eq!(e.io_kind(), Some(io::ErrorKind::PermissionDenied));
        assert_eq!(e.path(), Some(Path::new("/a")));
        assert!(std::error::Error::source(&e).is_some());

        let e = NodeError::refused("/b", Unsafe::Changed);
        assert_eq!(e.kind(), ErrorKind::Unsafe);
        assert_eq!(e.unsafe_why(), Some(&Unsafe::Changed));
        assert_eq!((e.errno(), e.io_kind()), (None, None));
        assert_eq!(e.path(), Some(Path::new("/b")));

        let e = NodeError::UnsafeStatusDir {
            dir: "/s".into(),
            why: Box::new(NodeError::io(Op::Stat, "/s", Errno::ELOOP)),
        };
        assert_eq!(e.kind(), ErrorKind::UnsafeStatusDir);
        assert_eq!(e.errno(), Some(Errno::ELOOP));
        assert_eq!(e.path(), Some(Path::new("/s")));

        let e = NodeError::Sys {
            op: "pipe",
            err: Errno::EMFILE,
        };
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Sys, Some(Errno::EMFILE)));
        assert_eq!(e.path(), None);

        let e = NodeError::from(ChildFailure::NoAnswer(Duration::from_secs(15)));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = NodeError::from(ChildFailure::Waitpid(Errno::ECHILD));
        assert_eq!(
            (e.kind(), e.errno()),
            (ErrorKind::Child, Some(Errno::ECHILD))
        );

        let e = NodeError::MountTable(io::Error::from(Errno::EMFILE));
        assert_eq!(
            (e.kind(), e.errno()),
            (ErrorKind::MountTable, Some(Errno::EMFILE))
        );
        for (e, k) in [
            (NodeError::Invalid("x".into()), ErrorKind::Invalid),
            (NodeError::ScontrolMissing, ErrorKind::ScontrolMissing),
            (
                NodeError::Scontrol {
                    args: String::new(),
                    exit: Exit::TimedOut,
                    reason: None,
                },
                ErrorKind::Scontrol,
            ),
            (
                NodeError::Record {
                    path: "/r".into(),
                    why: String::new(),
                },
                ErrorKind::Record,
            ),
            (
                NodeError::WrongJob {
                    path: "/r".into(),
                    job: 1,
                },
                ErrorKind::WrongJob,
            ),
            (
                NodeError::StillMounted { path: "/m".into() },
                ErrorKind::StillMounted,
            ),
            (
                NodeError::Chown {
                    path: "/m".into(),
                    uid: 1,
                    gid: 1,
                    err: io::Error::from(Errno::EPERM),
                },
                ErrorKind::Chown,
            ),
        ] {
            assert_eq!(e.kind(), k, "{e:?}");
        }
    }
}
