//! End to end: `--carme-image` runs tasks in a real Charliecloud container on
//! the harness cluster, non-Carme jobs stay untouched, and refusals come
//! early with a message that says what to do.

use std::ops::Not;
use std::path::Path;
use std::time::Duration;

use carme_e2e::{
    Cluster, ConfigSwap, OTHER, STAFF, STUDENT, exclusive_config, home_of, shared_config,
    unique_name,
};

fn srun_carme(c: &Cluster, user: &str, image: &str, cmd: &[&str]) -> carme_e2e::Out {
    let img = format!("--carme-image={image}");
    let mut argv = vec!["srun", "--constraint=carme", img.as_str()];
    argv.extend_from_slice(cmd);
    c.run_as(user, &argv)
}

#[test]
fn task_runs_inside_the_image() {
    let _g = shared_config();
    let c = Cluster::get();
    // The marker exists only inside the image, never on the host.
    assert!(!Path::new("/CARME_IMAGE").exists());
    srun_carme(&c, STUDENT, "base", &["cat", "/CARME_IMAGE"])
        .ok()
        .expect_lines(&["base"]);
    srun_carme(&c, STUDENT, "tools", &["cat", "/TOOLS_ONLY"])
        .ok()
        .expect_lines(&["only in the tools image"]);
}

#[test]
fn default_image_when_none_is_named() {
    let _g = shared_config();
    let c = Cluster::get();
    c.run_as(
        STAFF,
        &["srun", "--constraint=carme", "cat", "/CARME_IMAGE"],
    )
    .ok()
    .expect_lines(&["base"]);
}

#[test]
fn exit_code_propagates() {
    let _g = shared_config();
    let c = Cluster::get();
    srun_carme(&c, STUDENT, "base", &["sh", "-c", "exit 3"]).expect_code(3);
}

#[test]
fn stdout_and_stderr_pass_through() {
    let _g = shared_config();
    let c = Cluster::get();
    srun_carme(
        &c,
        STUDENT,
        "base",
        &["sh", "-c", "echo to-out; echo to-err >&2"],
    )
    .ok()
    .expect_lines(&["to-out"])
    .expect_stderr_has("to-err");
}

#[test]
fn multi_node_every_task_in_the_image() {
    let _g = shared_config();
    let c = Cluster::get();
    let out = srun_carme(
        &c,
        STAFF,
        "tools",
        &[
            "-N2",
            "-n4",
            "sh",
            "-c",
            "echo $SLURMD_NODENAME $SLURM_PROCID $(cat /CARME_IMAGE)",
        ],
    );
    let lines = out.ok().stdout_lines().sorted();
    // No task outside the image.
    lines
        .expect_count(4)
        .expect_none(|l| !l.ends_with(" tools"));
    let nodes: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["n1", "n2"],
        "{}",
        out.all()
    );
}

#[test]
fn payload_does_not_see_launcher_plumbing() {
    let _g = shared_config();
    let c = Cluster::get();
    srun_carme(&c, STUDENT, "base", &["env"])
        .ok()
        .expect_stdout_lacks("CARME_LAUNCH_")
        // Slurm's own task environment is intact.
        .expect_stdout_has("SLURM_JOB_ID=")
        .expect_stdout_has("SLURM_PROCID=0");
}

/// The plumbing comes only from the plugin: a user's own `CARME_LAUNCH_*`
/// variables (here a whole hand-off to run `/bin/sh` on the host) are
/// dropped, and the task still runs in its image.
#[test]
fn users_own_plumbing_variables_cannot_redirect_the_task() {
    let _g = shared_config();
    let c = Cluster::get();
    c.run_full(
        STUDENT,
        &[
            "srun",
            "-n",
            "2",
            "--constraint=carme",
            "--carme-image=base",
            "sh",
            "-c",
            "echo \"$(cat /CARME_IMAGE) $(env | grep -c '^CARME_LAUNCH_')\"",
        ],
        &[
            ("CARME_LAUNCH_EXEC", "7:/bin/sh2:-c16:echo on-the-host"),
            ("CARME_LAUNCH_EXEC_N", "1"),
            ("CARME_LAUNCH_ARGV0", "/bin/false"),
        ],
        None,
    )
    .ok()
    // One line per task; the two tasks' lines may come in either order.
    .expect_lines(&["base 0", "base 0"]);
}

