//! Shared by the NVML stand-in's ABI tests and carme-node's probe tests
//! (`#[path]`-included by both): finding and installing the built stand-in,
//! and running tests that need their own process environment in a child.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The stand-in library cargo built for this test binary's target dir.
pub fn built_standin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("test binary dir");
    let candidates = [
        deps.to_path_buf(),
        deps.parent().expect("target dir").into(),
    ];
    for dir in &candidates {
        let so = dir.join("libnvidia_ml_standin.so");
        if so.is_file() {
            return so;
        }
    }
    panic!(
        "cargo did not build libnvidia_ml_standin.so (a dependency of this test's crate) \
         in {candidates:?}"
    );
}

/// A copy of the stand-in as `<dir>/libnvidia-ml.so.1` with files beside
/// it, as the harness installs it; removed when dropped.
pub struct Installed {
    pub dir: PathBuf,
    pub lib: PathBuf,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `files`: `(suffix, text)`, e.g. `(".json", …)`, `(".n2.json", …)`.
pub fn install(test: &str, files: &[(&str, &str)]) -> Installed {
    let dir = std::env::temp_dir().join(format!("carme-nvml-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("libnvidia-ml.so.1");
    std::fs::copy(built_standin(), &lib).unwrap();
    for (suffix, text) in files {
        std::fs::write(format!("{}{suffix}", lib.display()), text).unwrap();
    }
    Installed { dir, lib }
}

/// In the child: the library to use.
pub const CHILD_LIB: &str = "CARME_NVML_TEST_CHILD_LIB";

/// Run this test binary again for test `test` only, with `env`, and return
/// what the child printed after `CHILD-RESULT `.
pub fn child(test: &str, lib: &Path, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_LIB, lib)
        .env_remove("SLURMD_NODENAME")
        .env_remove("CARME_NVML_STANDIN_FAIL");
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("CHILD-RESULT ").map(|(_, r)| r))
        .collect();
    assert!(
        out.status.success() && results.len() == 1,
        "child {test} {env:?}: {out:?}"
    );
    results[0].to_string()
}
