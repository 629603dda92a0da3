//! carme-launch: runs a command inside a Carme image by exec'ing the
//! configured container runtime (it never stays around as a parent, so exit
//! codes and signals reach the payload as if Slurm had started it).
//!
//! Tasks of Carme steps do not pass through it: the SPANK plugin decides
//! their launch with the same code (`carme_node::taskplan`) and hands
//! them to the runtime itself (through carme-exec on Slurm < 23.11).
//!
//! Ways in:
//! - by hand: `carme-launch run --image NAME -- CMD...` runs what a task
//!   would, and `carme-launch argv --image NAME -- CMD...` prints it;
//! - `carme-launch explain --image NAME` (what a job in the image gets),
//!   `carme-launch images` (the images one may use), both with `--json`;
//! - `carme-launch check-config` validates the whole config for admins,
//!   and that only root can change it (else root-side code refuses it);
//! - `carme-launch check-node [--node NAME] [--json]`, for admins after
//!   installing or upgrading: every problem of this node at once (config,
//!   runtimes, images, carme-exec, base directories, the plugin's Slurm
//!   series, the gate feature, Prolog/Epilog/PrologFlags and
//!   ConstrainDevices in the running slurm.conf), each with its fix; it
//!   changes nothing (see `checknode`).
//!
//! Exit codes of its own: 125 (config, image, mount or driver problem),
//! 126 (runtime not executable), 127 (runtime not found); otherwise the
//! payload's. `explain`, `images` and `check-config` exit 1 when they
//! cannot do their job; `check-node` exits 1 when it found an error.
//! `CARME_LAUNCH_DEBUG=1` writes debug lines to
//! stderr (see `debug`).

mod checknode;
mod cli;
mod debug;
mod explain;
mod facts;
mod task;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(l) => task::run(&l.config, &l.image, l.cmd),
        Command::Argv(l) => match task::plan(&l.config, &l.image, &l.cmd) {
            Ok(plan) => {
                println!("{}", carme_core::launch::render(&plan.argv));
                ExitCode::SUCCESS
            }
            Err(e) => e.report(),
        },
        Command::Explain { image, view, cmd } => explain::explain(&explain::ExplainArgs {
            config: &view.config,
            image: &image,
            user: view.user.as_deref(),
            account: view.account.as_deref(),
            cmd: &cmd,
            json: view.json,
        }),
        Command::Images(v) => {
            explain::images(&v.config, v.user.as_deref(), v.account.as_deref(), v.json)
        }
        Command::CheckNode {
            config,
            node,
            plugin,
            json,
        } => checknode::check_node(&config, node.as_deref(), plugin.as_deref(), json),
        Command::CheckConfig { config } => match carme_node::configfile::read(&config)
            .and_then(|text| carme_core::Config::parse(&text, &config))
        {
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
