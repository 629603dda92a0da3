//! Fields and precedence: which option and input variables set each value a
//! request reports, and how command line, environment and batch script combine.

use super::Knowledge;
use super::getopt::Scan;

/// A value a request can carry: its canonical option name, every long name
/// that sets it (aliases included) and its short letter.
pub(super) struct Field {
    pub(super) canon: &'static str,
    pub(super) names: &'static [&'static str],
    pub(super) short: Option<char>,
}

pub(super) const CONSTRAINT: Field = Field {
    canon: "constraint",
    names: &["constraint"],
    short: Some('C'),
};
pub(super) const NODES: Field = Field {
    canon: "nodes",
    names: &["nodes"],
    short: Some('N'),
};
pub(super) const ACCOUNT: Field = Field {
    canon: "account",
    names: &["account"],
    short: Some('A'),
};
pub(super) const TIME: Field = Field {
    canon: "time",
    names: &["time"],
    short: Some('t'),
};
pub(super) const JOBID: Field = Field {
    canon: "jobid",
    names: &["jobid"],
    short: None,
};
pub(super) const WRAP: Field = Field {
    canon: "wrap",
    names: &["wrap"],
    short: None,
};
pub(super) const MULTI_PROG: Field = Field {
    canon: "multi-prog",
    names: &["multi-prog"],
    short: None,
};
pub(super) const IGNORE_PBS: Field = Field {
    canon: "ignore-pbs",
    names: &["ignore-pbs"],
    short: None,
};
pub(super) const HET_GROUP: Field = Field {
    canon: "het-group",
    names: &["het-group", "pack-group"],
    short: None,
};

/// Input environment variable of one option, per client.
#[derive(Clone, Copy)]
pub(super) struct EnvVars {
    pub(super) srun: &'static str,
    pub(super) sbatch: &'static str,
    pub(super) salloc: &'static str,
}

pub(super) const CONSTRAINT_VARS: EnvVars = EnvVars {
    srun: "SLURM_CONSTRAINT",
    sbatch: "SBATCH_CONSTRAINT",
    salloc: "SALLOC_CONSTRAINT",
};

pub(super) const ACCOUNT_VARS: EnvVars = EnvVars {
    srun: "SLURM_ACCOUNT",
    sbatch: "SBATCH_ACCOUNT",
    salloc: "SALLOC_ACCOUNT",
};

pub(super) const TIME_VARS: EnvVars = EnvVars {
    srun: "SLURM_TIMELIMIT",
    sbatch: "SBATCH_TIMELIMIT",
    salloc: "SALLOC_TIMELIMIT",
};

/// GPU-ish options in report order, with their input variables (read only
/// by releases whose clients have the option: 22.05 has no --tres-per-task).
pub(super) const GPU_FIELDS: &[(&Field, Option<EnvVars>)] = &[
    (
        &Field {
            canon: "gpus",
            names: &["gpus"],
            short: Some('G'),
        },
        Some(EnvVars {
            srun: "SLURM_GPUS",
            sbatch: "SBATCH_GPUS",
            salloc: "SALLOC_GPUS",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-node",
            names: &["gpus-per-node"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_NODE",
            sbatch: "SBATCH_GPUS_PER_NODE",
            salloc: "SALLOC_GPUS_PER_NODE",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-socket",
            names: &["gpus-per-socket"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_SOCKET",
            sbatch: "SBATCH_GPUS_PER_SOCKET",
            salloc: "SALLOC_GPUS_PER_SOCKET",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-task",
            names: &["gpus-per-task"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_TASK",
            sbatch: "SBATCH_GPUS_PER_TASK",
            salloc: "SALLOC_GPUS_PER_TASK",
        }),
    ),
    (
        &Field {
            canon: "gres",
            names: &["gres"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GRES",
            sbatch: "SBATCH_GRES",
            salloc: "SALLOC_GRES",
        }),
    ),
    (
        &Field {
            canon: "tres-per-task",
            names: &["tres-per-task"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_TRES_PER_TASK",
            sbatch: "SBATCH_TRES_PER_TASK",
            salloc: "SALLOC_TRES_PER_TASK",
        }),
    ),
];

/// One source's say on a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cli {
    Set(String),
    NotSet,
    Unknown,
}

pub(super) enum EnvValue {
    Known(Option<String>),
    Unknown,
}

/// Command line over environment over batch script.
pub(super) fn combine(cli: Cli, env: EnvValue, script: Cli) -> Knowledge {
    match cli {
        Cli::Set(v) => Knowledge::Given(v),
        Cli::Unknown => Knowledge::Unknown,
        Cli::NotSet => match env {
            EnvValue::Known(Some(v)) => Knowledge::Given(v),
            EnvValue::Unknown => Knowledge::Unknown,
            EnvValue::Known(None) => match script {
                Cli::Set(v) => Knowledge::Given(v),
                Cli::NotSet => Knowledge::Absent,
                Cli::Unknown => Knowledge::Unknown,
            },
        },
    }
}

pub(super) enum Script {
    Known { scan: Scan, words: Vec<String> },
    Unknown(String),
}
