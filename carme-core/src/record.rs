//! The per-job record carme-prolog leaves on each node of a job, for
//! slurmstepd (to know whether the job is a Carme job without asking
//! slurmctld) and the epilog (to know what to clean up even if the job's
//! environment is gone). Only root writes it; the facts come from slurmd
//! (the job credential) or slurmctld, never from the user's environment.
//!
//! With `job_facts = "auto"` the prolog records every job, Carme or not
//! (a non-Carme record's constraint does not name the gate feature), and
//! where no prolog ran slurmstepd keeps what slurmctld said in the same
//! record, for a short while ([`CACHE_SECS`]), so the job's later steps on
//! the node do not ask again.

use std::fmt::Write;

use crate::gpulist::{GpuSet, job_gpus_on_node, parse_index_list};
use crate::slurmjob::JobInfo;

/// Version 2 escapes `\\`, newline and carriage return in text values, so
/// every string round-trips byte for byte; version 1 (raw values, newlines
/// turned into spaces) is still read, for records of jobs that started
/// before an upgrade.
const MAGIC: &str = "carme-job-record 2";
const MAGIC_V1: &str = "carme-job-record 1";

/// A text value on one line: `\\`, `\n`, `\r` stand for the bytes.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => return Err(format!("bad escape `\\{}`", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

/// How long slurmstepd trusts what it kept of slurmctld's answer. The
/// facts kept cannot change while the job runs (its constraint, account
/// and GPUs on the node); the bound is for a record the epilog did not
/// remove (no `Epilog=` on the node) that a later job with the same id and
/// owner (a requeue, or ids restarted after slurmctld lost its state)
/// could otherwise take for its own. Expired: asked again, once.
/// Shorter than Slurm holds a requeued job back (AuthInfo `cred_expire`,
/// 120 s by default: slurm.conf(5) says it also sets how long a requeued
/// job waits before starting again), so a record a node kept for one run of a job has
/// expired before a requeued run with the same id and owner can start
/// there, even on a node whose epilog did not run.
pub const CACHE_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: u32,
    pub uid: u32,
    pub gid: u32,
    /// The job's constraint expression as slurmd received it.
    pub constraint: String,
    /// The job's Slurm account, if it has one.
    pub account: Option<String>,
    /// The job's GPUs on this node (the prolog's `SLURM_JOB_GPUS`, which
    /// slurmd sets from the job credential); None in a record written
    /// before carme-prolog kept them.
    pub gpus: Option<GpuSet>,
    /// Unix time until which the record holds: set when slurmstepd kept
    /// slurmctld's answer; None for the prolog's (valid until replaced by
    /// the next job's prolog or removed by the epilog).
    pub until: Option<i64>,
}

impl JobRecord {
    /// What slurmctld said of a job (`info`), kept by slurmstepd on `node`
    /// for the steps of the job's owner `uid`:`gid` until `now` +
    /// [`CACHE_SECS`]. GPUs it cannot place on this node are left out
    /// (asked again when a step needs them).
    pub fn kept_from(info: &JobInfo, uid: u32, gid: u32, node: &str, now: i64) -> JobRecord {
        JobRecord {
            job_id: info.job_id,
            uid,
            gid,
            constraint: info.features.clone().unwrap_or_default(),
            account: info.account.clone().filter(|a| !a.is_empty()),
            gpus: job_gpus_on_node(info, node).ok(),
            until: Some(now.saturating_add(CACHE_SECS)),
        }
    }

