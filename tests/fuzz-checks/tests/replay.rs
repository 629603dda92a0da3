//! Every regression input and corpus file under `fuzz/` through the check
//! its target runs, on the stable toolchain: what fuzzing found once stays
//! fixed, and the seeds keep every target exercised.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carme_fuzz_checks::TARGETS;

/// Per input, in a debug build on a busy machine: far above what any
/// input takes now, far below the seconds a hostlist bomb took.
const SLOW: Duration = Duration::from_secs(5);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_regression_and_corpus_input_passes() {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for (name, check) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} has no seeds");
        counts.push(format!("{name}: {} + {}", regressions.len(), corpus.len()));
        for file in regressions.iter().chain(&corpus) {
            let data = std::fs::read(file).unwrap();
            let t = Instant::now();
            let r = std::panic::catch_unwind(|| check(&data));
            let took = t.elapsed();
            if r.is_err() {
                failures.push(format!("{}: the check panicked", file.display()));
            } else if took > SLOW {
                failures.push(format!("{}: took {took:?}", file.display()));
            }
        }
    }
    eprintln!("replayed (regressions + corpus): {}", counts.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_finding_of_issue_14_has_its_regression_input() {
    for (target, finding) in [
        ("client_args", "finding-1"),
        ("hostlist", "finding-2"),
        ("launch_plan", "finding-2"),
        ("config_scoped", "finding-3"),
        ("slurmtime_slurm", "finding-4"),
        ("units", "finding-5"),
        ("record", "finding-6"),
    ] {
        let found = files(&fuzz_dir().join("regressions").join(target))
            .iter()
            .any(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(finding)
            });
        assert!(found, "fuzz/regressions/{target} lacks {finding}-*");
    }
}
