//! AuthEvent → Flow: joins authorize, result, token grant and API calls.
//!
//! `table.rs` is the explicit transition table (`match (phase, event)`), `registry.rs` the capped
//! token-fingerprint registry, `correlator.rs` the bounded flow table that applies the table and
//! hands rules a `Link`. Imports only `model`. Produces no findings and no output.

pub mod correlator;
pub mod registry;
pub mod table;
#[cfg(test)]
pub(crate) mod testkit;

pub use correlator::{
    authorize_label, presented_token, AuthorizeFacts, CorrelateConfig, Correlator, Link,
    DEFAULT_EXCHANGES_PER_FLOW, DEFAULT_FLOW_CAP,
};
pub use registry::{Issuance, TokenRegistry, DEFAULT_TOKEN_CAP};
pub use table::{transition, Anomaly, Input, Orphan, Outcome, Phase};
