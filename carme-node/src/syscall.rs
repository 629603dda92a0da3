//! The privileged operations carme-node performs for a job step, behind one
//! trait (youki's `Syscall` is the model): [`LinuxSyscall`] does them,
//! [`RecordingSyscall`] records them and answers reads from a scripted file
//! system, so plans are testable without root and the real implementation
//! is proven by tests that run as root in a child process.
//!
//! Reads (`lstat`, `list_dir`) are in the trait too: what the executor does
//! depends on them, and scripting them is what makes its call sequences
//! deterministic in tests. They are not recorded; everything that changes
//! state is.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{FchmodatFlags, Mode, SFlag};
use nix::unistd::{Gid, Uid};

/// What a directory entry is (never following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Char,
    Block,
    Symlink,
    File,
    Fifo,
    Socket,
}

/// The part of `lstat` the executor looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits, with setuid/setgid/sticky (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device numbers of char and block nodes; 0 otherwise.
    pub major: u32,
    pub minor: u32,
    /// Hard links (a file with more than one may be someone else's).
    pub nlink: u64,
}

impl Stat {
    pub fn dir(mode: u32, uid: u32, gid: u32) -> Stat {
        Stat::new(Kind::Dir, mode, uid, gid)
    }

    pub fn new(kind: Kind, mode: u32, uid: u32, gid: u32) -> Stat {
        Stat {
            kind,
            mode,
            uid,
            gid,
            major: 0,
            minor: 0,
            nlink: 1,
        }
    }

    /// A character device node owned by root.
    pub fn char(major: u32, minor: u32, mode: u32) -> Stat {
        Stat {
            major,
            minor,
            ..Stat::new(Kind::Char, mode, 0, 0)
        }
    }
}

/// One entry of a directory listing, as `lstat` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevEntry {
    pub name: OsString,
    pub stat: Stat,
    /// Where a symlink points (unresolved); None for anything else.
    pub link: Option<PathBuf>,
}

impl DevEntry {
    pub fn new(name: &str, stat: Stat) -> DevEntry {
        DevEntry {
            name: name.into(),
            stat,
            link: None,
        }
    }

    /// A root-owned character device node, like the ones `mknod c 195 N` makes.
    pub fn char(name: &str, major: u32, minor: u32, mode: u32) -> DevEntry {
        DevEntry::new(name, Stat::char(major, minor, mode))
    }

    pub fn symlink(name: &str, target: &str) -> DevEntry {
        DevEntry {
            link: Some(target.into()),
            ..DevEntry::new(name, Stat::new(Kind::Symlink, 0o777, 0, 0))
        }
    }
}

/// Something held open to come back to later: a mount namespace or a
/// directory. The real one holds the descriptor (close-on-exec, closed
/// when dropped); a recorded one only its number, counted from 0 in the
/// order the recording opened them.
#[derive(Debug)]
pub struct Handle {
    fd: Option<OwnedFd>,
    id: usize,
}

impl Handle {
    /// Which recorded open made it (0 for real ones).
    pub fn id(&self) -> usize {
        self.id
    }

    fn fd(&self) -> io::Result<&OwnedFd> {
        // A recorded handle given to the real implementation.
        self.fd
            .as_ref()
            .ok_or_else(|| io::Error::from(Errno::EBADF))
    }
}

