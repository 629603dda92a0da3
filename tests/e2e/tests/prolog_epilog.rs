//! End to end: carme-prolog and carme-epilog on the harness cluster
//! (Prolog=/Epilog= with PrologFlags=Alloc): each Carme job's tmp and
//! scratch directories, BeeOND across a job's nodes through the strict
//! beeond stand-in (tests/standins; the harness's `beeond` wrapper mounts
//! each node's view at its own directory), the failure policy (a node
//! fault drains the node with our reason and Slurm holds the job), the
//! fallbacks, idempotence and the symlink-safe cleanup.
//!
//! Tests that drain a node or swap the config hold the config lock
//! exclusively (and resume the node); the others hold it shared.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use carme_e2e::{
    BatchJob, Cluster, ConfigSwap, OTHER, STAFF, STUDENT, exclusive_config, home_of, shared_config,
    unique_name,
};

fn uid_of(user: &str) -> u32 {
    std::fs::metadata(home_of(user)).unwrap().uid()
}

/// The node's `State=` and `Reason=` (the reason runs to the end of its
/// field list, so it is read up to ` ReasonTime=` or similar).
fn node_state(c: &Cluster, node: &str) -> (String, String) {
    let out = c.root(&["scontrol", "show", "node", "-o", node]);
    let state = out
        .stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("State="))
        .unwrap_or("")
        .to_string();
    let reason = out
        .stdout
        .split_once(" Reason=")
        .map(|(_, r)| r.split(" [").next().unwrap_or(r).trim().to_string())
        .unwrap_or_default();
    (state, reason)
}

fn tmp_dir(c: &Cluster, node: &str, job: u32) -> PathBuf {
    c.dir.join(format!("nodes/{node}/tmp/{job}"))
}

fn scratch_dir(c: &Cluster, node: &str, job: u32) -> PathBuf {
    c.dir.join(format!("nodes/{node}/scratch/{job}"))
}

fn mount_point(c: &Cluster, node: &str, job: u32) -> PathBuf {
    c.dir.join(format!("nodes/{node}/beeond/{job}"))
}

fn status_file(c: &Cluster, job: u32) -> PathBuf {
    c.dir.join(format!("beeond-status/beeond-{job}.tmp"))
}

fn job_log(c: &Cluster, job: u32) -> String {
    std::fs::read_to_string(c.dir.join(format!("log/carme/{job}.log"))).unwrap_or_default()
}

/// The stand-in's mounts (source `beegfs_ondemand`) right now.
fn beeond_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("beegfs_ondemand "))
        .map(|l| PathBuf::from(l.split(' ').nth(1).unwrap()))
        .collect()
}

