//! carme-epilog's work for one Carme job on one node ([`clean`]).
//!
//! What to clean comes from the prolog's record of the job on this node
//! ([`Source::Record`]); without one (the prolog never ran here, or its
//! state is gone) from the config and the job's environment
//! ([`Source::Derived`]), where only what is actually there is touched.
//!
//! - BeeOND. The first node runs `beeond stop` (all nodes) under
//!   `stop_timeout`. Every other node waits (at most `stop_timeout` +
//!   [`STOP_GRACE`]) until its mount and status file are gone. Where
//!   something is left (the stop failed, timed out, or never came), the
//!   node runs `beeond stoplocal` under `stop_timeout`, then lazily
//!   unmounts whatever is still mounted at its mount point, then removes
//!   the empty mount point directory. A mount that stays is the one thing
//!   that makes the epilog fail ([`Unclean`]): Slurm then drains the node.
//! - The job's tmp and scratch directories are removed symlink-safely
//!   ([`crate::rmtree`]); mounts found in them are detached first, and one
//!   that cannot be is also [`Unclean`]. Subvolumes a user made there
//!   (btrfs) are not mounts: they are removed like directories. Anything
//!   else that cannot be removed is logged as an error, and the node stays
//!   in service.
//! - The prolog's record (and node file) go last, and only when the node
//!   is clean. When something is left (a removal ran out of time, entries
//!   could not be removed) the record stays, marked as the leftovers of an
//!   ended job with its tries counted ([`Cleaned::Left`]): every later
//!   prolog and epilog of a Carme job on the node retries it
//!   ([`retry_leftovers`], bounded per run); the node is never drained
//!   for leftovers ([`carme_core::leftover`]).
//!
//! Order: the first node stops BeeOND first (the others wait for it),
//! every other node removes the job's directories first.
//!
//! Idempotent: a second run finds nothing and does nothing. It never kills
//! anything but the beeond process groups it started itself.
//!
//! Bound: first node 2 x `stop_timeout`, others 2 x `stop_timeout` +
//! [`STOP_GRACE`]; each run of beeond may add
//! [`crate::bounded::GRACE`] + [`crate::bounded::REAP_WAIT`] when it has
//! to be killed; the removal of the job's directories at most
//! [`crate::nodeops::REMOVE_BOUND`] in all; retries of other jobs'
//! leftovers at most the caller's budget ([`PROLOG_RETRY`],
//! [`EPILOG_RETRY`]).

use std::path::Path;
use std::time::Duration;

use carme_core::beeond::{nodefile_text, stop_argv, stoplocal_argv};
use carme_core::leftover::{Next, Tries, after_try};

use crate::error::NodeError;
use crate::joblog::Log;
use crate::jobprep::{
    check_status_dir, failure, log_output, secs, status_file_present, summary, unmount_local,
};
use crate::nodejob::{BeeondNode, NodeJob, record_job, record_name};
use crate::nodeops::NodeOps;
use crate::rmtree::Removal;

/// Time a prolog spends, in all, retrying other jobs' leftovers (it
/// delays the job's start: short).
pub const PROLOG_RETRY: Duration = Duration::from_secs(5);

/// Time an epilog spends, in all, retrying other jobs' leftovers.
pub const EPILOG_RETRY: Duration = Duration::from_secs(60);

/// Largest record read.
const MAX_RECORD: u64 = 1024 * 1024;

/// How much longer than `stop_timeout` the other nodes wait for the first
/// node's stop (epilogs start at slightly different times).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where the epilog's idea of the job comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The prolog's record on this node.
    Record,
    /// The config and the job's environment.
    Derived,
    /// The record of an earlier job with this id, found by the prolog of
    /// a new one: nobody else stops that job's BeeOND any more, so a node
    /// other than its first stops it locally at once.
    Earlier,
}