/// Every operation building a step's namespace needs. Modes are permission
/// bits (`0o755`); the umask does not apply to what callers ask for, so
/// implementations that create things leave fixing the mode to `chmod`.
pub trait Syscall {
    /// Move the calling thread into a new mount namespace (a copy of its
    /// current one); the thread's children are born in it.
    fn unshare_mount_ns(&self) -> io::Result<()>;
    /// Hold the calling thread's mount namespace open
    /// (`/proc/thread-self/ns/mnt`), to enter it later.
    fn open_mount_ns(&self) -> io::Result<Handle>;
    /// Move the calling thread into the mount namespace `ns` (`setns`);
    /// its root and working directory become that namespace's `/`. The
    /// thread must not share its fs_struct (a forked child, or a thread
    /// that unshared its mount namespace).
    fn enter_mount_ns(&self, ns: &Handle) -> io::Result<()>;
    /// Hold the calling thread's working directory open, to return to it.
    fn open_cwd(&self) -> io::Result<Handle>;
    /// Make `dir` (from [`Syscall::open_cwd`]) the working directory again.
    fn fchdir(&self, dir: &Handle) -> io::Result<()>;
    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()>;
    /// Create a char/block device node, or an empty regular file
    /// (`Kind::File`, major/minor ignored) to bind-mount a file onto.
    fn mknod(&self, path: &Path, kind: Kind, mode: u32, major: u32, minor: u32) -> io::Result<()>;
    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// Change owner without following a symlink at `path`.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// Change mode without following a symlink at `path`.
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    /// [`crate::state::ensure_root_dir`]: every component of `dir` a real,
    /// root-owned directory closed to others (sticky parents allowed),
    /// missing ones created. In the trait because it may create directories.
    fn ensure_root_dir(&self, dir: &Path, mode: u32) -> Result<(), crate::error::NodeError>;
    fn lstat(&self, path: &Path) -> io::Result<Stat>;
    /// The entries of `dir` (without `.` and `..`), sorted by name.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DevEntry>>;
}

/// The real thing, through `nix` and `std`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn stat_of(md: &std::fs::Metadata) -> Stat {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_char_device() {
        Kind::Char
    } else if ft.is_block_device() {
        Kind::Block
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        Kind::File
    };
    let dev = md.rdev();
    let (major, minor) = match kind {
        Kind::Char | Kind::Block => (
            nix::sys::stat::major(dev) as u32,
            nix::sys::stat::minor(dev) as u32,
        ),
        _ => (0, 0),
    };
    Stat {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        major,
        minor,
        nlink: md.nlink(),
    }
}

/// `chmod` that never follows a symlink at `path`, on every C library and
/// kernel we meet. `at_nofollow` is `fchmodat(AT_SYMLINK_NOFOLLOW)`: one
/// call where the C library can do it (glibc >= 2.32, musl). glibc older
/// than 2.32 (EL8, Debian 11, Ubuntu 20.04) always answers ENOTSUP, and
/// newer ones answer ENOTSUP for a symlink; then the mode is changed
/// through a descriptor instead ([`chmod_by_fd`]), which also refuses a
/// symlink. ENOSYS (a kernel or seccomp filter without the call the C
/// library chose) takes the same way.
pub fn chmod_nofollow(
    path: &Path,
    mode: u32,
    at_nofollow: impl FnOnce(&Path, Mode) -> Result<(), Errno>,
) -> io::Result<()> {
    match at_nofollow(path, Mode::from_bits_truncate(mode)) {
        Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => chmod_by_fd(path, mode),
        r => Ok(r?),
    }
}

/// Change the mode of what `path` names without following a symlink there
/// and without `AT_SYMLINK_NOFOLLOW`: open it with `O_PATH|O_NOFOLLOW`
/// (which opens a symlink itself, never its target, and opens a device
/// node without opening the device), refuse a symlink, and chmod
/// `/proc/self/fd/N`, which names exactly the inode opened (an `O_PATH`
/// descriptor cannot be `fchmod`ed). This is what glibc >= 2.32 does
/// itself; it needs /proc.
pub fn chmod_by_fd(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let st = nix::sys::stat::fstat(&fd)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
        return Err(io::Error::other(
            "it is a symlink (its mode is never changed, its target never followed)",
        ));
    }
    let by_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::sys::stat::fchmodat(
        AT_FDCWD,
        by_fd.as_str(),
        Mode::from_bits_truncate(mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("chmod through {by_fd} (is /proc mounted?): {e}"),
        )
    })
}

impl Syscall for LinuxSyscall {
    fn unshare_mount_ns(&self) -> io::Result<()> {
        Ok(nix::sched::unshare(CloneFlags::CLONE_NEWNS)?)
    }

