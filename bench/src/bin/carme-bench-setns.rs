//! What a task pays for entering its step's mount namespace (issue 13
//! item 9): slurmstepd builds the namespace once and stays in the host's;
//! each task `setns`es into it (`task_init_privileged`, as root). This
//! builds a step namespace the way slurmstepd does (`build_held`, over a
//! temp dir tree: the job's /tmp, a tmpfs shm) and times, in this
//! process, `setns` into it and back to the host's, interleaved with a
//! baseline that opens and closes the namespace file only. Needs root.
//! Reports medians per call; no target (for information, next to the
//! per-step figures of bench/run.sh).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use carme_node::namespace::{JobDir, Shm, StepNamespace, build_held, enter_held};
use carme_node::syscall::{LinuxSyscall, Syscall};

const ROUNDS: usize = 41;
const PER_ROUND: u32 = 2_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mkdir(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(p)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

fn main() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("carme-bench-setns: needs root (it builds a mount namespace)");
        return ExitCode::from(2);
    }
    let root = Path::new("/var/tmp").join(format!("carme-bench-setns-{}", std::process::id()));
    let prepare = || -> std::io::Result<()> {
        mkdir(&root, 0o755)?;
        for (d, mode) in [("tmpbase", 0o711), ("tmp", 0o1777), ("shm", 0o1777)] {
            mkdir(&root.join(d), mode)?;
        }
        Ok(())
    };
    if let Err(e) = prepare() {
        eprintln!("carme-bench-setns: {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let ns = StepNamespace {
        job_id: 1,
        uid: 65534,
        gid: 65534,
        tmp: JobDir {
            base: root.join("tmpbase"),
            target: root.join("tmp"),
        },
        scratch: None,
        shm: Shm {
            target: root.join("shm"),
            bytes: 1 << 20,
        },
        devices: None,
    };
    let sys = LinuxSyscall;
    let result = (|| -> Result<(f64, f64), String> {
        let host = sys.open_mount_ns().map_err(|e| e.to_string())?;
        let t = Instant::now();
        let step = build_held(&sys, &ns).map_err(|e| e.to_string())?;
        println!("build_held (once per step): {:?}", t.elapsed());
        let (mut pair, mut open) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            // A task: enter the step's namespace (timed with the way back,
            // which a task never takes, so each sample is two setns).
            let t = Instant::now();
            for _ in 0..PER_ROUND {
                enter_held(&sys, &step).map_err(|e| e.to_string())?;
                sys.enter_mount_ns(&host).map_err(|e| e.to_string())?;
            }
            pair.push(t.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
            // Baseline: what opening the namespace file alone costs.
            let t = Instant::now();
            for _ in 0..PER_ROUND {
                drop(sys.open_mount_ns().map_err(|e| e.to_string())?);
            }
            open.push(t.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
        }
        Ok((median(pair) / 2.0, median(open)))
    })();
    let _ = std::fs::remove_dir_all(&root);
    match result {
        Ok((setns, open)) => {
            println!(
                "setns into a step's mount namespace (per task): median {:.2} us \
                 (opening /proc/thread-self/ns/mnt, for scale: {:.2} us); \
                 {ROUNDS} rounds of {PER_ROUND}",
                setns / 1000.0,
                open / 1000.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("carme-bench-setns: {e}");
            ExitCode::FAILURE
        }
    }
}
