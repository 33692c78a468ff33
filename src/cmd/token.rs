//! `authtap token`. Placeholder; filled by its owner.

use std::io::Write;

use crate::cli::TokenArgs;

pub fn run(args: &TokenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let _ = (args, out);
    Ok(())
}
