//! carme-bench: time whole commands side by side.
//!
//! Each round runs every variant once, in an order that rotates from round
//! to round, so drift (caches, daemons warming up, other load) hits all
//! variants alike. Per variant an untimed setup command may run first
//! (e.g. switching plugstack.conf). Reports medians and the ratio of each
//! variant's median to the first (baseline) variant's, and exits non-zero
//! when a ratio exceeds its `--max-ratio` target.

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Interleaved A/B timing of shell commands")]
struct Args {
    /// Rounds (each runs every variant once).
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Warm-up rounds, not counted.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// A variant: NAME=COMMAND, or NAME=SETUP;;COMMAND (SETUP untimed).
    /// The first variant is the baseline.
    #[arg(long = "variant", required = true, num_args = 1)]
    variants: Vec<String>,
    /// NAME=R: fail when median(NAME)/median(baseline) > R.
    #[arg(long = "max-ratio")]
    max_ratio: Vec<String>,
    /// Title printed with the results.
    #[arg(long, default_value = "benchmark")]
    title: String,
}

struct Variant {
    name: String,
    setup: Option<String>,
    command: String,
    samples_ms: Vec<f64>,
}

fn sh(cmd: &str) -> Result<(), String> {
    let st = Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`{cmd}` failed: {st}"))
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut variants: Vec<Variant> = Vec::new();
    for v in &args.variants {
        let Some((name, rest)) = v.split_once('=') else {
            eprintln!("carme-bench: --variant wants NAME=COMMAND, got {v:?}");
            return ExitCode::from(2);
        };
        let (setup, command) = match rest.split_once(";;") {
            Some((s, c)) => (Some(s.to_string()), c.to_string()),
            None => (None, rest.to_string()),
        };
        variants.push(Variant {
            name: name.to_string(),
            setup,
            command,
            samples_ms: Vec::new(),
        });
    }
    let n = variants.len();
    for round in 0..args.warmup + args.rounds {
        for k in 0..n {
            let v = &mut variants[(round + k) % n];
            if let Some(s) = &v.setup
                && let Err(e) = sh(s)
            {
                eprintln!("carme-bench: setup of {}: {e}", v.name);
                return ExitCode::FAILURE;
            }
            let t = Instant::now();
            if let Err(e) = sh(&v.command) {
                eprintln!("carme-bench: {}: {e}", v.name);
                return ExitCode::FAILURE;
            }
            if round >= args.warmup {
                v.samples_ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let base = median(&variants[0].samples_ms);
    println!("== {} ({} rounds, interleaved)", args.title, args.rounds);
    let mut ok = true;
    for v in &variants {
        let m = median(&v.samples_ms);
        let ratio = m / base;
        let limit = args.max_ratio.iter().find_map(|r| {
            let (name, val) = r.split_once('=')?;
            (name == v.name).then(|| val.parse::<f64>().ok()).flatten()
        });
        let verdict = match limit {
            Some(l) if ratio > l => {
                ok = false;
                format!("  OVER target {l:.2}")
            }
            Some(l) => format!("  (target <= {l:.2})"),
            None => String::new(),
        };
        println!(
            "{:<28} median {:8.2} ms  (+{:6.2} ms)  ratio {:.3}{}",
            v.name,
            m,
            m - base,
            ratio,
            verdict
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
