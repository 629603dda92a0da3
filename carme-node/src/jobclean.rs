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
//!   is clean, so a second run can finish what the first could not.
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
//! to be killed; the removal of each directory at most
//! [`crate::nodeops::REMOVE_BOUND`].

use std::path::Path;
use std::time::Duration;

use carme_core::beeond::{nodefile_text, stop_argv, stoplocal_argv};

use crate::joblog::Log;
use crate::jobprep::{
    check_status_dir, failure, log_output, secs, status_file_present, unmount_local,
};
use crate::nodejob::{BeeondNode, NodeJob};
use crate::nodeops::NodeOps;
use crate::rmtree::Removal;

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
}

/// The node is left unclean: what stays (for the logs) and a short form
/// (for the drain reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclean {
    pub message: String,
    pub short: String,
}

/// Clean the job up on this node (see the module doc).
pub fn clean(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    source: Source,
    state_dir: &Path,
) -> Result<(), Unclean> {
    let t0 = ops.elapsed();
    let mut unclean: Option<Unclean> = None;
    let mut done: Vec<String> = Vec::new();
    let beeond_first = job.beeond.as_ref().is_some_and(|b| b.first);
    if !beeond_first {
        remove_dirs(ops, log, job, &mut done, &mut unclean);
    }
    if let Some(b) = &job.beeond {
        match stop_beeond(ops, log, job, b, source) {
            Ok(Some(d)) => done.push(d),
            Ok(None) => {}
            Err(u) => unclean = unclean.or(Some(u)),
        }
    }
    if beeond_first {
        remove_dirs(ops, log, job, &mut done, &mut unclean);
    }
    if let Some(u) = unclean {
        log.error(&format!(
            "left unclean: {}; the record {} stays, so running the epilog again retries",
            u.message,
            state_dir
                .join(crate::nodejob::record_name(job.job_id))
                .display()
        ));
        return Err(u);
    }
    for name in [crate::nodejob::record_name(job.job_id)] {
        if let Err(e) = ops.unlink(&state_dir.join(&name)) {
            log.warn(&format!("cannot remove the job's record: {e}"));
        }
    }
    if !done.is_empty() {
        log.info(&format!(
            "cleaned up in {}: {}",
            secs(ops.elapsed().saturating_sub(t0)),
            done.join(", ")
        ));
    }
    Ok(())
}

fn remove_dirs(
    ops: &dyn NodeOps,
    log: &dyn Log,
    job: &NodeJob,
    done: &mut Vec<String>,
    unclean: &mut Option<Unclean>,
) {
    for (what, base) in [
        ("tmp", Some(&job.tmp_base)),
        ("scratch", job.scratch_base.as_ref()),
    ] {
        let Some(base) = base else { continue };
        let path = base.join(job.job_id.to_string());
        match ops.remove_job_dir(base, job.job_id, job.uid) {
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
                    done.push(format!("{what} ({} entries)", r.removed));
                } else {
                    let why = if r.out_of_time {
                        format!("not finished within {}", secs(crate::nodeops::REMOVE_BOUND))
                    } else {
                        format!("{} entries could not be removed", r.problem_count)
                    };
                    log.error(&format!(
                        "could not remove all of {}: {why}: {}; remove the rest by hand",
                        path.display(),
                        r.problems.join("; ")
                    ));
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
) -> Result<Option<String>, Unclean> {
    let s = &b.setup;
    let unmount_left = |e: String| Unclean {
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
        if source == Source::Record || mounted || status {
            if ops.lstat(&s.nodefile).is_err()
                && let Err(e) = ops.write_root_file(&s.nodefile, &nodefile_text(&s.nodes))
            {
                log.warn(&format!("cannot rewrite BeeOND's node file: {e}"));
            }
            let ran = ops.run(&stop_argv(s), b.stop_timeout);
            if ran.ok() {
                stopped = Some(format!(
                    "BeeOND stopped on {} in {}",
                    s.nodes.join(","),
                    secs(ran.elapsed)
                ));
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
    } else if mounted || status {
        let bound = b.stop_timeout + STOP_GRACE;
        let deadline = ops.elapsed() + bound;
        let mut nap = Duration::from_millis(20);
        loop {
            let (m, st) = leftovers(ops, log, b);
            if !m && !st {
                stopped = Some(format!("BeeOND stopped by {}", b.first_node()));
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
            stopped = Some(format!("BeeOND stopped locally in {}", secs(ran.elapsed)));
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
