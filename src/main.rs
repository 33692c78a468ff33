//! Entry point: parse the CLI, initialise logging, run, and map the result to an exit code.
//! This is the only place that decides the process exit status (0, 1 or 2).
//! Also picks the global allocator (mimalloc: the analysis makes many small short-lived
//! allocations per exchange, where it is markedly faster than the system allocator).

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
                eprintln!("authtap: error: {}", authtap::app::one_line(&err));
            }
            ExitCode::from(2)
        }
    }
}
