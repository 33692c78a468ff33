//! Sinks: terminal report, JSON report, HAR export, Prometheus. Every sink goes through `redact`.

pub mod events;
pub mod har;
pub mod json;
pub mod private_file;
pub mod prometheus;
pub mod terminal;
