//! Where slurmstepd takes a job's facts from (is it a Carme job, its
//! constraint and account), by the config's `job_facts` source: the record
//! carme-prolog left on the node, slurmctld, or both (`auto`). The
//! executor reads the record and asks slurmctld; these rules say which,
//! and what each outcome means. Fail closed: where a step may be a Carme
//! job's and nothing can tell, it is refused, never run unconfined.

use crate::config::JobFactSource;
use crate::record::JobRecord;
use crate::refusal::Refusal;

/// What the job's record on this node says, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSays {
    /// No record.
    Absent,
    /// It could not be read.
    Unreadable,
    /// Another uid's or gid's (or the job's own are unknown): an earlier
    /// job's with the same id (slurmctld's ids restarted), never this one's.
    Earlier,
    /// This job's, kept from slurmctld, and out of date.
    Expired,
    /// This job's.
    Current,
}

impl RecordSays {
    /// What `read` (the record, or why it could not be read) says for the
    /// job of `owner` (uid, gid) at `now` (seconds since the epoch).
    pub fn of<E>(read: &Result<Option<JobRecord>, E>, owner: Option<(u32, u32)>, now: i64) -> Self {
        match read {
            Err(_) => RecordSays::Unreadable,
            Ok(None) => RecordSays::Absent,
            Ok(Some(rec)) if Some((rec.uid, rec.gid)) != owner => RecordSays::Earlier,
            Ok(Some(rec)) if rec.holds_at(now) => RecordSays::Current,
            Ok(Some(_)) => RecordSays::Expired,
        }
    }
}

/// Whether the record is read at all: not where slurmctld is the only
/// source (one failed open saved per step).
pub fn reads_record(source: JobFactSource) -> bool {
    source != JobFactSource::Slurmctld
}

/// What slurmstepd does first, from the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstMove {
    /// Take the record's facts as the job's.
    UseRecord,
    /// Known not to be a Carme job, without further work.
    NotCarme,
    /// The step cannot be checked: refuse it.
    Refuse(Refusal),
    /// Ask slurmctld; [`after_asking`] settles what it answers.
    Ask(AfterAsk),
}

/// What slurmctld's answer (or its failure) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAsk {
    /// The answer is the job's facts; no answer: unverified (fail closed,
    /// image or not).
    FailClosed,
    /// As `FailClosed`, and the answer is kept in the record for the job's
    /// later steps (`auto`), replacing the record there if `replace` (an
    /// earlier job's, or one that could not be read).
    Keep { replace: bool },
    /// The step asked for an image and the prolog left no record
    /// (`prolog`): find out why, so the user (or admin) learns what to fix.
    ExplainMissingRecord,
}

/// The first move for a step of job `job_id` on `node`, whose `--carme-image`
/// was given or not (`wants_image`).
pub fn first_move(
    source: JobFactSource,
    says: RecordSays,
    wants_image: bool,
    job_id: u32,
    node: &str,
) -> FirstMove {
    use RecordSays::*;
    match source {
        JobFactSource::Slurmctld => FirstMove::Ask(AfterAsk::FailClosed),
        JobFactSource::Auto => match says {
            Current => FirstMove::UseRecord,
            // Expired, or none: no prolog ran here (it records every
            // job), so nothing says the job is not a Carme job.
            Absent | Expired => FirstMove::Ask(AfterAsk::Keep { replace: false }),
            Earlier | Unreadable => FirstMove::Ask(AfterAsk::Keep { replace: true }),
        },
        JobFactSource::Prolog => match says {
            Earlier => FirstMove::Ask(AfterAsk::FailClosed),
            // The prolog's records do not expire.
            Current | Expired => FirstMove::UseRecord,
            Absent if !wants_image => FirstMove::NotCarme,
            Absent => FirstMove::Ask(AfterAsk::ExplainMissingRecord),
            Unreadable => FirstMove::Refuse(Refusal::node_not_ready(&format!(
                "the record of job {job_id} on node {node} cannot be read"
            ))),
        },
    }
}

/// The job's facts once slurmctld was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// slurmctld's answer is the job's facts.
    Job,
    /// slurmctld could not be asked (why): the step may be a Carme job's.
    Unverified(String),
    /// Refuse the step; `log` tells the admins why.
    Failed { why: Refusal, log: Option<String> },
}

