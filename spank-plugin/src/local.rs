//! srun (local context): refuse early what srun's own options already
//! show, before srun asks for an allocation or launches a step.

use carme_core::Refusal;
use carme_core::client_args::{self, Client, Knowledge};
use carme_core::decide::{Classification, Constraint};

use crate::client::{constraint_of, decide_early, env, own_argv, pass_beeond, release};
use crate::ffi::{Level, Spank, log};
use crate::plugin::{BEEOND_ENV_FOR_SRUN, with_state};

pub fn post_opt(sp: &Spank) -> Result<(), ()> {
    let image = with_state(|s| s.image.clone());
    let argv = own_argv();
    let req = client_args::parse(release(), Client::Srun, &argv, &env);
    // Slurm hands a job's SPANK options to its sruns through the
    // environment: an inherited --carme-beeond is the job's own (already
    // passed on when it was submitted), not a step asking for BeeOND.
    let inherited = std::env::var_os(BEEOND_ENV_FOR_SRUN).is_some();
    match &req.jobid {
        Knowledge::Absent => {}
        _ if inherited => {}
        Knowledge::Given(id) => pass_beeond(sp, None, Some(id))?,
        Knowledge::Unknown => pass_beeond(sp, None, Some("an existing job"))?,
    }

    // Inside an allocation its constraint decides, and slurmstepd knows it
    // without asking slurmctld (the prolog's record, or one kept answer per
    // job and node). Asking here too would cost one RPC per srun of every
    // Carme job (issue 11: later steps cause no extra RPC), to refuse early
    // only `--carme-image` in a non-Carme job, which slurmstepd refuses
    // anyway before any task runs. So only the image itself is checked.
    let constraint = match &req.jobid {
        Knowledge::Absent => constraint_of(&req),
        _ if image.is_none() => return Ok(()),
        Knowledge::Unknown | Knowledge::Given(_) => Constraint::Unknown,
    };
    // A new job is checked against its options; a step in an existing job
    // only for its image (the job was checked when it started).
    let new_job = (req.jobid == Knowledge::Absent).then_some(&req);
    let class = decide_early(constraint, image.as_deref(), new_job)?;
    if matches!(class, Some(Classification::Carme { .. }))
        && req.multi_prog
        && !cfg!(carme_prepend_argv)
    {
        log(Level::Error, Refusal::multi_prog_unsupported().message());
        return Err(());
    }
    if req.jobid == Knowledge::Absent {
        pass_beeond(sp, class.as_ref(), None)?;
    }
    Ok(())
}
