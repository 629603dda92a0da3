//! carme-prolog's work for one Carme job on one node ([`prepare`]), after
//! the gate and the plan ([`crate::nodejob`]).
//!
//! 0. A record of an earlier job with this id (job ids start again after
//!    slurmctld lost its state; a requeued job is a new attempt) is never
//!    taken for this job's ([`carme_core::leftover::is_earlier_job`]):
//!    what it names is cleaned up first ([`crate::jobclean`], its BeeOND
//!    stopped, its directories removed within the removal bound). What
//!    stays of it would be taken for this job's (the same paths): a node
//!    fault.
//! 1. Record the plan in the state dir, before anything is made, so that
//!    the epilog finds whatever this run gets to make, even if it dies.
//! 2. The job's tmp and scratch directories: `<base>/<jobid>`, the job's
//!    uid and gid, mode 0700 ([`crate::namespace::ensure_job_dir`], the
//!    same code the plugin uses, so both agree on what is safe). A base
//!    that is not a root-owned directory closed to others (a user may have
//!    created it first) is logged for the admin, never a node fault: the
//!    plugin refuses the job's steps on this node.
//!    A job path someone put there before (a symlink, a directory of
//!    another uid) is left untouched and reported: the job's steps are
//!    then refused that directory by the plugin, and the epilog removes a
//!    symlink there (never its target).
//! 3. BeeOND, when the job asks for it:
//!    - first node: clean up an earlier instance of this job id if there
//!      is one (its status file is still here, or the job was requeued):
//!      `beeond stop ... -c` under `stop_timeout`; write the node file;
//!      `beeond start` under `start_timeout`; check the mount; give its
//!      root to the job's user (0700). If start fails or times out (then
//!      its process group is killed), what it started is stopped again
//!      and the prolog fails.
//!    - other nodes: wait, at most `wait_timeout`, until the mount is
//!      there (their steps must not start before), then give its root to
//!      the user (a no-op on one shared BeeGFS, needed where each node has
//!      its own mount, as in the test harness). If it never comes, ask
//!      slurmctld once whether the job is still starting: if it is not
//!      (the first node's prolog failed and Slurm requeued the job), this
//!      node is not at fault and the prolog succeeds; else it fails.
//!
//! Failure policy: an `Err(Fault)` is a node fault; the prolog exits
//! non-zero, Slurm drains the node and requeues the job (held). Problems
//! caused by a job's own wishes never end up here (the plugin refuses
//! those jobs before they are queued).
//!
//! Bounds: first node `stop_timeout` (only for an earlier instance) +
//! `start_timeout` + `stop_timeout` (only after a failed start), other
//! nodes `wait_timeout` + one scontrol call (10 s); each run of beeond may
//! add [`crate::bounded::GRACE`] + [`crate::bounded::REAP_WAIT`] when it
//! has to be killed.

use std::path::Path;
use std::time::Duration;

use carme_core::beeond::{nodefile_text, start_argv, stop_argv};
use carme_core::logline::fields;

use crate::bounded::Ran;
use crate::error::{NodeError, Op, Unsafe};
use crate::joblog::Log;
use crate::namespace::{NamespaceError, ensure_job_dir};
use crate::nodejob::{BeeondNode, NodeJob};
use crate::nodeops::NodeOps;
use crate::syscall::{Kind, Stat};

/// A node fault: what happened (for the logs) and a short form (for the
/// node's drain reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub message: String,
    pub short: String,
}

fn fault(message: impl Into<String>, short: impl Into<String>) -> Fault {
    Fault {
        message: message.into(),
        short: short.into(),
    }
}

/// `90s`, `1.5s`, `250ms`.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// beeond's output, a few lines of it, for the log after a failure.
pub fn log_output(log: &dyn Log, what: &str, ran: &Ran) {
    let lines: Vec<&str> = ran
        .output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let from = lines.len().saturating_sub(20);
    for l in &lines[from..] {
        log.info(&format!("{what}: {l}"));
    }
}

