//! Issue 13 item 5: a step's GPUs come from sources the user cannot set.
//! With `job_facts = "slurmctld"` they are slurmctld's per-node GRES detail
//! of the job, each node's own entry; the harness's nodes all run the gpu
//! GRES plugin, so a step's `SLURM_STEP_GPUS` (Slurm's) only narrows them.

use std::collections::BTreeSet;
use std::time::Duration;

use carme_e2e::{Cluster, OTHER, STUDENT, exclusive_config, gpus_in, slurmctld_facts};

/// The nvidiaN names in a listing, per `node:` line.
fn gpus_of(out: &str, node: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix(&format!("{node}:")))
        .flat_map(gpus_in)
        .collect()
}

#[test]
fn each_node_sees_its_own_gpus_from_slurmctld() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = slurmctld_facts(&c);
    // Another job holds one GPU of n1, so the two-node job below gets
    // different GPU indices on n1 and n2: a node that took another node's
    // entry of the GRES detail would show it.
    let holder_job = c
        .sbatch_on("n1", OTHER, "gpu-holder")
        .args(&["--gres=gpu:1"])
        .discard_output()
        .wrap("sleep 120")
        .submit();
    let holder = holder_job.id.to_string();
    let mut held = String::new();
    let running = c.wait_for(Duration::from_secs(30), || {
        let s = c.root(&["scontrol", "show", "job", "-d", &holder]);
        held = s
            .stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("GRES=gpu:1(IDX:"))
            .map(|i| i.trim_end_matches(')').to_string())
            .unwrap_or_default();
        s.stdout.contains("JobState=RUNNING") && !held.is_empty()
    });
    assert!(running, "the holder job {holder} did not start");

    let script = format!(
        "echo $SLURMD_NODENAME: $(ls {d}/nodes/$SLURMD_NODENAME/dev)",
        d = c.dir.display()
    );
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "-N",
            "2",
            "-w",
            "n1,n2",
            "-C",
            "carme",
            "--gres=gpu:1",
            "sh",
            "-c",
            &script,
        ],
    );
    c.root(&["scancel", &holder]);
    out.ok();
    let (n1, n2) = (gpus_of(&out.stdout, "n1"), gpus_of(&out.stdout, "n2"));
    assert_eq!(n1.len(), 1, "n1 shows {n1:?}: {}", out.all());
    assert_eq!(n2.len(), 1, "n2 shows {n2:?}: {}", out.all());
    assert!(
        !n1.contains(&format!("nvidia{held}")),
        "n1 shows the holder's GPU {held}: {}",
        out.all()
    );
}
