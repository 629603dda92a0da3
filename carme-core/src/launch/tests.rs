use super::*;
use crate::config::Config;

fn cfg(kind: &str, path: &str) -> Config {
    let text = format!(
        "[runtime]\nkind = \"{kind}\"\npath = \"{path}\"\n\
             [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
             [[mounts]]\nsource = \"/scratch/%n/%j\"\ntarget = \"/scratch\"\nmode = \"ro\"\n\
             [images.base]\npath = \"/srv/base\"\n\
             mounts = [ {{ source = \"/data\", target = \"/data\", mode = \"ro\" }} ]\n\
             [images.full]\npath = \"/srv/full.sif\"\ngpu = true\nworkdir = \"/work\"\n\
             runtime_args = [\"--writable-tmpfs\"]\n\
             env = {{ OMP_NUM_THREADS = \"8\", TAG = \"'q' $HOME\", CARME_JOB_ID = \"no\", \
             LANG = \"C\" }}\n\
             mounts = [ {{ source = \"/opt/ds\", target = \"/datasets\", optional = true }},\n\
             {{ source = \"/opt/must\", target = \"/must\" }} ]\n"
    );
    Config::parse(&text, Path::new("/c.toml")).unwrap()
}

fn env(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    list.iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn job_env() -> Vec<(OsString, OsString)> {
    env(&[
        ("SLURM_JOB_ID", "42"),
        ("SLURM_JOB_NAME", "my $job"),
        ("SLURM_JOB_NODELIST", "n[1-2]"),
        ("SLURM_PROCID", "3"),
        ("SLURM_STEP_GPUS", "0,2"),
        ("CUDA_VISIBLE_DEVICES", "0,1"),
        ("PMIX_RANK", "3"),
        ("TMPDIR", "/tmp"),
        ("CARME_TMPDIR", "/tmp"),
        ("CARME_LAUNCH_IMAGE", "full"),
        ("CARME_STANDIN_LOG", "/x"),
        ("LANG", "de_DE.UTF-8"),
        ("HOME", "/home/u"),
        ("FOO", "bar"),
    ])
}

fn exists_all(_: &Path) -> bool {
    true
}

fn exists_none_opt(p: &Path) -> bool {
    !p.starts_with("/opt")
}

fn plan_for(
    c: &Config,
    image: &str,
    env: &[(OsString, OsString)],
    cwd: Option<&str>,
    exists: &dyn Fn(&Path) -> bool,
    mode: Mode,
) -> LaunchPlan {
    let facts = TaskFacts {
        node: "n1",
        job: Some(42),
        env,
        cwd: cwd.map(Path::new),
        source_exists: exists,
    };
    let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), "echo hi".into()];
    plan(c, &c.images[image], &facts, &cmd, mode)
}

fn strings(v: &[OsString]) -> Vec<String> {
    v.iter().map(|a| a.to_str().unwrap().to_string()).collect()
}

fn pairs(v: &[(OsString, OsString)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_str().unwrap().into(), b.to_str().unwrap().into()))
        .collect()
}

#[test]
fn exec_spec_is_length_prefixed_and_exact() {
    let args: Vec<OsString> = ["/usr/bin/ch-run", "-b", "a:b", "", "x\ny 9:", "\u{e9}"]
        .iter()
        .map(OsString::from)
        .collect();
    assert_eq!(
        exec_spec(&args),
        b"15:/usr/bin/ch-run2:-b3:a:b0:6:x\ny 9:2:\xc3\xa9".to_vec()
    );
    assert!(exec_spec(&[]).is_empty());
}

#[test]
fn charliecloud_argv_without_a_job() {
    let c = cfg("charliecloud", "/usr/bin/ch-run");
    let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
    assert_eq!(
        strings(&p.argv),
        [
            "/usr/bin/ch-run",
            "-b",
            "/home:/home",
            "-b",
            "/scratch/n1/42:/scratch",
            "-b",
            "/data:/data",
            "--env-no-expand",
            "--set-env=CARME_IMAGE_NAME=base",
            "/srv/base",
            "--",
            "sh",
            "-c",
            "echo hi"
        ]
    );
    assert!(p.env_set.is_empty() && p.env_unset.is_empty());
    assert_eq!(p.workdir, None);
}

