//! Plain data shared by every stage: exchanges, auth events, tokens, flows and findings.
//!
//! Owns only data shapes and tiny pure helpers (header lookup, fingerprints). It imports nothing
//! else from this crate, so every other module can depend on it. Raw secrets live in these types;
//! they must pass through `crate::redact` before reaching any output.

pub mod event;
pub mod exchange;
pub mod finding;
pub mod flow;
pub mod report;
pub mod token;

pub use event::*;
pub use exchange::*;
pub use finding::*;
pub use flow::*;
pub use report::*;
pub use token::*;
