//! The root-owned state directory (`[paths] state_dir`) and the job
//! records carme-prolog writes there.
//!
//! Safety: every existing component of the directory path must be a real
//! directory (never a symlink) owned by root and not writable by others,
//! unless sticky like /tmp; records are opened with O_NOFOLLOW and must be
//! root-owned regular files. A user therefore can neither redirect where
//! root writes nor forge a record.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use carme_core::record::JobRecord;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, lstat};
use nix::unistd::mkdir;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::{NodeError, Op, Unsafe, entry_path};

/// Records larger than this are not ours.
const MAX_RECORD: u64 = 64 * 1024;

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn is_file(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

/// Root-owned and not writable by group or others (sticky dirs, like /tmp,
/// may be world-writable: others cannot replace what root created there).
fn trusted_dir(st: &FileStat) -> bool {
    let writable_by_others = st.st_mode & 0o022 != 0;
    let sticky = st.st_mode & 0o1000 != 0;
    is_dir(st) && st.st_uid == 0 && (!writable_by_others || sticky)
}

/// Make sure `dir` exists as a root-owned directory with `mode`, checking
/// every component on the way (created ones get 0755). Parents may be
/// sticky and world-writable (like /var/tmp): others cannot replace what
/// root owns there.
pub fn ensure_root_dir(dir: &Path, mode: u32) -> Result<(), NodeError> {
    ensure_dir(dir, mode, Parents::MaySticky)
}

/// [`ensure_root_dir`], but no component of `dir` may be writable by
/// group or others, sticky or not: nobody but root can have created any
/// of them, or create anything in `dir`. For paths that root hands to a
/// tool that trusts what it finds there (BeeOND's status file).
pub fn ensure_private_root_dir(dir: &Path, mode: u32) -> Result<(), NodeError> {
    ensure_dir(dir, mode, Parents::Private)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parents {
    MaySticky,
    Private,
}

fn ensure_dir(dir: &Path, mode: u32, parents: Parents) -> Result<(), NodeError> {
    if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
        return Err(NodeError::refused(dir, Unsafe::NotPlainAbsolute));
    }
    let fits = |st: &FileStat, last: bool| {
        let open = st.st_mode & 0o022 != 0;
        match parents {
            // Only the final dir must be closed to others.
            Parents::MaySticky => trusted_dir(st) && (!last || !open),
            Parents::Private => is_dir(st) && st.st_uid == 0 && !open && st.st_mode & 0o1000 == 0,
        }
    };
    let mut cur = PathBuf::from("/");
    let comps: Vec<_> = dir.components().skip(1).collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let last = i + 1 == comps.len();
        match lstat(&cur) {
            Ok(st) => {
                if !fits(&st, last) {
                    return Err(NodeError::refused(
                        cur,
                        Unsafe::NotClosedDir {
                            uid: st.st_uid,
                            mode: st.st_mode & 0o7777,
                        },
                    ));
                }
            }
            Err(Errno::ENOENT) => {
                let m = if last { mode } else { 0o755 };
                match mkdir(&cur, Mode::from_bits_truncate(m)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(NodeError::io(Op::Create, cur, e)),
                }
                // Re-check what is there now (a racing creator must not win).
                let st = lstat(&cur).map_err(NodeError::at(Op::Stat, &cur))?;
                if !fits(&st, last) {
                    return Err(NodeError::refused(cur, Unsafe::Changed));
                }
            }
            Err(e) => return Err(NodeError::io(Op::Stat, cur, e)),
        }
    }
    Ok(())
}

/// A lock on one job id's records and directories on this node, held
/// while a run cleans up after an ended job with that id (a retry of its
/// leftovers, or the prolog of a new job with its id): two never work in
/// the same paths at once. Released when dropped.
pub struct JobLock {
    _held: nix::fcntl::Flock<std::fs::File>,
}

