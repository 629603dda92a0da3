//! The command lines carme-launch gives Apptainer and SingularityCE, checked
//! against strict stand-ins (tests/standins: the real runtimes cannot be
//! installed here) that accept only their documented `exec` flags and
//! record what they were asked to do.

use std::path::{Path, PathBuf};
use std::process::Command;

use carme_e2e::{
    Cluster, ConfigSwap, STAFF, exclusive_config, home_of, run_here, shared_config, unique_name,
};

/// A config for `kind` whose runtime is the stand-in of that name.
fn config_for(c: &Cluster, kind: &str) -> String {
    let d = c.dir.display();
    format!(
        "[gate]\nfeature = \"carme\"\ndefault_image = \"base\"\n\
         [runtime]\nkind = \"{kind}\"\npath = \"{d}/libexec/standins/{kind}\"\n\
         exec_helper = \"{d}/libexec/carme-exec\"\n\
         [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
         [[mounts]]\nsource = \"{d}/shared\"\ntarget = \"/data\"\nmode = \"ro\"\n\
         [images.base]\npath = \"{d}/images/base\"\ndescription = \"busybox base image\"\n"
    )
}

/// `carme-launch run --config CFG --image base --`, the command to follow.
fn launch_run(c: &Cluster, cfg: &Path) -> Command {
    let mut cmd = Command::new(c.dir.join("libexec/carme-launch"));
    cmd.arg("run")
        .arg("--config")
        .arg(cfg)
        .args(["--image", "base", "--"]);
    cmd
}

fn records(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stand-in record is JSON"))
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn carme_launch_argv_contract_for_apptainer_and_singularity() {
    let _g = shared_config();
    let c = Cluster::get();
    let tmp = std::env::temp_dir().join(unique_name("runtimes"));
    std::fs::create_dir_all(&tmp).unwrap();
    for kind in ["apptainer", "singularity"] {
        let cfg = tmp.join(format!("{kind}.toml"));
        std::fs::write(&cfg, config_for(&c, kind)).unwrap();
        let log = tmp.join(format!("{kind}.jsonl"));
        let out = run_here(
            launch_run(&c, &cfg)
                .args(["sh", "-c", "echo ran-$0; exit 4", "x"])
                .env("CARME_STANDIN_LOG", &log)
                .env("SLURMD_NODENAME", "n1"),
        );
        // The exit code passes through.
        out.expect_code(4).expect_lines(&["ran-x"]);
        let recs = records(&log);
        assert_eq!(recs.len(), 1, "{kind}: one exec per task");
        let r = &recs[0];
        assert_eq!(r["tool"], kind);
        assert_eq!(r["status"], "exec", "{kind}: {r}");
        let d = c.dir.display();
        assert_eq!(
            strings(&r["argv"]),
            [
                format!("{d}/libexec/standins/{kind}"),
                "exec".into(),
                "-B".into(),
                "/home:/home".into(),
                "-B".into(),
                format!("{d}/shared:/data:ro"),
                "-B".into(),
                "/tmp:/var/tmp".into(),
                // Values passed as APPTAINERENV_*/SINGULARITYENV_* stay literal.
                "--no-eval".into(),
                format!("{d}/images/base"),
                "sh".into(),
                "-c".into(),
                "echo ran-$0; exit 4".into(),
                "x".into(),
            ],
            "{kind}"
        );
        let binds = r["binds"].as_array().unwrap();
        assert_eq!(binds[1]["opts"], serde_json::json!(["ro"]), "{kind}: {r}");
    }
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn runtime_missing_is_a_clear_error() {
    let _g = shared_config();
    let c = Cluster::get();
    let tmp = std::env::temp_dir().join(unique_name("noruntime"));
    std::fs::create_dir_all(&tmp).unwrap();
    let cfg = tmp.join("c.toml");
    let text =
        config_for(&c, "apptainer").replace("libexec/standins/apptainer", "nowhere/apptainer");
    std::fs::write(&cfg, text).unwrap();
    let out = run_here(launch_run(&c, &cfg).arg("true"));
    out.expect_code(127);
    assert!(
        out.stderr
            .starts_with("carme: cannot run the container runtime"),
        "{}",
        out.all()
    );
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn srun_through_the_apptainer_stand_in() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = ConfigSwap::new(&c.carme_toml(), &config_for(&c, "apptainer"));
    let log: PathBuf = home_of(STAFF).join(format!("{}.jsonl", unique_name("apptainer")));
    let log_s = log.to_str().unwrap().to_string();
    let out = c.run_full(
        STAFF,
        &[
            "srun",
            "-N2",
            "-n3",
            "-C",
            "carme",
            "--carme-image=base",
            "sh",
            "-c",
            "echo task-$SLURM_PROCID",
        ],
        &[("CARME_STANDIN_LOG", &log_s)],
        None,
    );
    out.ok()
        .stdout_lines()
        .sorted()
        .expect(&["task-0", "task-1", "task-2"]);
    let recs = records(&log);
    assert_eq!(recs.len(), 3, "one stand-in exec per task: {recs:?}");
    for r in &recs {
        assert_eq!(r["status"], "exec");
        let argv = strings(&r["argv"]);
        assert_eq!(argv[1], "exec");
        assert!(
            argv.ends_with(&["sh".into(), "-c".into(), "echo task-$SLURM_PROCID".into()]),
            "{argv:?}"
        );
        // Slurm's task environment reaches the runtime.
        assert!(r["env"]["SLURM_PROCID"].is_string(), "{r}");
        assert!(
            r["env"].get("CARME_LAUNCH_IMAGE").is_none(),
            "plumbing leaked: {r}"
        );
    }
}
