//! carme-node: node-side I/O shared by the SPANK plugin (in slurmstepd), the
//! prolog and the epilog — all running as root. It owns the per-node state
//! directory and the job records in it, and does so without ever following
//! a path a user could have planted.

#![forbid(unsafe_code)]

pub mod args;
pub mod bounded;
pub mod configfile;
pub mod devview;
pub mod error;
pub mod gpus;
pub mod jobclean;
pub mod joblog;
pub mod jobprep;
pub mod mounts;
pub mod namespace;
pub mod nodecheck;
pub mod nodejob;
pub mod nodeops;
pub mod nvml;
pub mod rmtree;
pub mod slurmctl;
pub mod state;
pub mod syscall;
pub mod taskplan;
#[cfg(test)]
mod testnode;