/// Why a run failed, in one phrase.
pub fn failure(ran: &Ran, timeout: Duration) -> String {
    use crate::bounded::Exit;
    let why = match &ran.exit {
        Exit::TimedOut => format!(
            "did not finish within {} and was killed (with its process group)",
            secs(timeout)
        ),
        other => other.to_string(),
    };
    match ran.reason_line() {
        Some(l) if !matches!(ran.exit, Exit::TimedOut | Exit::NotStarted(_)) => {
            format!("{why}: {l}")
        }
        _ => why,
    }
}

/// Set the job up on this node (see the module doc). `state_dir` is where
/// the plan is recorded.
pub fn prepare(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    state_dir: &Path,
) -> Result<(), Fault> {
    let t0 = ops.elapsed();
    // Held until this job's record replaces the earlier one: a retry that
    // gets the lock after that finds the record is no longer the ended
    // job's, and leaves these paths alone.
    let lock = clear_earlier_job(ops, log, job, state_dir)?;
    let record = state_dir.join(crate::nodejob::record_name(job.job_id));
    // A value the record cannot hold byte for byte (a line break in an
    // admin's path) is refused like a failed write: nothing is set up.
    job.to_text()
        .and_then(|text| ops.write_root_file(&record, &text))
        .map_err(|e| {
            fault(
                format!("cannot record the job's setup: {e}"),
                "carme: cannot write its state dir",
            )
        })?;
    drop(lock);
    // The summary's fields: what is ready.
    let mut done: Vec<(&str, String)> = Vec::new();
    for (what, base) in [
        ("tmp", Some(&job.tmp_base)),
        ("scratch", job.scratch_base.as_ref()),
    ] {
        let Some(base) = base else { continue };
        if let Some(dir) = job_dir(ops, log, job, what, base)? {
            done.push((what, dir.display().to_string()));
        }
    }
    if let Some(b) = &job.beeond {
        let ready = if b.first {
            start_beeond(ops, log, job, b)?;
            true
        } else {
            wait_beeond(ops, log, job, b)?
        };
        if ready {
            done.push(("beeond", b.mount.display().to_string()));
            done.push(("beeond_started_by", b.first_node().to_string()));
        }
    }
    log.info(&summary(
        "ready",
        job,
        ops.elapsed().saturating_sub(t0),
        &done,
    ));
    Ok(())
}

/// The per-job summary line of the prolog (`ready`) or the epilog
/// (`cleaned`): `ready job=3 node=n2 took=62ms tmp=/var/tmp/carme/n2/3 ...`.
pub fn summary(event: &str, job: &NodeJob, took: Duration, done: &[(&str, String)]) -> String {
    let (id, took) = (job.job_id.to_string(), secs(took));
    let head = [("job", id.as_str()), ("node", &job.node), ("took", &took)];
    let rest = done.iter().map(|(k, v)| (*k, v.as_str()));
    format!("{event} {}", fields(head.into_iter().chain(rest)))
}

