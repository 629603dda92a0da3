//! Removing a job's directory (`<base>/<jobid>`, the user's own tree) as
//! root, without ever acting on anything outside it.
//!
//! - The base is opened component by component from `/` with O_NOFOLLOW;
//!   every component must be a root-owned directory that others cannot
//!   write to (sticky ones such as /tmp are fine as parents). A base that
//!   is not safe is refused: nothing is removed.
//! - Everything below is reached through directory descriptors (openat,
//!   unlinkat with the parent's descriptor, O_NOFOLLOW): a symlink is
//!   removed as itself, never followed, whatever it points to and whenever
//!   it was planted (also while we work). A hardlink to a file elsewhere
//!   loses only this name; the file and its other names stay.
//! - Nothing is followed onto another file system: a directory whose device
//!   differs from its parent's and whose mount differs too (`mnt_id` in
//!   /proc/self/fdinfo) is a mount point. Those are detached
//!   (`umount2(MNT_DETACH)` on the open descriptor, so the mount the walk
//!   found is the one detached, not whatever a path names by now) and only
//!   then is the directory below removed; a mount that cannot be detached
//!   is left and reported (`mounts_left`), its contents untouched. Where
//!   the mount cannot be told, the directory counts as a mount point.
//! - A directory on another device but in the same mount is a subvolume
//!   (btrfs; any user may `btrfs subvolume create` in a directory of
//!   theirs): it is removed like any directory, its contents first, then
//!   itself with `rmdir` (which removes an empty subvolume, Linux >= 4.18).
//!   One that cannot be removed (a read-only snapshot) is a problem like
//!   any entry that cannot be removed, never a mount left.
//! - A job directory owned by another uid (not the job's, not root) is left
//!   alone and reported: it is not this job's.
//! - No chown, no chmod, no following: nothing outside the tree changes.
//!
//! Speed: one `getdents` pass per batch of names and one `unlinkat` per
//! entry, no `stat` for entries whose type the directory already tells (as
//! `rm -rf` does), and the job directory's subdirectories (or, where it
//! holds a single directory, those of the first directory below that fans
//! out) removed by [`WORKERS`] threads at once (unlinks in different directories overlap,
//! which makes it faster than `rm -rf` on slow disks). Deep trees do not
//! need one descriptor per level: below
//! [`MAX_DEPTH`] levels a subtree is renamed up into the job directory and
//! removed from there. The whole removal is bounded by a deadline; what is
//! left then is reported.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, renameat2};
use nix::mount::MntFlags;
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::{NodeError, Op, Unsafe};

/// Deepest level walked with open descriptors; deeper subtrees are moved up.
pub const MAX_DEPTH: usize = 64;

/// Names read from a directory at once.
const BATCH: usize = 4096;

/// Threads removing the job directory's subdirectories at once.
pub const WORKERS: usize = 4;

/// Problems listed by name in a report (the rest are only counted).
const MAX_LISTED: usize = 5;

/// What was at `<base>/<name>` and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Nothing there (already removed, or never created).
    Absent,
    /// Not a directory (a symlink, a file...): that entry itself was
    /// removed; a symlink's target is untouched.
    OddEntryRemoved { kind: String },
    /// A directory of another user: left alone.
    Foreign { uid: u32 },
    /// The job's tree.
    Tree(TreeReport),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeReport {
    /// Entries removed (files, links, directories, the job dir itself).
    pub removed: u64,
    /// Mounts found inside and detached.
    pub detached: u32,
    /// Mounts that could not be detached (left, with what is below them).
    pub mounts_left: u32,
    /// Subvolumes (directories on another device, in the same mount) removed.
    pub subvolumes: u32,
    /// Entries that could not be removed, counted; the first few named.
    pub problem_count: u64,
    pub problems: Vec<String>,
    /// The job directory itself is gone.
    pub complete: bool,
    /// The deadline passed before the end.
    pub out_of_time: bool,
}