#[test]
fn charliecloud_argv_in_a_job() {
    let c = cfg("charliecloud", "/usr/bin/ch-run");
    let e = job_env();
    let p = plan_for(&c, "full", &e, Some("/home/u/x"), &exists_all, Mode::Exec);
    assert_eq!(
        strings(&p.argv),
        [
            "/usr/bin/ch-run",
            "-b",
            "/home:/home",
            "-b",
            "/scratch/n1/42:/scratch",
            "-b",
            "/opt/ds:/datasets",
            "-b",
            "/opt/must:/must",
            "-c",
            "/work",
            "--env-no-expand",
            "--set-env=TMPDIR=/tmp",
            "--set-env=LANG=C",
            "--set-env=OMP_NUM_THREADS=8",
            "--set-env=TAG=''q' $HOME'",
            "--set-env=CARME_JOB_ID=42",
            "--set-env=CARME_JOB_NAME=my $job",
            "--set-env=CARME_NODES=n1,n2",
            "--set-env=CARME_MASTER=n1",
            "--set-env=CARME_IMAGE_NAME=full",
            "--set-env=CARME_JOB_GPUS=0,2",
            "--writable-tmpfs",
            "/srv/full.sif",
            "--",
            "sh",
            "-c",
            "echo hi"
        ]
    );
    // Only the plumbing is removed; the rest passes through ch-run.
    assert_eq!(strings(&p.env_unset), ["CARME_LAUNCH_IMAGE"]);
    assert!(p.env_set.is_empty());
    assert!(p.notes.iter().any(|n| n.contains("CARME_JOB_ID ignored")));
}

#[test]
fn apptainer_and_singularity_argv() {
    for (kind, path, prefix) in [
        ("apptainer", "/usr/bin/apptainer", "APPTAINERENV_"),
        ("singularity", "/opt/s/bin/singularity", "SINGULARITYENV_"),
    ] {
        let c = cfg(kind, path);
        let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
        assert_eq!(
            strings(&p.argv),
            [
                path,
                "exec",
                "-B",
                "/home:/home",
                "-B",
                "/scratch/n1/42:/scratch:ro",
                "-B",
                "/data:/data:ro",
                "-B",
                "/tmp:/var/tmp",
                "--no-eval",
                "/srv/base",
                "sh",
                "-c",
                "echo hi"
            ],
            "{kind}"
        );
        assert_eq!(
            pairs(&p.env_set),
            [(format!("{prefix}CARME_IMAGE_NAME"), "base".to_string())]
        );
    }
}

/// The runtimes' default /var/tmp (the node's, shared) becomes the
/// step's /tmp; an admin's mount there wins; ch-run binds no /var/tmp.
#[test]
fn var_tmp_is_the_steps_tmp_for_apptainer_and_singularity() {
    let var_tmp = |c: &Config| -> Vec<(String, String)> {
        plan_for(c, "base", &[], None, &exists_all, Mode::Exec)
            .mounts
            .iter()
            .filter(|m| m.target == Path::new("/var/tmp"))
            .map(|m| (m.source.display().to_string(), format!("{:?}", m.origin)))
            .collect()
    };
    for kind in ["apptainer", "singularity"] {
        assert_eq!(
            var_tmp(&cfg(kind, "/a")),
            [("/tmp".to_string(), "Step".to_string())],
            "{kind}"
        );
    }
    assert!(var_tmp(&cfg("charliecloud", "/a")).is_empty());
    let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [[mounts]]\nsource = \"/local/vt\"\ntarget = \"/var/tmp\"\n\
                    [images.base]\npath = \"/srv/base\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    assert_eq!(
        var_tmp(&c),
        [("/local/vt".to_string(), "Global".to_string())]
    );
}

