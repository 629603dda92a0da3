//! Issue 11 item 5: the load a job's steps put on slurmctld. With the
//! default fact source (`job_facts = "auto"`) a step learns whether its
//! job is a Carme job from the record carme-prolog leaves for every job,
//! else asks slurmctld once per job and node and keeps the answer: a job's
//! N steps on a node cost at most one job-info RPC there, not N. Counted
//! with `sdiag` (slurmctld's per-message-type RPC statistics), the count
//! the harness can see for real; with `job_facts = "slurmctld"` the same
//! steps cost one each, which shows the count sees them.
//!
//! The steps name no image (the harness has a default image): a step that
//! names one is also checked early by srun, which asks slurmctld itself.

use carme_e2e::{Cluster, STUDENT, default_facts, exclusive_config, slurmctld_facts, unique_name};

/// Steps per job: enough that "one per step" and "one per node" differ.
const STEPS: u64 = 6;

/// slurmctld's count of single-job info requests (`slurm_load_job`) so far.
fn job_info_rpcs(c: &Cluster) -> u64 {
    let out = c.root(&["sdiag"]);
    out.ok();
    let by_type = out
        .stdout
        .split("Remote Procedure Call statistics by message type")
        .nth(1)
        .unwrap_or_else(|| panic!("sdiag shows no RPC statistics:\n{}", out.stdout));
    let by_type = by_type
        .split("Remote Procedure Call statistics by user")
        .next()
        .unwrap();
    // A type slurmctld has not seen yet is not listed.
    by_type
        .lines()
        .find(|l| l.split_whitespace().next() == Some("REQUEST_JOB_INFO_SINGLE"))
        .map_or(0, |l| {
            let count = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("count:"))
                .unwrap_or_else(|| panic!("no count in `{l}`"));
            count.parse().unwrap_or_else(|e| panic!("`{l}`: {e}"))
        })
}

/// A job of STUDENT's allocated now (salloc --no-shell), cancelled when
/// dropped.
struct Job(String);

impl Job {
    fn alloc(c: &Cluster, opts: &[&str]) -> Job {
        let name = unique_name("facts");
        let mut argv = vec!["salloc", "--no-shell", "-J", &name];
        argv.extend_from_slice(opts);
        let out = c.run_as(STUDENT, &argv);
        out.ok();
        let id = c
            .root(&["squeue", "-h", "-n", &name, "-o", "%i"])
            .stdout
            .trim()
            .to_string();
        assert!(!id.is_empty(), "no job: {}", out.all());
        Job(id)
    }

    /// STEPS steps of the job on `nodes` nodes, with srun options
    /// `extra`; the RPCs they caused.
    fn steps(&self, c: &Cluster, nodes: u32, in_image: bool, extra: &[&str]) -> u64 {
        let before = job_info_rpcs(c);
        let n = format!("-N{nodes}");
        for _ in 0..STEPS {
            let mut argv = vec!["srun", "--jobid", &self.0, &n];
            argv.extend_from_slice(extra);
            argv.extend([
                "sh",
                "-c",
                "test -e /CARME_IMAGE && echo image || echo host",
            ]);
            // Each task runs in the image, or on the host.
            let want = if in_image { "image" } else { "host" };
            c.run_as(STUDENT, &argv)
                .ok()
                .stdout_lines()
                .expect_count(nodes as usize)
                .expect_none(|l| l != want);
        }
        job_info_rpcs(c) - before
    }

    fn record(&self, c: &Cluster, node: &str) -> std::path::PathBuf {
        c.dir.join(format!("nodes/{node}/state/job-{}", self.0))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = Cluster::get().root(&["scancel", &self.0]);
    }
}

#[test]
fn a_jobs_steps_ask_slurmctld_at_most_once_per_node() {
    let _g = exclusive_config();
    let c = Cluster::get();

    // The count sees the steps' queries: one per step with "slurmctld".
    {
        let _swap = slurmctld_facts(&c);
        let job = Job::alloc(&c, &["-w", "n1", "-C", "carme"]);
        let rpcs = job.steps(&c, 1, true, &[]);
        assert!(rpcs >= STEPS, "{STEPS} steps, {rpcs} job-info RPCs counted");
    }

    let _swap = default_facts(&c);
    // The prolog recorded the job: no RPC at all, Carme job or not (n3
    // lacks the carme feature but loads the plugin).
    let carme = Job::alloc(&c, &["-w", "n1", "-C", "carme"]);
    assert!(carme.record(&c, "n1").exists(), "no prolog record");
    assert_eq!(
        carme.steps(&c, 1, true, &[]),
        0,
        "Carme job with prolog records"
    );
    // Naming the image: srun's early check asks slurmctld nothing either.
    assert_eq!(
        carme.steps(&c, 1, true, &["--carme-image=base"]),
        0,
        "Carme job's steps naming their image"
    );
    let other = Job::alloc(&c, &["-w", "n3"]);
    assert!(
        other.record(&c, "n3").exists(),
        "no record of a non-Carme job"
    );
    assert_eq!(
        other.steps(&c, 1, false, &[]),
        0,
        "non-Carme job with prolog records"
    );

    // As if no prolog ran (Prolog= unset): the first step asks, once per
    // node, and keeps the answer for the job's later steps.
    let two = Job::alloc(&c, &["-N2", "-w", "n1,n2", "-C", "carme"]);
    for n in ["n1", "n2"] {
        std::fs::remove_file(two.record(&c, n)).unwrap();
    }
    let rpcs = two.steps(&c, 2, true, &[]);
    assert!(
        (1..=2).contains(&rpcs),
        "{STEPS} two-node steps without prolog records: {rpcs} job-info RPCs (want one per node)"
    );
    for n in ["n1", "n2"] {
        let kept = std::fs::read_to_string(two.record(&c, n)).unwrap();
        assert!(
            kept.contains("constraint=carme") && kept.contains("until="),
            "{kept}"
        );
    }
    let other = Job::alloc(&c, &["-w", "n3"]);
    std::fs::remove_file(other.record(&c, "n3")).unwrap();
    assert_eq!(
        other.steps(&c, 1, false, &[]),
        1,
        "non-Carme job without a prolog record"
    );
}

/// The epilog removes every job's record, the non-Carme job's too.
#[test]
fn the_epilog_removes_every_jobs_record() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = default_facts(&c);
    let carme = Job::alloc(&c, &["-w", "n1", "-C", "carme"]);
    let other = Job::alloc(&c, &["-w", "n3"]);
    let records = [carme.record(&c, "n1"), other.record(&c, "n3")];
    for r in &records {
        assert!(r.exists(), "{} missing", r.display());
    }
    drop((carme, other));
    assert!(
        c.wait_for(std::time::Duration::from_secs(30), || records
            .iter()
            .all(|r| !r.exists())),
        "records left after the epilog: {records:?}"
    );
}
