//! Plain HTTP request/response values exchanged with the in-process tenant.
//!
//! Owns: the `Request`/`Response` structs, header lookup, URL/query/form/JSON parameter
//! extraction and the reason phrases. Must not do I/O or know about Auth0 semantics.
//! Limits: bodies are held in memory (the mock serves tiny test payloads only); parameter
//! parsing is lax (an unparsable body yields no parameters rather than an error).

use url::Url;

/// One HTTP request as the tenant sees it. `url` is absolute (`https://host/path?query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// Header names as sent; lookups are case-insensitive.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One HTTP response produced by the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lower-case header names (HTTP/2 style), in emission order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json_body(mut self, value: &serde_json::Value) -> Self {
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = value.to_string().into_bytes();
        self
    }

    pub fn form_body(mut self, pairs: &[(&str, &str)]) -> Self {
        self.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        self.body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes();
        self
    }

    /// First header with this name (case-insensitive).
    pub fn get_header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn parsed_url(&self) -> Option<Url> {
        Url::parse(&self.url).ok()
    }

    /// Path of the URL, or `/` when the URL does not parse.
    pub fn path(&self) -> String {
        self.parsed_url()
            .map(|u| u.path().to_string())
            .unwrap_or_else(|| "/".to_string())
    }

    /// Host without port, from the URL (falling back to the Host header).
    pub fn host(&self) -> Option<String> {
        if let Some(h) = self
            .parsed_url()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            return Some(h);
        }
        self.get_header("host")
            .map(|h| h.split(':').next().unwrap_or(h).to_string())
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.parsed_url()
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    /// Parameters from a form-urlencoded or JSON object body (JSON values that are not
    /// strings are rendered with their JSON text).
    pub fn body_params(&self) -> Vec<(String, String)> {
        let ct = self.get_header("content-type").unwrap_or("");
        if ct.starts_with("application/json") {
            if let Ok(serde_json::Value::Object(map)) =
                serde_json::from_slice::<serde_json::Value>(&self.body)
            {
                return map
                    .into_iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect();
            }
            return Vec::new();
        }
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let mut r = Response::new(status);
        r.headers.push((
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        ));
        r.body = value.to_string().into_bytes();
        r
    }

    pub fn html(status: u16, html: String) -> Self {
        let mut r = Response::new(status);
        r.headers
            .push(("content-type".into(), "text/html; charset=utf-8".into()));
        r.body = html.into_bytes();
        r
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json_value(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Standard reason phrase for the status codes the tenant emits.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "",
    }
}
