//! `authtap scopes`. Placeholder; filled by its owner.

use std::io::Write;

use crate::cli::ScopesArgs;

pub fn run(args: &ScopesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let _ = (args, out);
    Ok(())
}