/// The stand-in's records of calls for `job` (its paths name the job).
fn standin_calls(c: &Cluster, job: u32) -> Vec<serde_json::Value> {
    let status = status_file(c, job).display().to_string();
    std::fs::read_to_string(c.dir.join("log/beeond-standin.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("stand-in record is JSON"))
        .filter(|r| {
            r["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|w| w.as_str() == Some(status.as_str())))
        })
        .collect()
}

/// (action, node, status, exit code) of each call.
fn calls_summary(calls: &[serde_json::Value]) -> Vec<(String, String, String, i64)> {
    calls
        .iter()
        .map(|r| {
            (
                r["argv"][1].as_str().unwrap_or("").to_string(),
                r["node"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
                r["exit_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn not_drained(c: &Cluster) {
    for n in ["n1", "n2"] {
        let (state, reason) = node_state(c, n);
        assert!(
            !state.contains("DRAIN"),
            "{n} was drained: {state} {reason}"
        );
    }
}

/// Per-job stand-in knobs (the harness's wrapper reads them).
struct Knob(PathBuf);

impl Knob {
    fn set(c: &Cluster, job: u32, line: &str) -> Knob {
        let p = c.dir.join(format!("etc/beeond-standin/{job}.env"));
        std::fs::write(&p, format!("{line}\n")).unwrap();
        Knob(p)
    }
}

impl Drop for Knob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn carme_job_gets_its_own_tmp_and_scratch_removed_afterwards() {
    let _g = shared_config();
    let c = Cluster::get();
    let uid = uid_of(STUDENT);
    let batch = c
        .sbatch_on("n1", STUDENT, "dirs")
        .args(&["-C", "carme"])
        .script("#!/bin/sh\necho data > /tmp/f && echo tmp-ok\nsleep 3\n")
        .submit();
    let job = batch.id;
    batch.wait_running();
    for dir in [tmp_dir(&c, "n1", job), scratch_dir(&c, "n1", job)] {
        let md = std::fs::symlink_metadata(&dir)
            .unwrap_or_else(|e| panic!("{} while the job runs: {e}", dir.display()));
        assert!(md.is_dir());
        assert_eq!(md.uid(), uid, "{}", dir.display());
        assert_eq!(md.permissions().mode() & 0o7777, 0o700, "{}", dir.display());
    }
    batch
        .wait_done()
        .expect_state("COMPLETED")
        .expect_output_has("tmp-ok");
    for dir in [tmp_dir(&c, "n1", job), scratch_dir(&c, "n1", job)] {
        assert!(!dir.exists(), "{} left after the job", dir.display());
    }
    let log = job_log(&c, job);
    assert!(
        log.contains(&format!(
            "carme-prolog info: job {job} on n1: ready job={job} node=n1 took="
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "carme-epilog info: job {job} on n1: cleaned job={job} node=n1 took="
        )),
        "{log}"
    );
    // The prolog's records are gone too.
    let state = c.dir.join("nodes/n1/state");
    for name in [format!("job-{job}"), format!("job-{job}.node")] {
        assert!(!state.join(&name).exists(), "{name} left");
    }
    not_drained(&c);
}

#[test]
fn non_carme_job_gets_nothing() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = c
        .sbatch_on("n1", OTHER, "plain")
        .discard_output()
        .script("#!/bin/sh\nsleep 2\n")
        .submit();
    let job = batch.id;
    batch.wait_running();
    assert!(!tmp_dir(&c, "n1", job).exists());
    assert!(!scratch_dir(&c, "n1", job).exists());
    batch.wait_done();
    assert!(
        !c.dir.join(format!("log/carme/{job}.log")).exists(),
        "a non-Carme job got a log"
    );
    assert!(
        !c.dir
            .join(format!("nodes/n1/state/job-{job}.node"))
            .exists()
    );
}

/// A two-node BeeOND job, submitted (held, with `held`).
fn beeond_job(c: &Cluster, user: &str, tag: &str, held: bool) -> BatchJob {
    let mut args = vec!["-N2", "-C", "carme&beeond"];
    if held {
        args.push("-H");
    }
    let d = c.dir.display();
    // The batch script starts once the first node's prolog is done; a step
    // on n2 starts only once n2's prolog is (it waits for the mount there).
    // The script then looks at both nodes' views (one host in the harness).
    let script = format!(
        "#!/bin/sh\nsrun -N1 -n1 -w n2 true || echo step-on-n2-failed\n\
         for n in n1 n2; do m={d}/nodes/$n/beeond/$SLURM_JOB_ID; \
         echo hello > $m/from-job && echo \"$n $(stat -c '%U %a' $m) $(cat $m/from-job)\"; done\n\
         sleep 2\n"
    );
    c.sbatch(user, tag).args(&args).script(&script).submit()
}

#[test]
fn beeond_across_two_nodes_is_the_users_and_gone_afterwards() {
    let _g = shared_config();
    let c = Cluster::get();
    let uid = uid_of(STAFF);
    let batch = beeond_job(&c, STAFF, "beeond", false);
    let job = batch.id;
    batch.wait_running();
    let mounted = beeond_mounts();
    for n in ["n1", "n2"] {
        let m = mount_point(&c, n, job);
        assert!(
            mounted.contains(&m),
            "{} not mounted: {mounted:?}",
            m.display()
        );
        let md = std::fs::symlink_metadata(&m).unwrap();
        assert_eq!(md.uid(), uid, "{} not the user's", m.display());
        assert_eq!(md.permissions().mode() & 0o7777, 0o700);
    }
    // The job sees its BeeOND on both nodes.
    batch
        .wait_done()
        .expect_state("COMPLETED")
        .expect_output_lines(&[
            &format!("n1 {STAFF} 700 hello"),
            &format!("n2 {STAFF} 700 hello"),
        ]);
    // Gone: mounts, mount points, status file.
    let mounted = beeond_mounts();
    for n in ["n1", "n2"] {
        let m = mount_point(&c, n, job);
        assert!(!mounted.contains(&m), "{} still mounted", m.display());
        assert!(!m.exists(), "{} left", m.display());
    }
    assert!(!status_file(&c, job).exists());
    // beeond start and stop ran once each, on the first node, with the
    // per-job status file and port shift; no fallback was needed.
    let calls = standin_calls(&c, job);
    assert_eq!(
        calls_summary(&calls),
        [
            ("start".into(), "n1".into(), "ok".into(), 0),
            ("stop".into(), "n1".into(), "ok".into(), 0)
        ],
        "{calls:#?}"
    );
    let argv: Vec<&str> = calls[0]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let shift = (1010 + 10 * (job % 2300)).to_string();
    for flag in ["-P", "-F", "-q"] {
        assert!(argv.contains(&flag), "{argv:?}");
    }
    let after = |f: &str| argv[argv.iter().position(|a| *a == f).unwrap() + 1];
    assert_eq!(after("-p"), shift);
    assert_eq!(Path::new(after("-c")), mount_point(&c, "n1", job));
    let log = job_log(&c, job);
    assert!(log.contains("BeeOND started on n1,n2"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("job {job} on n2: ready job={job}"))
                && l.contains("beeond_started_by=n1")),
        "{log}"
    );
    // n2's epilog either waited for n1's stop (beeond_stopped_by=n1) or
    // found nothing left of it (no beeond field at all), and never fell
    // back to stoplocal.
    let n2 = format!("job {job} on n2: ");
    let n2_lines: Vec<&str> = log.lines().filter(|l| l.contains(&n2)).collect();
    assert!(
        n2_lines
            .iter()
            .any(|l| l.contains(&format!("cleaned job={job}"))
                && (l.contains("beeond_stopped_by=n1") || !l.contains("beeond"))),
        "{log}"
    );
    assert!(
        !n2_lines
            .iter()
            .any(|l| l.contains("still here") || l.contains("stoplocal")),
        "{log}"
    );
    not_drained(&c);
}

#[test]
fn failed_stop_falls_back_to_stoplocal_on_every_node() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = beeond_job(&c, STAFF, "stopfail", true);
    let job = batch.id;
    let _knob = Knob::set(&c, job, "CARME_BEEOND_STANDIN_FAIL=stop");
    batch.release();
    // n2 waits stop_timeout (10 s) + 2 s for the first node's stop.
    batch
        .wait_done_within(Duration::from_secs(90))
        .expect_state("COMPLETED");
    let mut calls = calls_summary(&standin_calls(&c, job));
    calls.sort();
    assert_eq!(
        calls,
        [
            ("start".into(), "n1".into(), "ok".into(), 0),
            ("stop".into(), "n1".into(), "forced_failure".into(), 1),
            ("stoplocal".into(), "n1".into(), "ok".into(), 0),
            ("stoplocal".into(), "n2".into(), "ok".into(), 0),
        ]
    );
    let mounted = beeond_mounts();
    for n in ["n1", "n2"] {
        assert!(!mounted.contains(&mount_point(&c, n, job)));
    }
    assert!(!status_file(&c, job).exists());
    let log = job_log(&c, job);
    assert!(
        log.contains("every node falls back to beeond stoplocal"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "job {job} on n2: BeeOND of job {job} still here after 12s"
        )),
        "{log}"
    );
    not_drained(&c);
}

/// Run the cluster's epilog (as slurmd would) by hand for `job` on `node`.
fn run_epilog(c: &Cluster, job: u32, node: &str, uid: u32) -> (i32, Duration) {
    let t = std::time::Instant::now();
    let out = Command::new(c.dir.join("libexec/epilog.sh"))
        .env_clear()
        .env("SLURM_CONF", &c.slurm_conf)
        .env("SLURM_JOB_ID", job.to_string())
        .env("SLURMD_NODENAME", node)
        .env("SLURM_JOB_UID", uid.to_string())
        .env("SLURM_JOB_GID", uid.to_string())
        .env("SLURM_NODELIST", "n[1-2]")
        .env("SLURM_JOB_CONSTRAINTS", "carme&beeond")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), t.elapsed())
}

#[test]
fn epilog_twice_and_by_hand_is_harmless() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = beeond_job(&c, STAFF, "twice", false);
    let job = batch.id;
    batch.wait_done().expect_state("COMPLETED");
    let before = standin_calls(&c, job).len();
    let log_before = job_log(&c, job);
    for node in ["n1", "n2"] {
        let (code, took) = run_epilog(&c, job, node, uid_of(STAFF));
        assert_eq!(code, 0, "second epilog on {node}");
        assert!(
            took < Duration::from_secs(2),
            "second epilog waited: {took:?}"
        );
    }
    assert_eq!(standin_calls(&c, job).len(), before, "beeond ran again");
    assert_eq!(
        job_log(&c, job),
        log_before,
        "nothing to clean, nothing said"
    );
    not_drained(&c);
}

#[test]
fn stale_status_file_of_a_crashed_run_is_cleaned_up_first() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = beeond_job(&c, STAFF, "stale", true);
    let job = batch.id;
    // A crashed earlier run of this job id: beeond started, then the nodes
    // went down (mounts gone) and left the status file behind.
    let tmp = c.dir.join(format!("shared/{}.nodes", batch.name));
    std::fs::write(&tmp, "n1\nn2\n").unwrap();
    let j = job.to_string();
    let planted = Command::new(c.dir.join("libexec/standins/beeond"))
        .env("SLURMD_NODENAME", "n1")
        .args(["start", "-n"])
        .arg(&tmp)
        .arg("-d")
        .arg(c.dir.join(format!("nodes/n1/beeond-data/{j}")))
        .arg("-c")
        .arg(mount_point(&c, "n1", job))
        .arg("-i")
        .arg(status_file(&c, job))
        .args(["-p", "1000", "-q"])
        .output()
        .unwrap();
    assert!(planted.status.success(), "{planted:?}");
    for n in ["n1", "n2"] {
        let st = Command::new("umount")
            .arg(mount_point(&c, n, job))
            .status()
            .unwrap();
        assert!(st.success());
    }
    assert!(status_file(&c, job).exists());
    batch.release().wait_done().expect_state("COMPLETED");
    // The job had its BeeOND.
    batch.output_lines().expect_count(2);
    let log = job_log(&c, job);
    assert!(
        log.contains("cleaning up an earlier BeeOND") && log.contains("is still there"),
        "{log}"
    );
    let calls: Vec<String> = calls_summary(&standin_calls(&c, job))
        .into_iter()
        .map(|(a, _, s, _)| format!("{a} {s}"))
        .collect();
    assert_eq!(
        calls,
        ["start ok", "stop ok", "start ok", "stop ok"],
        "{calls:?}"
    );
    assert!(!status_file(&c, job).exists());
    assert!(beeond_mounts().iter().all(|m| !m.ends_with(&j)));
    not_drained(&c);
    let _ = std::fs::remove_file(tmp);
}

