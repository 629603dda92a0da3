//! `carme-launch check-node` without a cluster (SLURM_CONF names an empty
//! file, so every scontrol question fails at once): all problems of a broken node
//! in one run, with the exit status and the JSON document. The real
//! cluster's answers are tested in tests/e2e/tests/check_node.rs. Run as
//! root (make test does): root-owned files are checked.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn scratch() -> PathBuf {
    assert!(
        nix::unistd::geteuid().is_root(),
        "run as root (make test does): the config must be root's"
    );
    let d = std::env::temp_dir().join(format!("carme-check-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn check_node(config: &Path, plugin: &Path, json: bool) -> (i32, String) {
    // (A missing file would make scontrol retry for a minute.)
    let slurm_conf = config.with_file_name("slurm.conf");
    std::fs::write(&slurm_conf, "").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carme-launch"));
    cmd.args(["check-node", "--node", "nowhere", "--config"])
        .arg(config)
        .arg("--plugin")
        .arg(plugin)
        .env("SLURM_CONF", &slurm_conf);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_problem_of_a_broken_node_in_one_run() {
    let d = scratch();
    let config = d.join("carme.toml");
    std::fs::write(
        &config,
        format!(
            "[gate]\nfeature = \"car me\"\n[runtime]\nkind = \"charliecloud\"\n\
             path = \"/nonexistent/ch-run\"\n[paths]\nshm_size = \"lots\"\n\
             tmp_base = \"{0}/open/%n\"\n[images.base]\npath = \"{0}/no-image\"\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    // The plugin, copied next to the config: in a directory below the
    // sticky /tmp, wherever the checkout lies.
    let plugin_file = d.join("spank_carme.so");
    std::fs::copy(plugin_path(), &plugin_file).unwrap();
    let (code, out) = check_node(&config, &plugin_file, true);
    assert_eq!(code, 1, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["node"], "nowhere");
    let findings = doc["findings"].as_array().unwrap();
    let with = |check: &str, status: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["check"] == check && f["status"] == status)
            .collect()
    };
    // Both config errors, and that others than root may change it.
    let subjects: Vec<&str> = with("config", "error")
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["gate.feature", "paths.shm_size"], "{out}");
    let trust = with("config-trust", "error");
    assert!(
        trust[0]["message"].as_str().unwrap().contains("mode 0664"),
        "{out}"
    );
    // Slurm could not be asked: said, with what to do, not skipped.
    let gate = with("gate-feature", "error");
    assert!(
        gate[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot ask slurmctld about node nowhere"),
        "{out}"
    );
    assert_eq!(with("prolog", "error").len(), 1, "{out}");
    // The plugin given is read, whatever Slurm is installed here; below
    // /tmp (1777) others than root could replace it: an error.
    let plugin: Vec<&Value> = findings.iter().filter(|f| f["check"] == "plugin").collect();
    assert_eq!(plugin.len(), 2, "{out}");
    assert!(
        plugin[0]["message"]
            .as_str()
            .unwrap()
            .contains("can be changed by others than root (/tmp is owned by uid 0 with mode 1777)"),
        "{out}"
    );
    assert_eq!(plugin[0]["status"], "error", "{out}");
    assert!(
        plugin[1]["message"]
            .as_str()
            .unwrap()
            .contains("is built for Slurm 22.05"),
        "{out}"
    );
    for f in findings.iter().filter(|f| f["status"] != "ok") {
        assert!(
            f["fix"].as_str().is_some_and(|x| !x.is_empty()),
            "no fix: {f}"
        );
    }
    // The text form: the same problems, each `carme: ` first, then the
    // summary.
    let (code, text) = check_node(&config, &plugin_file, false);
    assert_eq!(code, 1);
    let errors = text
        .lines()
        .filter(|l| l.starts_with("carme: error: ["))
        .count();
    assert_eq!(
        errors as u64,
        doc["summary"]["error"].as_u64().unwrap(),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("carme: node nowhere: "),
        "{text}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn plugin_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../carme-core/testdata/elf/plugin_version-0x160508.so")
}
