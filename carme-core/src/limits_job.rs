//! Which of a user's effective limits need the whole job's facts (its
//! GPUs, nodes, time, the user's running Carme jobs): slurmstepd asks
//! slurmctld for them, once per job and node, only when one applies.
//!
//! Beside the limit types on purpose: [`needs_whole_job`] names every field
//! of [`Effective`], so a new limit does not compile until it is sorted
//! into "per step" or "whole job" here.

use crate::limits::{Effective, Resolved};

/// True when a limit that only the whole job's facts can check applies.
pub fn needs_whole_job(eff: &Effective) -> bool {
    let set = |r: &Resolved<u32>| matches!(r, Resolved::Limit { .. });
    // No `..`: a new field must be placed here.
    let Effective {
        images: _, // checked per step, from the step's own image
        max_gpus_per_job,
        max_gpus_per_node,
        max_nodes_per_job,
        max_running_jobs,
        max_time,
    } = eff;
    set(max_gpus_per_job)
        || set(max_gpus_per_node)
        || set(max_nodes_per_job)
        || set(max_running_jobs)
        || matches!(max_time, Resolved::Limit { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Source;

    fn none() -> Effective {
        Effective {
            images: Resolved::NoLimit,
            max_gpus_per_job: Resolved::NoLimit,
            max_gpus_per_node: Resolved::NoLimit,
            max_nodes_per_job: Resolved::NoLimit,
            max_running_jobs: Resolved::NoLimit,
            max_time: Resolved::NoLimit,
        }
    }

    fn limit<T>(value: T) -> Resolved<T> {
        Resolved::Limit {
            value,
            source: Source::Default,
        }
    }

    #[test]
    fn each_whole_job_limit_alone_needs_the_job() {
        type Set = fn(&mut Effective);
        let rows: [(&str, Set); 5] = [
            ("max_gpus_per_job", |e| e.max_gpus_per_job = limit(1)),
            ("max_gpus_per_node", |e| e.max_gpus_per_node = limit(1)),
            ("max_nodes_per_job", |e| e.max_nodes_per_job = limit(1)),
            ("max_running_jobs", |e| e.max_running_jobs = limit(1)),
            ("max_time", |e| e.max_time = limit(60)),
        ];
        for (name, set) in rows {
            let mut eff = none();
            set(&mut eff);
            assert!(needs_whole_job(&eff), "{name}");
        }
    }

    #[test]
    fn image_rules_and_unset_or_unknown_limits_do_not() {
        assert!(!needs_whole_job(&none()));
        let mut eff = none();
        eff.images = limit(Vec::new());
        assert!(!needs_whole_job(&eff), "images are checked per step");
        // Unknown: an account rule whose account is not known yet; the
        // step's check with the job's account settles it (the plugin
        // always knows the account).
        let mut eff = none();
        eff.max_gpus_per_job = Resolved::Unknown;
        eff.max_time = Resolved::Unknown;
        assert!(!needs_whole_job(&eff));
    }
}
