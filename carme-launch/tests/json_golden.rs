//! `carme-launch images --json` and `explain --json` (format version 1,
//! docs/images.md) against golden files, without a cluster: a change of
//! either document shows here as a diff, and must come with a new format
//! version or a compatible addition (update the files with
//! CARME_UPDATE_GOLDEN=1 cargo test -p carme-launch --test json_golden,
//! and say so in docs/images.md).
//!
//! The documents are compared as JSON values, after the test's own paths
//! and this host's name are replaced by `@DIR@` and `@NODE@`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CONFIG: &str = r#"[gate]
default_image = "base"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/lib/carme/tmp/%n"
[gpu]
nvml = "/nonexistent/libnvidia-ml.so.1"
[[mounts]]
source = "/home"
target = "/home"
[images.base]
path = "@DIR@/images/base"
description = "Debian base"
env = { OMP_NUM_THREADS = "8" }
[images.pytorch]
path = "@DIR@/images/pytorch.sif"
runtime = "apptainer"
gpu = true
cuda = "12.4"
variants = ["pytorch-cu11"]
[images.pytorch-cu11]
path = "@DIR@/images/pytorch-cu11.sif"
runtime = "apptainer"
gpu = true
cuda = "11.8"
[limits.default]
images = ["base"]
max_gpus_per_job = 2
max_time = "1-00:00:00"
"#;

fn setup(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("carme-golden-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("images/base")).unwrap();
    std::fs::write(
        d.join("carme.toml"),
        CONFIG.replace("@DIR@", d.to_str().unwrap()),
    )
    .unwrap();
    for (p, m) in [(d.clone(), 0o755), (d.join("carme.toml"), 0o644)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    d
}

/// `carme-launch ARGS --config ... --user nobody --json [-- CMD]`.
fn run(dir: &Path, args: &[&str], cmd: &[&str]) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_carme-launch"));
    c.args(args)
        .arg("--config")
        .arg(dir.join("carme.toml"))
        .args(["--user", "nobody", "--json"]);
    if !cmd.is_empty() {
        c.arg("--").args(cmd);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let node = node.split('.').next().unwrap().to_string();
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(dir.to_str().unwrap(), "@DIR@")
        .replace(&format!("\"{node}\""), "\"@NODE@\"");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

fn golden(name: &str, got: &Value) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CARME_UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, serde_json::to_string_pretty(got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        got["version"], 1,
        "{name}: the format version changed; docs/images.md must say what changed"
    );
    assert!(
        *got == want,
        "{name} differs from {}:\n{}",
        file.display(),
        serde_json::to_string_pretty(got).unwrap()
    );
}

#[test]
fn images_json_is_format_1() {
    let d = setup("images");
    golden("images.json", &run(&d, &["images"], &[]));
    std::fs::remove_dir_all(&d).unwrap();
}

/// An image the user may run, and one the limits refuse (another
/// runtime, GPUs, a CUDA floor, a variant).
#[test]
fn explain_json_is_format_1() {
    let d = setup("explain");
    let base = run(&d, &["explain", "--image", "base"], &["python", "train.py"]);
    golden("explain-base.json", &base);
    let refused = run(&d, &["explain", "--image", "pytorch"], &[]);
    golden("explain-pytorch.json", &refused);
    std::fs::remove_dir_all(&d).unwrap();
}