#[test]
fn non_carme_job_on_carme_node_is_untouched() {
    let _g = shared_config();
    let c = Cluster::get();
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "-w",
            "n1",
            "sh",
            "-c",
            "test -e /CARME_IMAGE && echo in-image || echo on-host; \
             env | grep -c '^CARME_' || true; readlink /proc/$$/exe",
        ],
    );
    let lines = out.ok().stdout_lines();
    assert_eq!(lines.line(0), "on-host", "{}", out.all());
    assert_eq!(lines.line(1), "0", "Carme variables leaked: {}", out.all());
    // The host's shell ran, not busybox from an image.
    assert!(!lines.line(2).contains("busybox"), "{}", out.all());
}

#[test]
fn non_carme_constraint_lookalikes_are_not_carme() {
    let _g = shared_config();
    let c = Cluster::get();
    // A constraint naming another feature: not a Carme job, and
    // --carme-image is refused for it.
    let name = unique_name("lookalike");
    c.run_as(
        OTHER,
        &[
            "srun",
            "-J",
            &name,
            "--constraint=carmen",
            "--carme-image=base",
            "true",
        ],
    )
    .failed()
    .expect_stderr_has("carme: --carme-image=base was refused");
    assert!(c.jobs_named(&name).is_empty(), "a job was queued");
}

/// Submit the same request with srun, salloc and sbatch; each must be
/// refused before anything is queued, with stderr containing `want`.
fn refused_by_every_client(c: &Cluster, user: &str, options: &[&str], want: &[&str]) {
    for client in ["srun", "salloc", "sbatch"] {
        let name = unique_name(client);
        let mut argv = vec![client, "-J", name.as_str()];
        argv.extend_from_slice(options);
        argv.extend_from_slice(if client == "sbatch" {
            &["--wrap", "true"]
        } else {
            &["true"]
        });
        let out = c.run_as(user, &argv);
        out.failed();
        for w in want {
            out.expect_stderr_has(w);
        }
        assert!(c.jobs_named(&name).is_empty(), "{client}: a job was queued");
    }
}

#[test]
fn image_without_constraint_is_refused_before_queueing() {
    let _g = shared_config();
    let c = Cluster::get();
    // The message must name the fix.
    refused_by_every_client(
        &c,
        STUDENT,
        &["--carme-image=base"],
        &["carme: ", "--constraint=carme"],
    );
}

#[test]
fn unknown_image_is_refused_with_the_list() {
    let _g = shared_config();
    let c = Cluster::get();
    refused_by_every_client(
        &c,
        STAFF,
        &["-C", "carme", "--carme-image=nope"],
        &[
            "carme: image 'nope' is not known",
            "base (busybox base image)",
            "tools",
        ],
    );
}

/// Control characters a user puts into a value neither forge a line nor
/// reach the terminal: the refusal (srun, salloc, sbatch) and the task's
/// debug lines show them escaped, on one line.
#[test]
fn control_characters_in_user_values_are_escaped() {
    let _g = shared_config();
    let c = Cluster::get();
    let forged =
        |text: &str| text.lines().any(|l| l.starts_with("forged")) || text.contains('\x1b');
    for client in ["srun", "salloc", "sbatch"] {
        let name = unique_name(client);
        let mut argv = vec![client, "-J", name.as_str()];
        argv.extend_from_slice(&["-C", "carme", "--carme-image=x\nforged: line\x1b[31m"]);
        argv.extend_from_slice(if client == "sbatch" {
            &["--wrap", "true"]
        } else {
            &["true"]
        });
        let out = c.run_as(STUDENT, &argv);
        out.failed();
        assert!(
            out.stderr
                .contains(r"carme: image 'x\nforged: line\x1b[31m' is not known"),
            "{client}: {:?}",
            out.stderr
        );
        assert!(!forged(&out.stderr), "{client}: {:?}", out.stderr);
        assert!(c.jobs_named(&name).is_empty(), "{client}: a job was queued");
    }
    // The job name reaches the task's debug line (CARME_JOB_NAME in the
    // runtime's command line).
    let out = c.run_full(
        STUDENT,
        &[
            "srun",
            "-C",
            "carme",
            "--carme-image=base",
            "-J",
            "job\nforged\x1b[31m",
            "true",
        ],
        &[("CARME_LAUNCH_DEBUG", "1")],
        None,
    );
    out.expect_stderr_has(r"$'--set-env=CARME_JOB_NAME=job\x0aforged\x1b[31m'");
    assert!(!forged(&out.stderr), "{:?}", out.stderr);
}

