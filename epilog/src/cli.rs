//! carme-epilog's command line: `[--config PATH]`, `--help`, `--version`;
//! Slurm runs it without arguments. The config path comes from argv only,
//! never from the job's environment: `SPANK_*` and other job variables are
//! set by the user's client and must not steer root.
//!
//! Self-contained (clap and carme_core only): packaging/man includes this
//! same file to generate carme-epilog(8) from it.

use std::path::PathBuf;

use clap::Parser;

use carme_core::config::{DEFAULT_CONFIG_PATH, absolute_config_arg};

#[derive(Parser, Debug)]
#[command(
    name = "carme-epilog",
    version,
    about = "Slurm Epilog for Carme jobs: safe cleanup, BeeOND stop, job records"
)]
pub struct Cli {
    /// The Carme config, an absolute path. Slurm runs the epilog without
    /// arguments: a config elsewhere needs a wrapper script that passes it.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONFIG_PATH,
          value_parser = absolute_config_arg)]
    pub config: PathBuf,
}
