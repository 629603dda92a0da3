//! Prolog/epilog benchmark (issue 5), as root, without a cluster: runs the
//! real carme-prolog and carme-epilog binaries the way slurmd does (a
//! clean environment with the job's SLURM_* variables, the config given
//! with --config) against a config in a temp dir under /var/lib (root's:
//! BeeOND's status dir may have no sticky or user-writable parent).
//!
//! 1. Process wall time, median and 90th percentile over --rounds runs:
//!    a non-Carme job (no constraint; another constraint), and a Carme job
//!    without BeeOND (prolog: record, tmp and scratch dirs; epilog: their
//!    removal). `/bin/true` gives the floor (fork + exec + wait).
//!    Targets: Carme prolog and epilog <= 5 ms each (median).
//! 2. The epilog removing a scratch dir of --files small files (in
//!    directories of 1,000) against `rm -rf` of an identical tree, both
//!    freshly made and synced, interleaved over --tree-rounds rounds.
//!    Target: epilog <= rm -rf (median ratio <= 1.00).
//!
//! Exits non-zero when a target is missed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Parser;

#[derive(Parser)]
#[command(about = "carme-prolog / carme-epilog timings (issue 5)")]
struct Args {
    /// Runs per process measurement.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Files in the scratch tree the epilog removes.
    #[arg(long, default_value_t = 100_000)]
    files: usize,
    /// Rounds of the removal comparison.
    #[arg(long, default_value_t = 3)]
    tree_rounds: usize,
    /// Directory holding carme-prolog and carme-epilog (default: beside
    /// this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

struct Stats {
    median: f64,
    p90: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
    }
}

struct Bench {
    root: PathBuf,
    prolog: PathBuf,
    epilog: PathBuf,
    config: PathBuf,
}

impl Bench {
    fn env(&self, cmd: &mut Command, job: u32, constraint: Option<&str>) {
        cmd.env_clear()
            .env("SLURM_JOB_ID", job.to_string())
            .env("SLURM_JOBID", job.to_string())
            .env("SLURM_JOB_UID", "65534")
            .env("SLURM_JOB_GID", "65534")
            .env("SLURM_JOB_USER", "nobody")
            .env("SLURMD_NODENAME", "bench1")
            .env("SLURM_NODELIST", "bench1")
            .env("SLURM_JOB_NUM_NODES", "1")
            .env("SLURM_JOB_PARTITION", "debug")
            .env("SLURM_CLUSTER_NAME", "bench")
            .env("SLURM_JOB_RESTART_COUNT", "0")
            .env("SLURM_SCRIPT_CONTEXT", "prolog_slurmd");
        if let Some(c) = constraint {
            cmd.env("SLURM_JOB_CONSTRAINTS", c);
        }
    }

    /// Wall time of one run of `program` for `job`, in ms; panics unless it
    /// exits 0.
    fn time(&self, program: &Path, job: u32, constraint: Option<&str>) -> f64 {
        let mut cmd = Command::new(program);
        if program != Path::new("/bin/true") {
            cmd.arg("--config").arg(&self.config);
        }
        self.env(&mut cmd, job, constraint);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .current_dir(&self.root);
        let t = Instant::now();
        let st = cmd.status().expect("spawn");
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(st.success(), "{} for job {job}: {st}", program.display());
        ms
    }
}

fn config_text(root: &Path) -> String {
    let r = root.display();
    format!(
        r#"[gate]
feature = "carme"
default_image = "base"

[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"

[paths]
state_dir = "{r}/state/%n"
tmp_base = "{r}/tmp/%n"
scratch_base = "{r}/scratch/%n"
scratch_target = "/scratch"
log_dir = "{r}/log"

[beeond]
command = "/usr/bin/beeond"
data_dir = "{r}/beeond-data/%n"
mount_base = "{r}/beeond"
status_dir = "{r}/beeond-status"

[[mounts]]
source = "/home"
target = "/home"

[images.base]
path = "/srv/carme/images/base"
description = "Debian base"

[images.pytorch]
path = "/srv/carme/images/pytorch"
description = "PyTorch"
gpu = true

[limits.default]
images = ["base", "pytorch*"]
max_gpus_per_job = 4
max_nodes_per_job = 2

[limits.groups.students]
images = ["base"]
max_gpus_per_job = 1

[limits.users.alice]
max_gpus_per_job = 8
"#
    )
}

/// Directories of up to 1,000 files of 16 bytes each, `files` in all
/// (made by 4 threads: creating 100,000 files is slow on some disks).
fn make_tree(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let dirs = files.div_ceil(1000);
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for d in (t..dirs).step_by(4) {
                    let sub = dir.join(format!("d{d:04}"));
                    std::fs::create_dir(&sub).unwrap();
                    for f in 0..(files - d * 1000).min(1000) {
                        std::fs::write(sub.join(format!("f{f:04}")), b"0123456789abcdef").unwrap();
                    }
                }
            });
        }
    });
}