#[test]
fn apptainer_passes_the_job_environment_as_prefixed_copies() {
    let c = cfg("apptainer", "/usr/bin/apptainer");
    let e = job_env();
    let p = plan_for(
        &c,
        "full",
        &e,
        Some("/home/u/x"),
        &exists_none_opt,
        Mode::Exec,
    );
    assert_eq!(
        strings(&p.argv),
        [
            "/usr/bin/apptainer",
            "exec",
            "-B",
            "/home:/home",
            "-B",
            "/scratch/n1/42:/scratch:ro",
            "-B",
            "/tmp:/var/tmp",
            "--nv",
            "--no-eval",
            "--cwd",
            "/work",
            "--writable-tmpfs",
            "/srv/full.sif",
            "sh",
            "-c",
            "echo hi"
        ]
    );
    let set = pairs(&p.env_set);
    let get = |k: &str| {
        set.iter()
            .find(|(n, _)| n == &format!("APPTAINERENV_{k}"))
            .map(|(_, v)| v.as_str())
    };
    for (k, v) in [
        ("SLURM_PROCID", "3"),
        ("SLURM_JOB_ID", "42"),
        ("PMIX_RANK", "3"),
        ("CUDA_VISIBLE_DEVICES", "0,1"),
        ("TMPDIR", "/tmp"),
        ("CARME_TMPDIR", "/tmp"),
        ("CARME_JOB_ID", "42"),
        ("CARME_JOB_NAME", "my $job"),
        ("CARME_NODES", "n1,n2"),
        ("CARME_MASTER", "n1"),
        ("CARME_IMAGE_NAME", "full"),
        ("CARME_JOB_GPUS", "0,2"),
        ("OMP_NUM_THREADS", "8"),
        ("LANG", "C"),
    ] {
        assert_eq!(get(k), Some(v), "{k}: {set:?}");
    }
    // Not the user's own variables (the runtime passes those unless
    // told not to), not the plumbing, not unrelated CARME_ names.
    for k in ["FOO", "HOME", "CARME_LAUNCH_IMAGE", "CARME_STANDIN_LOG"] {
        assert_eq!(get(k), None, "{k}");
    }
    // The host's LANG differs from the image's: removed so the
    // runtime has nothing to warn about.
    assert_eq!(strings(&p.env_unset), ["CARME_LAUNCH_IMAGE", "LANG"]);
    // The optional mount was left out, the required one is missing.
    assert_eq!(
        p.mounts
            .iter()
            .map(|m| (m.target.to_str().unwrap(), m.present))
            .collect::<Vec<_>>(),
        [
            ("/home", true),
            ("/scratch", true),
            ("/datasets", false),
            ("/must", false),
            ("/var/tmp", true)
        ]
    );
    assert!(p.notes.iter().any(|n| n.contains("optional mount /opt/ds")));
    assert_eq!(
        p.refusal("n1").unwrap().message(),
        "carme: cannot start the task in image 'full': the mount source /opt/must (for \
             /must, a mount of image 'full') does not exist on node n1. Please tell your \
             cluster admins (they can mark a mount optional = true)."
    );
}

#[test]
fn missing_required_mounts_are_named() {
    let c = cfg("charliecloud", "/c");
    let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
    let r = p.refusal("n9").unwrap();
    assert!(
        r.message().contains(
            "mount sources /home (for /home), /scratch/n1/42 (for /scratch), /data (for \
                 /data, a mount of image 'base') do not exist on node n9"
        ),
        "{}",
        r.message()
    );
    // None of them is bound.
    assert!(!strings(&p.argv).contains(&"-b".to_string()));
    let ok = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
    assert_eq!(ok.refusal("n1"), None);
}

