//! carme-epilog: Slurm `Epilog=` program for Carme jobs.
//!
//! For now it only gates: a job whose constraint does not name the Carme
//! feature is left alone at once (exit 0). Cleanup of per-job directories and BeeOND stop
//! come with their own issue.

use std::path::PathBuf;
use std::process::ExitCode;

use carme_core::config::{DEFAULT_CONFIG_PATH, Loaded};
use carme_core::gate::names_feature;

fn main() -> ExitCode {
    // The config path comes from our own argv only: SPANK_* and other job
    // variables are set by the user's client and must not steer root.
    let mut args = std::env::args().skip(1);
    let mut config = PathBuf::from(DEFAULT_CONFIG_PATH);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => match args.next() {
                Some(p) => config = PathBuf::from(p),
                None => {
                    eprintln!("carme-epilog: --config needs a path");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!(
                    "carme-epilog: unknown argument `{a}`; usage: carme-epilog [--config PATH]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let constraints = std::env::var("SLURM_JOB_CONSTRAINTS").unwrap_or_default();
    let loaded = Loaded::load(&config);
    if !names_feature(&constraints, loaded.feature()) {
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
}