/// Take the lock of `job` in the root-owned `dir`, waiting at most `wait`;
/// Ok(None) when another run still holds it then. The lock file is
/// root's, 0600, opened without following links; it stays (empty).
pub fn lock_job(
    dir: &Path,
    job: u32,
    wait: std::time::Duration,
) -> Result<Option<JobLock>, NodeError> {
    use nix::fcntl::{Flock, FlockArg};
    ensure_root_dir(dir, 0o700)?;
    let path = dir.join(format!("job-{job}.lock"));
    let fd = open(
        &path,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(NodeError::at(Op::Open, &path))?;
    let st = fstat(fd.as_fd()).map_err(NodeError::at(Op::Stat, &path))?;
    if !is_file(&st) || st.st_uid != 0 {
        return Err(NodeError::refused(path, Unsafe::NotRootFile));
    }
    let deadline = std::time::Instant::now() + wait;
    let mut file = std::fs::File::from(fd);
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(Some(JobLock { _held: held })),
            Err((f, Errno::EWOULDBLOCK)) => {
                if std::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                file = f;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err((_, e)) => return Err(NodeError::io(Op::Lock, path, e)),
        }
    }
}

fn record_name(job: u32) -> String {
    format!("job-{job}")
}

/// Carme's cached limits verdict for a job on this node.
fn verdict_name(job: u32) -> String {
    format!("job-{job}.limits")
}

/// Write `text` atomically as `path` (root, 0600); its directory is made
/// a root-owned directory closed to others first.
pub fn write_root_file(path: &Path, text: &str) -> Result<(), NodeError> {
    write_root_file_as(path, text, "")
}

/// [`write_root_file`] through a temp file of this process's own
/// (`tag`), for files that several processes may write at once (the steps
/// of one job keeping slurmctld's answer): one never renames another's
/// half-written temp file into place.
fn write_root_file_as(path: &Path, text: &str, tag: &str) -> Result<(), NodeError> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(NodeError::refused(path, Unsafe::NoDirectory));
    };
    ensure_root_dir(dir, 0o700)?;
    let d = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(NodeError::at(Op::Open, dir))?;
    let tmp = format!(".{}{tag}.tmp", name.to_string_lossy());
    let tmp_path = entry_path(dir, &tmp);
    // A crashed earlier writer may have left the temp file.
    match unlinkat(&d, tmp.as_str(), UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(NodeError::io(Op::Unlink, tmp_path, e)),
    }
    let fd = openat(
        &d,
        tmp.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(NodeError::at(Op::Open, &tmp_path))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(text.as_bytes())
        .map_err(NodeError::at(Op::Write, &tmp_path))?;
    drop(f);
    renameat(&d, tmp.as_str(), &d, name).map_err(NodeError::at(Op::Rename, path))
}

/// `path` if it exists as a root-owned regular file of at most `max`
/// bytes (never following a symlink). One failed open() when it does not
/// exist.
pub fn read_root_file(path: &Path, max: u64) -> Result<Option<String>, NodeError> {
    let fd = match open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(NodeError::io(Op::Open, path, e)),
    };
    let st = fstat(fd.as_fd()).map_err(NodeError::at(Op::Stat, path))?;
    if !is_file(&st) || st.st_uid != 0 || st.st_size as u64 > max {
        return Err(NodeError::refused(
            path,
            Unsafe::NotCarmes {
                uid: st.st_uid,
                mode: st.st_mode,
            },
        ));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(max)
        .read_to_string(&mut text)
        .map_err(NodeError::at(Op::Read, path))?;
    Ok(Some(text))
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), NodeError> {
    write_root_file(&dir.join(name), text)
}

fn read_file(dir: &Path, name: &str) -> Result<Option<String>, NodeError> {
    read_root_file(&dir.join(name), MAX_RECORD)
}

/// Write `rec` atomically as `<dir>/job-<id>` (the prolog, as a job
/// starts on this node). A limits verdict kept for this job id goes: it
/// can only be an earlier job's (job ids start again after slurmctld lost
/// its state), and a new job is never judged by another's verdict.
pub fn write_record(dir: &Path, rec: &JobRecord) -> Result<(), NodeError> {
    write_file(dir, &record_name(rec.job_id), &rec.to_text())?;
    let verdict = dir.join(verdict_name(rec.job_id));
    match nix::unistd::unlink(&verdict) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(NodeError::io(Op::Unlink, verdict, e)),
    }
}

