//! Resolved, validated settings built from the CLI: files read, colours decided, caps set.
//!
//! The clap structs in `cli` only check syntax; everything that touches the environment
//! (reading key logs and JWKS files, deciding colour from the tty and `NO_COLOR`) happens here,
//! and every failure names the file it was about.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use crate::capture::keylog::{KeyLog, Loaded};
use crate::cli::{AnalyzeArgs, FailOn, Format};
use crate::model::Severity;
use crate::source::detect;

/// Flows kept by the engine before the oldest idle ones are evicted.
pub const DEFAULT_FLOW_CAP: usize = 10_000;

#[derive(Debug)]
pub struct AnalyzeConfig {
    pub inputs: Vec<PathBuf>,
    pub keylog: KeyLog,
    /// What each `--keylog` file gave, in order.
    pub keylog_files: Vec<(PathBuf, Loaded)>,
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

/// What a `--keylog` file gave, when it is worth saying: nothing usable, or malformed lines.
pub fn keylog_note(path: &std::path::Path, loaded: &Loaded) -> Option<String> {
    let path = path.display();
    let Loaded {
        accepted,
        malformed,
        ignored,
    } = *loaded;
    if accepted > 0 {
        return (malformed > 0).then(|| {
            format!("key log {path}: {accepted} key line(s) read, {malformed} malformed line(s) skipped")
        });
    }
    let mut why = Vec::new();
    if malformed > 0 {
        why.push(format!("{malformed} malformed"));
    }
    if ignored > 0 {
        why.push(format!("{ignored} with labels TLS decryption does not use"));
    }
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({})", why.join(", "))
    };
    Some(format!(
        "key log {path} holds no usable key lines{why}; TLS sessions that need keys from it stay encrypted"
    ))
}

impl AnalyzeConfig {
    pub fn resolve(args: &AnalyzeArgs) -> anyhow::Result<Self> {
        let mut keylog = KeyLog::default();
        let mut keylog_files = Vec::new();
        for path in &args.keylog {
            let reader = detect::open_keylog(path).context("--keylog")?;
            let loaded = keylog
                .add_reader(std::io::BufReader::new(reader))
                .with_context(|| format!("reading key log {}", path.display()))?;
            keylog_files.push((path.clone(), loaded));
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
            keylog_files,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keylog_notes_say_what_a_file_gave() {
        let note = |accepted, malformed, ignored| {
            keylog_note(
                std::path::Path::new("k.log"),
                &Loaded {
                    accepted,
                    malformed,
                    ignored,
                },
            )
        };
        assert_eq!(note(5, 0, 3), None);
        assert_eq!(
            note(5, 2, 0).as_deref(),
            Some("key log k.log: 5 key line(s) read, 2 malformed line(s) skipped")
        );
        assert_eq!(
            note(0, 0, 0).as_deref(),
            Some("key log k.log holds no usable key lines; TLS sessions that need keys from it stay encrypted")
        );
        let both = note(0, 4, 1).unwrap_or_default();
        assert!(
            both.contains("(4 malformed, 1 with labels TLS decryption does not use)"),
            "{both}"
        );
    }
}
