//! Test fixture: a scratch directory with `apptainer` and `singularity`
//! links to the built stand-in, an image file, and a log to read back.

#![allow(dead_code)] // each test file uses a different part

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed on drop.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "carme-standin-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create sandbox");
        let standin = env!("CARGO_BIN_EXE_carme-runtime-standin");
        for link in ["apptainer", "singularity", "docker"] {
            symlink(standin, dir.join(link)).expect("link stand-in");
        }
        fs::write(dir.join("image.sif"), b"not really a SIF").expect("image");
        for sub in ["src", "data", "work"] {
            fs::create_dir(dir.join(sub)).expect("subdir");
        }
        Sandbox { dir }
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_string_lossy().into_owned()
    }

    pub fn image(&self) -> String {
        self.path("image.sif")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    /// `tool args...` with a known environment: only `env`, plus the log.
    pub fn run(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(self.dir.join(tool));
        cmd.args(args)
            .env_clear()
            .env("CARME_STANDIN_LOG", self.log())
            .current_dir(&self.dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run stand-in")
    }

    /// The JSON records written so far.
    pub fn records(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.log()).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect()
    }

    /// The only record written so far.
    pub fn record(&self) -> Value {
        let mut records = self.records();
        assert_eq!(records.len(), 1, "expected exactly one record");
        records.remove(0)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert `out` is a refusal with `code` whose FATAL line names the
/// stand-in and contains `text`.
pub fn assert_refused(out: &Output, code: i32, text: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let fatal = err
        .lines()
        .find(|l| l.starts_with("FATAL:   "))
        .unwrap_or_else(|| panic!("no FATAL line in: {err}"));
    assert!(fatal.contains("stand-in"), "{fatal}");
    assert!(fatal.contains(text), "expected {text:?} in {fatal:?}");
    assert!(out.stdout.is_empty(), "the command must not have run");
}

/// Whether the host has an NVIDIA driver (the stand-in's own check).
pub fn host_has_nvidia_driver() -> bool {
    Path::new("/proc/driver/nvidia/version").exists()
}
