//! The `stm32mp-imager` binary: parse the command line, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use stm32mp_imager::{cli, error};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = cli::Context::detect();
    if let Err(e) = stm32mp_imager::effects::signals::install(&ctx.cancel) {
        eprintln!("warning: Ctrl-C handler not installed ({e}): an interrupt would stop the command without cleaning up");
    }
    match cli::run(cli, &ctx) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
