//! `carme-launch check-node` as root against the running harness cluster:
//! its findings come from the real slurmd, slurmctld, plugstack.conf,
//! plugin and node, so each assertion here fails when the check misreads
//! them. Expectations that differ by Slurm series follow slurm_series().
//! The harness has no cgroup plugin, so every run has at least the
//! `constrain-devices` error (and exits non-zero).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use carme_e2e::{Cluster, Out, shared_config, slurm_series, unique_name};
use serde_json::Value;

/// A check-node run: what it printed and its JSON document.
struct Report {
    out: Out,
    doc: Value,
    raw: String,
}

impl Report {
    fn findings(&self, check: &str) -> Vec<&Value> {
        self.doc["findings"]
            .as_array()
            .unwrap_or_else(|| panic!("no findings: {}", self.raw))
            .iter()
            .filter(|f| f["check"] == check)
            .collect()
    }

    /// The one finding of `check` (about `subject`, if given).
    fn one(&self, check: &str, subject: Option<&str>) -> &Value {
        let all: Vec<&Value> = self
            .findings(check)
            .into_iter()
            .filter(|f| subject.is_none_or(|s| f["subject"] == s))
            .collect();
        assert_eq!(all.len(), 1, "{check} {subject:?}: {}", self.raw);
        all[0]
    }

    /// The distinct checks with an error.
    fn errors(&self) -> Vec<String> {
        let mut v: Vec<String> = self.doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "error")
            .map(|f| f["check"].as_str().unwrap().to_string())
            .collect();
        v.dedup();
        v
    }
}

fn check_node(c: &Cluster, config: &Path, node: &str, extra: &[&str]) -> Report {
    let launcher = c.dir.join("libexec/carme-launch");
    let config = config.to_str().unwrap();
    let mut argv = vec![
        launcher.to_str().unwrap(),
        "check-node",
        "--config",
        config,
        "--node",
        node,
        "--json",
    ];
    argv.extend_from_slice(extra);
    let out = c.root(&argv);
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", out.all()));
    assert_eq!(doc["format"], 1, "{}", out.all());
    assert_eq!(doc["node"], node);
    let (errors, warnings, oks) = (
        doc["summary"]["error"].as_u64().unwrap(),
        doc["summary"]["warning"].as_u64().unwrap(),
        doc["summary"]["ok"].as_u64().unwrap(),
    );
    assert_eq!(
        (errors + warnings + oks) as usize,
        doc["findings"].as_array().unwrap().len()
    );
    // Exit status: 1 exactly when some check found an error.
    out.expect_code(i32::from(errors > 0));
    Report {
        raw: out.all(),
        out,
        doc,
    }
}

fn status(f: &Value) -> &str {
    f["status"].as_str().unwrap()
}

fn message(f: &Value) -> &str {
    f["message"].as_str().unwrap()
}

fn series_text() -> String {
    let (major, minor) = slurm_series();
    format!("{major}.{minor:02}")
}

/// A root-owned directory (mode `mode`) in the cluster's dir, holding a
/// copy of its carme.toml changed by `edit`; removed on drop.
struct ConfigCopy {
    dir: PathBuf,
}

