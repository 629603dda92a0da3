//! Which job a node record belongs to, and what to do with the leftovers
//! of an ended job (directories the epilog could not remove in time).
//!
//! Identity. Job ids are unique only while slurmctld keeps its state;
//! after a loss they start again. A node record is the current job's only
//! when its [`Identity`] (id, uid, gid, requeue count) is the current
//! job's and no epilog has ended it ([`is_earlier_job`]). These are the
//! facts slurmd gives the prolog and epilog on every series (22.05 has no
//! start or submit time in their environment) and slurmstepd has from the
//! job credential.
//!
//! Leftovers. A record whose directories could not all be removed is kept
//! with its tries counted; every later prolog and epilog of a Carme job on
//! the node retries within a bound of its own. Leftovers never drain the
//! node: a user can make them on purpose (a read-only btrfs snapshot no
//! try removes, tens of millions of files). After [`MAX_FRUITLESS`] tries
//! in a row removed nothing the log asks an admin to look ([`after_try`],
//! [`Tries::hopeless`]); the node stays in service.

/// What tells one job on a node from another with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub job_id: u32,
    pub uid: u32,
    pub gid: u32,
    /// How often the job was requeued: each attempt is set up afresh.
    pub restart: u32,
}

/// Whether a record (`recorded`, `ended` when an epilog already ran for
/// it) is of a job before `current`: then it is never taken for the
/// current job, only cleaned up after.
pub fn is_earlier_job(recorded: &Identity, ended: bool, current: &Identity) -> bool {
    ended || recorded != current
}

/// Whether an earlier job's record is the same user's (a requeue): its
/// leftovers are then theirs to find again.
pub fn same_user(recorded: &Identity, current: &Identity) -> bool {
    recorded.job_id == current.job_id && recorded.uid == current.uid && recorded.gid == current.gid
}

/// Tries in a row that removed nothing, after which retrying is not
/// expected to help: the log asks an admin to remove the rest.
pub const MAX_FRUITLESS: u32 = 3;

/// The cleanup tries of one ended job so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tries {
    /// Every try that left something.
    pub tries: u32,
    /// The last ones in a row that removed nothing.
    pub fruitless: u32,
}

/// What to do after a cleanup try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing left: forget the job.
    Done,
    /// Keep the record with these tries; a later run retries.
    Retry(Tries),
}

impl Tries {
    /// Retrying has not helped for [`MAX_FRUITLESS`] tries in a row.
    pub fn hopeless(&self) -> bool {
        self.fruitless >= MAX_FRUITLESS
    }
}

/// After a try that left something or not (`complete`), and removed
/// something or not (`progressed`), with `before` the tries so far.
pub fn after_try(before: Tries, complete: bool, progressed: bool) -> Next {
    if complete {
        return Next::Done;
    }
    let t = Tries {
        tries: before.tries.saturating_add(1),
        fruitless: if progressed {
            0
        } else {
            before.fruitless.saturating_add(1)
        },
    };
    Next::Retry(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUR: Identity = Identity {
        job_id: 42,
        uid: 1000,
        gid: 100,
        restart: 0,
    };

    #[test]
    fn earlier_jobs() {
        let other = |f: fn(&mut Identity)| {
            let mut i = CUR;
            f(&mut i);
            i
        };
        for (recorded, ended, earlier) in [
            // The prolog run again for the same attempt: its own.
            (CUR, false, false),
            // An epilog ended it: a job before this one, whatever it says.
            (CUR, true, true),
            (other(|i| i.uid = 1001), false, true),
            (other(|i| i.gid = 101), false, true),
            (other(|i| i.restart = 1), false, true),
            (other(|i| i.job_id = 43), false, true),
        ] {
            assert_eq!(
                is_earlier_job(&recorded, ended, &CUR),
                earlier,
                "{recorded:?} ended={ended}"
            );
        }
    }

    #[test]
    fn tries_never_drain() {
        let t = |tries, fruitless| Tries { tries, fruitless };
        for (before, complete, progressed, next) in [
            (t(0, 0), true, true, Next::Done),
            (t(5, 2), true, false, Next::Done),
            // The epilog's own try, out of time but removing: retry.
            (t(0, 0), false, true, Next::Retry(t(1, 0))),
            (t(0, 0), false, false, Next::Retry(t(1, 1))),
            (t(1, 1), false, false, Next::Retry(t(2, 2))),
            // Issue 13: a read-only btrfs snapshot is never removed; the
            // node must stay in service all the same.
            (t(2, 2), false, false, Next::Retry(t(3, 3))),
            (t(9, 9), false, false, Next::Retry(t(10, 10))),
            (t(40, 0), false, true, Next::Retry(t(41, 0))),
            (t(7, 2), false, true, Next::Retry(t(8, 0))),
            (t(u32::MAX, 1), false, false, Next::Retry(t(u32::MAX, 2))),
        ] {
            assert_eq!(
                after_try(before, complete, progressed),
                next,
                "{before:?} complete={complete} progressed={progressed}"
            );
        }
        assert!(!t(5, 2).hopeless() && t(3, 3).hopeless());
    }
}
