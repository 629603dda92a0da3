//! Per-step namespaces on the harness cluster: each Carme step has the
//! job's own /tmp, a fresh /dev/shm, the job's scratch, and sees only the
//! GPUs it was given (the harness's fake GPUs: char nodes c 195 N under
//! <cluster>/nodes/<node>/dev, which gres.conf names). Non-Carme jobs on
//! the same node see the host unchanged.

use std::collections::BTreeSet;
use std::path::PathBuf;

use carme_e2e::{Cluster, OTHER, STAFF, STUDENT, gpus_in, home_of, shared_config};

fn dev_dir(c: &Cluster, node: &str) -> PathBuf {
    c.dir.join(format!("nodes/{node}/dev"))
}

#[test]
fn two_jobs_on_one_node_each_see_only_their_gpu() {
    let _g = shared_config();
    let c = Cluster::get();
    let dev = dev_dir(&c, "n1");
    // Each job lists what it sees, tries every GPU node of the host, and
    // waits long enough for the two to overlap. The harness's GPUs have no
    // driver behind them, so opening even one's own node fails (ENXIO);
    // the others' nodes do not exist at all (ENOENT).
    let probe = format!(
        "ls {d}; echo CUDA=$CUDA_VISIBLE_DEVICES; \
         for g in 0 1 2 3; do cat {d}/nvidia$g 2>&1 | grep -q 'No such file' || echo reachable-$g; done; sleep 3",
        d = dev.display()
    );
    let run = |user: &'static str| {
        let c = c.clone();
        let probe = probe.clone();
        std::thread::spawn(move || {
            c.run_as(
                user,
                &[
                    "srun",
                    "-w",
                    "n1",
                    "-C",
                    "carme",
                    "--gres=gpu:1",
                    "sh",
                    "-c",
                    &probe,
                ],
            )
        })
    };
    let (a, b) = (run(STUDENT), run(STAFF));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for out in [&a, &b] {
        out.ok();
    }
    let (ga, gb) = (gpus_in(&a.stdout), gpus_in(&b.stdout));
    assert_eq!(ga.len(), 1, "job A sees {ga:?}: {}", a.all());
    assert_eq!(gb.len(), 1, "job B sees {gb:?}: {}", b.all());
    assert_ne!(ga, gb, "both jobs got the same GPU");
    // Its own GPU node can be reached, no other.
    for (seen, out) in [(&ga, &a), (&gb, &b)] {
        let own = seen.iter().next().unwrap().trim_start_matches("nvidia");
        out.stdout_lines()
            .only(|l| l.starts_with("reachable-"))
            .expect(&[&format!("reachable-{own}")]);
        // Shared control nodes stay.
        out.expect_stdout_has("nvidiactl");
        // NVML (the harness's stand-in libnvidia-ml) names it by UUID:
        // node n1's GPU with this minor number.
        let uuid = format!("GPU-ca4e0001-0000-4000-8000-00000000000{own}");
        out.expect_stdout_has(&format!("CUDA={uuid}\n"));
    }
    // The host's device dir is whole.
    let host: BTreeSet<String> = std::fs::read_dir(&dev)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        gpus_in(&host.into_iter().collect::<Vec<_>>().join(" ")).len(),
        4
    );
}

/// Without NVML the variables count the visible GPUs from 0.
#[test]
fn without_nvml_gpus_are_numbered_from_zero() {
    let _g = carme_e2e::exclusive_config();
    let c = Cluster::get();
    let text = std::fs::read_to_string(c.carme_toml()).unwrap();
    let no_nvml = text.replace("lib/nvml/libnvidia-ml.so.1", "lib/nvml/absent.so");
    assert_ne!(text, no_nvml, "harness config changed shape");
    let _swap = carme_e2e::ConfigSwap::new(&c.carme_toml(), &no_nvml);
    c.run_as(
        STAFF,
        &[
            "srun",
            "-w",
            "n2",
            "-C",
            "carme",
            "--gres=gpu:2",
            "sh",
            "-c",
            "echo $CUDA_VISIBLE_DEVICES $NVIDIA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER",
        ],
    )
    .ok()
    .expect_lines(&["0,1 0,1 PCI_BUS_ID"]);
}