impl TreeReport {
    fn problem(&mut self, what: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(what);
        }
    }
}

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn kind_of(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFLNK => "symlink",
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Open `path` as a trusted root directory (see the module doc); None if
/// it does not exist.
pub fn open_trusted_dir(path: &Path) -> Result<Option<OwnedFd>, NodeError> {
    open_root_dir(path, false)
}

/// [`open_trusted_dir`], but `path` itself may also be sticky and
/// world-writable (like /var/tmp).
pub fn open_sticky_dir(path: &Path) -> Result<Option<OwnedFd>, NodeError> {
    open_root_dir(path, true)
}

fn open_root_dir(path: &Path, sticky_ok: bool) -> Result<Option<OwnedFd>, NodeError> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(NodeError::refused(path, Unsafe::NotPlainAbsolute));
    }
    let mut fd = nix::fcntl::open("/", dir_flags(), Mode::empty())
        .map_err(NodeError::at(Op::Open, Path::new("/")))?;
    let comps: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut so_far = std::path::PathBuf::from("/");
    for (i, c) in comps.iter().enumerate() {
        so_far.push(c);
        let next = match openat(&fd, *c, dir_flags(), Mode::empty()) {
            Ok(n) => n,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(NodeError::io(Op::Walk, so_far, e)),
        };
        let st = fstat(&next).map_err(NodeError::at(Op::Stat, &so_far))?;
        let last = i + 1 == comps.len();
        let others_write = st.st_mode & 0o022 != 0;
        let sticky = st.st_mode & 0o1000 != 0;
        if st.st_uid != 0 || (others_write && ((last && !sticky_ok) || !sticky)) {
            return Err(NodeError::refused(
                so_far,
                Unsafe::NotClosedBase {
                    uid: st.st_uid,
                    mode: st.st_mode & 0o7777,
                },
            ));
        }
        fd = next;
    }
    Ok(Some(fd))
}

/// The id of the mount `fdinfo` (the text of `/proc/self/fdinfo/N`) says
/// its descriptor is on; None if it does not say (Linux < 3.15).
pub fn mnt_id_of(fdinfo: &str) -> Option<u64> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

fn mnt_id(fd: &impl AsRawFd) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .ok()
        .as_deref()
        .and_then(mnt_id_of)
}

/// Whether `dir`, a directory on another device than its parent
/// `parent`, is the root of another mount (else it is a subvolume of the
/// parent's file system). Fails closed: a mount that cannot be told
/// counts as another.
fn is_mount_root(dir: &impl AsRawFd, parent: &impl AsRawFd) -> bool {
    match (mnt_id(dir), mnt_id(parent)) {
        (Some(d), Some(p)) => d != p,
        _ => true,
    }
}

/// Detach the mount whose root `fd` is open on.
fn detach(fd: &OwnedFd) -> Result<(), Errno> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::mount::umount2(path.as_str(), MntFlags::MNT_DETACH)
}

struct Level {
    dir: Dir,
    /// Its name in the parent; None for the job directory.
    name: Option<CString>,
    /// Its device: a directory below on another one is a mount point or a
    /// subvolume.
    dev: u64,
    /// It is a subvolume (on another device than its parent, same mount).
    subvolume: bool,
    /// Nothing more to read: it is read-only (see [`give_up_read_only`]).
    read_only: bool,
    batch: Vec<(CString, Option<Type>)>,
    next: usize,
    /// Names given up on (reported), not to be read again.
    skip: HashSet<CString>,
}

impl Level {
    fn new(fd: OwnedFd, name: Option<CString>, dev: u64, subvolume: bool) -> Result<Level, Errno> {
        Ok(Level {
            dir: Dir::from_fd(fd)?,
            name,
            dev,
            subvolume,
            read_only: false,
            batch: Vec::new(),
            next: 0,
            skip: HashSet::new(),
        })
    }

    /// Read the next names (from the start: what was removed is gone).
    fn refill(&mut self) -> Result<(), Errno> {
        self.batch.clear();
        self.next = 0;
        if self.read_only {
            return Ok(());
        }
        // Rewind now (an iterator rewinds when dropped): btrfs lists only
        // the entries a directory had when it was last rewound, and
        // subtrees moved up into it since must be seen.
        drop(self.dir.iter());
        for e in self.dir.iter() {
            let e = e?;
            let n = e.file_name();
            if n == c"." || n == c".." || self.skip.contains(n) {
                continue;
            }
            self.batch.push((n.to_owned(), e.file_type()));
            if self.batch.len() == BATCH {
                break;
            }
        }
        // Dropping the iterator rewound the directory.
        Ok(())
    }
}

