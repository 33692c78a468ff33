//! Deterministic HAR fixture generation (`mock-tenant gen-fixtures --out fixtures/`).
//!
//! Owns: which scenario goes into which file, the fixed scenario clock, and writing the
//! files. Must not touch `err-*` fixtures (owned by the HAR reader work). Limits: output is
//! byte-for-byte reproducible only for the same mock-tenant version.

use std::path::{Path, PathBuf};

use crate::clock::Clock;
use crate::har::HarRecorder;
use crate::scenario::secrets::Recording;
use crate::scenario::{fixture_tenant, Env, Scenario, ScenarioError};

/// 2026-11-20T09:14:05.120Z — the fixed start of every recorded scenario.
pub const SCENARIO_START_MS: i64 = 1_795_166_045_120;

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("scenario {scenario}: {source}")]
    Scenario {
        scenario: &'static str,
        #[source]
        source: ScenarioError,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serializing HAR for {scenario}: {source}")]
    Json {
        scenario: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Runs `scenario` in-process on a fresh fixture tenant and returns its HAR document.
pub fn record(scenario: Scenario, sanitized: bool) -> Result<serde_json::Value, FixtureError> {
    record_with_secrets(scenario, sanitized).map(|(har, _)| har)
}

/// Like `record`, also returning the raw secrets the run put on the wire (one per line).
pub fn record_with_secrets(
    scenario: Scenario,
    sanitized: bool,
) -> Result<(serde_json::Value, String), FixtureError> {
    let env = Env::new(crate::scenario::env::DOMAIN);
    let clock = Clock::fixed_ms(SCENARIO_START_MS);
    let tenant = fixture_tenant(&env, scenario.profile(), clock);
    let mut rec = HarRecorder::new(&tenant, &format!("{}/", env.app_origin));
    let secrets = {
        let mut collecting = Recording::new(&mut rec, &env);
        scenario
            .run(&env, &mut collecting)
            .map_err(|source| FixtureError::Scenario {
                scenario: scenario.name(),
                source,
            })?;
        collecting.to_text()
    };
    let title = if sanitized {
        format!("{}-sanitized", scenario.name())
    } else {
        scenario.name().to_string()
    };
    Ok((rec.to_har(&title, sanitized), secrets))
}

/// The fixture files: (file name, scenario, sanitized).
pub const FILES: &[(&str, Scenario, bool)] = &[
    ("forum-thread.har", Scenario::ForumThread, false),
    ("m2m.har", Scenario::M2m, false),
    ("healthy-spa.har", Scenario::HealthySpa, false),
    ("forum-thread-sanitized.har", Scenario::ForumThread, true),
];

/// Writes every HAR fixture into `out`; returns the paths written.
pub fn gen_fixtures(out: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    std::fs::create_dir_all(out).map_err(|source| FixtureError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (file, scenario, sanitized) in FILES {
        let (har, secrets) = record_with_secrets(*scenario, *sanitized)?;
        let mut text = serde_json::to_string_pretty(&har).map_err(|source| FixtureError::Json {
            scenario: scenario.name(),
            source,
        })?;
        text.push('\n');
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|source| FixtureError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
        let spath = out.join(format!("{file}.secrets"));
        std::fs::write(&spath, secrets).map_err(|source| FixtureError::Write {
            path: spath.clone(),
            source,
        })?;
        written.push(spath);
    }
    Ok(written)
}