#[test]
fn working_directory_follows_the_binds() {
    let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
                    [[mounts]]\nsource = \"/srv/shared\"\ntarget = \"/data\"\n\
                    [[mounts]]\nsource = \"/srv/shared/deep\"\ntarget = \"/deep\"\n\
                    [images.i]\npath = \"/i\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    let cases = [
        (Some("/home/u/proj"), Some("/home/u/proj")),
        (Some("/home"), Some("/home")),
        (Some("/srv/shared/x/y"), Some("/data/x/y")),
        (Some("/srv/shared/deep/z"), Some("/deep/z")),
        (Some("/srv/sharedx"), None),
        (Some("/var/tmp"), None),
        // Not through the step's /tmp at /var/tmp: the runtime's own
        // /tmp bind has it at the same path.
        (Some("/tmp/ci-check"), None),
        (Some("/home/../etc"), None),
        (None, None),
    ];
    for (cwd, want) in cases {
        let p = plan_for(&c, "i", &[], cwd, &exists_all, Mode::Exec);
        assert_eq!(
            p.workdir.as_ref().map(|w| w.path.to_str().unwrap()),
            want,
            "{cwd:?}"
        );
        let a = strings(&p.argv);
        match want {
            Some(w) => assert!(a.windows(2).any(|x| x == ["--cwd", w]), "{a:?}"),
            None => assert!(!a.contains(&"--cwd".to_string()), "{a:?}"),
        }
    }
    // A missing (optional) bind does not count.
    let p = plan_for(
        &c,
        "i",
        &[],
        Some("/srv/shared/deep/z"),
        &|p| p != Path::new("/srv/shared/deep"),
        Mode::Exec,
    );
    assert_eq!(p.workdir.unwrap().path, Path::new("/data/deep/z"));
}

#[test]
fn step_paths_are_bound_at_the_same_place() {
    let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n\
                    [paths]\nscratch_base = \"/local/%n\"\nscratch_target = \"/scratch\"\n\
                    [gpu]\ndevice_dir = \"/fake/%n/dev\"\n[images.base]\npath = \"/i\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
    assert_eq!(
        strings(&p.argv)[..5],
        [
            "/c",
            "-b",
            "/scratch:/scratch",
            "-b",
            "/fake/n1/dev:/fake/n1/dev"
        ]
    );
    assert_eq!(p.refusal("n1"), None, "step paths are not checked");
    let plain = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n[images.base]\npath = \"/i\"\n";
    let c = Config::parse(plain, Path::new("/c.toml")).unwrap();
    let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Exec);
    assert_eq!(p.mounts, []);
}

/// `%n` and `%j` must not smuggle a second bind or an option into the
/// runtime's bind spec: such a task is refused and nothing of the path
/// is bound, in every runtime, whatever the mount's kind.
#[test]
fn expanded_paths_that_would_split_a_bind_spec_refuse_the_task() {
    let text = |kind: &str| {
        format!(
            "[runtime]\nkind = \"{kind}\"\npath = \"/rt\"\n\
                 [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
                 [[mounts]]\nsource = \"/data/%n\"\ntarget = \"/data\"\nmode = \"ro\"\n\
                 [[mounts]]\nsource = \"/opt/%n\"\ntarget = \"/opt\"\noptional = true\n\
                 [paths]\nscratch_base = \"/local/%n\"\n\
                 [gpu]\ndevice_dir = \"/fake/%n/dev\"\n\
                 [beeond]\nmount_base = \"/mnt/beeond/%n\"\n\
                 [images.base]\npath = \"/i\"\n\
                 mounts = [ {{ source = \"/img/%n/%j\", target = \"/img\" }} ]\n"
        )
    };
    let env = [("CARME_BEEOND_PATH".into(), "/mnt/beeond/x/42".into())];
    // (node name, refused, what the refusal names)
    let cases = [
        ("n1", false, ""),
        (
            "a,b",
            true,
            "/data/a,b -> /data must not contain `:` or `,`",
        ),
        (
            "x:/etc",
            true,
            "/data/x:_etc -> /data must not contain `:` or `,`",
        ),
        // PathTemplate::expand already turns a node named `..` into `__`.
        ("..", false, ""),
        ("n1,/etc", true, "node n1,/etc"),
        ("n\n1:", true, "/data/n\\n1: -> /data"),
    ];
    for kind in ["charliecloud", "apptainer", "singularity"] {
        let c = Config::parse(&text(kind), Path::new("/c.toml")).unwrap();
        for (node, refused, names) in cases {
            let facts = TaskFacts {
                node,
                job: Some(42),
                env: &env,
                cwd: None,
                source_exists: &exists_all,
            };
            let p = plan(&c, &c.images["base"], &facts, &[], Mode::Exec);
            let r = p.refusal(node);
            assert_eq!(r.is_some(), refused, "{kind} {node:?}: {r:?}");
            if let Some(r) = r {
                let m = r.message();
                assert!(m.contains(names), "{kind} {node:?}: {m}");
                assert!(m.contains("Please tell your cluster admins"), "{m}");
                assert_eq!(m.lines().count(), 1, "{m}");
            }
            // Whatever the verdict, each bind spec is one source and
            // one target, and every bind the node name went into is
            // left out of the command line.
            let a = strings(&p.argv);
            let specs: Vec<&String> = a
                .windows(2)
                .filter(|w| w[0] == "-b" || w[0] == "-B")
                .map(|w| &w[1])
                .collect();
            assert!(!specs.is_empty(), "{kind} {node:?}: {a:?}");
            for spec in specs {
                assert!(!spec.contains(','), "{kind} {node:?}: {a:?}");
                let parts: Vec<&str> = spec.split(':').collect();
                match parts[..] {
                    [src, dst] | [src, dst, "ro"] => {
                        assert!(!src.contains("..") && !dst.contains(".."), "{a:?}");
                        assert!(src.starts_with('/') && dst.starts_with('/'), "{a:?}");
                    }
                    _ => panic!("{kind} {node:?}: bind spec {spec:?} in {a:?}"),
                }
                assert!(!refused || !spec.contains(node), "{kind} {node:?}: {a:?}");
            }
            assert_eq!(
                p.mounts.iter().filter(|m| m.unsafe_path.is_some()).count(),
                if refused { 5 } else { 0 },
                "{kind} {node:?}: {:?}",
                p.mounts
            );
        }
    }
}

