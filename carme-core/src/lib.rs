//! carme-core: every decision Carme makes, as pure functions.
//!
//! Executors (the SPANK plugin, carme-launch, prolog, epilog) gather facts,
//! call into this crate and apply what it returns. Nothing here performs
//! I/O except reading the config file, so every rule is unit-testable.

#![forbid(unsafe_code)]

pub mod beeond;
pub mod beeond_fallback;
pub mod client_args;
pub mod config;
pub mod decide;
pub mod driver;
pub mod elf;
pub mod facts;
pub mod gate;
pub mod glob;
pub mod gpulist;
pub mod hostlist;
pub mod launch;
pub mod leftover;
pub mod limits;
pub mod limits_job;
pub mod logline;
pub mod nodecheck;
pub mod record;
pub mod refusal;
pub mod sections;
pub mod slurminfo;
pub mod slurmjob;
pub mod slurmtime;
pub mod stepplan;
pub mod taskmove;
pub mod template;
pub mod text;
pub mod trust;
pub mod units;

pub use config::{Config, ConfigError, Loaded};
pub use decide::{Classification, Constraint, JobRequest, classify};
pub use refusal::Refusal;