#[test]
fn image_names_are_never_paths() {
    let _g = shared_config();
    let c = Cluster::get();
    let base = c.dir.join("images/base");
    srun_carme(&c, STUDENT, base.to_str().unwrap(), &["true"])
        .failed()
        .expect_stderr_has("is not known");
}

#[test]
fn sbatch_script_runs_on_host_and_its_sruns_in_the_image() {
    let _g = shared_config();
    let c = Cluster::get();
    let script = "#!/bin/sh\n\
                  test -e /CARME_IMAGE && echo batch-in-image || echo batch-on-host\n\
                  srun -N1 -n1 cat /CARME_IMAGE\n\
                  srun -N2 sh -c 'cat /CARME_IMAGE' | sort | uniq -c | tr -s ' '\n";
    let batch = c.sbatch(STUDENT, "batch");
    let script_path = home_of(STUDENT).join(format!("{}.sh", batch.name()));
    std::fs::write(&script_path, script).unwrap();
    chown(&script_path, STUDENT);
    batch
        .args(&["-N2", "-C", "carme", "--carme-image=tools"])
        .script_file(&script_path)
        .run()
        .expect_exit(0)
        .expect_output_lines(&["batch-on-host", "tools", " 2 tools"]);
}

#[test]
fn sbatch_with_export_none_still_passes_the_image_on() {
    let _g = shared_config();
    let c = Cluster::get();
    let job = c
        .sbatch(STAFF, "batchnone")
        .args(&["--export=NONE", "-C", "carme", "--carme-image=tools"])
        .wrap("/usr/bin/srun cat /CARME_IMAGE")
        .run();
    job.expect_exit(0);
    // Slurm gives an --export=NONE job no PATH; ch-run warns on stderr
    // (same file here, in either order) and uses its default PATH.
    let lines = job
        .output_lines()
        .only(|l| !l.contains("warning: $PATH not set"));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("tools"),
        "{}",
        lines.context()
    );
}

#[test]
fn salloc_then_srun_runs_in_the_image() {
    let _g = shared_config();
    let c = Cluster::get();
    c.run_as(
        STAFF,
        &[
            "salloc",
            "-C",
            "carme",
            "--carme-image=tools",
            "sh",
            "-c",
            "test -e /CARME_IMAGE && echo shell-in-image || echo shell-on-host; srun cat /CARME_IMAGE",
        ],
    )
    .ok()
    .expect_lines(&["shell-on-host", "tools"]);
}

#[test]
fn srun_pty_gives_a_shell_in_the_image() {
    let _g = shared_config();
    let c = Cluster::get();
    // `script` gives srun a terminal; the shell reads our commands from it.
    c.run_full(
        STUDENT,
        &[
            "script",
            "-qec",
            "srun --constraint=carme --carme-image=tools --pty /bin/sh -i",
            "/dev/null",
        ],
        &[],
        Some("cat /CARME_IMAGE; test -t 0 && echo has-tty\nexit 5\n"),
    )
    .expect_stdout_has("tools")
    .expect_stdout_has("has-tty")
    .expect_code(5);
}