/// Clean up after an earlier job with this job's id whose record is still
/// here (see the module doc).
fn clear_earlier_job(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    state_dir: &Path,
) -> Result<Option<Box<dyn std::any::Any>>, Fault> {
    use crate::jobclean::{Cleaned, Source, clean};
    let old = match crate::jobclean::read_record(ops, state_dir, job.job_id) {
        Ok(Some(old)) => old,
        Ok(None) => return Ok(None),
        Err(e) => {
            log.warn(&format!("replacing an unreadable record: {e}"));
            return Ok(None);
        }
    };
    let ended = old.leftover.is_some();
    if !carme_core::leftover::is_earlier_job(&old.identity(), ended, &job.identity()) {
        // This job's own: the prolog runs again for the same attempt.
        return Ok(None);
    }
    // A retry of the earlier job's leftovers (in another job's prolog or
    // epilog, at most its budget) must not be removing in the paths this
    // job is about to get: wait for it, then read what it left.
    let wait = crate::jobclean::EPILOG_RETRY + std::time::Duration::from_secs(5);
    let lock = match ops.lock_job(state_dir, job.job_id, wait) {
        Ok(Some(l)) => Some(l),
        Ok(None) => {
            log.warn(&format!(
                "another run still cleans up after an earlier job {} after {}; going on",
                job.job_id,
                secs(wait)
            ));
            None
        }
        Err(e) => {
            log.warn(&format!("cannot lock the paths of job {}: {e}", job.job_id));
            None
        }
    };
    // Read again under the lock: a retry may have finished meanwhile.
    let old = match crate::jobclean::read_record(ops, state_dir, job.job_id) {
        Ok(Some(now)) => now,
        Ok(None) => return Ok(lock),
        Err(e) => {
            log.warn(&format!("replacing an unreadable record: {e}"));
            return Ok(lock);
        }
    };
    let ended = old.leftover.is_some();
    // The same user's earlier run (a requeue, which the user may ask for):
    // what its epilog could not remove is theirs. It stays in the paths
    // this run gets, and this run's epilog removes it. Never a reason to
    // wait or to drain: a user must not be able to drain a node by
    // requeueing a job that left a huge or unremovable tree.
    let same_paths = old.tmp_base == job.tmp_base && old.scratch_base == job.scratch_base;
    if ended
        && old.beeond.is_none()
        && same_paths
        && carme_core::leftover::same_user(&old.identity(), &job.identity())
    {
        log.warn(&format!(
            "an earlier run of job {} by the same user left directories ({} tries to \
             remove them); they stay for this run, and its epilog removes them",
            job.job_id,
            old.leftover.map_or(0, |t| t.tries)
        ));
        return Ok(lock);
    }
    log.warn(&format!(
        "the record of job {id} on this node is of an earlier job {id} (uid {}, gid {}, \
         requeued {} times, {}), not this one (uid {}, gid {}, requeued {} times): \
         cleaning up after that job first",
        old.uid,
        old.gid,
        old.restart,
        if ended {
            "ended with leftovers"
        } else {
            "never cleaned up"
        },
        job.uid,
        job.gid,
        job.restart,
        id = job.job_id,
    ));
    let blocked = |what: String| {
        fault(
            format!(
                "what an earlier job {id} left on this node blocks job {id} (the same \
                 paths): {what}; remove it, remove {}, then resume the node",
                state_dir
                    .join(crate::nodejob::record_name(job.job_id))
                    .display(),
                id = job.job_id
            ),
            format!("carme: leftovers of an earlier job {} block it", job.job_id),
        )
    };
    // Directories left are never a reason to drain (a user can make ones no
    // try removes): this job's record replaces the earlier one, and what
    // is left is the admin's to remove, as the log says. Where it is in
    // this job's paths, ensure_job_dir refuses it (another uid's) or
    // hands it on (the same user's), and the plugin refuses the job's
    // steps or runs them; no node is drained. A mount that stays is a
    // node fault, as in the epilog.
    let orphaned = |what: String| {
        log.error(&format!(
            "what an earlier job {id} (uid {}) left on this node stays: {what}. Nothing \
             retries it any more (job {id}'s record is this job's now): remove {} and {} \
             (if still there) by hand",
            old.uid,
            old.tmp_base.join(job.job_id.to_string()).display(),
            old.scratch_base
                .as_ref()
                .map_or("no scratch".to_string(), |s| s
                    .join(job.job_id.to_string())
                    .display()
                    .to_string()),
            id = job.job_id,
        ));
    };
    match clean(ops, log, &old, Source::Earlier, state_dir) {
        Ok(Cleaned::Clean) => Ok(lock),
        // A retry of another run finished it meanwhile, or still counts.
        Ok(Cleaned::TakenOver) => match crate::jobclean::read_record(ops, state_dir, job.job_id) {
            Ok(None) => Ok(lock),
            _ => {
                orphaned("another run retrying its cleanup left something".to_string());
                Ok(lock)
            }
        },
        Ok(Cleaned::Left { tries, .. }) => {
            orphaned(format!(
                "its directories could not all be removed ({} tries)",
                tries.tries
            ));
            Ok(lock)
        }
        Err(u) => Err(blocked(u.message)),
    }
}

