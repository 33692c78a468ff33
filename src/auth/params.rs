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
/// `haystack.to_ascii_lowercase().contains(needle)` for a lowercase ASCII `needle`, without
/// allocating.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

pub fn is_json(body: &Body) -> bool {
    let mime = body.mime.as_deref().unwrap_or("");
    contains_ignore_case(mime, "json")
        || body
            .data
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
}

/// Whether a body is a urlencoded form (by media type, or by shape when untyped).
pub fn is_form(body: &Body) -> bool {
    match body.mime.as_deref() {
        Some(m) => contains_ignore_case(m, "x-www-form-urlencoded"),
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
    object_keys(&body.data)
        .map(|mut keys| {
            // The order and uniqueness of `json_object`'s map keys (a BTreeMap).
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter()
                .take(MAX_FIELDS)
                .map(std::borrow::Cow::into_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The top-level keys of `body` exactly when `json_object(body)` is `Some` (same checks: size
/// cap, leading `{`, a whole valid JSON document with in-range numbers and UTF-8 strings), in
/// document order with repeats, without building the values (a PATCH body's values are not
/// needed, only its field names).
fn object_keys(body: &[u8]) -> Option<Vec<std::borrow::Cow<'_, str>>> {
    use serde::de::Deserializer as _;
    if body.len() > super::errors::MAX_JSON {
        return None;
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let keys = de.deserialize_any(KeysVisitor).ok()?;
    de.end().ok()?;
    keys
}

/// Collects an object's keys; every value is checked like `serde_json::Value` would check it
/// (`Validate`) but not kept. `None` for a document that is not an object.
struct KeysVisitor;

impl<'de> serde::de::Visitor<'de> for KeysVisitor {
    type Value = Option<Vec<std::borrow::Cow<'de, str>>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::new();
        while let Some(k) = map.next_key::<KeyStr<'de>>()? {
            map.next_value::<Validate>()?;
            keys.push(k.0);
        }
        Ok(Some(keys))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Validate>()?.is_some() {}
        Ok(None)
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct KeyStr<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeyStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyStr(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyStr(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(KeyStr(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, accepted exactly when `serde_json::Value` would accept it, and dropped.
struct Validate;

impl<'de> serde::Deserialize<'de> for Validate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidateVisitor)
    }
}

struct ValidateVisitor;

impl<'de> serde::de::Visitor<'de> for ValidateVisitor {
    type Value = Validate;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_str<E>(self, _: &str) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_unit<E>(self) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_none<E>(self) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Validate, A::Error> {
        while seq.next_element::<Validate>()?.is_some() {}
        Ok(Validate)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Validate, A::Error> {
        while map.next_key::<KeyStr<'de>>()?.is_some() {
            map.next_value::<Validate>()?;
        }
        Ok(Validate)
    }
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

    /// `json_fields` reads keys without building values; it must agree with the map of
    /// `json_object` on every shape of input, including the ones that map rejects.
    #[test]
    fn json_fields_agree_with_the_value_parse() {
        let cases = [
            r#"{"b":1,"a":{"x":[1,2,{"y":null}]},"b":2}"#,
            r#"{"user_metadata":{"plan":"pro","seq":7}}"#,
            r#"  {"k\u00e9y":"v\n","z":true,"e":-1.5e10,"n":18446744073709551615}"#,
            r#"{"big":1e999}"#,
            r#"{"neg":-9223372036854775809}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}  "#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":[1,}"#,
            r#"{}"#,
            r#"[1,2]"#,
            r#"{"a":"#,
            "{\"a\":\"\u{1}\"}",
        ];
        let depth = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let mut all: Vec<Vec<u8>> = cases.iter().map(|c| c.as_bytes().to_vec()).collect();
        all.push(depth.into_bytes());
        all.push(b"{\"a\":\"\xff\"}".to_vec());
        all.push(b"{\"\xc3\x28\":1}".to_vec());
        let keys: String = (0..100).map(|i| format!("\"k{i:03}\":{i},")).collect();
        all.push(format!("{{{}\"last\":0}}", keys).into_bytes());
        for data in all {
            let b = Body {
                data: data.clone(),
                truncated: false,
                mime: Some("application/json".into()),
            };
            let expected: Vec<String> = json_object(&data)
                .map(|m| m.keys().take(MAX_FIELDS).cloned().collect())
                .unwrap_or_default();
            assert_eq!(
                json_fields(&b),
                expected,
                "{}",
                String::from_utf8_lossy(&data)
            );
        }
    }

    #[test]
    fn mime_checks_ignore_case() {
        assert!(is_json(&body("", Some("Application/JSON; charset=utf-8"))));
        assert!(!is_json(&body("", Some("text/plain"))));
        assert!(is_form(&body(
            "",
            Some("APPLICATION/X-WWW-FORM-URLENCODED")
        )));
        assert!(!is_form(&body("a=1", Some("application/json"))));
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
