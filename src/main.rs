//! The `stm32mp-imager` binary: parse the command line, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use stm32mp_imager::{
    cli::{self, write_stderr},
    error::{self, Error},
};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = cli::Context::detect();
    if let Err(e) = stm32mp_imager::effects::signals::install(&ctx.cancel) {
        write_stderr(format_args!("warning: Ctrl-C handler not installed ({e}): an interrupt would stop the command without cleaning up\n"));
    }
    match cli::run(cli, &ctx) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        // The reader of stdout went away (`| head -1`): nothing more to say, as Unix tools do.
        Err(Error::StdoutClosed) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            write_stderr(format_args!("error: {e}\n"));
            ExitCode::from(e.exit_code())
        }
    }
}
