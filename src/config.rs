//! Resolved, validated settings built from the CLI: files read, colours decided, caps set.
//!
//! The clap structs in `cli` only check syntax; everything that touches the environment
//! (reading key logs and JWKS files, deciding colour from the tty and `NO_COLOR`) happens here,
//! and every failure names the file it was about.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use crate::capture::keylog::KeyLog;
use crate::cli::{AnalyzeArgs, FailOn, Format};
use crate::model::Severity;

/// Flows kept by the engine before the oldest idle ones are evicted.
pub const DEFAULT_FLOW_CAP: usize = 10_000;

#[derive(Debug)]
pub struct AnalyzeConfig {
    pub inputs: Vec<PathBuf>,
    pub keylog: KeyLog,
    /// Key log lines accepted from `--keylog` files.
    pub keylog_lines: usize,
    pub tenants: Vec<String>,
    pub jwks: Vec<String>,
    pub format: Format,
    pub output: Option<PathBuf>,
    /// Lowest severity that makes the run exit 1; `None` for `--fail-on never`.
    pub fail_on: Option<Severity>,
    pub har_out: Option<PathBuf>,
    pub metrics_out: Option<PathBuf>,
    pub include_secrets: bool,
    pub color: bool,
    pub flow_cap: usize,
}

impl AnalyzeConfig {
    pub fn resolve(args: &AnalyzeArgs) -> anyhow::Result<Self> {
        let mut keylog = KeyLog::default();
        let mut keylog_lines = 0;
        for path in &args.keylog {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading key log {}", path.display()))?;
            keylog_lines += keylog.add_text(&bytes);
        }
        let jwks = match &args.jwks {
            Some(path) => vec![std::fs::read_to_string(path)
                .with_context(|| format!("reading JWKS {}", path.display()))?],
            None => Vec::new(),
        };
        let color = args.format == Format::Text
            && args.output.is_none()
            && !args.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Ok(Self {
            inputs: args.files.clone(),
            keylog,
            keylog_lines,
            tenants: args.tenant.iter().map(|t| t.to_ascii_lowercase()).collect(),
            jwks,
            format: args.format,
            output: args.output.clone(),
            fail_on: match args.fail_on {
                FailOn::Error => Some(Severity::Error),
                FailOn::Warning => Some(Severity::Warning),
                FailOn::Never => None,
            },
            har_out: args.har_out.clone(),
            metrics_out: args.metrics_out.clone(),
            include_secrets: args.include_secrets,
            color,
            flow_cap: DEFAULT_FLOW_CAP,
        })
    }
}
