//! `carme-runtime-standin`: a strict stand-in for `apptainer exec` and
//! `singularity exec`, for hosts where neither runtime can be installed.
//!
//! Invoked through a link named `apptainer` or `singularity`, it checks the
//! command line against the documented exec interface of Apptainer 1.3 or
//! SingularityCE 4.1 (flags, bind specs, image, environment handling) and
//! refuses, like the real tool and in its message format, whatever the real
//! tool would refuse or the documentation does not cover. What it accepts it
//! runs: there is no container, so COMMAND is exec'd on the host, in the
//! environment and working directory the container would have given it, so
//! that exit statuses and signals pass through as with the real runtime.
//!
//! Tests steer it and read what it did through `CARME_STANDIN_*` variables
//! (see `control`) and the JSON log (see `record`).

mod binds;
mod build;
mod cli;
mod control;
mod csv;
mod environment;
mod flags;
mod jsonl;
mod plan;
mod record;
mod report;
mod tool;

use std::os::unix::process::CommandExt;
use std::process::{Command, exit};

use control::Control;
use record::Record;
use report::{Diagnostics, EXIT_BAD_NAME, EXIT_FATAL, Refusal, fatal_line};
use tool::Tool;

fn main() {
    let Ok(argv) = std::env::args_os()
        .map(|a| a.into_string())
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!(
            "{}",
            fatal_line("runtime", "non-UTF-8 arguments are not supported")
        );
        exit(EXIT_FATAL);
    };
    let argv0 = argv.first().map_or("", String::as_str);
    let Some(tool) = Tool::from_argv0(argv0) else {
        eprintln!(
            "{:<8} stand-in: invoked as {argv0:?}; call carme-runtime-standin through a link named 'apptainer' or 'singularity'",
            "FATAL:"
        );
        exit(EXIT_BAD_NAME);
    };
    let refuse = |message: &str, code: i32| -> ! {
        eprintln!("{}", fatal_line(tool.name(), message));
        exit(code)
    };

    let mut incoming = Vec::new();
    for (key, value) in std::env::vars_os() {
        match (key.into_string(), value.into_string()) {
            (Ok(k), Ok(v)) => incoming.push((k, v)),
            (key, _) => refuse(
                &format!("environment variable {key:?} is not UTF-8; not supported"),
                EXIT_FATAL,
            ),
        }
    }
    let control = Control::take(&mut incoming).unwrap_or_else(|e| refuse(&e, EXIT_FATAL));

    if argv.get(1).map(String::as_str) == Some("build") {
        // The one build Carme's tests make (see `build`).
        let base = |status| record_base(tool, &argv, status);
        let (record, outcome) = match build::build(tool, &argv[2..]) {
            Ok(lines) => (base("build"), Ok(lines)),
            Err(r) => (base("refused"), Err(r)),
        };
        let record = match &outcome {
            Err(r) => Record {
                error: Some(&r.message),
                exit_code: Some(r.exit_code),
                ..record
            },
            Ok(_) => record,
        };
        if let Some(path) = &control.log
            && let Err(e) = record::append(path, &record)
        {
            refuse(&format!("CARME_STANDIN_LOG: {e}"), EXIT_FATAL);
        }
        match outcome {
            Ok(lines) => {
                for l in lines {
                    eprintln!("{:<8} stand-in: {l}", "INFO:");
                }
                exit(0);
            }
            Err(Refusal { exit_code, message }) => refuse(&message, exit_code),
        }
    }

    let mut diags = Diagnostics::default();
    let planned = plan::plan(tool, &argv, &incoming, &control, &mut diags);
    diags.print();
    let base = |status| record_base(tool, &argv, status);
    let log = |record: &Record| {
        if let Some(path) = &control.log
            && let Err(e) = record::append(path, record)
        {
            refuse(&format!("CARME_STANDIN_LOG: {e}"), EXIT_FATAL);
        }
    };

    let launch = match planned {
        Ok(launch) => launch,
        Err(Refusal { exit_code, message }) => {
            // Say why first: if the log then fails too, both reasons show.
            eprintln!("{}", fatal_line(tool.name(), &message));
            log(&Record {
                error: Some(&message),
                exit_code: Some(exit_code),
                ..base("refused")
            });
            exit(exit_code);
        }
    };
    if control.fail {
        log(&Record {
            plan: Some(&launch.record),
            ..base("forced_failure")
        });
        refuse("failing on request (CARME_STANDIN_FAIL=1)", EXIT_FATAL);
    }
    log(&Record {
        plan: Some(&launch.record),
        ..base("exec")
    });

    // Like the real runtime, replace this process, so COMMAND's exit status
    // and signals are the caller's to see.
    let error = Command::new(&launch.program)
        .args(&launch.args)
        .env_clear()
        .envs(&launch.env)
        .current_dir(&launch.pwd)
        .exec();
    refuse(
        &format!("could not execute {}: {error}", launch.program.display()),
        EXIT_FATAL,
    );
}

/// The record of one call, before its outcome is known.
fn record_base<'a>(tool: Tool, argv: &'a [String], status: &'a str) -> Record<'a> {
    Record {
        tool: tool.name(),
        emulates: tool.emulates(),
        status,
        argv,
        error: None,
        exit_code: None,
        plan: None,
    }
}