#[test]
fn beeond_start_that_hangs_drains_the_first_node_and_holds_the_job() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    for from in [
        "start_timeout = \"20s\"",
        "stop_timeout = \"10s\"",
        "wait_timeout = \"30s\"",
    ] {
        assert!(original.contains(from), "harness config changed: {from}");
    }
    let short = original
        .replace("start_timeout = \"20s\"", "start_timeout = \"2s\"")
        .replace("stop_timeout = \"10s\"", "stop_timeout = \"3s\"")
        .replace("wait_timeout = \"30s\"", "wait_timeout = \"8s\"");
    let _swap = ConfigSwap::new(&c.carme_toml(), &short);
    let batch = beeond_job(&c, STAFF, "hang", true);
    let job = batch.id;
    let _knob = Knob::set(&c, job, "CARME_BEEOND_STANDIN_HANG=start");
    let resume = || {
        let _ = c.root(&["scancel", &job.to_string()]);
        for n in ["n1", "n2"] {
            let _ = c.root(&[
                "scontrol",
                "update",
                &format!("nodename={n}"),
                "state=resume",
            ]);
        }
    };
    struct Finally<F: Fn()>(F);
    impl<F: Fn()> Drop for Finally<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _finally = Finally(resume);
    batch.release();

    // n1's prolog gives up at the bound; Slurm drains n1 (with our reason)
    // and requeues the job, held.
    let drained = c.wait_for(Duration::from_secs(60), || {
        node_state(&c, "n1").0.contains("DRAIN")
    });
    let (state, reason) = node_state(&c, "n1");
    assert!(drained, "n1 not drained: {state} {reason}");
    assert_eq!(
        reason,
        format!("carme: BeeOND start timed out after 2s (job {job})"),
        "{state}"
    );
    let held = c.wait_for(Duration::from_secs(30), || batch.state() == "PENDING");
    assert!(held, "job not requeued: {}", batch.describe());
    let why = batch.field("Reason");
    assert!(why.contains("held"), "{why}");
    assert!(batch.field("Restarts") != "0");

    // n2 waited its wait_timeout, saw the job given up and stays in service.
    let n2_done = c.wait_for(Duration::from_secs(30), || {
        job_log(&c, job).contains("the first node gave up")
    });
    assert!(n2_done, "{}", job_log(&c, job));
    let log = job_log(&c, job);
    assert!(
        log.contains("beeond start did not finish within 2s and was killed"),
        "{log}"
    );
    assert!(
        log.contains("stopped what the failed beeond start had started"),
        "{log}"
    );
    // Wait for both epilogs, then: nothing of the job's BeeOND is left.
    let epilogs = c.wait_for(Duration::from_secs(30), || {
        let log = job_log(&c, job);
        log.contains(&format!(
            "carme-epilog info: job {job} on n1: cleaned job={job}"
        )) && log.contains(&format!(
            "carme-epilog info: job {job} on n2: cleaned job={job}"
        ))
    });
    assert!(epilogs, "{}", job_log(&c, job));
    let (n2state, n2reason) = node_state(&c, "n2");
    assert!(!n2state.contains("DRAIN"), "n2 drained too: {n2reason}");
    let calls: Vec<String> = calls_summary(&standin_calls(&c, job))
        .into_iter()
        .map(|(a, n, s, _)| format!("{a} {n} {s}"))
        .collect();
    assert_eq!(calls[..2], ["start n1 hang", "stop n1 ok"], "{calls:?}");
    assert!(!status_file(&c, job).exists());
    assert!(
        beeond_mounts()
            .iter()
            .all(|m| !m.ends_with(job.to_string())),
        "{:?}",
        beeond_mounts()
    );
    // The hanging stand-in was killed with its process group.
    let hung_pid = standin_calls(&c, job)[0]["pid"].as_i64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{hung_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{hung_pid}/stat"))
                .unwrap_or_default()
                .contains(") Z "),
        "the hanging beeond {hung_pid} still runs"
    );
    drop(_finally);
    let back = c.wait_for(Duration::from_secs(30), || {
        !node_state(&c, "n1").0.contains("DRAIN")
    });
    assert!(back, "n1 not resumed");
}