fn show(dir: &Path, rel: &[&CStr], name: &CStr) -> String {
    let mut p = dir.to_path_buf();
    for r in rel {
        p.push(std::ffi::OsStr::from_bytes(r.to_bytes()));
    }
    p.push(std::ffi::OsStr::from_bytes(name.to_bytes()));
    p.display().to_string()
}

/// Something in the deepest level could not be removed because its file
/// system is read-only: so is everything else in the same subvolume (a
/// read-only btrfs snapshot, which any user may make of a subvolume of
/// theirs) or file system. Stop reading all of it, rather than try every
/// entry: drop the levels below the subvolume's root (or the walk's top)
/// and read nothing more there.
fn give_up_read_only(stack: &mut Vec<Level>) {
    let root = stack.iter().rposition(|l| l.subvolume).unwrap_or(0);
    stack.truncate(root + 1);
    if let Some(l) = stack.last_mut() {
        l.read_only = true;
        l.batch.clear();
        l.next = 0;
    }
}

/// What every part of one removal shares.
struct Walk<'a> {
    /// The job directory: deep subtrees are moved up into it (or into
    /// the subvolume they are in).
    top: &'a OwnedFd,
    /// Its device.
    dev: u64,
    /// Its path, for messages.
    shown: &'a Path,
    deadline: Instant,
    /// Names for moved-up subtrees (`.carme-rm-N`), unique across workers.
    lifted: &'a AtomicU64,
}

