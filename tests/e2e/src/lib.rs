//! Helpers for the end-to-end tests: they run real Slurm commands as the
//! harness's non-root test users against the cluster that
//! `tests/cluster/cluster.sh start DIR` brought up (`make test` does).
//!
//! There is no fallback: without a cluster every test fails, loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

mod batch;
mod out;

pub use batch::{BatchJob, Sbatch};
pub use out::{Lines, Out};

pub const STUDENT: &str = "carmetest1";
pub const STAFF: &str = "carmetest2";
pub const OTHER: &str = "carmetest3";

/// How long any one client command may take before the test fails.
const COMMAND_TIMEOUT_S: u32 = 120;

/// Tests that change the cluster's carme.toml take this for writing; all
/// others for reading, so they never see a config they did not expect.
static CONFIG: RwLock<()> = RwLock::new(());

pub fn shared_config() -> RwLockReadGuard<'static, ()> {
    CONFIG.read().unwrap_or_else(|p| p.into_inner())
}

pub fn exclusive_config() -> RwLockWriteGuard<'static, ()> {
    CONFIG.write().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub dir: PathBuf,
    pub slurm_conf: PathBuf,
}

impl Cluster {
    /// The cluster named by `CARME_CLUSTER_DIR`; panics (fails the test)
    /// when there is none.
    pub fn get() -> Cluster {
        let dir = std::env::var_os("CARME_CLUSTER_DIR").map(PathBuf::from).expect(
            "CARME_CLUSTER_DIR is not set: the e2e tests need the harness cluster; run `make test`",
        );
        let slurm_conf = dir.join("etc/slurm.conf");
        assert!(
            slurm_conf.exists(),
            "{} missing: is the cluster running?",
            slurm_conf.display()
        );
        Cluster { dir, slurm_conf }
    }

    pub fn carme_toml(&self) -> PathBuf {
        self.dir.join("etc/carme.toml")
    }

    /// The config path the plugin is given, which its messages name: the
    /// cluster's own, or, where the cluster runs an installed package
    /// (tests/cluster/cluster.sh, CARME_INSTALLED=1: DIR/lib holds a link
    /// to the installed plugin), the package's /etc/carme/carme.toml,
    /// linked to the cluster's.
    pub fn config_as_read(&self) -> PathBuf {
        if std::fs::read_link(self.dir.join("lib/libcarme_spank.so")).is_ok() {
            PathBuf::from("/etc/carme/carme.toml")
        } else {
            self.carme_toml()
        }
    }

    /// Run `argv` as `user` in their home directory, with the cluster's
    /// SLURM_CONF and the extra `env`, optionally feeding `stdin`.
    pub fn run_as(&self, user: &str, argv: &[&str]) -> Out {
        self.run_full(user, argv, &[], None)
    }

    pub fn run_full(
        &self,
        user: &str,
        argv: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Out {
        let home = home_of(user);
        let mut cmd = Command::new("timeout");
        // Only what a login shell would give the user: the test process's
        // own variables must not leak into jobs.
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("LANG", "C.UTF-8")
            .args(["-k", "10", &COMMAND_TIMEOUT_S.to_string()])
            .args(["runuser", "-u", user, "--", "env"])
            .arg(format!("SLURM_CONF={}", self.slurm_conf.display()));
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(argv).current_dir(&home);
        let mut shown = format!("(as {user}) ");
        for (k, v) in env {
            shown.push_str(&format!("{}={} ", k, quoted(v)));
        }
        shown.push_str(&shown_argv(argv));
        if stdin.is_some() {
            shown.push_str(" <stdin");
        }
        run(cmd, shown, stdin)
    }

    /// A root command (scontrol, squeue) against the cluster.
    pub fn root(&self, argv: &[&str]) -> Out {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "10", &COMMAND_TIMEOUT_S.to_string()])
            .args(argv)
            .env("SLURM_CONF", &self.slurm_conf);
        run(cmd, format!("(as root) {}", shown_argv(argv)), None)
    }

    /// Every job slurmctld still remembers (any state) with this name.
    /// The harness keeps finished jobs for MinJobAge=300 s, so an empty
    /// answer means the job was never submitted.
    pub fn jobs_named(&self, name: &str) -> Vec<String> {
        let out = self.root(&["squeue", "-h", "-t", "all", "-n", name, "-o", "%i %T"]);
        out.ok();
        out.stdout.lines().map(str::to_string).collect()
    }

    /// Wait until `pred` holds, polling; false on timeout.
    pub fn wait_for(&self, timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if pred() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        pred()
    }
}

