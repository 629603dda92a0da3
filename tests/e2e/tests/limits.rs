//! Carme's limits on the harness cluster: refused early by the clients
//! (nothing queued), and again by slurmstepd when the client check is
//! bypassed (a client whose plugstack lacks the plugin, passing the option
//! through the environment as Slurm allows), with the limit, its source,
//! the value asked and the fix in the message.

use std::path::PathBuf;

use carme_e2e::{
    BatchJob, Cluster, ConfigSwap, OTHER, STAFF, STUDENT, exclusive_config, home_of, unique_name,
};

/// The harness config plus limits. carmetest1 is in group
/// carmetest-students, carmetest2 in carmetest-staff, carmetest3 in neither.
fn limits_config(c: &Cluster) -> String {
    let base = std::fs::read_to_string(c.carme_toml()).unwrap();
    format!(
        "{base}
[limits.default]
images = [\"base\", \"t*\"]
max_gpus_per_job = 2
max_gpus_per_node = 2
max_nodes_per_job = 1
max_running_jobs = 2
max_time = \"1-00:00:00\"

[limits.groups.carmetest-students]
images = [\"base\"]
max_gpus_per_job = 1

[limits.accounts.bigproj]
max_nodes_per_job = 2

[limits.users.carmetest2]
max_gpus_per_job = 4
max_gpus_per_node = 4
"
    )
}

/// A client config without the Carme plugin: what a user who bypasses
/// the client-side checks would run.
fn bypass_conf(c: &Cluster) -> PathBuf {
    let dir = c.dir.join("shared/bypass");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = std::fs::read_to_string(&c.slurm_conf).unwrap();
    let empty = dir.join("plugstack.conf");
    std::fs::write(&empty, "").unwrap();
    let conf = conf
        .lines()
        .map(|l| {
            if l.starts_with("PlugStackConfig=") {
                format!("PlugStackConfig={}", empty.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("slurm.conf");
    std::fs::write(&path, conf + "\n").unwrap();
    // gres.conf is read from beside slurm.conf by the clients too.
    std::fs::copy(c.dir.join("etc/gres.conf"), dir.join("gres.conf")).unwrap();
    path
}

fn refused_early(c: &Cluster, user: &str, args: &[&str], want: &[&str]) {
    let name = unique_name("limit");
    let mut argv = vec!["srun", "-J", name.as_str(), "-C", "carme"];
    argv.extend_from_slice(args);
    argv.push("true");
    let out = c.run_as(user, &argv);
    out.failed()
        .expect_stderr_has("carme: this Carme job is over its limits: ");
    for w in want {
        out.expect_stderr_has(w);
    }
    assert!(c.jobs_named(&name).is_empty(), "{args:?}: a job was queued");
}

#[test]
fn limits_are_refused_early_with_source_value_and_fix() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = ConfigSwap::new(&c.carme_toml(), &limits_config(&c));

    refused_early(
        &c,
        STUDENT,
        &["--carme-image=tools"],
        &["image 'tools' is not allowed for you by group carmetest-students (allowed: base)"],
    );
    refused_early(
        &c,
        STUDENT,
        &["--gres=gpu:2"],
        &[
            "you asked for 2 GPUs per job, but the limit for group carmetest-students is 1",
            "--gpus=1",
        ],
    );
    refused_early(
        &c,
        OTHER,
        &["-A", "smallproj", "-N2"],
        &[
            "you asked for 2 nodes, but the limit for the default limits is 1",
            "--nodes=1",
        ],
    );
    // Without -A the job gets the user's default account, which the client
    // cannot know and an account rule (bigproj) could lift: slurmstepd
    // decides, and refuses.
    let out = c.run_as(OTHER, &["srun", "-C", "carme", "-N2", "true"]);
    out.failed();
    assert!(
        carme_e2e::slurmstepd_said(&out.stderr, "you asked for 2 nodes"),
        "{}",
        out.all()
    );
    refused_early(
        &c,
        OTHER,
        &["--gres=gpu:3"],
        &[
            "3 GPUs per node, but the limit for the default limits is 2",
            "--gres=gpu:2",
        ],
    );
    refused_early(
        &c,
        OTHER,
        &["-t", "2-00:00:00"],
        &[
            "time limit is 2-00:00:00",
            "is 1-00:00:00",
            "--time=1-00:00:00",
        ],
    );
    // sbatch and salloc refuse the same way, before queueing.
    for client in ["sbatch", "salloc"] {
        let name = unique_name(client);
        let mut argv = vec![
            client,
            "-J",
            name.as_str(),
            "-C",
            "carme",
            "--carme-image=tools",
        ];
        argv.extend(if client == "sbatch" {
            vec!["--wrap", "true"]
        } else {
            vec!["true"]
        });
        c.run_as(STUDENT, &argv)
            .failed()
            .expect_stderr_has("is not allowed for you by group carmetest-students");
        assert!(c.jobs_named(&name).is_empty(), "{client}: a job was queued");
    }
}

#[test]
fn within_limits_run_and_rules_take_precedence() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = ConfigSwap::new(&c.carme_toml(), &limits_config(&c));
    let ok = |user: &str, args: &[&str]| {
        let mut argv = vec!["srun", "-C", "carme"];
        argv.extend_from_slice(args);
        argv.extend(["cat", "/CARME_IMAGE"]);
        let out = c.run_as(user, &argv);
        out.ok();
        out
    };
    ok(STUDENT, &["--gres=gpu:1"]).expect_lines(&["base"]);
    // The user's own rule beats the default (4 GPUs per job and node).
    ok(STAFF, &["--carme-image=tools", "--gres=gpu:4"]).expect_lines(&["tools"]);
    // The account's rule beats the default (2 nodes).
    ok(OTHER, &["-A", "bigproj", "-N2"])
        .stdout_lines()
        .expect_count(2);
}

/// A srun with the plugin missing from its plugstack: the option reaches
/// slurmstepd through `_SLURM_SPANK_OPTION_carme_carme_image`.
fn bypass(c: &Cluster, user: &str, image: Option<&str>, args: &[&str]) -> carme_e2e::Out {
    let conf = bypass_conf(c);
    let conf = conf.to_str().unwrap().to_string();
    let mut env = vec![("SLURM_CONF", conf.as_str())];
    if let Some(i) = image {
        env.push(("_SLURM_SPANK_OPTION_carme_carme_image", i));
    }
    let mut argv = vec!["srun", "-C", "carme"];
    argv.extend_from_slice(args);
    c.run_full(user, &argv, &env, None)
}

#[test]
fn slurmstepd_refuses_what_a_bypassed_client_let_through() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = ConfigSwap::new(&c.carme_toml(), &limits_config(&c));

    // Sanity: the bypass really reaches the image (and the stepd check).
    bypass(&c, STUDENT, Some("base"), &["cat", "/CARME_IMAGE"])
        .ok()
        .expect_lines(&["base"]);

    let cases: &[(&str, Option<&str>, &[&str], &str)] = &[
        (
            STUDENT,
            Some("tools"),
            &[],
            "image 'tools' is not allowed for you by group carmetest-students",
        ),
        (
            STUDENT,
            None,
            &["--gres=gpu:2"],
            "you asked for 2 GPUs per job, but the limit for group carmetest-students is 1",
        ),
        (
            OTHER,
            None,
            &["-N2"],
            "you asked for 2 nodes, but the limit for the default limits is 1",
        ),
        (
            OTHER,
            None,
            &["-t", "1-00:01:00"],
            "time limit is 1-00:01:00",
        ),
    ];
    for (user, image, args, want) in cases {
        let marker = home_of(user).join(format!("{}.ran", unique_name("bypass")));
        let mut argv: Vec<&str> = args.to_vec();
        let touch = format!("touch {}", marker.display());
        argv.extend(["sh", "-c", touch.as_str()]);
        bypass(&c, user, *image, &argv)
            .failed()
            .expect_stderr_has(want);
        assert!(!marker.exists(), "{args:?}: a task ran");
    }
    // No node was drained.
    c.root(&["sinfo", "-h", "-N", "-o", "%N %T"])
        .expect_stdout_lacks("drain");
}

#[test]
fn a_third_running_job_is_refused_while_two_run() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = ConfigSwap::new(&c.carme_toml(), &limits_config(&c));
    let held: Vec<BatchJob> = (0..2)
        .map(|_| {
            c.sbatch(OTHER, "running")
                .args(&["-C", "carme"])
                .discard_output()
                .wrap("sleep 120")
                .submit()
        })
        .collect();
    for job in &held {
        job.wait_running();
    }

    // Early: nothing is queued.
    refused_early(
        &c,
        OTHER,
        &[],
        &[
            "you already run 2 Carme jobs and the limit for the default limits is 2",
            "scancel",
        ],
    );
    // Authoritative: slurmstepd refuses the third too.
    bypass(&c, OTHER, None, &["true"])
        .failed()
        .expect_stderr_has("you already run 2 Carme jobs");
    // A non-Carme job does not count and is not limited.
    c.run_as(OTHER, &["srun", "-w", "n3", "true"]).ok();

    for job in &held {
        let _ = c.root(&["scancel", &job.id.to_string()]);
    }
    // With the two gone, a new Carme job runs again.
    for job in &held {
        job.wait_done();
    }
    c.run_as(OTHER, &["srun", "-C", "carme", "true"]).ok();
}

#[test]
fn a_broken_rule_stops_only_its_users_jobs_and_check_config_finds_it() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let text = format!(
        "{}\n[limits.users.carmetest3]\nmax_gpus_per_jobb = 1\n",
        limits_config(&c)
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("max_gpus_per_jobb"))
        .unwrap()
        + 1;
    let _swap = ConfigSwap::new(&c.carme_toml(), &text);
    let want_in = |path: &std::path::Path| {
        format!(
            "{}:{line}: key `limits.users.carmetest3.max_gpus_per_jobb`",
            path.display()
        )
    };
    let want = want_in(&c.config_as_read());

    c.run_as(OTHER, &["srun", "-C", "carme", "true"])
        .failed()
        .expect_stderr_has(&want);
    // Everybody else's Carme jobs run.
    c.run_as(STAFF, &["srun", "-C", "carme", "cat", "/CARME_IMAGE"])
        .ok();
    // The admin tool reads every rule and names the mistake.
    c.root(&[
        c.dir.join("libexec/carme-launch").to_str().unwrap(),
        "check-config",
        "--config",
        c.carme_toml().to_str().unwrap(),
    ])
    .expect_code(1)
    .expect_stderr_has(&want_in(&c.carme_toml()));
}