#[test]
fn symlinks_and_hardlinks_in_scratch_touch_nothing_outside() {
    let _g = shared_config();
    let c = Cluster::get();
    // Root's canary, outside every job directory.
    let canary = c.dir.join(format!("shared/{}", unique_name("canary")));
    std::fs::create_dir(&canary).unwrap();
    std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = canary.join("secret");
    std::fs::write(&secret, "root's\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = c.dir.display();
    let cn = canary.display();
    let script = format!(
        "#!/bin/sh\ns={d}/nodes/n1/scratch/$SLURM_JOB_ID\n\
         ln -s {cn} $s/dirlink; ln -s {cn}/secret $s/filelink; ln -s / $s/root\n\
         mkdir -p $s/a/b/c && ln -s {cn} $s/a/b/c/deep && touch $s/a/b/c/file\n\
         ln -s ../../../../.. $s/a/b/up; chmod 000 $s/a/b/c\n\
         i=0; while [ $i -lt 100 ]; do echo $i > $s/f$i; i=$((i+1)); done\n\
         echo planted\nsleep 4\n"
    );
    let batch = c
        .sbatch_on("n1", STUDENT, "links")
        .args(&["-C", "carme"])
        .script(&script)
        .submit();
    let job = batch.id;
    batch.wait_running();
    // A hardlink to root's file in the user's scratch (users cannot make
    // it where protected_hardlinks is on; root plays the attacker here).
    let scratch = scratch_dir(&c, "n1", job);
    let linked = c.wait_for(Duration::from_secs(10), || {
        std::fs::hard_link(&secret, scratch.join("hardlink")).is_ok()
    });
    assert!(linked);
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 2);
    batch.wait_done().expect_output_has("planted");
    assert!(!scratch.exists(), "scratch left: {}", scratch.display());
    // Everything outside is as it was.
    let md = std::fs::metadata(&secret).unwrap();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's\n");
    assert_eq!(
        (md.uid(), md.permissions().mode() & 0o7777, md.nlink()),
        (0, 0o644, 1)
    );
    let cmd = std::fs::metadata(&canary).unwrap();
    assert_eq!((cmd.uid(), cmd.permissions().mode() & 0o7777), (0, 0o755));
    assert_eq!(std::fs::read_dir(&canary).unwrap().count(), 1);
    assert!(Path::new("/etc/passwd").exists());
    let log = job_log(&c, job);
    assert!(log.contains(" scratch_removed="), "{log}");
    not_drained(&c);
    std::fs::remove_dir_all(&canary).unwrap();
}

