//! carme-launch(1) and one page per subcommand (carme-launch-run(1), ...),
//! from carme-launch's own `Cli`.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::launch_cli::Cli;
use crate::text::{Block, Page};
use crate::{Generated, see_also};

/// The command as the pages show it: built (so subcommands know their
/// full names), without clap's `help` subcommand.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub fn pages() -> Vec<Generated> {
    let cmd = command();
    let mut pages = vec![main_page(&cmd)];
    for sub in cmd.get_subcommands() {
        pages.push(sub_page(&cmd, sub));
    }
    pages
}

fn main_page(cmd: &clap::Command) -> Generated {
    let man = Man::new(cmd.clone());
    let mut p = Page::new("carme-launch", "1");
    p.man(&man, Man::render_name_section);
    p.man(&man, Man::render_synopsis_section);
    p.section(
        "DESCRIPTION",
        &[
            Block::P(
                "carme-launch runs a command inside a Carme image the way a task of a Carme \
                 job runs there: it execs the container runtime named in the config, with the \
                 image's mounts, environment and GPUs, and never stays around as a parent, so \
                 exit codes and signals reach the command as if Slurm had started it. The \
                 tasks of Carme jobs do not pass through carme-launch: the SPANK plugin \
                 decides their launch with the same code and hands them to the runtime itself.",
            ),
            Block::P(
                "Users see with images which images they may use and with explain what a job \
                 in an image gets, both also as JSON (--json). Admins validate the whole \
                 config after editing it with check-config. Each subcommand has its own page.",
            ),
        ],
    );
    p.man(&man, Man::render_options_section);
    p.man(&man, Man::render_subcommands_section);
    p.section(
        "EXIT STATUS",
        &[
            Block::Tag("0", "Success."),
            Block::Tag(
                "1",
                "explain, images or check-config could not do their job (a broken config, \
                 an unknown user); the message on stderr says why.",
            ),
            Block::Tag("2", "A usage error."),
            Block::Tag(
                "125",
                "run, argv: a config, image, mount or driver problem stops the launch.",
            ),
            Block::Tag("126", "run: the runtime is not executable."),
            Block::Tag("127", "run: the runtime was not found."),
            Block::P("Otherwise, for run: the exit status of the command."),
        ],
    );
    p.section(
        "ENVIRONMENT",
        &[
            Block::Tag(
                "CARME_LAUNCH_DEBUG",
                "1 writes carme: debug: lines to stderr, the ones the plugin writes to a \
                 Carme task's stderr when the task's environment has it. It never reaches \
                 the command.",
            ),
            Block::Tag(
                "SLURMD_NODENAME, SLURM_JOB_ID",
                "The node name and job id that %n and %j in the config's paths stand for \
                 (without SLURMD_NODENAME: the host name).",
            ),
        ],
    );
    p.section(
        "FILES",
        &[Block::Tag(
            carme_core::config::DEFAULT_CONFIG_PATH,
            "The Carme config, unless --config names another (see carme.toml(5)).",
        )],
    );
    p.section("SEE ALSO", &[Block::Refs(&see_also("carme-launch"))]);
    p.man(&man, Man::render_version_section);
    Generated::new(man.get_filename(), p.finish())
}

fn sub_page(parent: &clap::Command, sub: &clap::Command) -> Generated {
    let man = Man::new(sub.clone());
    let mut p = Page::new(sub.get_display_name().unwrap_or(sub.get_name()), "1");
    p.man(&man, Man::render_name_section);
    p.man(&man, Man::render_synopsis_section);
    p.man(&man, Man::render_description_section);
    p.man(&man, Man::render_options_section);
    p.section(
        "SEE ALSO",
        &[Block::Refs(&[
            (parent.get_name(), "1"),
            ("carme.toml", "5"),
        ])],
    );
    Generated::new(man.get_filename(), p.finish())
}