/// Empty the directory open as `top`, which is on the job directory's
/// device (see the module doc).
fn clear(top: OwnedFd, w: &Walk, r: &mut TreeReport) {
    let (shown, deadline) = (w.shown, w.deadline);
    let mut stack = match Level::new(top, None, w.dev, false) {
        Ok(l) => vec![l],
        Err(e) => {
            r.problem(format!("{}: {e}", shown.display()));
            return;
        }
    };
    while !stack.is_empty() {
        if Instant::now() >= deadline {
            r.out_of_time = true;
            return;
        }
        let depth = stack.len();
        let rel: Vec<CString> = stack.iter().filter_map(|l| l.name.clone()).collect();
        let rel: Vec<&CStr> = rel.iter().map(CString::as_c_str).collect();
        let level = stack.last_mut().expect("not empty");
        if level.next == level.batch.len() {
            if let Err(e) = level.refill() {
                r.problem(format!("cannot read {}: {e}", show(shown, &rel, c"")));
                level.batch.clear();
            }
            if level.batch.is_empty() {
                let done = stack.pop().expect("not empty");
                let Some(name) = done.name else { break };
                let gave_up = !done.skip.is_empty() || done.read_only;
                drop(done.dir);
                let parent = stack.last_mut().expect("a parent");
                // On btrfs, rmdir removes an empty subvolume too.
                let read_only =
                    match unlinkat(&parent.dir, name.as_c_str(), UnlinkatFlags::RemoveDir) {
                        Ok(()) => {
                            r.removed += 1;
                            r.subvolumes += u32::from(done.subvolume);
                            false
                        }
                        Err(Errno::ENOENT) => false,
                        Err(e) => {
                            let at = show(shown, &rel[..rel.len() - 1], &name);
                            if done.subvolume {
                                // Named even when what is in it was reported:
                                // this is what the admin has to remove.
                                r.problem(format!(
                                    "cannot remove the btrfs subvolume {at}: {e}{}; \
                                     `btrfs subvolume delete` removes it",
                                    if done.read_only {
                                        " (it is read-only, a snapshot?)"
                                    } else {
                                        ""
                                    }
                                ));
                            } else if !gave_up {
                                r.problem(format!("cannot remove directory {at}: {e}"));
                            }
                            parent.skip.insert(name);
                            e == Errno::EROFS
                        }
                    };
                if read_only {
                    give_up_read_only(&mut stack);
                }
            }
            continue;
        }
        let (name, dtype) = level.batch[level.next].clone();
        level.next += 1;
        let dir_like = match dtype {
            Some(Type::Directory) => true,
            Some(_) => false,
            None => fstatat(&level.dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map(|st| is_dir(&st))
                .unwrap_or(false),
        };
        if !dir_like {
            match unlinkat(&level.dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) => r.removed += 1,
                // Gone, or turned into a directory meanwhile (read again).
                Err(Errno::ENOENT | Errno::EISDIR) => {}
                Err(Errno::EBUSY) => {
                    // A file mounted over: detach it, then try again.
                    let fd = openat(
                        &level.dir,
                        name.as_c_str(),
                        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    );
                    match fd.map(|fd| (detach(&fd), fd)) {
                        Ok((Ok(()), _)) => {
                            r.detached += 1;
                            level.next -= 1;
                        }
                        _ => {
                            r.mounts_left += 1;
                            r.problem(format!(
                                "{} is a mount point that cannot be detached",
                                show(shown, &rel, &name)
                            ));
                            level.skip.insert(name);
                        }
                    }
                }
                Err(e) => {
                    r.problem(format!("cannot remove {}: {e}", show(shown, &rel, &name)));
                    level.skip.insert(name);
                    if e == Errno::EROFS {
                        give_up_read_only(&mut stack);
                    }
                }
            }
            continue;
        }
        let fd = match openat(&level.dir, name.as_c_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            // Replaced by a symlink or file meanwhile: remove that entry.
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                level.next -= 1;
                level.batch[level.next].1 = Some(Type::Symlink);
                continue;
            }
            Err(e) => {
                r.problem(format!("cannot open {}: {e}", show(shown, &rel, &name)));
                level.skip.insert(name);
                continue;
            }
        };
        let st = match fstat(&fd) {
            Ok(st) => st,
            Err(e) => {
                r.problem(format!("{}: {e}", show(shown, &rel, &name)));
                level.skip.insert(name);
                continue;
            }
        };
        let subvolume = st.st_dev != level.dev && !is_mount_root(&fd, &level.dir);
        if st.st_dev != level.dev && !subvolume {
            if detach(&fd).is_ok() {
                r.detached += 1;
                level.next -= 1;
            } else {
                r.mounts_left += 1;
                r.problem(format!(
                    "{} is a mount point that cannot be detached",
                    show(shown, &rel, &name)
                ));
                level.skip.insert(name);
            }
            continue;
        }
        if depth >= MAX_DEPTH {
            drop(fd);
            // Move the subtree up into the job directory, where it is
            // read again with all levels to spare; in a subvolume, up into
            // the subvolume's root (a rename cannot leave a subvolume),
            // unless that is where it already is.
            let (up, here) = stack.split_at_mut(depth - 1);
            let level = &mut here[0];
            let to: Option<&dyn AsFd> = if level.subvolume {
                None
            } else {
                match up.iter().rposition(|l| l.subvolume) {
                    Some(i) => Some(&up[i].dir),
                    None => Some(w.top),
                }
            };
            let mut moved = false;
            for _ in 0..1000 {
                let Some(to) = to else { break };
                let n = w.lifted.fetch_add(1, Ordering::Relaxed) + 1;
                let new = CString::new(format!(".carme-rm-{n}")).expect("no NUL");
                match renameat2(
                    &level.dir,
                    name.as_c_str(),
                    to,
                    new.as_c_str(),
                    RenameFlags::RENAME_NOREPLACE,
                ) {
                    Ok(()) => {
                        moved = true;
                        break;
                    }
                    Err(Errno::EEXIST) => continue,
                    Err(_) => break,
                }
            }
            if !moved {
                r.problem(format!(
                    "cannot move {} up to remove it",
                    show(shown, &rel, &name)
                ));
                level.skip.insert(name);
            }
            continue;
        }
        match Level::new(fd, Some(name.clone()), st.st_dev, subvolume) {
            Ok(l) => stack.push(l),
            Err(e) => {
                r.problem(format!("cannot read {}: {e}", show(shown, &rel, &name)));
                level.skip.insert(name);
            }
        }
    }
}