/// What a cleanup that left the node usable leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleaned {
    /// Nothing of the job is left; its record is gone.
    Clean,
    /// Some of its directories are left. The record stays, marked as the
    /// leftovers of an ended job (without its BeeOND, which is gone), for
    /// a later run to retry. Never a reason to drain: a user can make
    /// leftovers no try removes.
    Left { tries: Tries },
    /// An ended job's record that another run took over meanwhile (a
    /// retry that finished or counted its try, the prolog of a new job
    /// with this id): left to that run.
    TakenOver,
}

/// What the removal of the job's directories left.
#[derive(Debug, Default)]
struct Left {
    /// The directories left, and why.
    what: Vec<String>,
    /// Entries removed, left or not (whether a try made progress).
    removed: u64,
}

/// The node is left unclean: what stays (for the logs) and a short form
/// (for the drain reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclean {
    pub message: String,
    pub short: String,
}

/// Clean the job up on this node (see the module doc), its directories
/// within [`NodeOps::remove_bound`].
pub fn clean(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    source: Source,
    state_dir: &Path,
) -> Result<Cleaned, Unclean> {
    clean_within(ops, log, job, source, state_dir, ops.remove_bound())
}

/// [`clean`], removing the job's directories within `within` in all.
pub fn clean_within(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    source: Source,
    state_dir: &Path,
    within: Duration,
) -> Result<Cleaned, Unclean> {
    let t0 = ops.elapsed();
    let mut unclean: Option<Unclean> = None;
    // The summary's fields: what was cleaned up.
    let mut done: Vec<(&str, String)> = Vec::new();
    let mut left = Left::default();
    let beeond_first = job.beeond.as_ref().is_some_and(|b| b.first);
    let dirs = |done: &mut Vec<(&str, String)>, unclean: &mut Option<Unclean>, left: &mut Left| {
        remove_dirs(ops, log, job, within, done, unclean, left)
    };
    if !beeond_first {
        dirs(&mut done, &mut unclean, &mut left);
    }
    if let Some(b) = &job.beeond {
        match stop_beeond(ops, log, job, b, source) {
            Ok(Some(d)) => done.extend(d),
            Ok(None) => {}
            Err(u) => unclean = unclean.or(Some(u)),
        }
    }
    if beeond_first {
        dirs(&mut done, &mut unclean, &mut left);
    }
    let record = state_dir.join(record_name(job.job_id));
    let before = job.leftover.unwrap_or_default();
    if !still_ours(ops, state_dir, job) {
        // Another run (a prolog of a new job with this id, another retry)
        // took the record over meanwhile: it is theirs now.
        log.info(&format!(
            "the record {} changed meanwhile: left to the run that changed it",
            record.display()
        ));
        return match unclean {
            Some(u) => Err(u),
            None => Ok(Cleaned::TakenOver),
        };
    }
    if let Some(u) = unclean {
        log.error(&format!(
            "left unclean: {}; the record {} stays, so running the epilog again retries",
            u.message,
            record.display()
        ));
        // Marked as an ended job's: a new job with this id never takes it
        // for its own.
        let tries = match after_try(before, false, left.removed > 0) {
            Next::Retry(t) => t,
            Next::Done => before,
        };
        keep_record(ops, log, job, &record, tries, false);
        return Err(u);
    }
    if !done.is_empty() {
        let took = ops.elapsed().saturating_sub(t0);
        log.info(&summary("cleaned", job, took, &done));
    }
    let tries = match after_try(before, left.what.is_empty(), left.removed > 0) {
        Next::Done => {
            if let Err(e) = ops.unlink(&record) {
                log.warn(&format!("cannot remove the job's record: {e}"));
            }
            return Ok(Cleaned::Clean);
        }
        Next::Retry(t) => t,
    };
    let kept = keep_record(ops, log, job, &record, tries, true);
    let what = left.what.join("; ");
    match tries.hopeless() {
        false => log.error(&format!(
            "left {what}. {}: the next prolog or epilog of a Carme job on this node \
             retries (try {} so far)",
            if kept {
                format!("The record {} stays", record.display())
            } else {
                "The record could not be kept, so nothing retries".to_string()
            },
            tries.tries
        )),
        true => log.error(&format!(
            "left {what}. The last {} tries removed nothing: an admin must look. Find \
             out why from the messages above (a read-only btrfs snapshot: `btrfs \
             subvolume delete` it), remove the rest by hand, then remove {}; until then \
             later runs keep retrying, and the node stays in service",
            tries.fruitless,
            record.display()
        )),
    }
    Ok(Cleaned::Left { tries })
}

