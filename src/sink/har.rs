//! HAR 1.2 export, streamed: one entry is serialized and written per `Exchange`.
//!
//! Owns: the HAR document frame (`log.version`, `creator` = authtap, `entries`), and each entry's
//! required members (`-1` where a size or timing is unknown). Every URL, header, cookie, body and
//! note goes through `crate::redact::Redactor` (`url`, `header`, `show`, `body`, `scrub`), so the
//! export holds fingerprints instead of secrets unless the redactor includes secrets.
//! Must not: buffer the whole document, or write anything that has not passed the redactor.
//! Known limits: an unknown start time is written as the Unix epoch and an unknown duration as
//! `0` (HAR requires both); non-UTF-8 bodies are written as base64 with secrets included and as
//! lossy, scrubbed text otherwise. authtap-only facts ride in `_tls`, `_notes` and `_truncated`,
//! which `source::har` reads back, so a HAR written with secrets included round-trips.

use std::io::{self, Write};

use serde::Serialize;

use crate::model::{Body, Exchange, Headers};
use crate::redact::Redactor;

#[derive(Serialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct Cookie {
    name: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(rename = "httpOnly", skip_serializing_if = "Option::is_none")]
    http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure: Option<bool>,
}

#[derive(Serialize)]
struct PostData {
    #[serde(rename = "mimeType")]
    mime: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(rename = "_truncated", skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

#[derive(Serialize)]
struct Content {
    size: i64,
    #[serde(rename = "mimeType")]
    mime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(rename = "_truncated", skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    http_version: String,
    cookies: Vec<Cookie>,
    headers: Vec<NameValue>,
    query_string: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData>,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    status: u16,
    status_text: String,
    http_version: String,
    cookies: Vec<Cookie>,
    headers: Vec<NameValue>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    headers_size: i64,
    body_size: i64,
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

#[derive(Serialize)]
struct Timings {
    blocked: f64,
    dns: f64,
    connect: f64,
    send: f64,
    wait: f64,
    receive: f64,
    ssl: f64,
}

#[derive(Serialize)]
struct Tls<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alpn: Option<&'a str>,
    decrypted: bool,
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(rename = "startedDateTime")]
    started: String,
    time: f64,
    request: HarRequest,
    response: HarResponse,
    cache: serde_json::Map<String, serde_json::Value>,
    timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    server_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<&'a str>,
    #[serde(rename = "_tls", skip_serializing_if = "Option::is_none")]
    tls: Option<Tls<'a>>,
    #[serde(rename = "_notes", skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// Writes a HAR 1.2 document entry by entry.
pub struct HarWriter<W: Write> {
    w: W,
    entries: u64,
}

fn headers(h: &Headers, r: &Redactor) -> Vec<NameValue> {
    h.iter()
        .map(|(n, v)| NameValue {
            name: n.to_string(),
            value: r.header(n, v),
        })
        .collect()
}

fn request_cookies(h: &Headers, r: &Redactor) -> Vec<Cookie> {
    h.get_all("cookie")
        .flat_map(|line| line.split(';'))
        .filter_map(|kv| {
            let kv = kv.trim();
            let (name, value) = kv.split_once('=')?;
            Some(Cookie {
                name: name.trim().to_string(),
                value: r.show(value.trim()),
                path: None,
                domain: None,
                http_only: None,
                secure: None,
            })
        })
        .collect()
}

fn response_cookies(h: &Headers, r: &Redactor) -> Vec<Cookie> {
    h.get_all("set-cookie")
        .filter_map(|line| {
            let mut parts = line.split(';');
            let (name, value) = parts.next()?.trim().split_once('=')?;
            let mut c = Cookie {
                name: name.trim().to_string(),
                value: r.show(value.trim()),
                path: None,
                domain: None,
                http_only: None,
                secure: None,
            };
            for attr in parts {
                let (k, v) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
                match k.to_ascii_lowercase().as_str() {
                    "path" => c.path = Some(v.to_string()),
                    "domain" => c.domain = Some(v.to_string()),
                    "httponly" => c.http_only = Some(true),
                    "secure" => c.secure = Some(true),
                    _ => {}
                }
            }
            Some(c)
        })
        .collect()
}

fn query_string(redacted_url: &str) -> Vec<NameValue> {
    let Some((_, query)) = redacted_url.split_once('?') else {
        return Vec::new();
    };
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(n, v)| NameValue {
            name: n.into_owned(),
            value: v.into_owned(),
        })
        .collect()
}

/// Body text as it may be written: (text, encoding, comment).
fn body_text(body: &Body, r: &Redactor) -> (String, Option<&'static str>, Option<&'static str>) {
    use base64::Engine as _;
    match std::str::from_utf8(&body.data) {
        Ok(text) => (r.body(text, body.mime.as_deref()), None, None),
        Err(_) if r.include_secrets() => (
            base64::engine::general_purpose::STANDARD.encode(&body.data),
            Some("base64"),
            None,
        ),
        Err(_) => (
            r.body(&String::from_utf8_lossy(&body.data), body.mime.as_deref()),
            None,
            Some("binary body shown as lossy UTF-8 text after redaction"),
        ),
    }
}

fn started_text(started: Option<i64>) -> String {
    started
        .and_then(chrono::DateTime::from_timestamp_micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl<W: Write> HarWriter<W> {
    /// Write the document header. Entries follow with `write`; `finish` closes the document.
    pub fn new(mut w: W) -> io::Result<Self> {
        let creator = serde_json::json!({"name": "authtap", "version": env!("CARGO_PKG_VERSION")});
        write!(
            w,
            "{{\"log\":{{\"version\":\"1.2\",\"creator\":{creator},\"entries\":["
        )?;
        Ok(Self { w, entries: 0 })
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Write one exchange, redacted through `r`.
    pub fn write(&mut self, ex: &Exchange, r: &Redactor) -> io::Result<()> {
        let url = r.url(&ex.request.url);
        let req_body = &ex.request.body;
        let post_data = if req_body.data.is_empty() && req_body.mime.is_none() {
            None
        } else {
            let (text, encoding, comment) = body_text(req_body, r);
            Some(PostData {
                mime: req_body.mime.as_deref().unwrap_or_default().to_string(),
                text,
                encoding,
                truncated: req_body.truncated,
                comment,
            })
        };
        let request = HarRequest {
            method: ex.request.method.to_string(),
            query_string: query_string(&url),
            url,
            http_version: ex.request.http_version.to_string(),
            cookies: request_cookies(&ex.request.headers, r),
            headers: headers(&ex.request.headers, r),
            post_data,
            headers_size: -1,
            body_size: if req_body.truncated {
                -1
            } else {
                req_body.data.len() as i64
            },
        };
        let response = match &ex.response {
            Some(resp) => {
                let has_body = !resp.body.data.is_empty();
                let (text, encoding, comment) = if has_body {
                    let (t, e, c) = body_text(&resp.body, r);
                    (Some(t), e, c)
                } else {
                    (None, None, None)
                };
                HarResponse {
                    status: resp.status,
                    status_text: r.scrub(&resp.status_text),
                    http_version: resp.http_version.to_string(),
                    cookies: response_cookies(&resp.headers, r),
                    headers: headers(&resp.headers, r),
                    content: Content {
                        size: resp.body.data.len() as i64,
                        mime: resp.body.mime.as_deref().unwrap_or_default().to_string(),
                        text,
                        encoding,
                        truncated: resp.body.truncated,
                        comment,
                    },
                    redirect_url: resp
                        .headers
                        .get("location")
                        .map(|l| r.url(l))
                        .unwrap_or_default(),
                    headers_size: -1,
                    body_size: -1,
                    error: None,
                }
            }
            None => HarResponse {
                status: 0,
                status_text: String::new(),
                http_version: String::new(),
                cookies: Vec::new(),
                headers: Vec::new(),
                content: Content {
                    size: 0,
                    mime: String::new(),
                    text: None,
                    encoding: None,
                    truncated: false,
                    comment: None,
                },
                redirect_url: String::new(),
                headers_size: -1,
                body_size: -1,
                error: Some("no response seen"),
            },
        };
        let time = ex.duration_ms.unwrap_or(0.0);
        let entry = Entry {
            started: started_text(ex.started),
            time,
            request,
            response,
            cache: serde_json::Map::new(),
            timings: Timings {
                blocked: -1.0,
                dns: -1.0,
                connect: -1.0,
                send: 0.0,
                wait: time,
                receive: 0.0,
                ssl: -1.0,
            },
            server_ip: ex.origin.server_addr.as_deref(),
            connection: ex.origin.connection.as_deref(),
            tls: ex.origin.tls.as_ref().map(|t| Tls {
                sni: t.sni.as_deref(),
                version: t.version.as_deref(),
                alpn: t.alpn.as_deref(),
                decrypted: t.decrypted,
            }),
            notes: ex.notes.iter().map(|n| r.scrub(n)).collect(),
        };
        if self.entries > 0 {
            self.w.write_all(b",")?;
        }
        self.w.write_all(b"\n")?;
        serde_json::to_writer(&mut self.w, &entry)?;
        self.entries += 1;
        Ok(())
    }

    /// Close the document and hand back the writer (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        self.w.write_all(b"\n]}}\n")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fingerprint, Request, Response};

    fn exchange() -> Exchange {
        let mut rh = Headers::default();
        rh.push(
            "Authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-secret",
        );
        rh.push("Cookie", "sid=cookie-secret-1; theme=dark");
        rh.push("Content-Type", "application/x-www-form-urlencoded");
        let mut sh = Headers::default();
        sh.push("Set-Cookie", "sess=cookie-secret-2; Path=/; HttpOnly");
        sh.push(
            "Location",
            "https://app/cb#access_token=tok-secret-3&state=s1",
        );
        Exchange {
            input: 0,
            index: 0,
            started: Some(1_700_000_000_123_456),
            duration_ms: Some(42.0),
            request: Request {
                method: "POST".into(),
                url: "https://t.auth0.com/oauth/token?code=code-secret-4&x=1".into(),
                http_version: "HTTP/1.1".into(),
                headers: rh,
                body: Body {
                    data: b"grant_type=password&password=pw-secret-5".to_vec(),
                    truncated: false,
                    mime: Some("application/x-www-form-urlencoded".into()),
                },
            },
            response: Some(Response {
                status: 302,
                status_text: "Found".into(),
                http_version: "HTTP/1.1".into(),
                headers: sh,
                body: Body {
                    data: br#"{"access_token":"at-secret-6","token_type":"Bearer"}"#.to_vec(),
                    truncated: false,
                    mime: Some("application/json".into()),
                },
            }),
            ..Exchange::default()
        }
    }

    fn render(r: &Redactor) -> String {
        let mut w = HarWriter::new(Vec::new()).unwrap();
        w.write(&exchange(), r).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn output_is_valid_har_with_required_fields() {
        let text = render(&Redactor::new(false));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["creator"]["name"], "authtap");
        let e = &v["log"]["entries"][0];
        for key in [
            "startedDateTime",
            "time",
            "request",
            "response",
            "cache",
            "timings",
        ] {
            assert!(e.get(key).is_some(), "missing {key}");
        }
        assert_eq!(e["startedDateTime"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(e["request"]["headersSize"], -1);
        assert_eq!(e["request"]["queryString"][1]["name"], "x");
        assert_eq!(e["response"]["cookies"][0]["httpOnly"], true);
    }

    #[test]
    fn secrets_never_appear_unless_included() {
        let text = render(&Redactor::new(false));
        for secret in [
            "sig-secret",
            "cookie-secret-1",
            "cookie-secret-2",
            "tok-secret-3",
            "code-secret-4",
            "pw-secret-5",
            "at-secret-6",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains(&fingerprint("code-secret-4")));
        assert!(text.contains("theme"));
        let full = render(&Redactor::new(true));
        assert!(full.contains("pw-secret-5") && full.contains("at-secret-6"));
    }
}