/// A unique job name, so tests can find (or not find) their own jobs.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn home_of(user: &str) -> PathBuf {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&user)).then(|| PathBuf::from(f[5]))
        })
        .unwrap_or_else(|| panic!("test user {user} missing: the harness creates it"))
}

/// `argv` as a shell line, for messages.
fn shown_argv(argv: &[&str]) -> String {
    argv.iter().map(|a| quoted(a)).collect::<Vec<_>>().join(" ")
}

/// `word`, quoted (Rust's escapes) where a shell would split or expand it.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=.,/:@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("{word:?}")
    }
}

/// Run `cmd` here, as the test process (root) and without stdin: for the
/// programs the tests run directly rather than through the cluster.
pub fn run_here(cmd: &mut Command) -> Out {
    let shown = format!("(here) {cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    Out {
        command: shown,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(mut cmd: Command, command: String, stdin: Option<&str>) -> Out {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn command");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for command");
    Out {
        command,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Replace the cluster's carme.toml for the guard's lifetime.
pub struct ConfigSwap {
    path: PathBuf,
    original: String,
}

impl ConfigSwap {
    pub fn new(path: &Path, text: &str) -> ConfigSwap {
        let original = std::fs::read_to_string(path).expect("read carme.toml");
        write_atomically(path, text);
        ConfigSwap {
            path: path.to_path_buf(),
            original,
        }
    }

    pub fn original(&self) -> &str {
        &self.original
    }
}

impl Drop for ConfigSwap {
    fn drop(&mut self) {
        write_atomically(&self.path, &self.original);
    }
}

fn write_atomically(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename config");
}

/// The GPU device names (`nvidiaN`) a listing shows.
pub fn gpus_in(listing: &str) -> std::collections::BTreeSet<String> {
    listing
        .split_whitespace()
        .filter(|n| {
            n.strip_prefix("nvidia")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

/// The cluster's carme.toml with the default `job_facts` (the harness sets
/// "prolog") for the guard's lifetime; hold [`exclusive_config`].
pub fn default_facts(c: &Cluster) -> ConfigSwap {
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    assert!(
        original.contains("job_facts = \"prolog\"\n"),
        "harness config changed"
    );
    ConfigSwap::new(
        &c.carme_toml(),
        &original.replace("job_facts = \"prolog\"\n", ""),
    )
}

/// The cluster's carme.toml with `job_facts = "slurmctld"` for the guard's
/// lifetime (the harness uses "prolog"); hold [`exclusive_config`].
pub fn slurmctld_facts(c: &Cluster) -> ConfigSwap {
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    assert!(
        original.contains("job_facts = \"prolog\""),
        "harness config changed"
    );
    ConfigSwap::new(
        &c.carme_toml(),
        &original.replace("job_facts = \"prolog\"", "job_facts = \"slurmctld\""),
    )
}

/// The Slurm release (major, minor) the cluster's clients are, from
/// `srun --version` ("slurm 24.11.5"): tests whose right answer differs by
/// release assert that release's own expectation.
pub fn slurm_series() -> (u32, u32) {
    static SERIES: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *SERIES.get_or_init(|| {
        let c = Cluster::get();
        let out = c.root(&["srun", "--version"]);
        out.ok();
        let v = out
            .stdout
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("srun --version: {}", out.all()));
        let mut parts = v.split('.').map(|p| p.parse::<u32>());
        match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
            _ => panic!("srun --version: unexpected {v:?}"),
        }
    })
}

/// Slurm >= 23.11: the plugin prepends the runtime to each task's argv
/// (spank_prepend_task_argv) instead of the carme-exec hop.
pub fn has_prepend_argv() -> bool {
    slurm_series() >= (23, 11)
}

/// Whether `stderr` (a client's) holds a line slurmstepd sent with
/// `needle` in it, by the prefix each release gives those lines:
/// "slurmstepd: error: " (or "slurmstepd-NODE: error: ") before 26.05, "[2026-12-02T13:00:10.233] error: "
/// (a timestamp, no program name) from 26.05 on. The client's own lines
/// ("srun: error: ") never count.
pub fn slurmstepd_said(stderr: &str, needle: &str) -> bool {
    let timestamped = slurm_series() >= (26, 5);
    stderr.lines().filter(|l| l.contains(needle)).any(|l| {
        if timestamped {
            l.strip_prefix('[')
                .and_then(|r| r.split_once("] error: "))
                .is_some_and(|(stamp, _)| {
                    stamp.len() >= 19 && stamp.as_bytes()[4] == b'-' && stamp.as_bytes()[10] == b'T'
                })
        } else {
            l.starts_with("slurmstepd") && l.contains(": error: ")
        }
    })
}