/// Whether the record of `job` is still what this run acts on. An ended
/// job's record may be retried by several runs at once, and replaced by
/// the prolog of a new job with its id; a job's own record, read by its
/// epilog, is the epilog's alone.
fn still_ours(ops: &dyn NodeOps, state_dir: &Path, job: &NodeJob) -> bool {
    if job.leftover.is_none() {
        return true;
    }
    matches!(
        read_record(ops, state_dir, job.job_id),
        Ok(Some(r)) if r.identity() == job.identity() && r.leftover == job.leftover
    )
}

/// Rewrite the job's record as an ended job's with `tries` (without its
/// BeeOND when that is gone); false if it could not be written.
fn keep_record(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    record: &Path,
    tries: Tries,
    beeond_gone: bool,
) -> bool {
    let mut rec = job.clone();
    rec.leftover = Some(tries);
    if beeond_gone {
        rec.beeond = None;
    }
    match rec
        .to_text()
        .and_then(|text| ops.write_root_file(record, &text))
    {
        Ok(()) => true,
        Err(e) => {
            log.error(&format!("cannot keep the job's record: {e}"));
            false
        }
    }
}

/// The node record of `job` in `state_dir`, if there is one (read
/// through `ops`, never following a symlink).
pub fn read_record(
    ops: &dyn NodeOps,
    state_dir: &Path,
    job: u32,
) -> Result<Option<NodeJob>, NodeError> {
    let path = state_dir.join(record_name(job));
    let Some(text) = ops.read_root_file(&path, MAX_RECORD)? else {
        return Ok(None);
    };
    crate::nodejob::checked(path, &text, job).map(Some)
}

/// Retry the cleanup of what ended jobs left on this node (their records
/// in `state_dir` marked as leftovers; never the record of `current`, nor
/// of a running job), for at most `budget` in all. Records whose BeeOND
/// mount stayed are the admin's (the node was drained for them). Drains
/// the node only for a mount that cannot be detached, never for leftovers
/// ([`carme_core::leftover`]).
pub fn retry_leftovers(
    ops: &dyn NodeOps,
    log: &dyn Log,
    state_dir: &Path,
    current: u32,
    budget: Duration,
) {
    let names = match ops.list_dir(state_dir) {
        Ok(n) => n,
        Err(e) => {
            log.warn(&format!("cannot look for leftovers of ended jobs: {e}"));
            return;
        }
    };
    let t0 = ops.elapsed();
    let mut waiting: Vec<u32> = Vec::new();
    let mut ids: Vec<u32> = names
        .iter()
        .filter_map(|n| record_job(n))
        .filter(|id| *id != current)
        .collect();
    ids.sort_unstable();
    for id in ids {
        let rec = match read_record(ops, state_dir, id) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log.warn(&format!("cannot read a record: {e}"));
                continue;
            }
        };
        let Some(tries) = rec.leftover else { continue };
        if rec.beeond.is_some() {
            continue;
        }
        let left = budget.saturating_sub(ops.elapsed().saturating_sub(t0));
        if left.is_zero() {
            waiting.push(id);
            continue;
        }
        // Another run (a retry elsewhere, the prolog of a new job with this
        // id) is at it: never two in the same paths at once.
        let _lock = match ops.lock_job(state_dir, id, Duration::ZERO) {
            Ok(Some(l)) => l,
            Ok(None) => {
                log.info(&format!(
                    "leftovers of ended job {id}: another run is at them; left to it"
                ));
                continue;
            }
            Err(e) => {
                log.warn(&format!(
                    "leftovers of ended job {id}: cannot lock them: {e}"
                ));
                continue;
            }
        };
        // What the run before us left: only if the record is still this.
        if !matches!(read_record(ops, state_dir, id), Ok(Some(ref now)) if *now == rec) {
            continue;
        }
        log.info(&format!(
            "retrying the cleanup of ended job {id} (try {}), for at most {}",
            tries.tries.saturating_add(1),
            secs(left)
        ));
        let drain = match clean_within(ops, log, &rec, Source::Record, state_dir, left) {
            Ok(Cleaned::Clean) => {
                // The job record and limits verdict of that job went with
                // the epilog that marked these leftovers; what has that
                // name now is a new job's with this id (a requeue whose
                // prolog ran meanwhile): never unlinked here.
                log.info(&format!("the leftovers of ended job {id} are removed"));
                None
            }
            Ok(Cleaned::Left { .. } | Cleaned::TakenOver) => None,
            Err(u) => Some(u.short),
        };
        if let Some(reason) = drain
            && let Err(e) = ops.drain(&rec.node, &reason)
        {
            log.warn(&format!("could not set the node's drain reason: {e}"));
        }
    }
    if !waiting.is_empty() {
        log.info(&format!(
            "leftovers of ended job(s) {} wait for a later run (this one's {} are spent)",
            waiting
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            secs(budget)
        ));
    }
}