#[test]
fn symlink_planted_at_the_scratch_path_is_never_followed() {
    let _g = shared_config();
    let c = Cluster::get();
    let canary = c.dir.join(format!("shared/{}", unique_name("canary")));
    std::fs::create_dir(&canary).unwrap();
    std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(canary.join("keep"), "x").unwrap();
    let batch = c
        .sbatch_on("n1", STUDENT, "planted")
        .args(&["-H", "-C", "carme"])
        .script("#!/bin/sh\nsrun -n1 true; echo srun=$?\n")
        .submit();
    let job = batch.id;
    // Someone with root's rights (or a leftover) put a symlink where the
    // job's scratch goes, pointing at a root-owned directory.
    let base = c.dir.join("nodes/n1/scratch");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o711)).unwrap();
    let planted = scratch_dir(&c, "n1", job);
    std::os::unix::fs::symlink(&canary, &planted).unwrap();
    // The job failed cleanly: its batch script could not be confined (no
    // scratch directory for it), so it ended before it ran, saying why.
    batch
        .release()
        .wait_done()
        .expect_output_has("carme: this node cannot start Carme jobs right now")
        .expect_output_has("is a Symlink")
        .expect_output_lacks("srun=");
    // The target is untouched: not chowned, not chmodded, not emptied.
    let md = std::fs::metadata(&canary).unwrap();
    assert_eq!((md.uid(), md.permissions().mode() & 0o7777), (0, 0o750));
    assert_eq!(std::fs::read_to_string(canary.join("keep")).unwrap(), "x");
    // The epilog removed the link itself.
    assert!(std::fs::symlink_metadata(&planted).is_err(), "link left");
    let log = job_log(&c, job);
    assert!(log.contains("Left untouched"), "{log}");
    assert!(
        log.contains("was a symlink, not the job's scratch directory"),
        "{log}"
    );
    not_drained(&c);
    std::fs::remove_dir_all(&canary).unwrap();
}

