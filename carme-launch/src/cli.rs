//! carme-launch's command line. Self-contained (clap and carme_core only):
//! packaging/man includes this same file to generate carme-launch(1) and a
//! page per subcommand from it, so every `///` here is also man page text.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use carme_core::config::DEFAULT_CONFIG_PATH;

#[derive(Parser)]
#[command(
    name = "carme-launch",
    version,
    about = "Run a command inside a Carme image"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run CMD inside IMAGE, as a Carme task would.
    Run(Launch),
    /// Print the runtime command line that `run` would exec.
    Argv(Launch),
    /// Show what a job in IMAGE gets: runtime command line, mounts,
    /// environment, GPUs, driver check and the limits that apply.
    Explain {
        /// The image, by its name in the config (`carme-launch images` lists them).
        #[arg(long)]
        image: String,
        #[command(flatten)]
        view: View,
        /// The command to show in the command line (default: <command>).
        #[arg(last = true)]
        cmd: Vec<OsString>,
    },
    /// List the images you may use, with their descriptions.
    Images(View),
    /// Validate the whole config, every user's and group's rule included
    /// (jobs only read the rules that can apply to them), and that only
    /// root can change it (owner, mode, the directories on its way).
    CheckConfig {
        /// The config file to check.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Check this node after installing or upgrading: the config (every
    /// error), runtimes and their versions, images, carme-exec, base
    /// directories, the plugin's Slurm series, the gate feature and
    /// slurm.conf (Prolog, Epilog, PrologFlags, ConstrainDevices). Reports
    /// every problem with its fix and changes nothing; exits 1 on any
    /// error. Run it as root.
    CheckNode {
        /// The config file to check, an absolute path (its trust is
        /// judged along the whole path, as root-side code does).
        #[arg(long, default_value = DEFAULT_CONFIG_PATH,
              value_parser = carme_core::config::absolute_config_arg)]
        config: PathBuf,
        /// The node's Slurm name (default: this host's short name, as
        /// slurmd uses).
        #[arg(long)]
        node: Option<String>,
        /// The plugin file to check (default: the one Slurm's plugstack
        /// config loads).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// One JSON document ("format": 1) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Whose view, from which config, in which form (explain, images).
#[derive(Args)]
pub struct View {
    /// Whose limits and images (default: yours).
    #[arg(long)]
    pub user: Option<String>,
    /// The job's Slurm account, for account rules.
    #[arg(long)]
    pub account: Option<String>,
    /// The config file to read.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Machine-readable output (format in docs/images.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct Launch {
    /// The image, by its name in the config (`carme-launch images` lists them).
    #[arg(long)]
    pub image: String,
    /// The config file to read.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub cmd: Vec<OsString>,
}
