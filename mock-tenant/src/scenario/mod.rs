//! Scenarios shared by every driver: sequences of steps where later steps use the tokens
//! earlier responses returned.
//!
//! Owns: the `Transport` trait (in-process HAR recorder, curl subprocesses), the browser
//! helper (cookies, CORS preflights), the fixture tenant configuration and the scenario
//! list. Each scenario checks the statuses it expects and fails loudly when the tenant
//! answers otherwise. Must not know how a transport records traffic.
//! Limits: steps run strictly in sequence; the browser helper emulates only what Chrome does
//! that shows up in a HAR (preflights cached per method+URL, tenant cookies).

pub mod browser;
pub mod env;
pub mod forum;
pub mod healthy;
pub mod m2m;
pub mod secrets;

use crate::http::{Request, Response};

pub use env::{fixture_tenant, Env, Profile};

/// Who started a request (drives Chrome's `_initiator`, `_priority`, `_resourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// Top-level navigation (document).
    Navigation,
    /// `fetch`/XHR from a script.
    Script,
    /// CORS preflight sent by the browser itself.
    Preflight,
    /// A backend (non-browser) HTTP client.
    Backend,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub request: Request,
    pub initiator: Initiator,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("step `{step}`: transport failed: {detail}")]
    Transport { step: String, detail: String },
    #[error("step `{step}`: expected HTTP {expected}, tenant answered {got}: {body}")]
    UnexpectedStatus {
        step: String,
        expected: u16,
        got: u16,
        body: String,
    },
    #[error("step `{step}`: response lacks {what}")]
    Missing { step: String, what: String },
}

/// Something that carries steps to a tenant and returns its answers.
pub trait Transport {
    fn send(&mut self, step: Step) -> Result<Response, ScenarioError>;
    /// Lets scenario time pass (fixed clock: advance; wall clock: sleep).
    fn wait_ms(&mut self, ms: u64);
    /// Whether browser-only traffic (app pages, CORS preflights) should be produced.
    fn browser_extras(&self) -> bool;
}

/// The scenarios, by fixture name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    ForumThread,
    M2m,
    HealthySpa,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::ForumThread, Scenario::M2m, Scenario::HealthySpa];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ForumThread => "forum-thread",
            Scenario::M2m => "m2m",
            Scenario::HealthySpa => "healthy-spa",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }

    pub fn profile(self) -> Profile {
        match self {
            Scenario::HealthySpa => Profile::Healthy,
            _ => Profile::Forum,
        }
    }

    pub fn run(self, env: &Env, t: &mut dyn Transport) -> Result<(), ScenarioError> {
        match self {
            Scenario::ForumThread => forum::run(env, t),
            Scenario::M2m => m2m::run(env, t),
            Scenario::HealthySpa => healthy::run(env, t),
        }
    }
}

/// Sends a step and checks the status.
pub fn expect(t: &mut dyn Transport, step: Step, expected: u16) -> Result<Response, ScenarioError> {
    let name = step.name.clone();
    let resp = t.send(step)?;
    if resp.status != expected {
        return Err(ScenarioError::UnexpectedStatus {
            step: name,
            expected,
            got: resp.status,
            body: String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect(),
        });
    }
    Ok(resp)
}

/// Parameters carried in a redirect `Location` (query and fragment merged).
pub fn location_params(
    step: &str,
    resp: &Response,
) -> Result<Vec<(String, String)>, ScenarioError> {
    let loc = resp
        .get_header("location")
        .ok_or_else(|| ScenarioError::Missing {
            step: step.into(),
            what: "a Location header".into(),
        })?;
    let url = url::Url::parse(loc).map_err(|_| ScenarioError::Missing {
        step: step.into(),
        what: format!("a parsable Location ({} chars)", loc.len()),
    })?;
    let mut out: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if let Some(f) = url.fragment() {
        out.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
    }
    Ok(out)
}

pub fn need(step: &str, pairs: &[(String, String)], name: &str) -> Result<String, ScenarioError> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ScenarioError::Missing {
            step: step.into(),
            what: format!("`{name}`"),
        })
}

pub fn need_json(step: &str, resp: &Response, name: &str) -> Result<String, ScenarioError> {
    resp.json_value()
        .and_then(|v| v.get(name).and_then(|x| x.as_str()).map(str::to_string))
        .ok_or_else(|| ScenarioError::Missing {
            step: step.into(),
            what: format!("JSON field `{name}`"),
        })
}