fn job_dir(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    what: &str,
    base: &Path,
) -> Result<Option<std::path::PathBuf>, Fault> {
    match ensure_job_dir(ops.sys(), base, job.job_id, job.uid, job.gid) {
        Ok(dir) => Ok(Some(dir)),
        // Not a node fault: where a user could create the base (or a
        // parent) first, draining would let them take nodes out of service.
        // The plugin refuses the job's steps on this node with the same
        // check; the admin learns from this line.
        Err(NamespaceError::Refused { path, why }) if path == base => {
            log.error(&format!(
                "{what} base {}: {why}. Carme jobs are refused on this node until it is a \
                 root-owned directory that others cannot write to, in no directory users \
                 can write ([paths] {what}_base); the node stays in service",
                base.display()
            ));
            Ok(None)
        }
        Err(NamespaceError::Refused { path, why }) => {
            log.warn(&format!(
                "{}: {why}. Left untouched: the job's steps are refused their {what} \
                 directory. Carme never makes such an entry; find out who did (the epilog \
                 removes a symlink there, never its target)",
                path.display()
            ));
            Ok(None)
        }
        Err(e) => Err(fault(
            format!("cannot make the job's {what} directory: {e}"),
            format!("carme: cannot make {what} directories"),
        )),
    }
}

/// Unmount whatever is still mounted on `mount` (lazily, so busy mounts go
/// too); Err if something stays.
pub fn unmount_local(ops: &dyn NodeOps, log: &dyn Log, mount: &Path) -> Result<(), NodeError> {
    for _ in 0..4 {
        match ops.mounted(mount) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                crate::nodeops::lazy_unmount(ops.sys(), mount)
                    .map_err(NodeError::at(Op::LazyUnmount, mount))?;
                log.warn(&format!("lazily unmounted {}", mount.display()));
            }
            Err(e) => return Err(NodeError::MountTable(e)),
        }
    }
    match ops.mounted(mount) {
        Ok(false) => Ok(()),
        _ => Err(NodeError::StillMounted {
            path: mount.to_path_buf(),
        }),
    }
}

/// Give the root of the job's BeeOND on this node to the job's user.
fn own_mount_root(ops: &dyn NodeOps, job: &NodeJob, b: &BeeondNode) -> Result<(), NodeError> {
    let st = ops
        .sys()
        .lstat(&b.mount)
        .map_err(NodeError::at(Op::Stat, &b.mount))?;
    if st.kind != Kind::Dir {
        return Err(NodeError::refused(&b.mount, Unsafe::NotMountRoot(st.kind)));
    }
    ops.sys()
        .chown(&b.mount, job.uid, job.gid)
        .and_then(|()| ops.sys().chmod(&b.mount, 0o700))
        .map_err(|err| NodeError::Chown {
            path: b.mount.clone(),
            uid: job.uid,
            gid: job.gid,
            err,
        })
}

/// Check the root-owned directories beeond works in on this node. All of
/// them, parents included, must be root's alone (no sticky parent like a
/// world-writable /local): then whether they pass depends on the config
/// only, never on what a user created first, and a failure (which drains
/// the node) is the admin's to fix.
fn check_beeond_dirs(ops: &dyn NodeOps, b: &BeeondNode) -> Result<(), Fault> {
    let unsafe_dir = |what: &str, key: &str, why: NodeError| {
        fault(
            format!(
                "BeeOND {what}: {why} ([beeond] {key}: it and every parent must be root's, \
                 not writable by group or others, and not sticky)"
            ),
            format!("carme: unsafe BeeOND {what}"),
        )
    };
    ops.prepare_private_dir(&b.mount_base, 0o755)
        .map_err(|why| unsafe_dir("mount base", "mount_base", why))?;
    if let Some(parent) = b.setup.data_dir.parent() {
        ops.prepare_private_dir(parent, 0o755)
            .map_err(|why| unsafe_dir("data directory", "data_dir", why))?;
    }
    check_status_dir(ops, b).map_err(|why| {
        fault(
            format!("{why}; BeeOND is not started"),
            "carme: unsafe BeeOND status_dir",
        )
    })?;
    // beeond writes its services' logs below <log_dir>/beeond-<jobid> as
    // root: log_dir must be root's and closed to others like the others.
    if let Some(parent) = b.setup.log_dir.parent() {
        ops.prepare_private_dir(parent, 0o700)
            .map_err(|why| unsafe_dir("log directory", "paths.log_dir", why))?;
    }
    Ok(())
}