#[test]
fn beeond_jobs_get_the_nodes_mount_base() {
    let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n\
                    [beeond]\nmount_base = \"/mnt/beeond/%n\"\n[images.base]\npath = \"/i\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    let env = [("CARME_BEEOND_PATH".into(), "/mnt/beeond/n1/42".into())];
    let p = plan_for(&c, "base", &env, None, &|_| false, Mode::Exec);
    assert_eq!(
        strings(&p.argv)[..3],
        ["/c", "-b", "/mnt/beeond/n1:/mnt/beeond/n1"]
    );
    // A job without BeeOND: no bind.
    let p = plan_for(&c, "base", &[], None, &|_| false, Mode::Exec);
    assert!(!strings(&p.argv).iter().any(|a| a.contains("beeond")));
}

#[test]
fn explain_shows_placeholders_for_job_values() {
    let c = cfg("charliecloud", "/usr/bin/ch-run");
    let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Explain);
    let a = strings(&p.argv);
    for want in [
        "--set-env=TMPDIR=/tmp",
        "--set-env=CARME_JOB_ID=<SLURM_JOB_ID>",
        "--set-env=CARME_NODES=<SLURM_JOB_NODELIST>",
        "--set-env=CARME_JOB_GPUS=<SLURM_STEP_GPUS>",
        "--set-env=CARME_IMAGE_NAME=base",
    ] {
        assert!(a.contains(&want.to_string()), "{want}: {a:?}");
    }
    let c = cfg("singularity", "/usr/bin/singularity");
    let p = plan_for(&c, "base", &[], None, &exists_all, Mode::Explain);
    assert!(
        pairs(&p.env_set).contains(&(
            "SINGULARITYENV_CARME_MASTER".into(),
            "<SLURM_JOB_NODELIST>".into()
        )),
        "{:?}",
        p.env_set
    );
}

