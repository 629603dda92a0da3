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

use carme_e2e::{Cluster, STUDENT, exclusive_config, slurmctld_facts};

/// slurmctld stopped for the guard's lifetime (continued also on panic).
struct Stopped(String);

impl Stopped {
    fn slurmctld(c: &Cluster) -> Stopped {
        let pid = std::fs::read_to_string(c.dir.join("run/slurmctld.pid"))
            .unwrap()
            .trim()
            .to_string();
        c.root(&["kill", "-STOP", &pid]).ok();
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
    let batch = c
        .sbatch_on("n1", STUDENT, "unverified")
        .args(&["--hold", "-C", "carme"])
        .wrap("echo ran-on-host")
        .submit();
    let job = batch.id;
    let delay = c.dir.join(format!("etc/prolog-delay/{job}"));
    std::fs::write(&delay, "8\n").unwrap();
    batch.release();
    // Stop slurmctld once the job runs (its prolog sleeping), before slurmd
    // starts the batch step.
    let running = c.wait_for(Duration::from_secs(20), || batch.state() == "RUNNING");
    assert!(running, "job {job} did not start");
    let warned =
        format!("carme: this node could not ask slurmctld whether job {job} is a Carme job");
    let text = {
        let _stopped = Stopped::slurmctld(&c);
        let until = Instant::now() + Duration::from_secs(45);
        let mut text = String::new();
        while Instant::now() < until {
            text = std::fs::read_to_string(batch.output_path()).unwrap_or_default();
            if text.contains(&warned) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        text
    };
    let _ = std::fs::remove_file(&delay);
    // The job ends normally once slurmctld is back; the node stays up.
    let done = c.wait_for(Duration::from_secs(60), || batch.is_done());
    let node = c.root(&["sinfo", "-h", "-n", "n1", "-o", "%T %E"]);
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
    node.expect_stdout_lacks("drain");
}
