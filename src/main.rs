//! Entry point: parse the CLI, initialise logging, run, and map the result to an exit code.
//! This is the only place that decides the process exit status (0, 1 or 2).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = authtap::cli::Cli::parse();
    authtap::app::init_tracing();
    match authtap::app::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            if authtap::app::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("authtap: error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