fn sync() {
    let _ = Command::new("sync").status();
}

fn main() -> ExitCode {
    let args = Args::parse();
    assert!(
        nix_is_root(),
        "carme-bench-prolog runs the prolog and epilog as root: run it as root"
    );
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf()
    });
    let root = PathBuf::from(format!(
        "/var/lib/carme-bench-prolog-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let b = Bench {
        prolog: bin_dir.join("carme-prolog"),
        epilog: bin_dir.join("carme-epilog"),
        config: root.join("carme.toml"),
        root: root.clone(),
    };
    std::fs::write(&b.config, config_text(&root)).unwrap();
    let mut ok = true;

    // (1) Process wall times, interleaved per round.
    let mut floor = Vec::new();
    let (mut plain_p, mut plain_e, mut other_p) = (Vec::new(), Vec::new(), Vec::new());
    let (mut carme_p, mut carme_e) = (Vec::new(), Vec::new());
    let warmup = 5;
    for i in 0..warmup + args.rounds {
        let job = 1000 + i as u32;
        let t = Path::new("/bin/true");
        let samples = [
            b.time(t, job, None),
            b.time(&b.prolog, job, None),
            b.time(&b.prolog, job, Some("gpu&fast")),
            b.time(&b.epilog, job, None),
            b.time(&b.prolog, job + 100_000, Some("carme")),
            b.time(&b.epilog, job + 100_000, Some("carme")),
        ];
        assert!(
            !root
                .join(format!("scratch/bench1/{}", job + 100_000))
                .exists(),
            "the epilog left the scratch dir"
        );
        if i >= warmup {
            floor.push(samples[0]);
            plain_p.push(samples[1]);
            other_p.push(samples[2]);
            plain_e.push(samples[3]);
            carme_p.push(samples[4]);
            carme_e.push(samples[5]);
        }
    }
    println!(
        "== carme-prolog / carme-epilog process wall time ({} runs each, interleaved)",
        args.rounds
    );
    let target = 5.0;
    for (name, v, limit) in [
        ("/bin/true (floor)", floor, None),
        ("prolog, no constraint", plain_p, None),
        ("prolog, other constraint", other_p, None),
        ("epilog, non-Carme job", plain_e, None),
        ("prolog, Carme job", carme_p, Some(target)),
        ("epilog, Carme job", carme_e, Some(target)),
    ] {
        let s = stats(v);
        let verdict = match limit {
            Some(l) if s.median > l => {
                ok = false;
                format!("  OVER target {l:.1} ms")
            }
            Some(l) => format!("  (target <= {l:.1} ms)"),
            None => String::new(),
        };
        println!(
            "{name:<28} median {:6.2} ms  p90 {:6.2} ms{verdict}",
            s.median, s.p90
        );
    }

    // (2) Removal of a big scratch dir: epilog vs rm -rf, interleaved.
    let (mut by_epilog, mut by_rm) = (Vec::new(), Vec::new());
    for round in 0..args.tree_rounds {
        let job = 500_000 + round as u32;
        b.time(&b.prolog, job, Some("carme"));
        let scratch = root.join(format!("scratch/bench1/{job}"));
        make_tree(&scratch.join("data"), args.files);
        let other = root.join(format!("rm-{round}"));
        make_tree(&other.join("data"), args.files);
        sync();
        let rm = || {
            let t = Instant::now();
            let st = Command::new("rm").arg("-rf").arg(&other).status().unwrap();
            assert!(st.success());
            t.elapsed().as_secs_f64() * 1e3
        };
        if round % 2 == 0 {
            by_rm.push(rm());
            by_epilog.push(b.time(&b.epilog, job, Some("carme")));
        } else {
            by_epilog.push(b.time(&b.epilog, job, Some("carme")));
            by_rm.push(rm());
        }
        assert!(!scratch.exists(), "the epilog left {}", scratch.display());
        sync();
    }
    let (e, r) = (stats(by_epilog), stats(by_rm));
    let ratio = e.median / r.median;
    println!(
        "== removing a scratch dir of {} files: epilog vs rm -rf ({} rounds, interleaved)",
        args.files, args.tree_rounds
    );
    println!("rm -rf                       median {:8.1} ms", r.median);
    println!(
        "carme-epilog                 median {:8.1} ms  ratio {ratio:.3}{}",
        e.median,
        if ratio > 1.0 {
            ok = false;
            "  OVER target 1.00"
        } else {
            "  (target <= 1.00)"
        }
    );
    let _ = std::fs::remove_dir_all(&root);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn nix_is_root() -> bool {
    // No libc dependency here: /proc says who we are.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