fn remove_dirs(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    within: Duration,
    done: &mut Vec<(&str, String)>,
    unclean: &mut Option<Unclean>,
    left: &mut Left,
) {
    let until = ops.elapsed() + within;
    for (what, removed, base) in [
        ("tmp", "tmp_removed", Some(&job.tmp_base)),
        ("scratch", "scratch_removed", job.scratch_base.as_ref()),
    ] {
        let Some(base) = base else { continue };
        let path = base.join(job.job_id.to_string());
        let time = until.saturating_sub(ops.elapsed());
        match ops.remove_job_dir(base, job.job_id, job.uid, time) {
            Ok(Removal::Absent) => {}
            Ok(Removal::OddEntryRemoved { kind }) => log.warn(&format!(
                "{} was a {kind}, not the job's {what} directory: removed that entry \
                 (a symlink's target is untouched)",
                path.display()
            )),
            Ok(Removal::Foreign { uid }) => log.warn(&format!(
                "left {}: it belongs to uid {uid}, not to the job's uid {}",
                path.display(),
                job.uid
            )),
            Ok(Removal::Tree(r)) => {
                left.removed = left.removed.saturating_add(r.removed);
                if r.detached > 0 {
                    log.warn(&format!(
                        "detached {} mount(s) found in {}",
                        r.detached,
                        path.display()
                    ));
                }
                if r.subvolumes > 0 {
                    log.info(&format!(
                        "removed {} subvolume(s) found in {} (not mounts)",
                        r.subvolumes,
                        path.display()
                    ));
                }
                if r.complete {
                    done.push((removed, r.removed.to_string()));
                } else {
                    let why = if r.out_of_time {
                        format!(
                            "not finished within {} ({} entries removed)",
                            secs(time),
                            r.removed
                        )
                    } else {
                        format!("{} entries could not be removed", r.problem_count)
                    };
                    log.warn(&format!(
                        "could not remove all of {}: {why}{}",
                        path.display(),
                        if r.problems.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", r.problems.join("; "))
                        }
                    ));
                    left.what.push(format!("{} ({why})", path.display()));
                }
                if r.mounts_left > 0 {
                    *unclean = unclean.take().or(Some(Unclean {
                        message: format!(
                            "{} mount(s) in {} could not be detached",
                            r.mounts_left,
                            path.display()
                        ),
                        short: format!("carme: mount left in {what} of job {}", job.job_id),
                    }));
                }
            }
            Err(e) => log.error(&format!("not removing {}: {e}", path.display())),
        }
    }
}

/// What of the job's BeeOND is still on this node: (mounted, status
/// file). A status file that is not beeond's is removed, never handed to
/// beeond.
fn leftovers(ops: &dyn NodeOps, log: &dyn Log, b: &BeeondNode) -> (bool, bool) {
    let mounted = ops.mounted(&b.mount).unwrap_or(true);
    (mounted, status_file_present(ops, log, &b.setup.status_file))
}