/// BeeOND's status file names what `beeond stop`/`stoplocal` delete, kill
/// and unmount as root: it may only live where nobody but root can create
/// or replace anything. Checked before every use (prolog and epilog); Err
/// is the admin's message (a config error: no run of beeond may use it).
pub fn check_status_dir(ops: &dyn NodeOps, b: &BeeondNode) -> Result<(), NodeError> {
    let Some(dir) = b.setup.status_file.parent() else {
        return Err(NodeError::Invalid(format!(
            "[beeond] status_dir: {} has no directory",
            b.setup.status_file.display()
        )));
    };
    ops.prepare_private_dir(dir, 0o700)
        .map_err(|why| NodeError::UnsafeStatusDir {
            dir: dir.to_path_buf(),
            why: Box::new(why),
        })
}

/// What is at the path of the job's BeeOND status file.
enum StatusFile {
    Absent,
    /// A root-owned regular file with one link: beeond's.
    Beeonds,
    /// Something else was there (the status dir is root's alone, so only
    /// root could have put it there; still never handed to beeond):
    /// removed, and logged.
    Removed,
    /// Something else is there and cannot be removed.
    Unremovable(Stat, NodeError),
    Unreadable(std::io::Error),
}

fn status_file(ops: &dyn NodeOps, log: &dyn Log, status: &Path) -> StatusFile {
    match ops.sys().lstat(status) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StatusFile::Absent,
        Err(e) => StatusFile::Unreadable(e),
        Ok(st) if st.kind == Kind::File && st.uid == 0 && st.nlink == 1 => StatusFile::Beeonds,
        Ok(st) => match ops.unlink(status) {
            Ok(_) => {
                log.warn(&format!(
                    "removed {}: a {:?} owned by uid {}, not beeond's status file; BeeOND \
                     status files belong in a directory only root can write ([beeond] \
                     status_dir)",
                    status.display(),
                    st.kind,
                    st.uid
                ));
                StatusFile::Removed
            }
            Err(e) => StatusFile::Unremovable(st, e),
        },
    }
}

/// Whether the job's BeeOND status file is there; anything in its place
/// that is not beeond's is removed, never handed to beeond. An lstat error
/// counts as "there" (cleanup is then retried).
pub fn status_file_present(ops: &dyn NodeOps, log: &dyn Log, status: &Path) -> bool {
    match status_file(ops, log, status) {
        StatusFile::Absent | StatusFile::Removed => false,
        StatusFile::Beeonds | StatusFile::Unreadable(_) => true,
        StatusFile::Unremovable(st, e) => {
            log.error(&format!(
                "{} is not beeond's status file (a {:?} owned by uid {}) and cannot be \
                 removed: {e}",
                status.display(),
                st.kind,
                st.uid
            ));
            false
        }
    }
}