#[test]
fn launcher_execs_and_does_not_linger() {
    let _g = shared_config();
    let c = Cluster::get();
    // The payload's parent must be slurmstepd: carme-launch and ch-run
    // exec'd into it rather than waiting as parents.
    srun_carme(
        &c,
        OTHER,
        "base",
        &[
            "sh",
            "-c",
            "read p < /proc/$PPID/comm; read s < /proc/$$/comm; echo $p; echo $s",
        ],
    )
    .ok()
    .expect_lines(&["slurmstepd", "sh"]);
}

#[test]
fn scancel_ends_the_payload() {
    let _g = shared_config();
    let c = Cluster::get();
    let name = unique_name("cancel");
    let home = home_of(OTHER);
    let marker = home.join(format!("{name}.trap"));
    // The payload traps TERM and records it: proof the signal reached it.
    let script = format!(
        "trap 'echo got-term > {m}; exit 0' TERM; echo started; while :; do sleep 0.2; done",
        m = marker.display()
    );
    let c2 = c.clone();
    let name2 = name.clone();
    let job = std::thread::spawn(move || {
        c2.run_as(
            OTHER,
            &[
                "srun",
                "-J",
                &name2,
                "-C",
                "carme",
                "--carme-image=base",
                "sh",
                "-c",
                &script,
            ],
        )
    });
    assert!(
        c.wait_for(Duration::from_secs(60), || {
            c.root(&["squeue", "-h", "-n", &name, "-t", "running", "-o", "%i"])
                .stdout
                .trim()
                .is_empty()
                .not()
        }),
        "job never started"
    );
    std::thread::sleep(Duration::from_secs(2));
    c.root(&["scancel", "--signal=TERM", "--full", "-n", &name])
        .ok();
    let _ = c.root(&["scancel", "-n", &name]);
    let run = job.join().unwrap();
    run.expect_stdout_has("started");
    assert!(
        c.wait_for(Duration::from_secs(10), || marker.exists()),
        "TERM never reached the payload: {}",
        run.all()
    );
}

#[test]
fn rlimits_propagate_and_tmpdir_is_the_jobs() {
    let _g = shared_config();
    let c = Cluster::get();
    let tmpdir = format!("/tmp/{}", unique_name("tmpdir"));
    // Soft NOFILE limit from the submitting shell, propagated by Slurm
    // (PropagateResourceLimits=ALL), and a TMPDIR Slurm creates.
    let probe = "ulimit -S -n; echo $TMPDIR; echo from-task > $TMPDIR/marker";
    let run = |constraint: &[&str]| {
        let mut cmd = "ulimit -S -n 777; srun ".to_string();
        for a in constraint {
            cmd.push_str(a);
            cmd.push(' ');
        }
        cmd.push_str(&format!("sh -c '{probe}'"));
        c.run_full(STUDENT, &["sh", "-c", &cmd], &[("TMPDIR", &tmpdir)], None)
    };
    // The baseline.
    run(&["-w", "n3"])
        .ok()
        .expect_stdout(&format!("777\n{tmpdir}\n"));
    std::fs::remove_file(format!("{tmpdir}/marker")).unwrap();

    // A Carme job's TMPDIR is its own /tmp (issue 4), whatever the user's
    // environment said: the file lands there, not in the host directory.
    run(&["-C", "carme", "--carme-image=base"])
        .ok()
        .expect_stdout("777\n/tmp\n");
    assert!(
        !std::path::Path::new(&format!("{tmpdir}/marker")).exists(),
        "the task wrote into the host's TMPDIR"
    );
}

#[test]
fn broken_config_refuses_carme_jobs_and_spares_others() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let path = c.carme_toml();
    let original = std::fs::read_to_string(&path).unwrap();
    // An unknown key in [runtime], on a line we can predict.
    let broken = original.replacen("[runtime]\n", "[runtime]\nkindd = \"oops\"\n", 1);
    let line = broken.lines().position(|l| l.starts_with("kindd")).unwrap() + 1;
    let _swap = ConfigSwap::new(&path, &broken);

    let name = unique_name("broken");
    let want = format!(
        "{}:{line}: key `runtime.kindd`",
        c.config_as_read().display()
    );
    c.run_as(
        STUDENT,
        &[
            "srun",
            "-J",
            &name,
            "-C",
            "carme",
            "--carme-image=base",
            "true",
        ],
    )
    .failed()
    .expect_stderr_has("carme: ")
    .expect_stderr_has(&want);
    assert!(c.jobs_named(&name).is_empty(), "a job was queued");

    // The authoritative path: a batch script read from stdin hides its
    // #SBATCH constraint from the client, so slurmstepd must refuse it:
    // the batch step is not failed (that would drain the node), its
    // script ends before it runs, with the message in its output.
    refused_in_slurmstepd_spares_others(&c, "broken-stdin", "srun true", &want);
}