fn stop_beeond(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    b: &BeeondNode,
    source: Source,
) -> Result<Option<Vec<(&'static str, String)>>, Unclean> {
    let s = &b.setup;
    let unmount_left = |e: NodeError| Unclean {
        message: format!(
            "BeeOND mount of job {} could not be removed: {e}; find what holds it \
             (fuser -vm {}), unmount it, then resume the node",
            job.job_id,
            b.mount.display()
        ),
        short: format!("carme: BeeOND mount of job {} left", job.job_id),
    };
    if let Err(why) = check_status_dir(ops, b) {
        // Neither stop nor stoplocal may read a status file from there.
        log.error(&format!(
            "{why}; beeond stop/stoplocal are not run: only the job's mount here is \
             removed. Check for BeeGFS services of job {} left on {}",
            job.job_id,
            s.nodes.join(",")
        ));
        unmount_local(ops, log, &b.mount).map_err(unmount_left)?;
        if let Err(e) = ops.remove_empty_dir(&b.mount) {
            log.warn(&format!("BeeOND mount point: {e}"));
        }
        return Ok(None);
    }
    let (mounted, status) = leftovers(ops, log, b);
    let mut local = false;
    let mut stopped = None;
    if b.first {
        if source != Source::Derived || mounted || status {
            if ops.sys().lstat(&s.nodefile).is_err()
                && let Err(e) = ops.write_root_file(&s.nodefile, &nodefile_text(&s.nodes))
            {
                log.warn(&format!("cannot rewrite BeeOND's node file: {e}"));
            }
            let ran = ops.run(&stop_argv(s), b.stop_timeout);
            if ran.ok() {
                stopped = Some(vec![
                    ("beeond_stopped", s.nodes.join(",")),
                    ("beeond_took", secs(ran.elapsed)),
                ]);
            } else {
                log.warn(&format!(
                    "beeond stop {}; every node falls back to beeond stoplocal",
                    failure(&ran, b.stop_timeout)
                ));
                log_output(log, "beeond stop", &ran);
            }
            let (m, st) = leftovers(ops, log, b);
            local = !ran.ok() || m || st;
        }
    } else if (mounted || status) && source == Source::Earlier {
        log.warn(&format!(
            "BeeOND of an earlier job {} is still here (mounted: {mounted}, status file: \
             {status}): stopping it locally",
            job.job_id
        ));
        local = true;
    } else if mounted || status {
        let bound = b.stop_timeout + STOP_GRACE;
        let deadline = ops.elapsed() + bound;
        let mut nap = Duration::from_millis(20);
        loop {
            let (m, st) = leftovers(ops, log, b);
            if !m && !st {
                stopped = Some(vec![("beeond_stopped_by", b.first_node().to_string())]);
                break;
            }
            let now = ops.elapsed();
            if now >= deadline {
                log.warn(&format!(
                    "BeeOND of job {} still here after {} (mounted: {m}, status file: {st}): \
                     the first node {}'s beeond stop failed or did not run; falling back to \
                     beeond stoplocal",
                    job.job_id,
                    secs(bound),
                    b.first_node()
                ));
                local = true;
                break;
            }
            ops.sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(500));
        }
    }
    if local {
        let ran = ops.run(&stoplocal_argv(s), b.stop_timeout);
        if ran.ok() {
            stopped = Some(vec![
                ("beeond_stopped", "local".to_string()),
                ("beeond_took", secs(ran.elapsed)),
            ]);
        } else {
            log.warn(&format!(
                "beeond stoplocal {}",
                failure(&ran, b.stop_timeout)
            ));
            log_output(log, "beeond stoplocal", &ran);
        }
        unmount_local(ops, log, &b.mount).map_err(unmount_left)?;
    }
    if let Err(e) = ops.remove_empty_dir(&b.mount) {
        log.warn(&format!("BeeOND mount point: {e}"));
    }
    if b.first
        && let Err(e) = ops.unlink(&s.nodefile)
    {
        log.warn(&format!("cannot remove BeeOND's node file: {e}"));
    }
    Ok(stopped)
}