#[test]
fn no_gpus_asked_no_gpus_seen() {
    let _g = shared_config();
    let c = Cluster::get();
    let d = dev_dir(&c, "n2");
    let out = c.run_as(
        OTHER,
        &[
            "srun",
            "-w",
            "n2",
            "-C",
            "carme",
            "sh",
            "-c",
            &format!(
                "ls {}; echo CUDA=${{CUDA_VISIBLE_DEVICES-unset}}",
                d.display()
            ),
        ],
    );
    out.ok();
    assert!(gpus_in(&out.stdout).is_empty(), "{}", out.all());
    out.expect_stdout_has("CUDA=unset");
}

/// Issue 13 (review): a job without BeeOND never keeps a
/// CARME_BEEOND_PATH of the user's own (the runtime would bind BeeOND's
/// whole mount base, other jobs' file systems included).
#[test]
fn a_users_own_beeond_path_is_dropped() {
    let _g = shared_config();
    let c = Cluster::get();
    c.run_full(
        OTHER,
        &[
            "srun",
            "-w",
            "n2",
            "-C",
            "carme",
            "sh",
            "-c",
            "echo BEEOND=${CARME_BEEOND_PATH-unset}",
        ],
        &[("CARME_BEEOND_PATH", "/")],
        None,
    )
    .ok()
    .expect_stdout_has("BEEOND=unset");
}

#[test]
fn tmp_is_the_jobs_own_and_shared_by_its_steps() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = c.sbatch_on("n1", STUDENT, "tmp");
    let name = batch.name().to_string();
    let host_tmp_marker = format!("/tmp/{name}.host");
    std::fs::write(&host_tmp_marker, "host").unwrap();
    // Job A: step 0 writes /tmp/a (on the host side of the container: the
    // batch script), step 1 (in the image) reads it and lists /tmp.
    let script = format!(
        "#!/bin/sh\necho from-step0 > /tmp/{name}\nsrun -n1 sh -c 'cat /tmp/{name}; ls -A /tmp; echo TMPDIR=$TMPDIR CARME_TMPDIR=$CARME_TMPDIR'\n\
         test -e {host_tmp_marker} && echo sees-host-tmp || echo host-tmp-hidden\n"
    );
    batch
        .args(&["-C", "carme"])
        .script(&script)
        .run()
        .expect_exit(0)
        .expect_output_lines(&[
            "from-step0",
            name.as_str(),
            "TMPDIR=/tmp CARME_TMPDIR=/tmp",
            "host-tmp-hidden",
        ]);
    // Nothing landed in the host's /tmp.
    assert!(!std::path::Path::new(&format!("/tmp/{name}")).exists());
    // Another job does not see job A's file.
    // A new job's /tmp is empty.
    c.run_as(
        STAFF,
        &[
            "srun",
            "-w",
            "n1",
            "-C",
            "carme",
            "sh",
            "-c",
            "ls -A /tmp | wc -l",
        ],
    )
    .ok()
    .expect_lines(&["0"]);
    // A non-Carme job on the same node sees the host's /tmp.
    c.run_as(OTHER, &["srun", "-w", "n1", "cat", &host_tmp_marker])
        .expect_lines(&["host"]);
    std::fs::remove_file(&host_tmp_marker).unwrap();
}

#[test]
fn dev_shm_is_fresh_per_step_and_private() {
    let _g = shared_config();
    let c = Cluster::get();
    // Each step starts with an empty /dev/shm.
    c.run_as(
        STAFF,
        &[
            "salloc", "-w", "n2", "-C", "carme", "sh", "-c",
            "srun sh -c 'ls -A /dev/shm | wc -l; echo x > /dev/shm/mine'; srun sh -c 'ls -A /dev/shm | wc -l'",
        ],
    )
    .ok()
    .expect_lines(&["0", "0"]);
    // Not the host's: nothing arrived there.
    assert!(!std::path::Path::new("/dev/shm/mine").exists());
}