/// Root runs commands from carme.toml, so a config that others than root
/// could change is refused like a broken one (issue 13, item 7): Carme
/// jobs are told the file and its mode, in the client and in slurmstepd;
/// all other jobs run, and no node drains.
#[test]
fn a_config_others_can_write_refuses_carme_jobs_and_spares_others() {
    use std::os::unix::fs::PermissionsExt;
    struct Mode<'a>(&'a Path);
    impl Drop for Mode<'_> {
        fn drop(&mut self) {
            std::fs::set_permissions(self.0, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let _g = exclusive_config();
    let c = Cluster::get();
    let path = c.carme_toml();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let _restore = Mode(&path);
    // Through the installed package's /etc/carme/carme.toml (a link to
    // the cluster's), the message names the link and its target.
    let read = c.config_as_read();
    let target = if read == path {
        String::new()
    } else {
        format!("its target {}: ", path.display())
    };
    let want = format!(
        "{}: root must not use this config: {target}group or others may write it \
         (owner uid 0, mode 0664)",
        read.display()
    );

    let name = unique_name("untrusted");
    c.run_as(
        STUDENT,
        &[
            "srun",
            "-J",
            &name,
            "-C",
            "carme",
            "--carme-image=base",
            "true",
        ],
    )
    .failed()
    .expect_stderr_has("carme: ")
    .expect_stderr_has(&want);
    assert!(c.jobs_named(&name).is_empty(), "a job was queued");

    // slurmstepd (root) refuses too: the script on stdin hides the
    // constraint from the client; it ends before it runs.
    refused_in_slurmstepd_spares_others(&c, "untrusted-stdin", "srun cat /CARME_IMAGE", &want);
}

fn chown(path: &Path, user: &str) {
    let st = std::process::Command::new("chown")
        .arg(format!("{user}:{user}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn option_is_listed_in_srun_help() {
    let _g = shared_config();
    let c = Cluster::get();
    for client in ["srun", "sbatch", "salloc"] {
        c.run_as(STUDENT, &[client, "--help"])
            .ok()
            .expect_stdout_has("--carme-image=NAME");
    }
}

/// Before 23.11 each task reaches its runtime through carme-exec, which
/// --multi-prog would bypass: refused early. From 23.11 the plugin
/// prepends the runtime to every task's own argv, so each rank runs its
/// own program in the image.
#[test]
fn multi_prog_for_carme_steps_per_release() {
    let _g = shared_config();
    let c = Cluster::get();
    let conf = home_of(STUDENT).join(format!("{}.conf", unique_name("mp")));
    std::fs::write(
        &conf,
        "0 sh -c 'echo zero $(cat /CARME_IMAGE)'\n* sh -c 'echo other $(cat /CARME_IMAGE)'\n",
    )
    .unwrap();
    chown(&conf, STUDENT);
    let name = unique_name("multiprog");
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "-J",
            &name,
            "-n2",
            "-C",
            "carme",
            "--carme-image=base",
            "--multi-prog",
            conf.to_str().unwrap(),
        ],
    );
    if carme_e2e::has_prepend_argv() {
        out.ok()
            .stdout_lines()
            .only(|l| !l.contains("warning: $PATH not set"))
            .sorted()
            .expect(&["other base", "zero base"]);
    } else {
        out.failed()
            .expect_stderr_has("carme: srun --multi-prog is not supported");
        assert!(c.jobs_named(&name).is_empty(), "a job was queued");
    }
    // Without Carme it is Slurm's business as usual.
    c.run_as(
        STUDENT,
        &[
            "srun",
            "-n2",
            "-w",
            "n3",
            "--multi-prog",
            conf.to_str().unwrap(),
        ],
    )
    .ok();
}

/// The default fact source needs no prolog: slurmstepd asks slurmctld.
#[test]
fn job_facts_from_slurmctld_work_without_the_prolog_record() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = carme_e2e::slurmctld_facts(&c);
    srun_carme(&c, STAFF, "tools", &["cat", "/CARME_IMAGE"])
        .ok()
        .expect_lines(&["tools"]);
    c.run_as(
        STAFF,
        &[
            "srun",
            "-w",
            "n1",
            "sh",
            "-c",
            "test -e /CARME_IMAGE || echo host",
        ],
    )
    .expect_lines(&["host"]);
}