#[test]
fn carme_beeond_option_gives_a_carme_job_beeond_inside_its_image() {
    let _g = shared_config();
    let c = Cluster::get();
    // The option, not the constraint, asks for BeeOND; the job's sruns
    // (which must not be refused for the job's option) see the mount from
    // inside the image on both nodes.
    let script = "#!/bin/sh\nsrun -N2 -n2 --carme-image=base sh -c \
                  'echo hi > $CARME_BEEOND_PATH/f-$SLURMD_NODENAME && \
                  echo $SLURMD_NODENAME $CARME_BEEOND_PATH $(cat /CARME_IMAGE) \
                  $(stat -c %U $CARME_BEEOND_PATH)' | sort\n";
    let batch = c
        .sbatch(STAFF, "beeondopt")
        .args(&["-N2", "-C", "carme", "--carme-beeond"])
        .script(script)
        .submit();
    let job = batch.id;
    batch.wait_done().expect_state("COMPLETED");
    let want: Vec<String> = ["n1", "n2"]
        .iter()
        .map(|n| format!("{n} {} base {STAFF}", mount_point(&c, n, job).display()))
        .collect();
    batch.expect_output_lines(&want.iter().map(String::as_str).collect::<Vec<_>>());
    let calls = standin_calls(&c, job);
    assert_eq!(
        calls_summary(&calls),
        [
            ("start".into(), "n1".into(), "ok".into(), 0),
            ("stop".into(), "n1".into(), "ok".into(), 0)
        ],
        "{calls:#?}"
    );
    for n in ["n1", "n2"] {
        assert!(!mount_point(&c, n, job).exists());
    }

    // A job without BeeOND gets no CARME_BEEOND_PATH.
    c.run_as(
        STAFF,
        &[
            "srun",
            "-C",
            "carme",
            "--carme-image=base",
            "sh",
            "-c",
            "echo beeond=${CARME_BEEOND_PATH:-none}",
        ],
    )
    .ok()
    .expect_lines(&["beeond=none"]);
}