#[test]
fn explain_lists_the_plugins_variables() {
    let text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n\
                    [paths]\nscratch_base = \"/local/%n\"\nscratch_target = \"/scratch\"\n\
                    [beeond]\n[images.i]\npath = \"/i\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    let plugin = |p: &LaunchPlan| -> Vec<(String, Option<String>)> {
        p.container_env
            .iter()
            .filter(|v| v.source == EnvSource::Plugin)
            .map(|v| {
                (
                    v.name.clone(),
                    v.value.clone().map(|x| x.into_string().unwrap()),
                )
            })
            .collect()
    };
    let p = plan_for(&c, "i", &[], None, &exists_all, Mode::Explain);
    assert_eq!(
        plugin(&p),
        [
            ("CARME_TMPDIR".into(), Some("/tmp".into())),
            ("CARME_LOCAL_SSD_PATH".into(), Some("/scratch".into())),
            ("CARME_BEEOND_PATH".into(), None),
        ]
    );
    assert!(
        pairs(&p.env_set).contains(&(
            "APPTAINERENV_CARME_BEEOND_PATH".into(),
            "<BeeOND jobs only>".into()
        )),
        "{:?}",
        p.env_set
    );
    // In a job they are the task's own, passed on as such.
    let e = env(&[("CARME_TMPDIR", "/tmp"), ("CARME_BEEOND_PATH", "/mnt/b/7")]);
    let p = plan_for(&c, "i", &e, None, &exists_all, Mode::Explain);
    assert_eq!(
        plugin(&p),
        [("CARME_LOCAL_SSD_PATH".into(), Some("/scratch".into()))]
    );
    // Exec never adds them: the plugin does, or there is no job.
    let p = plan_for(&c, "i", &[], None, &exists_all, Mode::Exec);
    assert_eq!(plugin(&p), []);
    // Charliecloud passes them through: listed, never --set-env.
    let c = Config::parse(
        &text.replace("apptainer", "charliecloud"),
        Path::new("/c.toml"),
    )
    .unwrap();
    let p = plan_for(&c, "i", &e, None, &exists_all, Mode::Explain);
    assert_eq!(plugin(&p).len(), 3);
    assert_eq!(plugin(&p)[2].1.as_deref(), Some("/mnt/b/7"));
    assert!(
        !strings(&p.argv)
            .iter()
            .any(|a| a.contains("CARME_TMPDIR") || a.contains("CARME_BEEOND")),
        "{:?}",
        p.argv
    );
}

/// The value the container gets for `k`, if any.
fn get(p: &LaunchPlan, k: &str) -> Option<String> {
    p.container_env
        .iter()
        .find(|v| v.name == k)
        .and_then(|v| v.value.clone())
        .map(|v| v.into_string().unwrap())
}

#[test]
fn carme_variables_edge_cases() {
    let c = cfg("apptainer", "/a");
    // In a job without GPUs: CARME_JOB_GPUS is set, empty.
    let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", "a,b[08-09]")]);
    let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
    assert_eq!(get(&p, "CARME_JOB_GPUS").as_deref(), Some(""));
    assert_eq!(get(&p, "CARME_NODES").as_deref(), Some("a,b08,b09"));
    assert_eq!(get(&p, "CARME_MASTER").as_deref(), Some("a"));
    assert_eq!(get(&p, "CARME_JOB_NAME"), None);
    // A nodelist we cannot read: left out, noted.
    let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", "n[1-")]);
    let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
    assert_eq!(get(&p, "CARME_NODES"), None);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("SLURM_JOB_NODELIST=n[1-"))
    );
    assert!(
        !pairs(&p.env_set)
            .iter()
            .any(|(k, _)| k == "APPTAINERENV_CARME_NODES")
    );
}