#[test]
fn missing_prolog_record_refuses_image_steps_and_says_why() {
    let _g = shared_config();
    let c = Cluster::get();
    // An allocation whose record we then remove, as if Prolog= were unset.
    let name = unique_name("norecord");
    let out = c.run_as(
        STUDENT,
        &[
            "salloc",
            "--no-shell",
            "-J",
            &name,
            "-w",
            "n1",
            "-C",
            "carme",
        ],
    );
    out.ok();
    let job = c
        .root(&["squeue", "-h", "-n", &name, "-o", "%i"])
        .stdout
        .trim()
        .to_string();
    assert!(!job.is_empty(), "no job: {}", out.all());
    let record = c.dir.join(format!("nodes/n1/state/job-{job}"));
    assert!(record.exists(), "the prolog did not record job {job}");
    std::fs::remove_file(&record).unwrap();

    c.run_as(
        STUDENT,
        &["srun", "--jobid", &job, "--carme-image=base", "true"],
    )
    .failed()
    .expect_stderr_has("carme: this node cannot start Carme jobs")
    .expect_stderr_has("carme-prolog left no record");
    let _ = c.root(&["scancel", &job]);
}

/// Each node's record of a job is removed by that node's epilog.
#[test]
fn records_are_removed_by_the_epilog() {
    let _g = shared_config();
    let c = Cluster::get();
    let name = unique_name("record");
    c.run_as(
        STAFF,
        &[
            "srun",
            "-J",
            &name,
            "-N2",
            "-C",
            "carme",
            "--carme-image=base",
            "true",
        ],
    )
    .ok();
    let job = c
        .root(&["squeue", "-h", "-t", "all", "-n", &name, "-o", "%i"])
        .stdout
        .trim()
        .to_string();
    assert!(!job.is_empty());
    for node in ["n1", "n2"] {
        let record = c.dir.join(format!("nodes/{node}/state/job-{job}"));
        assert!(
            c.wait_for(Duration::from_secs(20), || !record.exists()),
            "{} still there after the job",
            record.display()
        );
    }
}

/// A Carme batch script read from stdin (its `#SBATCH` constraint hidden
/// from the client) whose step slurmstepd refuses with `want`: the batch
/// step is not failed (that would drain the node), the script ends before
/// it runs with the message in its output; non-Carme jobs still run.
fn refused_in_slurmstepd_spares_others(c: &Cluster, tag: &str, srun: &str, want: &str) {
    let script = format!("#!/bin/sh\n#SBATCH --constraint=carme\n{srun}\necho srun-exit=$?\n");
    // sbatch --wait exits with the job's exit code: the script's 125; the
    // script did not run.
    c.sbatch(STUDENT, tag)
        .script(&script)
        .run()
        .expect_exit(125)
        .expect_output_has(want)
        .expect_output_lacks("srun-exit=");
    // No node was drained.
    c.root(&["sinfo", "-h", "-N", "-o", "%N %T"])
        .expect_stdout_lacks("drain");
    // Non-Carme jobs still run, on Carme nodes too.
    c.run_as(STUDENT, &["srun", "-w", "n1", "echo", "still-running"])
        .ok()
        .expect_lines(&["still-running"]);
}