fn start_beeond(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    b: &BeeondNode,
) -> Result<(), Fault> {
    check_beeond_dirs(ops, b)?;
    let s = &b.setup;
    let status = &s.status_file;
    let stale = match status_file(ops, log, status) {
        StatusFile::Absent | StatusFile::Removed => false,
        StatusFile::Beeonds => true,
        StatusFile::Unremovable(_, e) => {
            return Err(fault(
                format!("cannot remove {} (not beeond's): {e}", status.display()),
                "carme: BeeOND status file blocked",
            ));
        }
        StatusFile::Unreadable(e) => {
            return Err(fault(
                format!("{}: {e}", status.display()),
                "carme: BeeOND status file unreadable",
            ));
        }
    };
    ops.write_root_file(&s.nodefile, &nodefile_text(&s.nodes))
        .map_err(|e| {
            fault(
                format!("cannot write BeeOND's node file: {e}"),
                "carme: cannot write its state dir",
            )
        })?;
    if stale || job.restart > 0 {
        let why = if stale {
            format!("its status file {} is still there", status.display())
        } else {
            format!("the job was requeued ({} times)", job.restart)
        };
        log.warn(&format!(
            "cleaning up an earlier BeeOND of job {} first: {why}",
            job.job_id
        ));
        let ran = ops.run(&stop_argv(s), b.stop_timeout);
        if !ran.ok() {
            log.warn(&format!(
                "beeond stop (cleanup) {}",
                failure(&ran, b.stop_timeout)
            ));
            log_output(log, "beeond stop", &ran);
        }
        unmount_local(ops, log, &b.mount).map_err(|e| {
            fault(
                format!(
                    "an earlier BeeOND of job {} cannot be removed: {e}",
                    job.job_id
                ),
                "carme: stale BeeOND mount",
            )
        })?;
    }
    let ran = ops.run(&start_argv(s), b.start_timeout);
    let failed = |why: String| {
        log_output(log, "beeond start", &ran);
        stop_after_failed_start(ops, log, b);
        fault(
            format!(
                "BeeOND could not be started on {}: {why}. The node is drained; check \
                 beeond on these nodes (logs in {}), then resume it",
                s.nodes.join(","),
                s.log_dir.display()
            ),
            format!(
                "carme: BeeOND start {}",
                if matches!(ran.exit, crate::bounded::Exit::TimedOut) {
                    format!("timed out after {}", secs(b.start_timeout))
                } else {
                    "failed".to_string()
                }
            ),
        )
    };
    if !ran.ok() {
        return Err(failed(format!(
            "beeond start {}",
            failure(&ran, b.start_timeout)
        )));
    }
    match ops.mounted(&b.mount) {
        Ok(true) => {}
        Ok(false) => {
            return Err(failed(format!(
                "beeond start succeeded, but nothing is mounted at {}",
                b.mount.display()
            )));
        }
        Err(e) => return Err(failed(format!("cannot read the mount table: {e}"))),
    }
    own_mount_root(ops, job, b).map_err(|e| failed(e.to_string()))?;
    log.info(&format!(
        "BeeOND started on {} in {}",
        s.nodes.join(","),
        secs(ran.elapsed)
    ));
    Ok(())
}

/// After a failed start: stop what it started, on every node, and make
/// sure nothing stays mounted here.
fn stop_after_failed_start(ops: &dyn NodeOps, log: &dyn Log, b: &BeeondNode) {
    let ran = ops.run(&stop_argv(&b.setup), b.stop_timeout);
    if ran.ok() {
        log.info("stopped what the failed beeond start had started");
    } else {
        log.warn(&format!(
            "beeond stop after the failed start {}",
            failure(&ran, b.stop_timeout)
        ));
        log_output(log, "beeond stop", &ran);
    }
    if let Err(e) = unmount_local(ops, log, &b.mount) {
        log.error(&format!("after the failed start: {e}"));
    }
}

/// How often a node waiting past `wait_timeout` asks slurmctld whether
/// the job was given up.
const ASK_EVERY: Duration = Duration::from_secs(5);

/// The longest the first node's prolog can take over BeeOND: a stop of an
/// earlier instance, the start, a stop after a failed start (each killed
/// at its bound, then up to GRACE + REAP_WAIT more), then setting the
/// drain reason.
pub fn first_node_bound(b: &BeeondNode) -> Duration {
    let kill = crate::bounded::GRACE + crate::bounded::REAP_WAIT;
    b.stop_timeout + b.start_timeout + b.stop_timeout + kill * 3 + crate::slurmctl::TIMEOUT
}

