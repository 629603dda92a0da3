//! The per-job record carme-prolog leaves on each node of a Carme job, for
//! slurmstepd (to know the job is a Carme job without asking slurmctld) and
//! the epilog (to know what to clean up even if the job's environment is
//! gone). Only root writes it; the facts come from slurmd (the job
//! credential), never from the user's environment.

use std::fmt::Write;

use crate::gpulist::{GpuSet, parse_index_list};

const MAGIC: &str = "carme-job-record 1";

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
}

impl JobRecord {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{MAGIC}");
        let _ = writeln!(s, "job_id={}", self.job_id);
        let _ = writeln!(s, "uid={}", self.uid);
        let _ = writeln!(s, "gid={}", self.gid);
        // Constraints never contain newlines (Slurm's feature syntax).
        let _ = writeln!(s, "constraint={}", self.constraint.replace('\n', " "));
        if let Some(a) = &self.account {
            let _ = writeln!(s, "account={}", a.replace('\n', " "));
        }
        if let Some(g) = &self.gpus {
            let _ = writeln!(s, "gpus={g}");
        }
        s
    }

    pub fn parse(text: &str) -> Result<JobRecord, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not a carme job record".to_string());
        }
        let (mut job_id, mut uid, mut gid, mut constraint) = (None, None, None, None);
        let (mut account, mut gpus) = (None, None);
        for line in lines {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("bad record line `{line}`"))?;
            let num = || v.parse::<u32>().map_err(|e| format!("{k}: {e}"));
            match k {
                "job_id" => job_id = Some(num()?),
                "uid" => uid = Some(num()?),
                "gid" => gid = Some(num()?),
                "constraint" => constraint = Some(v.to_string()),
                "account" => account = Some(v.to_string()).filter(|a| !a.is_empty()),
                "gpus" => gpus = Some(parse_index_list(v).map_err(|e| format!("gpus: {e}"))?),
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(job_id: u32, uid: u32, gid: u32, constraint in "[a-z0-9&|,\\[\\]()*_.-]{0,40}", account in proptest::option::of("[a-z0-9_-]{1,12}"), gpus in proptest::option::of(proptest::collection::vec(0u32..=1023, 0..8))) {
            let gpus = gpus.map(|v| {
                let mut s = GpuSet::new();
                v.into_iter().for_each(|i| { s.insert(i); });
                s
            });
            let r = JobRecord { job_id, uid, gid, constraint, account, gpus };
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
            "carme-job-record 2\njob_id=1\nuid=0\ngid=0\nconstraint=a\n",
            "carme-job-record 1\njob_id=1\nuid=0\ngid=0\nconstraint=a\ngpus=0-4096\n",
        ] {
            assert!(JobRecord::parse(bad).is_err(), "{bad:?}");
        }
    }
}
