//! `authtap rules`. Placeholder; filled by its owner.

use std::io::Write;

use crate::cli::RulesArgs;

pub fn run(args: &RulesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let _ = (args, out);
    Ok(())
}