#[test]
fn scratch_is_the_jobs_and_reaches_the_container() {
    let _g = shared_config();
    let c = Cluster::get();
    let target = c.dir.join("scratch");
    c.run_as(
        OTHER,
        &[
            "salloc",
            "-w",
            "n2",
            "-C",
            "carme",
            "sh",
            "-c",
            &format!(
                "srun sh -c 'echo $CARME_LOCAL_SSD_PATH; echo data > {t}/f; cat /CARME_IMAGE'; \
                 srun --carme-image=tools sh -c 'cat {t}/f; stat -c %U {t}'",
                t = target.display()
            ),
        ],
    )
    .ok()
    .expect_lines(&[target.to_str().unwrap(), "base", "data", OTHER]);
    // The host's mount point stays empty.
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

#[test]
fn non_carme_job_sees_every_gpu_node() {
    let _g = shared_config();
    let c = Cluster::get();
    let d = dev_dir(&c, "n1");
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "-w",
            "n1",
            "--gres=gpu:1",
            "ls",
            d.to_str().unwrap(),
        ],
    );
    out.ok();
    assert_eq!(gpus_in(&out.stdout).len(), 4, "{}", out.all());
}

/// The mount namespace of `pid` (`mnt:[4026531841]`), and its parent.
fn ns_and_parent(pid: u32) -> (String, u32) {
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap_or_else(|e| panic!("pid {pid}: {e}"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    (ns.display().to_string(), ppid)
}

fn command_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// slurmstepd builds each Carme step's namespace but stays in the host's
/// (munge, its own files and other plugins must see the host's /tmp and
/// /dev); only the tasks enter it. Checked from the host, as root, while
/// the batch script (in the step's namespace) and a task of step 0 (in its
/// image) wait for the test to look.
#[test]
fn slurmstepd_stays_in_the_hosts_namespace() {
    let _g = shared_config();
    let c = Cluster::get();
    let batch = c
        .sbatch_on("n1", STUDENT, "stepd-ns")
        .args(&["-C", "carme"])
        .discard_output();
    let name = batch.name().to_string();
    let home = home_of(STUDENT);
    let pids = home.join(format!("{name}.pids"));
    let go = home.join(format!("{name}.go"));
    let wait_go = format!(
        "i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
        go = go.display()
    );
    let script = format!(
        "#!/bin/sh\necho batch $$ >> {p}\nsrun -n1 sh -c 'echo task $$ >> {p}; {wait_go}' &\n{wait_go}\nwait\n",
        p = pids.display()
    );
    let job = batch.script(&script).submit();
    let pid_of = |what: &str| -> Option<u32> {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(what)?.trim().parse().ok())
    };
    let started = c.wait_for(std::time::Duration::from_secs(60), || {
        pid_of("batch ").is_some() && pid_of("task ").is_some()
    });
    // Look while both wait, then let them end.
    let seen = started.then(|| {
        let host = std::fs::read_link("/proc/self/ns/mnt")
            .unwrap()
            .display()
            .to_string();
        let [batch, task] = ["batch ", "task "].map(|w| {
            let pid = pid_of(w).unwrap();
            let (ns, stepd) = ns_and_parent(pid);
            let (stepd_ns, _) = ns_and_parent(stepd);
            (ns, command_of(stepd), stepd_ns)
        });
        (host, batch, task)
    });
    std::fs::write(&go, "").unwrap();
    let text = std::fs::read_to_string(&pids).unwrap_or_default();
    let (host, batch, task) = seen.unwrap_or_else(|| panic!("the job never started: {text}"));
    for (what, (_, stepd, stepd_ns)) in [("batch script", &batch), ("step 0", &task)] {
        assert!(stepd.starts_with("slurmstepd"), "{what}'s parent: {stepd}");
        assert_eq!(
            stepd_ns, &host,
            "the {what}'s slurmstepd is in the host's mount namespace"
        );
    }
    // The batch script is in the step's namespace; the task in its image's.
    assert_ne!(batch.0, host, "the batch script is in the step's namespace");
    assert_ne!(task.0, host);
    job.wait_done().expect_state("COMPLETED");
    let _ = std::fs::remove_file(&pids);
    let _ = std::fs::remove_file(&go);
}
