//! Carme's SPANK plugin (`libcarme_spank.so`).
//!
//! Loaded by srun, sbatch, salloc and slurmstepd from plugstack.conf:
//! `required /usr/lib/carme/libcarme_spank.so config=/etc/carme/carme.toml`.
//! It adds `--carme-image=NAME`, refuses bad Carme jobs early in the client,
//! decides authoritatively in slurmstepd, and hands every task of a Carme
//! step to carme-launch, which execs the container runtime.
//!
//! One module per SPANK context (like pyxis): `local` (srun), `allocator`
//! (sbatch, salloc), `remote` (slurmstepd); `plugin` dispatches; `ffi` is the
//! only place with `unsafe`.

#![deny(unsafe_code)]

mod allocator;
mod bounded;
mod client;
mod ffi;
mod limits;
mod local;
mod namespace;
mod plugin;
mod remote;
mod who;
