//! Jobs as slurmctld reports them (the fields of `job_info_t` Carme uses),
//! and what Carme derives from them: GPU counts, and how many of a user's
//! Carme jobs count against `max_running_jobs`.

use serde::{Deserialize, Serialize};

use crate::gate::names_feature;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Pending,
    Running,
    Suspended,
    Other,
}

/// Serializable so that a query run in a child process (bounded in time,
/// see the plugin's `ffi::load_job`) can hand its answer back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub job_id: u32,
    pub user_id: u32,
    pub state: JobState,
    /// Unix time the job started (or is expected to).
    pub start_time: i64,
    /// The constraint expression.
    pub features: Option<String>,
    pub account: Option<String>,
    pub num_nodes: u32,
    /// Minutes; `None` for no limit.
    pub time_limit: Option<u64>,
    /// All GRES the job holds, e.g. `gpu:4` (what scontrol shows as JOB_GRES).
    pub gres_total: Option<String>,
    /// Per node, e.g. `gpu:2(IDX:0-1)` or `gpu:a100:1(IDX:3),nic:1(IDX:0)`,
    /// in the order of `nodes` (empty for a node without GRES).
    pub gres_detail: Vec<String>,
    /// The job's nodes, a hostlist (`n[1-3]`).
    pub nodes: Option<String>,
}

/// Slurm's INFINITE and NO_VAL in a uint32 time limit.
pub fn time_limit_minutes(raw: u32) -> Option<u64> {
    match raw {
        0xffff_ffff | 0xffff_fffe => None,
        m => Some(u64::from(m)),
    }
}

impl JobInfo {
    /// GPUs allocated to the whole job (0 when none). Not from the TRES
    /// strings: those carry gres/gpu only where accounting tracks it.
    pub fn gpus_total(&self) -> u32 {
        match &self.gres_total {
            Some(total) => gpus_in_detail(total),
            None => self
                .gres_detail
                .iter()
                .fold(0, |t: u32, n| t.saturating_add(gpus_in_detail(n))),
        }
    }

    /// The most GPUs the job has on any one node.
    pub fn gpus_per_node_max(&self) -> u32 {
        self.gres_detail
            .iter()
            .map(|node| gpus_in_detail(node))
            .max()
            .unwrap_or(0)
    }

    pub fn is_carme(&self, feature: &str) -> bool {
        self.features
            .as_deref()
            .is_some_and(|f| names_feature(f, feature))
    }
}

/// GPUs in one node's detail string: `gpu[:type]:N(IDX:...)` entries.
fn gpus_in_detail(detail: &str) -> u32 {
    let mut total: u32 = 0;
    // Entries are separated by commas outside parentheses.
    let mut depth = 0;
    let mut start = 0;
    let bytes = detail.as_bytes();
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied();
        match c {
            Some(b'(') => depth += 1,
            Some(b')') => depth -= 1,
            Some(b',') | None if depth == 0 => {
                let entry = &detail[start..i];
                start = i + 1;
                let head = entry.split('(').next().unwrap_or("");
                let mut parts = head.split(':');
                if parts.next() == Some("gpu") {
                    // slurmctld's numbers, but never wrapped: saturate.
                    total = u32::saturating_add(
                        total,
                        parts
                            .next_back()
                            .and_then(|n| n.parse::<u32>().ok())
                            .unwrap_or(1),
                    );
                }
            }
            _ => {}
        }
    }
    total
}

/// The user's other Carme jobs that started before `me` (ties broken by
/// job id) and still run: every node of `me` computes the same number from
/// the same records, and of two jobs starting together exactly the later
/// one counts the earlier.
pub fn running_before(me: &JobInfo, jobs: &[JobInfo], feature: &str) -> u32 {
    jobs.iter()
        .filter(|j| j.job_id != me.job_id && j.user_id == me.user_id)
        .filter(|j| matches!(j.state, JobState::Running | JobState::Suspended))
        .filter(|j| j.is_carme(feature))
        .filter(|j| (j.start_time, j.job_id) < (me.start_time, me.job_id))
        .count() as u32
}

/// The user's Carme jobs running now (for the early check of a job not
/// submitted yet).
pub fn running_now(user_id: u32, jobs: &[JobInfo], feature: &str) -> u32 {
    jobs.iter()
        .filter(|j| j.user_id == user_id)
        .filter(|j| matches!(j.state, JobState::Running | JobState::Suspended))
        .filter(|j| j.is_carme(feature))
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u32, state: JobState, start: i64, features: Option<&str>) -> JobInfo {
        JobInfo {
            job_id: id,
            user_id: 1000,
            state,
            start_time: start,
            features: features.map(str::to_string),
            account: None,
            num_nodes: 1,
            time_limit: Some(60),
            gres_total: None,
            gres_detail: vec![],
            nodes: None,
        }
    }

    #[test]
    fn gpu_counts() {
        let mut j = job(1, JobState::Running, 0, None);
        j.gres_detail = vec![
            "gpu:2(IDX:0-1)".into(),
            "gpu:a100:1(IDX:3),nic:4(IDX:0-3)".into(),
        ];
        assert_eq!(j.gpus_total(), 3, "summed over nodes without gres_total");
        assert_eq!(j.gpus_per_node_max(), 2);
        j.gres_total = Some("gpu:4,nic:4".into());
        assert_eq!(j.gpus_total(), 4, "gres_total wins");
        assert_eq!(gpus_in_detail("gpu(IDX:0)"), 1);
        assert_eq!(gpus_in_detail("gpu:1(IDX:0),gpu:t4:2(IDX:1,3)"), 3);
        assert_eq!(gpus_in_detail(""), 0);
        let none = job(2, JobState::Running, 0, None);
        assert_eq!((none.gpus_total(), none.gpus_per_node_max()), (0, 0));
    }

    #[test]
    fn time_limits() {
        assert_eq!(time_limit_minutes(0xffff_ffff), None);
        assert_eq!(time_limit_minutes(0xffff_fffe), None);
        assert_eq!(time_limit_minutes(90), Some(90));
    }

    #[test]
    fn running_counts_are_deterministic() {
        let me = job(10, JobState::Running, 100, Some("carme"));
        let jobs = vec![
            me.clone(),
            job(5, JobState::Running, 50, Some("carme&gpu")), // counts
            job(9, JobState::Running, 100, Some("carme")),    // same second, lower id: counts
            job(11, JobState::Running, 100, Some("carme")),   // same second, higher id: not
            job(12, JobState::Running, 200, Some("carme")),   // later: not
            job(6, JobState::Pending, 0, Some("carme")),      // pending: not
            job(7, JobState::Running, 10, Some("gpu")),       // not Carme: not
            job(8, JobState::Suspended, 10, Some("carme")),   // suspended still holds: counts
        ];
        assert_eq!(running_before(&me, &jobs, "carme"), 3);
        // Job 11's own check sees 10 before it: exactly one of a tie passes.
        let eleven = job(11, JobState::Running, 100, Some("carme"));
        assert_eq!(running_before(&eleven, &jobs, "carme"), 4);
        assert_eq!(running_now(1000, &jobs, "carme"), 6);
        assert_eq!(running_now(1001, &jobs, "carme"), 0);
    }
}
