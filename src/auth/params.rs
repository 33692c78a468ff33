//! OAuth parameters of one request: query string, form body and JSON body, merged.
//!
//! Owns reading parameters (auth0-facts.md §3.2: token bodies "may be JSON or
//! application/x-www-form-urlencoded") and the top-level field names of JSON bodies. Must not
//! interpret parameters (that is `auth::mod`). Known limits: JSON values that are objects are
//! skipped; arrays of strings are joined with spaces (so `scope: ["a","b"]` reads as `"a b"`);
//! bodies over `errors::MAX_JSON` are not parsed as JSON; at most `MAX_FIELDS` body field names.

use serde_json::Value;

use super::errors::json_object;
use crate::decode::form::{self, Form};
use crate::model::Body;

/// Cap on JSON body field names kept for `ApiCall::body_fields`.
pub const MAX_FIELDS: usize = 64;

/// Parameters in order: query first, then body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub pairs: Vec<(String, String)>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Non-empty value of `name`.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn owned(&self, name: &str) -> Option<String> {
        self.get_nonempty(name).map(str::to_string)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get_nonempty(name).is_some()
    }

    pub fn extend_form(&mut self, f: Form) {
        self.pairs.extend(f.pairs);
    }
}

/// Whether a body is JSON (by media type or first byte).
pub fn is_json(body: &Body) -> bool {
    let mime = body.mime.as_deref().unwrap_or("").to_ascii_lowercase();
    mime.contains("json")
        || body
            .data
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
}

/// Whether a body is a urlencoded form (by media type, or by shape when untyped).
pub fn is_form(body: &Body) -> bool {
    match body.mime.as_deref() {
        Some(m) => m.to_ascii_lowercase().contains("x-www-form-urlencoded"),
        None => {
            !body.data.is_empty()
                && body.data.contains(&b'=')
                && body.data.iter().all(|b| b.is_ascii_graphic())
        }
    }
}

/// Parameters from a body (form or JSON object).
pub fn from_body(body: &Body) -> Params {
    let mut p = Params::default();
    if is_json(body) {
        if let Some(map) = json_object(&body.data) {
            for (k, v) in map {
                let s = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                    Value::Null | Value::Object(_) => continue,
                };
                p.pairs.push((k, s));
            }
        }
    } else if is_form(body) {
        p.extend_form(form::parse(&body.text()));
    }
    p
}

/// Parameters of a request: query, then body.
pub fn from_request(url: &str, body: &Body) -> Params {
    let mut p = Params::default();
    if let Some(q) = form::query_of(url) {
        p.extend_form(form::parse(q));
    }
    p.pairs.extend(from_body(body).pairs);
    p
}

/// Top-level member names of a JSON object body (e.g. the fields a PATCH touches).
pub fn json_fields(body: &Body) -> Vec<String> {
    if !is_json(body) {
        return Vec::new();
    }
    json_object(&body.data)
        .map(|m| m.keys().take(MAX_FIELDS).cloned().collect())
        .unwrap_or_default()
}

/// Split a space-separated list (scope, response_type), dropping empties.
pub fn split_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(data: &str, mime: Option<&str>) -> Body {
        Body {
            data: data.as_bytes().to_vec(),
            truncated: false,
            mime: mime.map(|m| m.to_string().into()),
        }
    }

    #[test]
    fn query_and_form_merge() {
        let b = body(
            "grant_type=authorization_code&code=abc&code_verifier=v",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let p = from_request("https://t.auth0.com/oauth/token?x=1", &b);
        assert_eq!(p.get("x"), Some("1"));
        assert_eq!(p.get("grant_type"), Some("authorization_code"));
        assert!(p.has("code_verifier"));
    }

    #[test]
    fn json_body_values() {
        let b = body(
            r#"{"grant_type":"client_credentials","client_id":"c","audience":"https://t/api/v2/","scope":["read:users","update:users"],"n":3,"o":{"x":1},"z":null}"#,
            Some("application/json"),
        );
        let p = from_body(&b);
        assert_eq!(p.get("scope"), Some("read:users update:users"));
        assert_eq!(p.get("n"), Some("3"));
        assert_eq!(p.get("o"), None);
        assert_eq!(
            json_fields(&body(r#"{"user_metadata":{},"app_metadata":{}}"#, None)),
            vec!["app_metadata".to_string(), "user_metadata".to_string()]
        );
    }

    #[test]
    fn untyped_bodies() {
        assert_eq!(from_body(&body("a=1&b=2", None)).get("b"), Some("2"));
        assert!(from_body(&body("<html>", None)).pairs.is_empty());
        assert!(from_body(&body("{not json", Some("application/json")))
            .pairs
            .is_empty());
        assert_eq!(split_list("  token  id_token "), vec!["token", "id_token"]);
    }
}
