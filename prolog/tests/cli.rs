//! carme-prolog's own command line (the checks every root-run program of
//! ours shares: carme-node/tests/common/program_cli.rs).

#[path = "../../carme-node/tests/common/program_cli.rs"]
#[macro_use]
mod program_cli;

program_cli_tests!("carme-prolog", env!("CARGO_BIN_EXE_carme-prolog"));