#[test]
fn carme_beeond_option_is_refused_where_it_cannot_work() {
    let _g = shared_config();
    let c = Cluster::get();
    let name = unique_name("beeondno");
    // Not a Carme job: refused before anything is queued.
    for argv in [
        vec!["sbatch", "-J", &name, "--carme-beeond", "--wrap", "true"],
        vec!["srun", "-J", &name, "--carme-beeond", "true"],
        vec!["salloc", "-J", &name, "-C", "gpu", "--carme-beeond", "true"],
    ] {
        c.run_as(STAFF, &argv)
            .failed()
            .expect_stderr_has("carme: --carme-beeond was refused: BeeOND is for Carme jobs")
            .expect_stderr_has("--constraint=carme");
    }
    assert!(c.jobs_named(&name).is_empty(), "{:?}", c.jobs_named(&name));
    // A step of an existing job cannot ask for it.
    c.run_as(
        STAFF,
        &[
            "salloc",
            "-C",
            "carme",
            "-J",
            &name,
            "srun",
            "--carme-beeond",
            "--carme-image=base",
            "true",
        ],
    )
    .failed()
    .expect_stderr_has("carme: --carme-beeond was refused: BeeOND is started for a whole job");
}

/// Issue 13: a tmp base a user created before root did (a new node, or
/// a cleaned /var/tmp) refuses Carme jobs on that node with a message,
/// logs the path and its owner for the admin, and never drains the node.
#[test]
fn a_base_a_user_created_first_refuses_jobs_never_drains() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let base = c.dir.join("nodes/n2/tmp");
    let aside = c.dir.join("nodes/n2/tmp.aside");
    struct Restore<'a>(&'a Cluster, PathBuf, PathBuf);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.1);
            if self.2.exists() {
                let _ = std::fs::rename(&self.2, &self.1);
            }
            let _ = self
                .0
                .root(&["scontrol", "update", "nodename=n2", "state=resume"]);
        }
    }
    if base.exists() {
        std::fs::rename(&base, &aside).unwrap();
    }
    let _restore = Restore(&c, base.clone(), aside.clone());
    // As the user would have: their own directory where the base goes.
    std::fs::create_dir(&base).unwrap();
    std::os::unix::fs::chown(&base, Some(uid_of(STUDENT)), None).unwrap();

    let name = unique_name("userbase");
    c.run_as(
        STUDENT,
        &[
            "srun",
            "-w",
            "n2",
            "-C",
            "carme",
            "-t",
            "1",
            "-J",
            &name,
            "--carme-image=base",
            "true",
        ],
    )
    .failed()
    .expect_stderr_has("carme: this node cannot start Carme jobs right now");
    let job: u32 = c.jobs_named(&name)[0]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let log = job_log(&c, job);
    assert!(
        log.contains(&format!("tmp base {}", base.display()))
            && log.contains(&format!("owner uid {}", uid_of(STUDENT)))
            && log.contains("Carme jobs are refused on this node"),
        "{log}"
    );
    let (state, reason) = node_state(&c, "n2");
    assert!(!state.contains("DRAIN"), "n2 drained: {state} {reason}");
}
