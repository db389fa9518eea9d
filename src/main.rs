//! The `rmqgen` command: a thin shell over the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    rmqgen_cli::main()
}

#[path = "cli.rs"]
mod rmqgen_cli;