/// Wait for the first node's BeeOND; Ok(false) when the job was given up
/// meanwhile. At `wait_timeout` ask slurmctld once: a job given up means
/// nothing to do here; a job still starting gets until the first node's
/// own bound (so a slow or failing start drains the first node, not
/// every node), then this node gives up too.
fn wait_beeond(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    b: &BeeondNode,
) -> Result<bool, Fault> {
    check_beeond_dirs(ops, b)?;
    // A file planted here would make beeond's start on this node fail.
    status_file_present(ops, log, &b.setup.status_file);
    let t0 = ops.elapsed();
    let hard = t0 + b.wait_timeout.max(first_node_bound(b));
    let mut next_ask = t0 + b.wait_timeout;
    let mut extended = false;
    let mut nap = Duration::from_millis(20);
    loop {
        match ops.mounted(&b.mount) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                return Err(fault(
                    format!("cannot read the mount table: {e}"),
                    "carme: cannot read the mount table",
                ));
            }
        }
        let now = ops.elapsed();
        if now >= hard {
            return mount_never_came(ops, log, job, b, now - t0);
        }
        if now >= next_ask {
            match ops.job_state(job.job_id) {
                Ok(st) if !st.is_attempt(job.restart) => {
                    log.info(&format!(
                        "BeeOND of job {} did not appear within {}, and the job is {} now \
                         (requeued {} times): the first node gave up ({}); nothing to do here",
                        job.job_id,
                        secs(now - t0),
                        st.state,
                        st.restarts,
                        b.first_node()
                    ));
                    return Ok(false);
                }
                Ok(_) => {
                    if !extended {
                        log.info(&format!(
                            "BeeOND not here after {} ([beeond] wait_timeout) and the job is \
                             still starting: waiting up to {} in all (the first node {}'s \
                             bound), asking slurmctld every {}",
                            secs(b.wait_timeout),
                            secs(hard - t0),
                            b.first_node(),
                            secs(ASK_EVERY)
                        ));
                        extended = true;
                    }
                    next_ask = ops.elapsed() + ASK_EVERY;
                }
                Err(_) => return mount_never_came(ops, log, job, b, now - t0),
            }
            continue;
        }
        ops.sleep(nap.min(next_ask.min(hard) - now));
        nap = (nap * 2).min(Duration::from_millis(500));
    }
    own_mount_root(ops, job, b).map_err(|e| {
        fault(
            format!("BeeOND of job {}: {e}", job.job_id),
            "carme: cannot give the BeeOND mount to the job",
        )
    })?;
    Ok(true)
}

fn mount_never_came(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    b: &BeeondNode,
    waited: Duration,
) -> Result<bool, Fault> {
    let what = format!(
        "BeeOND of job {} did not appear at {} within {} ([beeond] wait_timeout {}); the \
         first node {} starts it",
        job.job_id,
        b.mount.display(),
        secs(waited),
        secs(b.wait_timeout),
        b.first_node()
    );
    let short = format!("carme: BeeOND did not appear within {}", secs(waited));
    match ops.job_state(job.job_id) {
        Ok(st) if !st.is_attempt(job.restart) => {
            log.info(&format!(
                "{what}, and the job is {} now (requeued {} times): the first node gave up; \
                 nothing to do here",
                st.state, st.restarts
            ));
            Ok(false)
        }
        Ok(st) => Err(fault(
            format!(
                "{what}, and the job is still {}: see the first node's log; check that the \
                 BeeGFS client can mount here",
                st.state
            ),
            short,
        )),
        Err(e) => Err(fault(
            format!("{what}, and slurmctld could not tell whether the job still runs: {e}"),
            short,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_are_key_value_fields() {
        let job = NodeJob {
            job_id: 3,
            restart: 0,
            uid: 1000,
            gid: 1000,
            node: "n2".into(),
            tmp_base: "/var/tmp/carme".into(),
            scratch_base: None,
            beeond: None,
            leftover: None,
        };
        let done = [
            ("tmp", "/var/tmp/carme/n2/3".to_string()),
            ("beeond", "/mnt/beeond/3".to_string()),
            ("beeond_started_by", "n1".to_string()),
        ];
        assert_eq!(
            summary("ready", &job, Duration::from_millis(62), &done),
            "ready job=3 node=n2 took=62ms tmp=/var/tmp/carme/n2/3 beeond=/mnt/beeond/3 \
             beeond_started_by=n1"
        );
        // A path with a space stays one field.
        let done = [("tmp", "/var/tmp/my jobs/3".to_string())];
        assert_eq!(
            summary("cleaned", &job, Duration::from_secs(2), &done),
            "cleaned job=3 node=n2 took=2s tmp=\"/var/tmp/my jobs/3\""
        );
        assert_eq!(
            summary("ready", &job, Duration::ZERO, &[]),
            "ready job=3 node=n2 took=0ms"
        );
    }
}
