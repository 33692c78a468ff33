//! Helper subcommands that analyse no traffic: `token`, `scopes`, `rules`.
//! Each writes to the given writer; `app` routes stdout to them.

pub mod ca;
pub mod capture;
pub mod rules;
pub mod scopes;
pub mod token;
