//! carme.toml(5): what the file is, how strict and whom root trusts it
//! from, and the annotated example config (etc/carme.toml) verbatim.

use crate::text::{Block, Page};
use crate::{Generated, see_also};

/// The example config every package ships, word for word.
pub const EXAMPLE: &str = include_str!("../../../etc/carme.toml");

pub fn page() -> Generated {
    let path = carme_core::config::DEFAULT_CONFIG_PATH;
    let mut p = Page::new("carme.toml", "5");
    p.section(
        "NAME",
        &[Block::P("carme.toml - the Carme configuration file")],
    );
    p.section("SYNOPSIS", &[Block::P(path)]);
    p.section(
        "DESCRIPTION",
        &[
            Block::P(
                "carme.toml configures Carme on a Slurm cluster: which jobs are Carme jobs \
                 ([gate]), the container runtime ([runtime]), the node paths ([paths]), GPUs \
                 ([gpu]), BeeOND ([beeond]), bind mounts ([[mounts]]), the images \
                 ([images.NAME]) and limits per user, group and account ([limits]). One file \
                 is read by the SPANK plugin in srun, sbatch, salloc and slurmstepd (its \
                 plugstack.conf argument config= names it), by carme-launch, carme-prolog and \
                 carme-epilog (their --config). Keep the same file on every node and every \
                 host users submit from.",
            ),
            Block::P(
                "The file is TOML, read strictly: an unknown key or a bad value is an error \
                 that names the file, the line and the key. A broken config refuses Carme jobs \
                 with that message and leaves every other job alone. Jobs read only the limit \
                 rules that can apply to them; carme-launch check-config validates the whole \
                 file, every rule included: run it after every edit.",
            ),
            Block::P(
                "Root (slurmstepd, carme-prolog, carme-epilog) runs commands from this file \
                 and makes directories where it points, so root uses it only when only root \
                 can change it: a regular file of at most 4 MiB, owned by root, not writable \
                 by group or others (ACLs included), in directories owned by root and closed \
                 to others or sticky, reached through symlinks owned by root only. Otherwise \
                 it counts as broken, and the message names the file, its owner and its mode. \
                 Keep it readable by everyone (mode 0644): carme-launch reads it as the user \
                 who runs it.",
            ),
            Block::P(
                "Paths marked template may contain %n (the node name) and %j (the job id), \
                 as in slurm.conf, so that one file serves several slurmd on one host.",
            ),
        ],
    );
    p.section(
        "FILES",
        &[Block::Tag(
            path,
            "Where the plugin, carme-launch, carme-prolog and carme-epilog look when not \
             told otherwise.",
        )],
    );
    p.section(
        "EXAMPLE",
        &[
            Block::P(
                "The annotated example shipped with carme-slurm; every key is documented in \
                 it, with its default.",
            ),
            Block::Verbatim(EXAMPLE),
        ],
    );
    p.section("SEE ALSO", &[Block::Refs(&see_also("carme.toml"))]);
    Generated::new("carme.toml.5".to_string(), p.finish())
}