/// Remove the job directory's subdirectories, [`WORKERS`] at a time: on
/// a busy or slow file system unlinks in different directories overlap
/// (that is what makes this faster than `rm -rf`). Each worker walks its
/// subtree exactly as [`clear`] does. Only what was removed is counted
/// here; whatever a worker leaves (mounts, errors, entries of other
/// kinds) is met again, and reported, by the serial pass that follows.
fn remove_subdirs_in_parallel(w: &Walk, r: &mut TreeReport) {
    // Where the job directory holds a single directory (scratch/data/...),
    // fan out below it: follow such chains down a few levels to the first
    // directory with several subdirectories.
    let Ok(mut parent) = w.top.try_clone() else {
        return;
    };
    let mut names = Vec::new();
    for _ in 0..4 {
        names = subdir_names(&parent);
        if names.len() != 1 {
            break;
        }
        let Ok(fd) = openat(&parent, names[0].as_c_str(), dir_flags(), Mode::empty()) else {
            return;
        };
        if fstat(&fd).map(|st| st.st_dev) != Ok(w.dev) {
            return;
        }
        parent = fd;
    }
    if names.len() < 2 {
        return;
    }
    let parent = &parent;
    let queue = Mutex::new(names);
    let reports: Vec<TreeReport> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = TreeReport::default();
                    loop {
                        let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                        let Some(name) = next else { break };
                        if Instant::now() >= w.deadline {
                            mine.out_of_time = true;
                            break;
                        }
                        let Ok(fd) = openat(parent, name.as_c_str(), dir_flags(), Mode::empty())
                        else {
                            continue;
                        };
                        if fstat(&fd).map(|st| st.st_dev) != Ok(w.dev) {
                            continue;
                        }
                        clear(fd, w, &mut mine);
                        if unlinkat(parent, name.as_c_str(), UnlinkatFlags::RemoveDir).is_ok() {
                            mine.removed += 1;
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for m in reports {
        r.removed += m.removed;
        r.detached += m.detached;
        r.subvolumes += m.subvolumes;
        r.out_of_time |= m.out_of_time;
    }
}

/// The names of the subdirectories of `dir` (as the directory tells their
/// type; others are left to the serial pass).
fn subdir_names(dir: &OwnedFd) -> Vec<CString> {
    let mut names = Vec::new();
    let Ok(fd) = dir.try_clone() else {
        return names;
    };
    let Ok(mut d) = Dir::from_fd(fd) else {
        return names;
    };
    for e in d.iter() {
        let Ok(e) = e else { break };
        let n = e.file_name();
        if e.file_type() == Some(Type::Directory) && n != c"." && n != c".." {
            names.push(n.to_owned());
        }
    }
    names
}

/// Remove `<base>/<name>`, the job directory of uid `uid` (see the module
/// doc); stop at `deadline`. Err: the base is not safe (nothing done).
pub fn remove_job_dir(
    base: &Path,
    name: &str,
    uid: u32,
    deadline: Instant,
) -> Result<Removal, NodeError> {
    let Some(base_fd) = open_trusted_dir(base)? else {
        return Ok(Removal::Absent);
    };
    let shown = base.join(name);
    let cname =
        CString::new(name).map_err(|_| NodeError::Invalid(format!("{name:?}: NUL in name")))?;
    let st = match fstatat(&base_fd, cname.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(Removal::Absent),
        Err(e) => return Err(NodeError::io(Op::Stat, &shown, e)),
    };
    let remove_entry = |st: &FileStat| {
        unlinkat(&base_fd, cname.as_c_str(), UnlinkatFlags::NoRemoveDir)
            .map(|()| Removal::OddEntryRemoved {
                kind: kind_of(st).to_string(),
            })
            .map_err(NodeError::at(Op::Remove, &shown))
    };
    if !is_dir(&st) {
        return remove_entry(&st);
    }
    let base_st = fstat(&base_fd).map_err(NodeError::at(Op::Stat, base))?;
    let mut report = TreeReport::default();
    let mut top = None;
    for _ in 0..8 {
        let fd = match openat(&base_fd, cname.as_c_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Removal::Absent),
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let st = fstatat(&base_fd, cname.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(NodeError::at(Op::Stat, &shown))?;
                return remove_entry(&st);
            }
            Err(e) => return Err(NodeError::io(Op::OpenEntry, &shown, e)),
        };
        let st = fstat(&fd).map_err(NodeError::at(Op::Stat, &shown))?;
        if st.st_uid != uid && st.st_uid != 0 {
            return Ok(Removal::Foreign { uid: st.st_uid });
        }
        if st.st_dev == base_st.st_dev || !is_mount_root(&fd, &base_fd) {
            top = Some((fd, st.st_dev));
            break;
        }
        // The job directory itself is a mount point.
        if detach(&fd).is_err() {
            report.mounts_left += 1;
            report.problem(format!(
                "{} is a mount point that cannot be detached",
                shown.display()
            ));
            return Ok(Removal::Tree(report));
        }
        report.detached += 1;
    }
    let Some((top, dev)) = top else {
        report.mounts_left += 1;
        report.problem(format!(
            "{}: too many mounts stacked on it",
            shown.display()
        ));
        return Ok(Removal::Tree(report));
    };
    let lifted = AtomicU64::new(0);
    let walk = Walk {
        top: &top,
        dev,
        shown: &shown,
        deadline,
        lifted: &lifted,
    };
    remove_subdirs_in_parallel(&walk, &mut report);
    match top.try_clone() {
        Ok(t) => clear(t, &walk, &mut report),
        Err(e) => report.problem(format!("{}: {e}", shown.display())),
    }
    if report.out_of_time {
        return Ok(Removal::Tree(report));
    }
    match unlinkat(&base_fd, cname.as_c_str(), UnlinkatFlags::RemoveDir) {
        Ok(()) => {
            report.removed += 1;
            report.complete = true;
        }
        Err(Errno::ENOENT) => report.complete = true,
        Err(e) => {
            if report.problem_count == 0 {
                report.problem(format!("cannot remove {}: {e}", shown.display()));
            }
        }
    }
    Ok(Removal::Tree(report))
}

/// Remove the empty directory `path` (a BeeOND mount point after the
/// unmount) if it is one; its parent must be a trusted directory.
pub fn remove_empty_dir(path: &Path) -> Result<bool, NodeError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(NodeError::refused(path, Unsafe::NoParent));
    };
    let Some(dir) = open_trusted_dir(parent)? else {
        return Ok(false);
    };
    match unlinkat(&dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(NodeError::io(Op::Remove, path, e)),
    }
}