/// Keep slurmctld's answer `rec` as the record of its job (slurmstepd,
/// where no prolog recorded the job). Ok(false) when a run cleaning up
/// after an earlier job with this id holds the id's lock: then nothing is
/// kept (the next step asks again). When the record it replaces was an
/// earlier job's (`replaces_earlier_job`), a limits verdict kept for this
/// id goes too, as with [`write_record`].
pub fn keep_record(
    dir: &Path,
    rec: &JobRecord,
    replaces_earlier_job: bool,
) -> Result<bool, NodeError> {
    // A run cleaning up after an earlier job with this id makes the id's
    // lock file and holds it. With no lock file, none runs: taking the lock
    // here would leave one lock file per job on every node without a
    // prolog (nothing removes them). One starting right after this check
    // only finds this job's own facts kept, which are right.
    let _lock = match nix::sys::stat::lstat(&dir.join(format!("job-{}.lock", rec.job_id))) {
        Err(Errno::ENOENT) => None,
        _ => match lock_job(dir, rec.job_id, std::time::Duration::ZERO)? {
            Some(lock) => Some(lock),
            None => return Ok(false),
        },
    };
    if replaces_earlier_job {
        let verdict = dir.join(verdict_name(rec.job_id));
        match nix::unistd::unlink(&verdict) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(NodeError::io(Op::Unlink, verdict, e)),
        }
    }
    let path = dir.join(record_name(rec.job_id));
    write_root_file_as(&path, &rec.to_text(), &format!(".{}", std::process::id()))?;
    Ok(true)
}

/// The record of `job`, if there is one.
pub fn read_record(dir: &Path, job: u32) -> Result<Option<JobRecord>, NodeError> {
    let Some(text) = read_file(dir, &record_name(job))? else {
        return Ok(None);
    };
    let path = dir.join(record_name(job));
    let rec = match JobRecord::parse(&text) {
        Ok(rec) => rec,
        Err(why) => return Err(NodeError::Record { path, why }),
    };
    if rec.job_id != job {
        return Err(NodeError::WrongJob {
            path,
            job: rec.job_id,
        });
    }
    Ok(Some(rec))
}

/// The limits verdict for a whole job, decided once per job on each node
/// so that later steps need not ask slurmctld again: Ok, or the refusal.
pub type Verdict = Result<(), String>;

const VERDICT_OK: &str = "carme-job-verdict 1\nok\n";
const VERDICT_REFUSED: &str = "carme-job-verdict 1\nrefused\n";

pub fn write_verdict(dir: &Path, job: u32, verdict: &Verdict) -> Result<(), NodeError> {
    let text = match verdict {
        Ok(()) => VERDICT_OK.to_string(),
        Err(message) => format!("{VERDICT_REFUSED}{message}\n"),
    };
    write_file(dir, &verdict_name(job), &text)
}

pub fn read_verdict(dir: &Path, job: u32) -> Result<Option<Verdict>, NodeError> {
    let Some(text) = read_file(dir, &verdict_name(job))? else {
        return Ok(None);
    };
    if text == VERDICT_OK {
        Ok(Some(Ok(())))
    } else if let Some(message) = text.strip_prefix(VERDICT_REFUSED) {
        Ok(Some(Err(message.trim_end().to_string())))
    } else {
        Err(NodeError::Record {
            path: dir.join(verdict_name(job)),
            why: "not a Carme verdict".into(),
        })
    }
}

