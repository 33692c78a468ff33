//! mock-tenant: an offline Auth0 tenant for authtap's tests and fixtures (test support code,
//! never shipped in the authtap binary; it must not depend on authtap).
//!
//! Owns: the in-process tenant (`Tenant::handle`), plain-HTTP and TLS servers, the shared
//! scenarios, the HAR recorder and the curl driver. Every emulated behaviour cites
//! `../shared/reference/auth0-facts.md` by section; guesses say so.
//! Known limits: one RS256 test key (committed, TEST ONLY), no Universal Login pages, only the
//! `/api/v2/users` family of the Management API.

pub mod clock;
pub mod config;
pub mod endpoints;
pub mod har;
pub mod http;
pub mod keys;
pub mod scopes;
pub mod state;
pub mod tenant;
pub mod tokens;

pub use clock::Clock;
pub use config::{AppType, Client, ClientGrant, RateLimit, ResourceServer, User};
pub use http::{Request, Response};
pub use tenant::Tenant;
pub mod curl;
pub mod fixtures;
pub mod scenario;
pub mod server;
pub mod tls;