/// Unlink `path` (never following it) if its parent is a trusted root
/// directory, or a sticky one (like /var/tmp, where beeond's status file
/// lives by default). Ok(false) if it was not there.
pub fn unlink_entry(path: &Path) -> Result<bool, NodeError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(NodeError::refused(path, Unsafe::NoParent));
    };
    let Some(dir) = open_sticky_dir(parent)? else {
        return Ok(false);
    };
    match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(NodeError::io(Op::Remove, path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_from_fdinfo() {
        for (fdinfo, id) in [
            (
                "pos:\t0\nflags:\t02100000\nmnt_id:\t24\nino:\t256\n",
                Some(24),
            ),
            ("mnt_id: 7", Some(7)),
            // Linux < 3.15 does not say: then it counts as another mount.
            ("pos:\t0\nflags:\t02100000\n", None),
            ("mnt_id:\tx\n", None),
            ("", None),
        ] {
            assert_eq!(mnt_id_of(fdinfo), id, "{fdinfo:?}");
        }
    }

    #[test]
    fn a_directory_is_on_its_parents_mount_and_proc_is_not() {
        let here = nix::fcntl::open(".", dir_flags(), Mode::empty()).unwrap();
        let same = openat(&here, ".", dir_flags(), Mode::empty()).unwrap();
        assert!(mnt_id(&here).is_some());
        assert!(!is_mount_root(&same, &here));
        let proc = nix::fcntl::open("/proc", dir_flags(), Mode::empty()).unwrap();
        let root = nix::fcntl::open("/", dir_flags(), Mode::empty()).unwrap();
        assert!(is_mount_root(&proc, &root));
    }
}
