//! authtap: watches HTTP traffic to Auth0 and explains auth failures.
//!
//! Pipeline (DESIGN.md §1): sources produce `model::Exchange`s; `auth` classifies them into
//! `AuthEvent`s; `correlate` joins events into flows; `diagnose` turns flows into findings; sinks
//! render reports. `engine` wires the core stages together so every source shares them.
//! Imports flow one way: source → capture, decode, model; auth → decode, model;
//! correlate, diagnose → model; sink → model, redact; model → nothing of ours.

pub mod app;
pub mod auth;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod diagnose;
pub mod engine;
pub mod ingest;
pub mod model;
pub mod redact;
pub mod sink;
pub mod source;
pub mod telemetry;