/// What slurmctld's `answer` means after [`FirstMove::Ask`]`(then)`:
/// whether its job is a Carme job, or why it could not be asked.
pub fn after_asking(
    then: AfterAsk,
    answer: Result<bool, impl std::fmt::Display>,
    job_id: u32,
    node: &str,
) -> Settled {
    match (then, answer) {
        (AfterAsk::FailClosed | AfterAsk::Keep { .. }, Ok(_)) => Settled::Job,
        (AfterAsk::FailClosed | AfterAsk::Keep { .. }, Err(e)) => {
            Settled::Unverified(e.to_string())
        }
        (AfterAsk::ExplainMissingRecord, Ok(true)) => {
            let problem = format!(
                "carme-prolog left no record of job {job_id} on node {node} \
                 (is Prolog= set to carme-prolog, with PrologFlags=Alloc?)"
            );
            Settled::Failed {
                why: Refusal::node_not_ready(&problem),
                log: Some(format!("carme: {problem}")),
            }
        }
        (AfterAsk::ExplainMissingRecord, Ok(false)) => Settled::Job,
        (AfterAsk::ExplainMissingRecord, Err(e)) => Settled::Failed {
            why: Refusal::controller_unreachable(e),
            log: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobFactSource::{Auto, Prolog, Slurmctld};
    use RecordSays::*;

    fn rec(uid: u32, gid: u32, until: Option<i64>) -> JobRecord {
        JobRecord {
            job_id: 7,
            uid,
            gid,
            constraint: "carme".into(),
            account: None,
            gpus: None,
            until,
        }
    }

    #[test]
    fn what_a_record_says() {
        let owner = Some((1000, 100));
        type Row = (
            Result<Option<JobRecord>, ()>,
            Option<(u32, u32)>,
            RecordSays,
        );
        let rows: [Row; 8] = [
            (Err(()), owner, Unreadable),
            (Ok(None), owner, Absent),
            (Ok(Some(rec(1000, 100, None))), owner, Current),
            (Ok(Some(rec(1000, 100, Some(51)))), owner, Current),
            (Ok(Some(rec(1000, 100, Some(50)))), owner, Expired),
            (Ok(Some(rec(1001, 100, None))), owner, Earlier),
            (Ok(Some(rec(1000, 101, None))), owner, Earlier),
            (Ok(Some(rec(1000, 100, None))), None, Earlier),
        ];
        for (read, owner, want) in rows {
            assert_eq!(RecordSays::of(&read, owner, 50), want, "{read:?} {owner:?}");
        }
    }

    #[test]
    fn only_slurmctld_as_the_source_skips_the_record() {
        assert!(reads_record(Auto));
        assert!(reads_record(Prolog));
        assert!(!reads_record(Slurmctld));
    }

    #[test]
    fn first_move_table() {
        let ask = |then| FirstMove::Ask(then);
        let keep = |replace| ask(AfterAsk::Keep { replace });
        let unreadable = FirstMove::Refuse(Refusal::node_not_ready(
            "the record of job 7 on node n1 cannot be read",
        ));
        // (source, record, --carme-image given, move)
        let rows = [
            (Slurmctld, Absent, false, ask(AfterAsk::FailClosed)),
            (Slurmctld, Absent, true, ask(AfterAsk::FailClosed)),
            (Slurmctld, Current, false, ask(AfterAsk::FailClosed)),
            (Auto, Current, false, FirstMove::UseRecord),
            (Auto, Current, true, FirstMove::UseRecord),
            (Auto, Expired, true, keep(false)),
            (Auto, Absent, false, keep(false)),
            (Auto, Absent, true, keep(false)),
            (Auto, Earlier, false, keep(true)),
            (Auto, Unreadable, false, keep(true)),
            (Prolog, Current, false, FirstMove::UseRecord),
            (Prolog, Expired, false, FirstMove::UseRecord),
            (Prolog, Earlier, false, ask(AfterAsk::FailClosed)),
            (Prolog, Earlier, true, ask(AfterAsk::FailClosed)),
            // No record and no image: not a Carme job.
            (Prolog, Absent, false, FirstMove::NotCarme),
            // No record but an image: ask slurmctld why.
            (Prolog, Absent, true, ask(AfterAsk::ExplainMissingRecord)),
            (Prolog, Unreadable, false, unreadable.clone()),
            (Prolog, Unreadable, true, unreadable),
        ];
        for (source, says, image, want) in rows {
            assert_eq!(
                first_move(source, says, image, 7, "n1"),
                want,
                "{source:?} {says:?} image={image}"
            );
        }
    }

    #[test]
    fn after_asking_table() {
        let missing = "carme-prolog left no record of job 7 on node n1 \
                       (is Prolog= set to carme-prolog, with PrologFlags=Alloc?)";
        let unverified = Settled::Unverified("timed out".into());
        let rows = [
            (AfterAsk::FailClosed, Ok(true), Settled::Job),
            (AfterAsk::FailClosed, Ok(false), Settled::Job),
            (AfterAsk::FailClosed, Err("timed out"), unverified.clone()),
            (AfterAsk::Keep { replace: true }, Ok(false), Settled::Job),
            (
                AfterAsk::Keep { replace: false },
                Err("timed out"),
                unverified,
            ),
            (
                AfterAsk::ExplainMissingRecord,
                Ok(true),
                Settled::Failed {
                    why: Refusal::node_not_ready(missing),
                    log: Some(format!("carme: {missing}")),
                },
            ),
            (AfterAsk::ExplainMissingRecord, Ok(false), Settled::Job),
            (
                AfterAsk::ExplainMissingRecord,
                Err("timed out"),
                Settled::Failed {
                    why: Refusal::controller_unreachable("timed out"),
                    log: None,
                },
            ),
        ];
        for (then, answer, want) in rows {
            assert_eq!(
                after_asking(then, answer, 7, "n1"),
                want,
                "{then:?} {answer:?}"
            );
        }
    }
}
