//! Collects every raw secret a scenario run put on the wire, so tests can grep authtap's
//! outputs for them (`fixtures/<name>.secrets`, one value per line).
//!
//! Owns: the `Recording` transport wrapper and the list of secret-bearing fields: bearer
//! values, cookies, `client_secret`, `code`, `code_verifier`, `password`, `refresh_token`,
//! `access_token`, `id_token` (in bodies, Location query/fragment), plus the CouchDB
//! password hidden in app_metadata. Must not alter traffic. Limits: values shorter than 8
//! characters are skipped (too generic to grep for).

use std::collections::BTreeSet;

use crate::http::{Request, Response};
use crate::scenario::{Env, ScenarioError, Step, Transport};

const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "code",
    "code_verifier",
    "client_secret",
    "password",
];

pub struct Recording<'a> {
    inner: &'a mut dyn Transport,
    pub secrets: BTreeSet<String>,
}

impl<'a> Recording<'a> {
    pub fn new(inner: &'a mut dyn Transport, env: &Env) -> Self {
        let mut secrets = BTreeSet::new();
        secrets.insert(env.couch_password.clone());
        secrets.insert(env.couch_url());
        Recording { inner, secrets }
    }

    fn add(&mut self, v: &str) {
        let v = v.trim();
        if v.len() >= 8 {
            self.secrets.insert(v.to_string());
        }
    }

    fn collect_pairs(&mut self, pairs: &[(String, String)]) {
        for (k, v) in pairs {
            if SECRET_FIELDS.contains(&k.as_str()) {
                self.add(v);
            }
        }
    }

    fn collect_request(&mut self, r: &Request) {
        if let Some(a) = r.get_header("authorization") {
            match a.split_once(' ') {
                Some((_, v)) => self.add(v),
                None => self.add(a),
            }
        }
        if let Some(c) = r.get_header("cookie") {
            for kv in c.split(';') {
                if let Some((_, v)) = kv.split_once('=') {
                    self.add(v);
                }
            }
        }
        let q = r.query_pairs();
        self.collect_pairs(&q);
        let b = r.body_params();
        self.collect_pairs(&b);
    }

    fn collect_response(&mut self, r: &Response) {
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                if let Some((_, val)) = v.split(';').next().and_then(|nv| nv.split_once('=')) {
                    self.add(val);
                }
            }
            if k.eq_ignore_ascii_case("location") {
                if let Ok(u) = url::Url::parse(v) {
                    let mut pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
                    if let Some(f) = u.fragment() {
                        pairs.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
                    }
                    self.collect_pairs(&pairs);
                }
            }
        }
        if let Some(serde_json::Value::Object(m)) = r.json_value() {
            for f in SECRET_FIELDS {
                if let Some(serde_json::Value::String(s)) = m.get(*f) {
                    self.add(s);
                }
            }
        }
    }

    /// One value per line, sorted.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for v in &self.secrets {
            s.push_str(v);
            s.push('\n');
        }
        s
    }
}

impl Transport for Recording<'_> {
    fn send(&mut self, step: Step) -> Result<Response, ScenarioError> {
        self.collect_request(&step.request);
        let resp = self.inner.send(step)?;
        self.collect_response(&resp);
        Ok(resp)
    }

    fn wait_ms(&mut self, ms: u64) {
        self.inner.wait_ms(ms)
    }

    fn browser_extras(&self) -> bool {
        self.inner.browser_extras()
    }
}
