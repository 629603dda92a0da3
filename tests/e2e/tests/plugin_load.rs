//! At load, the plugin says which build it is: its version and the Slurm
//! series it was built for (issue 12), at verbose level. Users see it only
//! with `-v`; slurmstepd logs it for every step (the harness runs slurmd
//! with SlurmdDebug=debug).

use std::path::Path;
use std::time::Duration;

use carme_e2e::{Cluster, Lines, Out, STUDENT, shared_config, slurm_series};

/// Whether `line` is the plugin's load line for this cluster's series:
/// `carme: carme-slurm VERSION loaded, built for Slurm MAJOR.MINOR
/// (plugin_version 0xMMmmuu)`, the micro release left open.
fn says_loaded(line: &str) -> bool {
    let (major, minor) = slurm_series();
    let head = format!(
        "carme: carme-slurm {} loaded, built for Slurm {major}.{minor:02} \
         (plugin_version 0x{major:x}{minor:02x}",
        env!("CARGO_PKG_VERSION")
    );
    line.split_once(&head).is_some_and(|(_, rest)| {
        rest.len() == 3 && rest.ends_with(')') && rest[..2].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The lines of a client's stderr that mention the plugin's build.
fn load_lines(out: &Out) -> Lines {
    out.stderr_lines().only(|l| l.contains("carme-slurm"))
}

/// Wait for slurmstepd of `step` (`JOB.0`, `JOB.batch`) to have logged
/// the load line into `log`; the log's lines about the step otherwise.
fn step_logged(c: &Cluster, log: &Path, step: &str) -> Result<(), String> {
    // slurmstepd prefixes its lines in slurmd's log with the step:
    // `[1.0]`, or `[1.0 stepmgr]` on newer series with a step manager.
    let tags = [format!("[{step}]"), format!("[{step} ")];
    let about_step = |l: &str| tags.iter().any(|t| l.contains(t.as_str()));
    let mut seen = String::new();
    let found = c.wait_for(Duration::from_secs(10), || {
        seen = std::fs::read_to_string(log).unwrap_or_default();
        seen.lines().any(|l| about_step(l) && says_loaded(l))
    });
    if found {
        return Ok(());
    }
    let about: Vec<&str> = seen.lines().filter(|l| about_step(l)).collect();
    Err(format!(
        "{} has no load line for step {step}; its lines about the step:\n{}",
        log.display(),
        about.join("\n")
    ))
}

fn job_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("job="))
        .unwrap_or_else(|| panic!("no job id in {stdout:?}"))
        .trim()
        .to_string()
}

#[test]
fn srun_v_names_the_build_and_slurmstepd_logs_it_for_the_step() {
    let _g = shared_config();
    let c = Cluster::get();
    // A job that is not a Carme job: the plugin is loaded all the same.
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "-v",
            "-N1",
            "-w",
            "n1",
            "sh",
            "-c",
            "echo job=$SLURM_JOB_ID",
        ],
    );
    out.ok();
    // One srun: line naming this Slurm series.
    load_lines(&out)
        .expect_count(1)
        .expect_some(|l| l.starts_with("srun: ") && says_loaded(l));
    let job = job_id(&out.stdout);
    step_logged(&c, &c.dir.join("log/slurmd-n1.log"), &format!("{job}.0")).unwrap();
}

#[test]
fn without_v_users_see_nothing_of_it() {
    let _g = shared_config();
    let c = Cluster::get();
    let out = c.run_as(STUDENT, &["srun", "-N1", "-w", "n2", "true"]);
    out.ok();
    load_lines(&out).expect_count(0);
}

#[test]
fn sbatch_v_names_the_build_and_the_batch_step_logs_it() {
    let _g = shared_config();
    let c = Cluster::get();
    let job = c
        .sbatch_on("n3", STUDENT, "loadline")
        .args(&["-v", "-N1"])
        .discard_output()
        .wrap("true")
        .submit();
    // One sbatch: line naming this Slurm series.
    load_lines(job.submitted())
        .expect_count(1)
        .expect_some(|l| l.starts_with("sbatch: ") && says_loaded(l));
    step_logged(
        &c,
        &c.dir.join("log/slurmd-n3.log"),
        &format!("{}.batch", job.id),
    )
    .unwrap();
}