impl ConfigCopy {
    fn new(c: &Cluster, mode: u32, edit: impl Fn(&str) -> String) -> ConfigCopy {
        let dir = c.dir.join(unique_name("check-node"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let original = std::fs::read_to_string(c.carme_toml()).unwrap();
        let edited = edit(&original);
        assert_ne!(edited, original, "the edit changed nothing");
        let file = dir.join("carme.toml");
        std::fs::write(&file, edited).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        ConfigCopy { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("carme.toml")
    }
}

impl Drop for ConfigCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn n1_passes_all_but_the_device_constraint() {
    let _g = shared_config();
    let c = Cluster::get();
    let r = check_node(&c, &c.config_as_read(), "n1", &[]);
    // The harness has no cgroup plugin: the only error.
    assert_eq!(r.errors(), ["constrain-devices"], "{}", r.raw);
    r.out.failed();
    let cd = r.one("constrain-devices", None);
    // Slurm prints cgroup.conf's settings only where a cgroup plugin is
    // used (none here); were a release to print them anyway, the default
    // ConstrainDevices=no would be named.
    assert!(
        // TaskPlugin=task/none: 22.05 prints it, later releases `(null)`.
        message(cd).contains("no cgroup plugin constrains devices (TaskPlugin=")
            || message(cd).contains("ConstrainDevices=no"),
        "{}",
        r.raw
    );
    assert!(cd["fix"].as_str().unwrap().contains("ConstrainDevices=yes"));
    for check in [
        "config",
        "config-trust",
        "slurm-version",
        "exec-helper",
        "gate-feature",
        "prolog",
        "epilog",
        "prolog-flags",
    ] {
        assert_eq!(status(r.one(check, None)), "ok", "{check}: {}", r.raw);
    }
    assert!(message(r.one("gate-feature", None)).contains("node n1 has the gate feature `carme`"));
    assert!(message(r.one("prolog", None)).contains("runs carme-prolog"));
    assert!(message(r.one("epilog", None)).contains("runs carme-epilog"));
    assert!(message(r.one("config", None)).contains("is valid (2 images"));
    // Every image, runtime and base directory of the harness's config.
    for img in ["base", "tools"] {
        assert_eq!(status(r.one("image", Some(img))), "ok", "{}", r.raw);
    }
    let rt = r.findings("runtime");
    assert!(
        !rt.is_empty() && rt.iter().all(|f| status(f) == "ok"),
        "{}",
        r.raw
    );
    let bases = r.findings("base-dir");
    assert_eq!(
        bases.len(),
        7,
        "state, tmp, scratch, log, 3 BeeOND: {}",
        r.raw
    );
    assert!(bases.iter().all(|f| status(f) == "ok"), "{}", r.raw);
}

/// The plugin plugstack.conf loads is read from its file: built for the
/// series that runs here.
#[test]
fn plugin_series_equals_the_running_slurm() {
    let _g = shared_config();
    let c = Cluster::get();
    let r = check_node(&c, &c.config_as_read(), "n1", &[]);
    let series = series_text();
    let v = r.one("slurm-version", None);
    assert!(
        message(v).contains(&format!("(series {series}, ")),
        "{}",
        r.raw
    );
    let p = r.one("plugin", None);
    assert_eq!(status(p), "ok", "{}", r.raw);
    assert!(
        message(p).contains(&format!(
            "is built for Slurm {series}, the series running here"
        )),
        "{}",
        r.raw
    );
    // Through the cluster's plugstack.conf, or the package's snippet that
    // Slurm's plugstack.conf includes (an installed package).
    assert!(
        message(p).contains("plugstack.conf:")
            || message(p).contains("plugstack.conf.d/carme.conf:"),
        "found through plugstack: {}",
        r.raw
    );
    // Named with --plugin: a file that is no plugin is an error.
    let toml = c.carme_toml();
    let r = check_node(&c, &toml, "n1", &["--plugin", toml.to_str().unwrap()]);
    let p = r.one("plugin", None);
    assert_eq!(status(p), "error", "{}", r.raw);
    assert!(message(p).contains("cannot read its plugin_version: it is not an ELF file"));
}

#[test]
fn n3_lacks_the_gate_feature() {
    let _g = shared_config();
    let c = Cluster::get();
    let r = check_node(&c, &c.config_as_read(), "n3", &[]);
    r.out.failed();
    let g = r.one("gate-feature", None);
    assert_eq!(status(g), "error", "{}", r.raw);
    assert!(
        message(g).contains("node n3 lacks the gate feature `carme`"),
        "{}",
        r.raw
    );
    assert!(g["fix"].as_str().unwrap().contains("NodeName=n3"));
    assert_eq!(
        r.errors(),
        ["gate-feature", "constrain-devices"],
        "{}",
        r.raw
    );
    // A node slurmctld does not know.
    let r = check_node(&c, &c.config_as_read(), "nope", &[]);
    assert!(message(r.one("gate-feature", None)).contains("slurmctld does not know a node nope"));
}

/// carme-exec is needed only before 23.11: a copy of the config naming a
/// missing one fails there and nowhere else.
#[test]
fn carme_exec_only_where_the_series_needs_it() {
    let _g = shared_config();
    let c = Cluster::get();
    let needed = slurm_series() < (23, 11);
    let r = check_node(&c, &c.config_as_read(), "n1", &[]);
    let e = r.one("exec-helper", None);
    assert_eq!(status(e), "ok", "{}", r.raw);
    if needed {
        assert!(
            message(e).contains("needs it for every Carme task"),
            "{}",
            r.raw
        );
    } else {
        assert!(message(e).contains("not needed on Slurm"), "{}", r.raw);
    }
    let missing = c.dir.join("libexec/no-such-carme-exec");
    let copy = ConfigCopy::new(&c, 0o755, |t| {
        let line = t
            .lines()
            .find(|l| l.starts_with("exec_helper = "))
            .expect("the harness sets exec_helper")
            .to_string();
        t.replace(&line, &format!("exec_helper = \"{}\"", missing.display()))
    });
    let r = check_node(&c, &copy.path(), "n1", &[]);
    let e = r.one("exec-helper", None);
    if needed {
        assert_eq!(status(e), "error", "{}", r.raw);
        assert!(message(e).contains(&format!("{} does not exist", missing.display())));
    } else {
        assert_eq!(status(e), "ok", "{}", r.raw);
    }
}

#[test]
fn a_broken_config_reports_every_error() {
    let _g = shared_config();
    let c = Cluster::get();
    let copy = ConfigCopy::new(&c, 0o755, |t| {
        t.replacen("feature = \"carme\"", "feature = \"car me\"", 1)
            .replacen("shm_size = \"64M\"", "shm_size = \"lots\"", 1)
    });
    let r = check_node(&c, &copy.path(), "n1", &[]);
    let errors: Vec<&Value> = r
        .findings("config")
        .into_iter()
        .filter(|f| status(f) == "error")
        .collect();
    let keys: Vec<&str> = errors
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["gate.feature", "paths.shm_size"], "{}", r.raw);
    assert!(
        message(errors[0]).contains(":3: key `gate.feature`"),
        "{}",
        r.raw
    );
    // Slurm's side is still checked, with the feature the file could
    // not give: the default's, `carme`.
    assert_eq!(status(r.one("gate-feature", None)), "ok", "{}", r.raw);
    // The plugin reads the cluster's config, not the copy: said, not an
    // error.
    let plugin: Vec<(&str, &str)> = r
        .findings("plugin")
        .into_iter()
        .map(|f| (status(f), message(f)))
        .collect();
    assert_eq!(plugin.len(), 2, "{}", r.raw);
    assert_eq!(plugin[0].0, "ok");
    assert_eq!(plugin[1].0, "warning");
    assert!(
        plugin[1].1.contains(&format!(
            "reads the config {}",
            c.config_as_read().display()
        )),
        "{}",
        r.raw
    );
}

/// Base directories root must own alone: one made group-writable (and
/// one under a sticky, world-writable directory) are errors naming them.
#[test]
fn a_base_others_can_write_is_an_error() {
    let _g = shared_config();
    let c = Cluster::get();
    let open = c.dir.join(unique_name("open-base"));
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o775)).unwrap();
    // The harness's shared dir is sticky and world-writable (1777).
    let shared = c.dir.join("shared");
    let copy = ConfigCopy::new(&c, 0o755, |t| {
        let tmp = t
            .lines()
            .find(|l| l.starts_with("tmp_base = "))
            .unwrap()
            .to_string();
        let scratch = t
            .lines()
            .find(|l| l.starts_with("scratch_base = "))
            .unwrap()
            .to_string();
        t.replace(&tmp, &format!("tmp_base = \"{}/tmp/%n\"", open.display()))
            .replace(
                &scratch,
                &format!("scratch_base = \"{}/s/%n\"", shared.display()),
            )
    });
    let r = check_node(&c, &copy.path(), "n1", &[]);
    let _ = std::fs::remove_dir(&open);
    let tmp = r.one("base-dir", Some("paths.tmp_base"));
    assert_eq!(status(tmp), "error", "{}", r.raw);
    assert!(
        message(tmp).contains(&format!(
            "{} is writable by group or others (owner uid 0, mode 0775)",
            open.display()
        )),
        "{}",
        r.raw
    );
    let scratch = r.one("base-dir", Some("paths.scratch_base"));
    assert_eq!(status(scratch), "error", "{}", r.raw);
    assert!(
        message(scratch).contains(&format!(
            "{} is sticky and writable by others",
            shared.display()
        )),
        "{}",
        r.raw
    );
    // The others stay fine.
    assert_eq!(
        status(r.one("base-dir", Some("paths.state_dir"))),
        "ok",
        "{}",
        r.raw
    );
}

/// The text form: every problem with its fix, `carme: ` first.
#[test]
fn text_output_names_each_problem_and_its_fix() {
    let _g = shared_config();
    let c = Cluster::get();
    let launcher = c.dir.join("libexec/carme-launch");
    let toml = c.config_as_read();
    let out = c.root(&[
        launcher.to_str().unwrap(),
        "check-node",
        "--config",
        toml.to_str().unwrap(),
        "--node",
        "n3",
    ]);
    let lines = out.expect_code(1).stdout_lines();
    let err = lines
        .iter()
        .position(|l| l.starts_with("carme: error: [gate-feature] node n3 lacks"))
        .unwrap_or_else(|| panic!("{}", out.all()));
    assert!(
        lines
            .line(err + 1)
            .starts_with("  fix: add carme to Feature="),
        "{}",
        out.all()
    );
    lines.expect_some(|l| l.starts_with("ok: [plugin] "));
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            format!(
                "carme: node n3: 2 errors, 0 warnings, {} ok",
                lines.iter().filter(|l| l.starts_with("ok: ")).count()
            )
            .as_str()
        ),
        "{}",
        out.all()
    );
}