/// Remove everything Carme keeps for `job` on this node; true if there
/// was anything. Never follows or removes anything but these names.
pub fn remove_job(dir: &Path, job: u32) -> Result<bool, NodeError> {
    let d = match open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(d) => d,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(NodeError::io(Op::Open, dir, e)),
    };
    let mut removed = false;
    for name in [record_name(job), verdict_name(job)] {
        // unlinkat removes a symlink itself, never what it points to.
        match unlinkat(&d, name.as_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) => removed = true,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(NodeError::io(Op::Unlink, entry_path(dir, &name), e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("carme-node-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    fn rec(job_id: u32) -> JobRecord {
        JobRecord {
            job_id,
            uid: 1000,
            gid: 1000,
            constraint: "carme&gpu".into(),
            account: Some("projx".into()),
            gpus: None,
            until: None,
        }
    }

    // These run as root in CI (the harness needs root anyway); as another
    // user, the ownership checks would refuse the temp dirs, so say so.
    fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "carme-node tests check root-owned state: run them as root (make test does)"
        );
    }

    #[test]
    fn write_read_remove() {
        require_root();
        let base = scratch("wrr");
        let dir = base.join("state/n1");
        assert_eq!(read_record(&dir, 7).unwrap(), None, "no dir: no record");
        write_record(&dir, &rec(7)).unwrap();
        let st = std::fs::metadata(&dir).unwrap();
        assert_eq!(st.permissions().mode() & 0o777, 0o700);
        assert_eq!(read_record(&dir, 7).unwrap(), Some(rec(7)));
        assert_eq!(read_record(&dir, 8).unwrap(), None);
        // Rewriting (a prolog run twice) replaces.
        let mut r = rec(7);
        r.constraint = "carme".into();
        write_record(&dir, &r).unwrap();
        assert_eq!(read_record(&dir, 7).unwrap(), Some(r));
        write_verdict(&dir, 7, &Err("too many GPUs".into())).unwrap();
        assert_eq!(
            read_verdict(&dir, 7).unwrap(),
            Some(Err("too many GPUs".into()))
        );
        write_verdict(&dir, 7, &Ok(())).unwrap();
        assert_eq!(read_verdict(&dir, 7).unwrap(), Some(Ok(())));
        // A new job with this id (after slurmctld lost its state) is never
        // judged by the earlier one's verdict: its record replaces it.
        write_record(&dir, &rec(7)).unwrap();
        assert_eq!(read_verdict(&dir, 7).unwrap(), None);
        write_verdict(&dir, 7, &Ok(())).unwrap();
        assert!(remove_job(&dir, 7).unwrap());
        assert_eq!(read_verdict(&dir, 7).unwrap(), None);
        assert!(!remove_job(&dir, 7).unwrap(), "second removal is a no-op");
        assert_eq!(read_record(&dir, 7).unwrap(), None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Issue 11: slurmstepd keeps slurmctld's answer in the job's record,
    /// not while a cleanup run holds the id, and an earlier job's verdict
    /// goes with that job's record.
    #[test]
    fn kept_records_replace_and_yield_to_cleanup_runs() {
        require_root();
        let base = scratch("keep");
        let dir = base.join("state");
        let mut kept = rec(9);
        kept.until = Some(1_000);
        assert!(keep_record(&dir, &kept, false).unwrap());
        assert_eq!(read_record(&dir, 9).unwrap(), Some(kept.clone()));
        // No lock file per job: nothing would remove it.
        assert!(!dir.join("job-9.lock").exists(), "a lock file was left");
        write_verdict(&dir, 9, &Ok(())).unwrap();
        // The same job's record again (expired): the verdict stays.
        assert!(keep_record(&dir, &kept, false).unwrap());
        assert_eq!(read_verdict(&dir, 9).unwrap(), Some(Ok(())));
        // An earlier job's: its verdict goes.
        kept.uid = 1001;
        assert!(keep_record(&dir, &kept, true).unwrap());
        assert_eq!(read_verdict(&dir, 9).unwrap(), None);
        assert_eq!(read_record(&dir, 9).unwrap(), Some(kept.clone()));
        let held = lock_job(&dir, 9, std::time::Duration::ZERO).unwrap();
        assert!(held.is_some());
        kept.uid = 1002;
        assert!(
            !keep_record(&dir, &kept, false).unwrap(),
            "kept while locked"
        );
        assert_eq!(read_record(&dir, 9).unwrap().unwrap().uid, 1001);
        drop(held);
        // No temp file of ours is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Issue 13 (review): two runs never clean up after one job id at once.
    #[test]
    fn job_locks_exclude_each_other_and_end_when_dropped() {
        require_root();
        let base = scratch("lock");
        let dir = base.join("state");
        let first = lock_job(&dir, 42, std::time::Duration::ZERO).unwrap();
        assert!(first.is_some());
        let t = std::time::Instant::now();
        let second = lock_job(&dir, 42, std::time::Duration::from_millis(200)).unwrap();
        assert!(second.is_none(), "taken twice");
        assert!(t.elapsed() >= std::time::Duration::from_millis(200));
        assert!(
            lock_job(&dir, 43, std::time::Duration::ZERO)
                .unwrap()
                .is_some()
        );
        drop(first);
        assert!(
            lock_job(&dir, 42, std::time::Duration::ZERO)
                .unwrap()
                .is_some()
        );
        // Never through a link planted in its place.
        std::fs::remove_file(dir.join("job-44.lock")).ok();
        symlink("/etc/passwd", dir.join("job-44.lock")).unwrap();
        assert!(lock_job(&dir, 44, std::time::Duration::ZERO).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Issue 13 (critical): BeeOND's status dir must be root's alone all
    /// the way down: a sticky or open directory anywhere on the path (like
    /// /var/tmp, the old default) would let a user plant the status file.
    #[test]
    fn private_root_dirs_have_no_sticky_or_open_component() {
        require_root();
        // /var/lib: root's, 0755, on every Debian and EL node.
        let base = PathBuf::from(format!(
            "/var/lib/carme-test-private-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;

        let good = base.join("run/beeond");
        ensure_private_root_dir(&good, 0o700).unwrap();
        assert_eq!(mode(&good), 0o700);
        ensure_private_root_dir(&good, 0o700).unwrap();

        // Sticky and world-writable, like /var/tmp: fine for a parent of
        // ensure_root_dir, never for the private dir or its parents.
        let sticky = base.join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure_root_dir(&sticky.join("status"), 0o755).unwrap();
        let e = ensure_private_root_dir(&sticky.join("status"), 0o700).unwrap_err();
        assert_eq!(
            e.unsafe_why(),
            Some(&Unsafe::NotClosedDir {
                uid: 0,
                mode: 0o1777
            }),
            "{e}"
        );
        assert_eq!(e.path(), Some(sticky.as_path()));
        assert!(ensure_private_root_dir(&sticky, 0o700).is_err());
        // Sticky alone, or writable by the group, or owned by a user.
        for (m, uid) in [(0o1755, 0), (0o775, 0), (0o755, 54321)] {
            let d = base.join(format!("d{m:o}-{uid}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m)).unwrap();
            std::os::unix::fs::chown(&d, Some(uid), None).unwrap();
            assert!(ensure_private_root_dir(&d, 0o700).is_err(), "{m:o} {uid}");
            assert!(
                ensure_private_root_dir(&d.join("x"), 0o700).is_err(),
                "{m:o} {uid}"
            );
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn refuses_symlinked_or_foreign_directories() {
        require_root();
        let base = scratch("sym");
        let target = base.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        symlink(&target, base.join("link")).unwrap();
        let err = write_record(&base.join("link/n1"), &rec(1)).unwrap_err();
        assert!(
            matches!(err.unsafe_why(), Some(Unsafe::NotClosedDir { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains("not a root-owned directory"),
            "{err}"
        );
        assert!(!target.join("n1").exists(), "wrote through a symlink");

        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            ensure_root_dir(&open, 0o700).is_err(),
            "world-writable final dir"
        );

        let user_owned = base.join("user");
        std::fs::create_dir(&user_owned).unwrap();
        nix::unistd::chown(&user_owned, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert!(ensure_root_dir(&user_owned.join("x"), 0o700).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn refuses_forged_records() {
        require_root();
        let base = scratch("forged");
        let dir = base.join("s");
        ensure_root_dir(&dir, 0o700).unwrap();
        // A symlink in place of the record is not followed.
        symlink("/etc/hostname", dir.join("job-3")).unwrap();
        assert!(read_record(&dir, 3).is_err());
        assert!(remove_job(&dir, 3).unwrap(), "the link itself is removed");
        assert!(Path::new("/etc/hostname").exists());
        // A record not owned by root is refused.
        std::fs::write(dir.join("job-4"), rec(4).to_text()).unwrap();
        nix::unistd::chown(
            &dir.join("job-4"),
            Some(nix::unistd::Uid::from_raw(65534)),
            None,
        )
        .unwrap();
        assert!(read_record(&dir, 4).is_err());
        // A record for another job is refused.
        std::fs::write(dir.join("job-5"), rec(6).to_text()).unwrap();
        assert!(read_record(&dir, 5).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