/// Finding 2 of issue 14: a 2 KB nodelist ran the plan out of memory,
/// and `n[1-65536]` made a 400 KB CARME_NODES, over Linux's 128 KiB
/// per string. Huge jobs get the compressed list.
#[test]
fn huge_jobs_get_the_compressed_nodelist() {
    let c = cfg("apptainer", "/a");
    for (list, nodes, master) in [
        ("n[1-65536]", "n[1-65536]", "n1"),
        (
            "rack[1-100]-n[0001-9999]",
            "rack[1-100]-n[0001-9999]",
            "rack1-n0001",
        ),
        ("n[1-12000]", "n[1-12000]", "n1"),
        ("n[1-8000]", "", "n1"),
    ] {
        let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", list)]);
        let t = std::time::Instant::now();
        let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
        assert!(t.elapsed().as_millis() < 1000, "{list}: {:?}", t.elapsed());
        let got = get(&p, "CARME_NODES").unwrap();
        assert!(got.len() as u64 <= CARME_NODES_MAX_EXPANDED, "{list}");
        // assert! not assert_eq!: the values are too long to print.
        if nodes.is_empty() {
            assert!(got == hostlist::expand(list).unwrap().join(","), "{list}");
        } else {
            assert!(got == nodes, "{list}");
        }
        assert_eq!(get(&p, "CARME_MASTER").as_deref(), Some(master));
        for (k, v) in pairs(&p.env_set) {
            assert!(k.len() + v.len() < 128 << 10, "{k}");
        }
    }
    // A list too large to expand at all: left out, noted, quickly.
    let bomb = format!("{}[1-1000][1-1000]", "a".repeat(1000));
    let e = env(&[("SLURM_JOB_ID", "7"), ("SLURM_JOB_NODELIST", &bomb)]);
    let p = plan_for(&c, "base", &e, None, &exists_all, Mode::Exec);
    assert_eq!(get(&p, "CARME_NODES"), None);
    assert!(p.notes.iter().any(|n| n.contains("bytes in all")));
}

#[test]
fn image_runtime_override_uses_the_sibling_binary() {
    let text = "[runtime]\nkind = \"apptainer\"\npath = \"/opt/rt/apptainer\"\n\
                    [images.a]\npath = \"/a\"\n\
                    [images.s]\npath = \"/s\"\nruntime = \"singularity\"\n\
                    [images.c]\npath = \"/c\"\nruntime = \"charliecloud\"\n";
    let c = Config::parse(text, Path::new("/c.toml")).unwrap();
    let r = |n: &str| {
        let (k, p) = runtime_of(&c, &c.images[n]);
        (k, p.to_str().unwrap().to_string())
    };
    assert_eq!(r("a"), (RuntimeKind::Apptainer, "/opt/rt/apptainer".into()));
    assert_eq!(
        r("s"),
        (RuntimeKind::Singularity, "/opt/rt/singularity".into())
    );
    assert_eq!(r("c"), (RuntimeKind::Charliecloud, "/opt/rt/ch-run".into()));
    let p = plan_for(&c, "c", &[], None, &exists_all, Mode::Exec);
    assert_eq!(p.runtime, RuntimeKind::Charliecloud);
    assert_eq!(strings(&p.argv)[0], "/opt/rt/ch-run");
}

#[test]
fn set_env_values_stay_literal() {
    let s = |v: &str| set_env_arg("X", OsStr::new(v)).into_string().unwrap();
    assert_eq!(s("plain"), "--set-env=X=plain");
    assert_eq!(s(""), "--set-env=X=");
    assert_eq!(s("$HOME"), "--set-env=X=$HOME");
    assert_eq!(s("'q'"), "--set-env=X=''q''");
    assert_eq!(s("'"), "--set-env=X='''");
    assert_eq!(s("'it's"), "--set-env=X=''it's'");
    assert_eq!(s("it's"), "--set-env=X=it's");
    assert_eq!(s("a=b"), "--set-env=X=a=b");
}

#[test]
fn render_quotes_what_needs_it() {
    let a: Vec<OsString> = ["ch-run", "-b", "/a:/b", "it's", "two words", ""]
        .iter()
        .map(OsString::from)
        .collect();
    assert_eq!(render(&a), r#"ch-run -b /a:/b 'it'\''s' 'two words' ''"#);
    // Control characters: one line, nothing for the terminal, and the
    // same word for bash.
    let a: Vec<OsString> = ["x\nforged", "it's\x1b[31m\\", "\u{9b}\u{e9}"]
        .iter()
        .map(OsString::from)
        .collect();
    assert_eq!(
        render(&a),
        r#"$'x\x0aforged' $'it\'s\x1b[31m\\' $'\xc2\x9bé'"#
    );
}
