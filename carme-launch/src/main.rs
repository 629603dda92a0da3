//! carme-launch: runs a command inside a Carme image by exec'ing the
//! configured container runtime (it never stays around as a parent, so exit
//! codes and signals reach the payload as if Slurm had started it).
//!
//! Two ways in:
//! - as a Slurm task of a Carme step (the SPANK plugin sets
//!   `CARME_LAUNCH_IMAGE`/`CARME_LAUNCH_CONFIG`, and on Slurm 22.05
//!   `CARME_LAUNCH_ARGV0`; the task's command follows in argv);
//! - by hand: `carme-launch run --image NAME -- CMD...`, and
//!   `carme-launch argv --image NAME -- CMD...` to print what would run;
//!   `carme-launch check-config` validates the whole config for admins.
//!
//! Exit codes of its own: 125 (config or image problem), 126 (runtime not
//! executable), 127 (runtime not found); otherwise the payload's.

mod task;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use carme_core::config::DEFAULT_CONFIG_PATH;

#[derive(Parser)]
#[command(
    name = "carme-launch",
    version,
    about = "Run a command inside a Carme image"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD inside IMAGE, as a Carme task would.
    Run(Launch),
    /// Print the runtime command line that `run` would exec.
    Argv(Launch),
    /// Validate the whole config, every user's and group's rule included
    /// (jobs only read the rules that can apply to them).
    CheckConfig {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

#[derive(Args)]
struct Launch {
    #[arg(long)]
    image: String,
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[arg(last = true, required = true)]
    cmd: Vec<OsString>,
}

fn main() -> ExitCode {
    // A task of a Carme step: argv is the user's command, not our CLI.
    if std::env::var_os(task::ENV_IMAGE).is_some() {
        return task::run_as_task();
    }
    match Cli::parse().command {
        Command::Run(l) => task::run(&l.config, &l.image, l.cmd, &[]),
        Command::Argv(l) => match task::plan(&l.config, &l.image, &l.cmd) {
            Ok(argv) => {
                println!("{}", carme_core::launch::render(&argv));
                ExitCode::SUCCESS
            }
            Err(e) => e.report(),
        },
        Command::CheckConfig { config } => match carme_core::Config::load(&config) {
            Ok(cfg) => {
                let l = &cfg.limits;
                println!(
                    "{}: OK ({} images; limit rules: {} users, {} groups, {} accounts)",
                    config.display(),
                    cfg.images.len(),
                    l.users.len(),
                    l.groups.len(),
                    l.accounts.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("carme: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
