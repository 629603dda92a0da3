//! carme-prolog(8) and carme-epilog(8), from each program's own `Cli`.
//! The prose follows the programs' module docs and docs/prolog-epilog.md.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::text::{Block, Page};
use crate::{Generated, see_also};

/// The variables slurmd sets that both programs read.
const JOB_VARIABLES: &[Block] = &[
    Block::Tag(
        "SLURM_JOB_ID, SLURMD_NODENAME",
        "The job and this node. Without them (not run by slurmd) nothing is done and the \
         program exits 1.",
    ),
    Block::Tag(
        "SLURM_JOB_UID, SLURM_JOB_GID",
        "The job's owner: the job's directories are theirs.",
    ),
    Block::Tag(
        "SLURM_JOB_CONSTRAINTS",
        "The job's constraint: whether it is a Carme job (it names [gate] feature) and \
         whether it asks for BeeOND (it names [beeond] feature).",
    ),
    Block::Tag(
        "SLURM_JOB_NODELIST (or SLURM_NODELIST)",
        "The job's nodes: BeeOND runs across them, from the first.",
    ),
    Block::Tag(
        "SLURM_JOB_RESTART_COUNT",
        "How often the job was requeued: a requeued run is told apart from an earlier job \
         with the same id.",
    ),
    Block::Tag(
        "SPANK_CARME_BEEOND",
        "1 when the job asked for BeeOND with --carme-beeond (set by the SPANK plugin).",
    ),
    Block::Tag(
        "SLURM_CONF",
        "Passed on to scontrol, which sets the node's drain reason and answers questions \
         about the job.",
    ),
];

const NOT_FROM_ENVIRONMENT: Block = Block::P(
    "The config's path is never taken from the environment: a job's SPANK_* variables are \
     set by the user's client and must not steer root.",
);

pub fn prolog() -> Generated {
    page(
        crate::prolog_cli::Cli::command(),
        "carme-prolog",
        &[
            Block::P(
                "carme-prolog is Slurm's Prolog= program for Carme (slurm.conf: \
                 Prolog=/usr/libexec/carme/carme-prolog and PrologFlags=Alloc). slurmd runs \
                 it as root, without arguments, on every node of every job as soon as the job \
                 is allocated.",
            ),
            Block::P(
                "A job whose constraint does not name the gate feature ([gate] feature in \
                 carme.toml) is recorded as not a Carme job (with job_facts = \"auto\", the \
                 default), so that its steps need not ask slurmctld, and the program exits 0. \
                 For a Carme job it records the job in [paths] state_dir for slurmstepd, \
                 prepares the job's tmp and scratch directories (owned by the job's user, \
                 mode 0700) and, when the job asks for it, starts the job's BeeOND from its \
                 first node while the other nodes wait for the mount. Then it retries, for at \
                 most 5 seconds, the cleanup of what ended jobs left on the node.",
            ),
            Block::P(
                "The whole story, with every bound and failure case, is in docs/prolog-epilog.md \
                 of carme-slurm.",
            ),
        ],
        &[
            Block::Tag(
                "0",
                "The job may run: it is prepared, it is not a Carme job, or what went wrong is \
                 not the node's fault (a broken config, an unsafe tmp or scratch base, a \
                 planted job path): that is logged, and the job's Carme steps are refused \
                 with the reason where needed.",
            ),
            Block::Tag(
                "1",
                "A node fault: an unsafe or unwritable state directory or BeeOND directory, \
                 BeeOND that could not be started, or a mount that never appeared while the \
                 job still waits for it; or slurmd's variables are missing. Slurm drains the \
                 node and requeues the job, held; carme-prolog sets the drain reason to its \
                 own (sinfo -R shows it).",
            ),
            Block::Tag(
                "2",
                "A usage error (only a wrapper script can cause one). Like any non-zero \
                 status, it drains the node.",
            ),
        ],
        &[Block::Tag(
            "SLURM_JOB_ACCOUNT, SLURM_JOB_GPUS",
            "Recorded for the job's steps: the account for limit rules, and the job's GPUs \
             on this node, which slurmd takes from the job credential.",
        )],
    )
}

