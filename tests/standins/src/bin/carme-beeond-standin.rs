//! `carme-beeond-standin`: a strict stand-in for `beeond start|stop|stoplocal`
//! (BeeOND 7.4.7), for hosts where BeeGFS cannot be installed.
//!
//! Reads the control variables, parses the command line, runs the action
//! (see `beeond::actions`) and appends what it did to the JSON log.

#[path = "../beeond/mod.rs"]
mod beeond;
#[path = "../jsonl.rs"]
mod jsonl;

use std::process::exit;

use beeond::actions::{self, Context};
use beeond::cli::{self, Command};
use beeond::control::Control;
use beeond::record::{self, Record};
use beeond::{EMULATES, EXIT_BEEOND, EXIT_STANDIN, error_line, system};

fn main() {
    let refuse = |message: &str, code: i32| -> ! {
        eprintln!("{}", error_line(message));
        exit(code)
    };
    let Ok(argv) = std::env::args_os()
        .map(|a| a.into_string())
        .collect::<Result<Vec<_>, _>>()
    else {
        refuse("non-UTF-8 arguments are not supported", EXIT_STANDIN);
    };
    let control = Control::from_env(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
    .unwrap_or_else(|e| refuse(&e, EXIT_STANDIN));
    let node = system::this_node();
    let base = Record {
        tool: "beeond",
        emulates: EMULATES,
        status: "",
        argv: &argv,
        node: &node,
        pid: std::process::id(),
        action: None,
        options: None,
        error: None,
        errors: &[],
        exit_code: None,
    };
    let log = |record: &Record| {
        if let Some(path) = &control.log
            && let Err(e) = record::append(path, record)
        {
            refuse(&format!("CARME_BEEOND_STANDIN_LOG: {e}"), EXIT_STANDIN);
        }
    };

    let command = match cli::parse(&argv[1..]) {
        Ok(command) => command,
        Err(r) => {
            // Say why first: if the log then fails too, both reasons show.
            eprintln!("{}", error_line(&r.message));
            log(&Record {
                status: "refused",
                error: Some(&r.message),
                exit_code: Some(r.exit_code),
                ..base
            });
            exit(r.exit_code);
        }
    };
    let action = command.action();
    let with_command = Record {
        action: Some(action),
        options: Some(&command),
        ..base
    };
    if control.fails(action) {
        let message = format!("failing on request (CARME_BEEOND_STANDIN_FAIL={action})");
        eprintln!("{}", error_line(&message));
        log(&Record {
            status: "forced_failure",
            error: Some(&message),
            exit_code: Some(EXIT_BEEOND),
            ..with_command
        });
        exit(EXIT_BEEOND);
    }

    let hang = || -> std::convert::Infallible {
        log(&Record {
            status: "hang",
            ..with_command
        });
        eprintln!(
            "{}",
            error_line(&format!(
                "hanging on request (CARME_BEEOND_STANDIN_HANG={action})"
            ))
        );
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    };
    let ctx = Context {
        control: &control,
        node: node.clone(),
        quiet: command.quiet(),
        hang: &hang,
    };
    let result = match &command {
        Command::Start(s) => actions::start(s, &ctx),
        Command::Stop(s) => actions::stop(s, &ctx),
        Command::StopLocal(s) => actions::stoplocal(s, &ctx),
    };
    match result {
        Ok(outcome) => {
            log(&Record {
                status: if outcome.errors.is_empty() {
                    "ok"
                } else {
                    "failed"
                },
                errors: &outcome.errors,
                exit_code: Some(outcome.exit_code),
                ..with_command
            });
            exit(outcome.exit_code);
        }
        Err(r) => {
            eprintln!("{}", error_line(&r.message));
            log(&Record {
                status: "refused",
                error: Some(&r.message),
                exit_code: Some(r.exit_code),
                ..with_command
            });
            exit(r.exit_code);
        }
    }
}
