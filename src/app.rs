//! Composition root: config → source → engine → sinks; summary and exit outcome.

use crate::cli::{Cli, Command};

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    FindingsAtThreshold,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::FindingsAtThreshold => 1,
        }
    }
}

pub fn init_tracing() {}

pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match &cli.command {
        Command::Proxy(args) => {
            crate::source::proxy::run(args)?;
            Ok(Outcome::Clean)
        }
        Command::Ca(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::cmd::ca::run(args, &mut out)?;
            Ok(Outcome::Clean)
        }
        _ => Ok(Outcome::Clean),
    }
}