pub fn epilog() -> Generated {
    page(
        crate::epilog_cli::Cli::command(),
        "carme-epilog",
        &[
            Block::P(
                "carme-epilog is Slurm's Epilog= program for Carme (slurm.conf: \
                 Epilog=/usr/libexec/carme/carme-epilog). slurmd runs it as root, without \
                 arguments, on every node of every job when the job ends.",
            ),
            Block::P(
                "It removes what carme-prolog made for the job on this node, as carme-prolog \
                 recorded it, so that the cleanup never depends on the job's environment; \
                 without a record, for a Carme job, what the config says should be there. \
                 BeeOND is stopped from the job's first node (the others wait, then stop what \
                 is left locally); the tmp and scratch directories are removed without \
                 following any symlink and without entering another file system; the job's \
                 records go. Then it retries, for at most 60 seconds, the cleanup of what \
                 ended jobs left on the node. Any other job costs at most the removal of its \
                 record. Running it twice is harmless.",
            ),
            Block::P(
                "The whole story, with every bound and failure case, is in docs/prolog-epilog.md \
                 of carme-slurm.",
            ),
        ],
        &[
            Block::Tag(
                "0",
                "The node is clean, or only directories are left that could not be removed \
                 in time: they stay recorded for later prologs and epilogs to retry, and never \
                 drain the node.",
            ),
            Block::Tag(
                "1",
                "The node is left unclean: a mount (BeeOND, or one inside a job directory) \
                 could not be removed; or slurmd's variables are missing. Slurm drains the \
                 node; carme-epilog sets the drain reason to its own (sinfo -R shows it).",
            ),
            Block::Tag(
                "2",
                "A usage error (only a wrapper script can cause one). Like any non-zero \
                 status, it drains the node.",
            ),
        ],
        &[Block::P(
            "Where carme-prolog left a record of the job on this node, the record wins over \
             these.",
        )],
    )
}

fn page(
    cmd: clap::Command,
    name: &str,
    description: &[Block],
    exit_status: &[Block],
    more_environment: &[Block],
) -> Generated {
    let man = Man::new(cmd).section("8");
    let mut p = Page::new(name, "8");
    p.man(&man, Man::render_name_section);
    p.man(&man, Man::render_synopsis_section);
    p.section("DESCRIPTION", description);
    p.man(&man, Man::render_options_section);
    p.section("EXIT STATUS", exit_status);
    p.section(
        "ENVIRONMENT",
        &[
            &[Block::P("Set by slurmd:")],
            JOB_VARIABLES,
            more_environment,
        ]
        .concat(),
    );
    p.section("", &[NOT_FROM_ENVIRONMENT]);
    p.section(
        "FILES",
        &[
            Block::Tag(
                carme_core::config::DEFAULT_CONFIG_PATH,
                "The Carme config, unless --config names another.",
            ),
            Block::Tag(
                "<state_dir>/ ([paths] state_dir, default /run/carme/<node>)",
                "Job records: job-<id>.* (root's, mode 0600).",
            ),
            Block::Tag(
                "<log_dir>/<jobid>.log ([paths] log_dir, default /var/log/carme)",
                "The job's log on this node, the syslog lines with a UTC timestamp.",
            ),
        ],
    );
    p.section(
        "LOGS",
        &[Block::P(&format!(
            "syslog, ident {name}, facility daemon; <log_dir>/<jobid>.log on the node; \
                 errors also on stderr, which slurmd writes to its log when the program fails. \
                 One line per event: job <id> on <node>: what happened, why, and what to do \
                 (control characters a user put into a value are escaped)."
        ))],
    );
    p.section("SEE ALSO", &[Block::Refs(&see_also(name))]);
    p.man(&man, Man::render_version_section);
    Generated::new(man.get_filename(), p.finish())
}