    fn open_mount_ns(&self) -> io::Result<Handle> {
        // thread-self: in a multithreaded process each thread may have
        // its own (/proc/self is the main thread's).
        let f = std::fs::File::open("/proc/thread-self/ns/mnt")?;
        Ok(Handle {
            fd: Some(f.into()),
            id: 0,
        })
    }

    fn enter_mount_ns(&self, ns: &Handle) -> io::Result<()> {
        Ok(nix::sched::setns(ns.fd()?, CloneFlags::CLONE_NEWNS)?)
    }

    fn open_cwd(&self) -> io::Result<Handle> {
        let fd = nix::fcntl::open(
            ".",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Handle {
            fd: Some(fd),
            id: 0,
        })
    }

    fn fchdir(&self, dir: &Handle) -> io::Result<()> {
        Ok(nix::unistd::fchdir(dir.fd()?)?)
    }

    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        Ok(nix::mount::mount(src, target, fstype, flags, data)?)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        Ok(nix::mount::umount2(target, flags)?)
    }

    fn mknod(&self, path: &Path, kind: Kind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        let (sflag, dev) = match kind {
            Kind::Char => (
                SFlag::S_IFCHR,
                nix::sys::stat::makedev(major.into(), minor.into()),
            ),
            Kind::Block => (
                SFlag::S_IFBLK,
                nix::sys::stat::makedev(major.into(), minor.into()),
            ),
            Kind::File => (SFlag::S_IFREG, 0),
            _ => return Err(io::Error::from(Errno::EINVAL)),
        };
        Ok(nix::sys::stat::mknod(
            path,
            sflag,
            Mode::from_bits_truncate(mode),
            dev,
        )?)
    }

    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()> {
        Ok(nix::unistd::mkdir(path, Mode::from_bits_truncate(mode))?)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        Ok(nix::unistd::fchownat(
            AT_FDCWD,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?)
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        chmod_nofollow(path, mode, |p, m| {
            nix::sys::stat::fchmodat(AT_FDCWD, p, m, FchmodatFlags::NoFollowSymlink)
        })
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn ensure_root_dir(&self, dir: &Path, mode: u32) -> Result<(), crate::error::NodeError> {
        crate::state::ensure_root_dir(dir, mode)
    }

    fn lstat(&self, path: &Path) -> io::Result<Stat> {
        Ok(stat_of(&std::fs::symlink_metadata(path)?))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DevEntry>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let path = e.path();
            let stat = stat_of(&std::fs::symlink_metadata(&path)?);
            let link = match stat.kind {
                Kind::Symlink => Some(std::fs::read_link(&path)?),
                _ => None,
            };
            out.push(DevEntry {
                name: e.file_name(),
                stat,
                link,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// One recorded state-changing call, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    UnshareMountNs,
    /// Opened handle number `id`.
    OpenMountNs {
        id: usize,
    },
    EnterMountNs {
        ns: usize,
    },
    OpenCwd {
        id: usize,
    },
    Fchdir {
        dir: usize,
    },
    Mount {
        src: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount {
        target: PathBuf,
        flags: MntFlags,
    },
    Mknod {
        path: PathBuf,
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    },
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    EnsureRootDir {
        dir: PathBuf,
        mode: u32,
    },
}

type FailIf = Box<dyn Fn(usize, &Call) -> bool>;

/// Records every state-changing call and succeeds, unless told to fail
/// some; reads are answered from what the test scripted (anything else is
/// ENOENT). A failing call is recorded too: the executor did attempt it.
#[derive(Default)]
pub struct RecordingSyscall {
    calls: RefCell<Vec<Call>>,
    stats: BTreeMap<PathBuf, Stat>,
    listings: BTreeMap<PathBuf, Vec<DevEntry>>,
    failures: Vec<(FailIf, Errno)>,
    handles: Cell<usize>,
}

impl fmt::Debug for RecordingSyscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingSyscall")
            .field("calls", &self.calls.borrow())
            .field("stats", &self.stats)
            .field("listings", &self.listings)
            .field("failures", &self.failures.len())
            .finish()
    }
}

impl RecordingSyscall {
    pub fn new() -> RecordingSyscall {
        RecordingSyscall::default()
    }

    /// `lstat(path)` answers `stat`.
    pub fn with_stat(mut self, path: impl Into<PathBuf>, stat: Stat) -> Self {
        self.stats.insert(path.into(), stat);
        self
    }

    /// `list_dir(dir)` answers `entries` (sorted by name, as the real one),
    /// and `lstat` of each `dir/name` answers its stat.
    pub fn with_listing(mut self, dir: impl Into<PathBuf>, mut entries: Vec<DevEntry>) -> Self {
        let dir = dir.into();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in &entries {
            self.stats.insert(dir.join(&e.name), e.stat.clone());
        }
        self.listings.insert(dir, entries);
        self
    }

    /// Fail the `n`th recorded call (0-based) with `err`.
    pub fn fail_nth(mut self, n: usize, err: Errno) -> Self {
        self.failures.push((Box::new(move |i, _| i == n), err));
        self
    }

    /// Fail every recorded call for which `pred` is true with `err`.
    pub fn fail_when(mut self, pred: impl Fn(&Call) -> bool + 'static, err: Errno) -> Self {
        self.failures.push((Box::new(move |_, c| pred(c)), err));
        self
    }

    /// What was called, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// Record an open; the handle numbers it.
    fn open(&self, call: impl FnOnce(usize) -> Call) -> io::Result<Handle> {
        let id = self.handles.get();
        self.record(call(id))?;
        self.handles.set(id + 1);
        Ok(Handle { fd: None, id })
    }

    fn record(&self, call: Call) -> Result<(), Errno> {
        let mut calls = self.calls.borrow_mut();
        let i = calls.len();
        let failure = self
            .failures
            .iter()
            .find(|(fail_if, _)| fail_if(i, &call))
            .map(|(_, e)| *e);
        calls.push(call);
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Syscall for RecordingSyscall {
    fn unshare_mount_ns(&self) -> io::Result<()> {
        Ok(self.record(Call::UnshareMountNs)?)
    }

    fn open_mount_ns(&self) -> io::Result<Handle> {
        self.open(|id| Call::OpenMountNs { id })
    }

    fn enter_mount_ns(&self, ns: &Handle) -> io::Result<()> {
        Ok(self.record(Call::EnterMountNs { ns: ns.id })?)
    }

    fn open_cwd(&self) -> io::Result<Handle> {
        self.open(|id| Call::OpenCwd { id })
    }

    fn fchdir(&self, dir: &Handle) -> io::Result<()> {
        Ok(self.record(Call::Fchdir { dir: dir.id })?)
    }

    fn mount(
        &self,
        src: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        Ok(self.record(Call::Mount {
            src: src.map(Path::to_path_buf),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        })?)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        Ok(self.record(Call::Umount {
            target: target.to_path_buf(),
            flags,
        })?)
    }

    fn mknod(&self, path: &Path, kind: Kind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        Ok(self.record(Call::Mknod {
            path: path.to_path_buf(),
            kind,
            mode,
            major,
            minor,
        })?)
    }

    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()> {
        Ok(self.record(Call::Mkdir {
            path: path.to_path_buf(),
            mode,
        })?)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        Ok(self.record(Call::Chown {
            path: path.to_path_buf(),
            uid,
            gid,
        })?)
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        Ok(self.record(Call::Chmod {
            path: path.to_path_buf(),
            mode,
        })?)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        Ok(self.record(Call::Symlink {
            target: target.to_path_buf(),
            link: link.to_path_buf(),
        })?)
    }

    fn ensure_root_dir(&self, dir: &Path, mode: u32) -> Result<(), crate::error::NodeError> {
        self.record(Call::EnsureRootDir {
            dir: dir.to_path_buf(),
            mode,
        })
        .map_err(crate::error::NodeError::at(crate::error::Op::Stat, dir))
    }

    fn lstat(&self, path: &Path) -> io::Result<Stat> {
        self.stats
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(Errno::ENOENT))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DevEntry>> {
        self.listings
            .get(dir)
            .cloned()
            .ok_or_else(|| io::Error::from(Errno::ENOENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_fails_on_request() {
        let sys = RecordingSyscall::new()
            .fail_nth(1, Errno::EPERM)
            .fail_when(|c| matches!(c, Call::Chmod { .. }), Errno::EROFS);
        sys.unshare_mount_ns().unwrap();
        let e = sys.mkdir(Path::new("/a"), 0o755).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::EPERM as i32));
        let e = sys.chmod(Path::new("/a"), 0o700).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ReadOnlyFilesystem);
        assert_eq!(
            sys.calls(),
            vec![
                Call::UnshareMountNs,
                Call::Mkdir {
                    path: "/a".into(),
                    mode: 0o755
                },
                Call::Chmod {
                    path: "/a".into(),
                    mode: 0o700
                },
            ]
        );
    }

    #[test]
    fn scripted_reads() {
        let sys = RecordingSyscall::new()
            .with_stat("/srv", Stat::dir(0o755, 0, 0))
            .with_listing(
                "/dev",
                vec![
                    DevEntry::char("nvidia1", 195, 1, 0o666),
                    DevEntry::char("nvidia0", 195, 0, 0o666),
                ],
            );
        assert_eq!(sys.lstat(Path::new("/srv")).unwrap().kind, Kind::Dir);
        assert_eq!(sys.lstat(Path::new("/dev/nvidia1")).unwrap().minor, 1);
        assert_eq!(
            sys.lstat(Path::new("/nope")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let names: Vec<_> = sys
            .list_dir(Path::new("/dev"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["nvidia0", "nvidia1"]);
        assert!(sys.calls().is_empty(), "reads are not recorded");
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn chmod_falls_back_when_nofollow_is_not_supported() {
        use std::os::unix::fs::PermissionsExt;
        let d = PathBuf::from(format!("/var/tmp/carme-chmod-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        let (file, dir, target, link) = (d.join("f"), d.join("d"), d.join("t"), d.join("l"));
        std::fs::write(&file, "x").unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(&target, "x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        // What glibc < 2.32 answers to fchmodat(AT_SYMLINK_NOFOLLOW), always.
        let asked = RefCell::new(Vec::new());
        let old_glibc = |p: &Path, m: Mode| {
            asked.borrow_mut().push((p.to_path_buf(), m.bits()));
            Err(Errno::ENOTSUP)
        };
        for (p, mode) in [
            (&file, 0o640),
            (&dir, 0o1777),
            (&dir, 0o711),
            (&file, 0o4755),
        ] {
            chmod_nofollow(p, mode, old_glibc).unwrap();
            assert_eq!(mode_of(p), mode, "{}", p.display());
        }
        let e = chmod_nofollow(&link, 0o666, old_glibc).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(mode_of(&target), 0o600, "the symlink's target is untouched");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(
            asked.borrow().clone(),
            [
                (file.clone(), 0o640),
                (dir.clone(), 0o1777),
                (dir.clone(), 0o711),
                (file.clone(), 0o4755),
                (link.clone(), 0o666),
            ],
            "the NOFOLLOW call is asked first, each time"
        );
        // Any other answer is final: no second way.
        let e = chmod_nofollow(&file, 0o600, |_, _| Err(Errno::EROFS)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ReadOnlyFilesystem);
        assert_eq!(mode_of(&file), 0o4755);
        chmod_nofollow(&file, 0o600, |_, _| Ok(())).unwrap();
        assert_eq!(mode_of(&file), 0o4755, "done by the NOFOLLOW call alone");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn linux_lstat_and_listing() {
        let d = std::env::temp_dir().join(format!("carme-syscall-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        std::os::unix::fs::symlink("/proc/self/fd", d.join("fd")).unwrap();
        let l = LinuxSyscall.list_dir(&d).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].name, "f");
        assert_eq!(l[0].stat.kind, Kind::File);
        assert_eq!(l[1].stat.kind, Kind::Symlink);
        assert_eq!(l[1].link.as_deref(), Some(Path::new("/proc/self/fd")));
        assert_eq!(LinuxSyscall.lstat(&d).unwrap().kind, Kind::Dir);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
