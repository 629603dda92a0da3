//! sbatch and salloc (allocator context): refuse early what the options
//! (command line, input environment, #SBATCH lines) already show, and pass
//! `--carme-image` on to the sruns the job will start.

use std::io::Read;

use carme_core::client_args::{self, Client};
use carme_core::decide::Classification;

use crate::client::{constraint_of, decide_early, env, own_argv, pass_beeond, release};
use crate::ffi::{Level, Spank, log, set_process_env};
use crate::plugin::{IMAGE_ENV_FOR_SRUN, with_state};

/// sbatch reads scripts of any size; we only need the #SBATCH block at the top.
const SCRIPT_READ_LIMIT: u64 = 1 << 20;

pub fn post_opt(sp: &Spank) -> Result<(), ()> {
    let image = with_state(|s| s.image.clone());
    let argv = own_argv();
    let salloc = argv
        .first()
        .is_some_and(|a| a.rsplit('/').next() == Some("salloc"));
    let req = if salloc {
        client_args::parse(release(), Client::Salloc, &argv, &env)
    } else {
        let first = client_args::parse(release(), Client::Sbatch, &argv, &env);
        let script = if first.wrap {
            Some(String::new())
        } else {
            first.script.given().and_then(read_script)
        };
        client_args::parse_sbatch(release(), &argv, &env, script.as_deref())
    };
    let class = decide_early(constraint_of(&req), image.as_deref(), Some(&req))?;
    pass_beeond(sp, class.as_ref(), None)?;
    if let (Some(image), Some(Classification::Carme { .. } | Classification::Undetermined)) =
        (&image, class)
    {
        // sbatch: the job's environment; salloc: the shell it starts.
        if let Err(e) = set_process_env(IMAGE_ENV_FOR_SRUN, image) {
            log(Level::Error, &format!("carme: {e}"));
        }
    }
    Ok(())
}

fn read_script(path: &str) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(SCRIPT_READ_LIMIT)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}