    /// Whether the record still holds at `now`.
    pub fn holds_at(&self, now: i64) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{MAGIC}");
        let _ = writeln!(s, "job_id={}", self.job_id);
        let _ = writeln!(s, "uid={}", self.uid);
        let _ = writeln!(s, "gid={}", self.gid);
        let _ = writeln!(s, "constraint={}", escape(&self.constraint));
        if let Some(a) = &self.account {
            let _ = writeln!(s, "account={}", escape(a));
        }
        if let Some(g) = &self.gpus {
            let _ = writeln!(s, "gpus={g}");
        }
        if let Some(u) = self.until {
            let _ = writeln!(s, "until={u}");
        }
        s
    }

    pub fn parse(text: &str) -> Result<JobRecord, String> {
        // Lines end at `\n` only: `lines()` would also eat a `\r` that is
        // part of a value.
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        let escaped = match lines.next() {
            Some(MAGIC) => true,
            Some(MAGIC_V1) => false,
            _ => return Err("not a carme job record".to_string()),
        };
        let textual = |v: &str| {
            if escaped {
                unescape(v)
            } else {
                Ok(v.to_string())
            }
        };
        let (mut job_id, mut uid, mut gid, mut constraint) = (None, None, None, None);
        let (mut account, mut gpus, mut until) = (None, None, None);
        for line in lines {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("bad record line `{line}`"))?;
            let num = || v.parse::<u32>().map_err(|e| format!("{k}: {e}"));
            match k {
                "job_id" => job_id = Some(num()?),
                "uid" => uid = Some(num()?),
                "gid" => gid = Some(num()?),
                "constraint" => {
                    constraint = Some(textual(v).map_err(|e| format!("constraint: {e}"))?)
                }
                "account" => {
                    account = Some(textual(v).map_err(|e| format!("account: {e}"))?)
                        .filter(|a| !a.is_empty())
                }
                "gpus" => gpus = Some(parse_index_list(v).map_err(|e| format!("gpus: {e}"))?),
                "until" => until = Some(v.parse::<i64>().map_err(|e| format!("until: {e}"))?),
                _ => return Err(format!("unknown record key `{k}`")),
            }
        }
        Ok(JobRecord {
            job_id: job_id.ok_or("record lacks job_id")?,
            uid: uid.ok_or("record lacks uid")?,
            gid: gid.ok_or("record lacks gid")?,
            constraint: constraint.ok_or("record lacks constraint")?,
            account,
            gpus,
            until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_round_trips() {
        // Finding 6 of issue 14: a trailing `\r` was dropped (`projx\r`
        // came back as `projx`); newlines and backslashes too must survive.
        for text in ["projx\r", "a\r\nb", "\\n", "x\\", "\n", "a\\rb\r", "\r\r"] {
            let r = JobRecord {
                job_id: 1,
                uid: 2,
                gid: 3,
                constraint: text.to_string(),
                account: Some(text.to_string()),
                gpus: None,
                until: None,
            };
            assert_eq!(JobRecord::parse(&r.to_text()).unwrap(), r, "{text:?}");
        }
        // Version 1 records still read, raw.
        let v1 = "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\\b\naccount=p\r\n";
        let r = JobRecord::parse(v1).unwrap();
        assert_eq!(
            (r.constraint.as_str(), r.account.as_deref()),
            ("a\\b", Some("p\r"))
        );
    }

    proptest! {
        #[test]
        fn any_text_round_trips(constraint in "\\PC*|[\\\\\r\n a]{0,12}", account in proptest::option::of("[\\\\\r\nb]{1,8}")) {
            let r = JobRecord { job_id: 7, uid: 0, gid: 0, constraint, account, gpus: None, until: None };
            prop_assert_eq!(JobRecord::parse(&r.to_text()).unwrap(), r);
        }

        #[test]
        fn parse_never_panics(text in "(carme-job-record [12]\n)?([a-z_]{1,10}=[\\PC\\\\\r]{0,10}\n){0,6}") {
            let _ = JobRecord::parse(&text);
        }

        #[test]
        fn round_trip(job_id: u32, uid: u32, gid: u32, constraint in "[a-z0-9&|,\\[\\]()*_.-]{0,40}", account in proptest::option::of("[a-z0-9_-]{1,12}"), gpus in proptest::option::of(proptest::collection::vec(0u32..=1023, 0..8)), until: Option<i64>) {
            let gpus = gpus.map(|v| {
                let mut s = GpuSet::new();
                v.into_iter().for_each(|i| { s.insert(i); });
                s
            });
            let r = JobRecord { job_id, uid, gid, constraint, account, gpus, until };
            prop_assert_eq!(JobRecord::parse(&r.to_text()).unwrap(), r);
        }
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        for bad in [
            "",
            "job_id=1\n",
            "carme-job-record 1\njob_id=x\nuid=0\ngid=0\nconstraint=a\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\nextra=1\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\nbad line\n",
            "carme-job-record 3\njob_id=1\nuid=0\ngid=0\nconstraint=a\n",
            "carme-job-record 2\njob_id=1\nuid=0\ngid=0\nconstraint=a\\\n",
            "carme-job-record 2\njob_id=1\nuid=0\ngid=0\nconstraint=a\\x\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\ngpus=0-4096\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\nuntil=soon\n",
        ] {
            assert!(JobRecord::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn running(features: Option<&str>) -> JobInfo {
        JobInfo {
            job_id: 9,
            user_id: 1000,
            state: crate::slurmjob::JobState::Running,
            start_time: 1_000,
            features: features.map(str::to_string),
            account: Some("projx".into()),
            num_nodes: 2,
            time_limit: Some(60),
            gres_total: Some("gpu:3".into()),
            gres_detail: vec!["gpu:2(IDX:0-1)".into(), "gpu:1(IDX:3)".into()],
            nodes: Some("n[1-2]".into()),
        }
    }

    #[test]
    fn kept_facts_hold_for_a_while_then_are_asked_again() {
        let r = JobRecord::kept_from(&running(Some("carme&gpu")), 1000, 100, "n2", 5_000);
        assert_eq!(r.constraint, "carme&gpu");
        assert_eq!(r.account.as_deref(), Some("projx"));
        assert_eq!(r.gpus.map(|g| g.to_string()), Some("3".to_string()));
        assert!(r.holds_at(5_000));
        assert!(r.holds_at(5_000 + CACHE_SECS - 1));
        assert!(!r.holds_at(5_000 + CACHE_SECS));
        assert_eq!(JobRecord::parse(&r.to_text()).unwrap(), r);
        // A job without a constraint is kept as one: not a Carme job.
        let r = JobRecord::kept_from(&running(None), 1000, 100, "n1", 5_000);
        assert_eq!(r.constraint, "");
        // GPUs it cannot place on this node are not kept.
        let r = JobRecord::kept_from(&running(None), 1000, 100, "n7", 5_000);
        assert_eq!(r.gpus, None);
        // The prolog's record holds until it is replaced or removed.
        let prolog = JobRecord { until: None, ..r };
        assert!(prolog.holds_at(i64::MAX));
    }
}
