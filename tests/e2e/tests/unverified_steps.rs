//! Issue 13 item 10: where slurmctld is the source of job facts and cannot
//! be asked, a step that may be a Carme job's does not run as if it were
//! not one. A batch step is never failed in slurmstepd (that would drain
//! the node): the script ends before it runs, with the reason in its
//! output; task steps are refused (unit-tested in carme_core::decide).
//!
//! The harness delays the job's prolog (DIR/etc/prolog-delay/JOBID, see
//! tests/cluster/cluster.sh); slurmctld is stopped (SIGSTOP) meanwhile, so
//! when slurmd starts the batch step its query for the job gets no answer.

use std::time::{Duration, Instant};

use carme_e2e::{Cluster, STUDENT, exclusive_config, home_of, slurmctld_facts, unique_name};

/// slurmctld stopped for the guard's lifetime (continued also on panic).
struct Stopped(String);

impl Stopped {
    fn slurmctld(c: &Cluster) -> Stopped {
        let pid = std::fs::read_to_string(c.dir.join("run/slurmctld.pid"))
            .unwrap()
            .trim()
            .to_string();
        assert!(c.root(&["kill", "-STOP", &pid]).code == 0);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0])
            .status();
    }
}

#[test]
fn a_batch_step_without_job_facts_never_runs_unconfined_nor_drains() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = slurmctld_facts(&c);
    let name = unique_name("unverified");
    let out_file = home_of(STUDENT).join(format!("{name}.out"));
    let out = c.run_as(
        STUDENT,
        &[
            "sbatch",
            "--parsable",
            "--hold",
            "-J",
            &name,
            "-C",
            "carme",
            "-w",
            "n1",
            "-o",
            out_file.to_str().unwrap(),
            "--wrap",
            "echo ran-on-host",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let job = out.stdout.trim().to_string();
    let delay = c.dir.join(format!("etc/prolog-delay/{job}"));
    std::fs::write(&delay, "8\n").unwrap();
    assert_eq!(c.root(&["scontrol", "release", &job]).code, 0);
    // Stop slurmctld once the job runs (its prolog sleeping), before slurmd
    // starts the batch step.
    let running = c.wait_for(Duration::from_secs(20), || {
        c.root(&["squeue", "-h", "-j", &job, "-o", "%T"])
            .stdout
            .trim()
            == "RUNNING"
    });
    assert!(running, "job {job} did not start");
    let warned =
        format!("carme: this node could not ask slurmctld whether job {job} is a Carme job");
    let text = {
        let _stopped = Stopped::slurmctld(&c);
        let until = Instant::now() + Duration::from_secs(45);
        let mut text = String::new();
        while Instant::now() < until {
            text = std::fs::read_to_string(&out_file).unwrap_or_default();
            if text.contains(&warned) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        text
    };
    let _ = std::fs::remove_file(&delay);
    // The job ends normally once slurmctld is back; the node stays up.
    let done = c.wait_for(Duration::from_secs(60), || {
        c.root(&["squeue", "-h", "-j", &job, "-o", "%T"])
            .stdout
            .trim()
            .is_empty()
    });
    let node = c.root(&["sinfo", "-h", "-n", "n1", "-o", "%T %E"]);
    let _ = std::fs::remove_file(&out_file);
    assert!(
        text.contains(&warned) && text.contains("no answer within 15 s"),
        "no warning in the batch output:\n{text}"
    );
    // Issue 13 (review): never unconfined: the script ends before it runs.
    assert!(
        !text.contains("ran-on-host"),
        "the batch script ran unconfined:\n{text}"
    );
    assert!(done, "job {job} did not end");
    assert!(!node.stdout.contains("drain"), "node n1: {}", node.stdout);
}
