//! A tiny model of Chrome for scenarios: navigation vs fetch headers, the tenant's cookies,
//! and CORS preflights (cached per method + URL, like Chrome's preflight cache).
//!
//! Owns: the request headers a browser would send. Must not interpret responses beyond
//! storing `set-cookie`. Limits: cookie handling is name=value only, for the tenant host;
//! app pages are not requested when the transport has no browser extras (curl).

use std::collections::HashSet;

use crate::http::{Request, Response};
use crate::scenario::{expect, Env, Initiator, ScenarioError, Step, Transport};

pub const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SEC_CH_UA: &str =
    "\"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"";

pub struct Browser {
    env: Env,
    cookies: Vec<(String, String)>,
    preflighted: HashSet<(String, String)>,
    page: String,
}

impl Browser {
    pub fn new(env: &Env) -> Self {
        Browser {
            env: env.clone(),
            cookies: Vec::new(),
            preflighted: HashSet::new(),
            page: format!("{}/", env.app_origin),
        }
    }

    fn is_tenant(&self, url: &str) -> bool {
        url.starts_with(&format!("https://{}/", self.env.domain))
    }

    fn remember_cookies(&mut self, resp: &Response) {
        for (k, v) in &resp.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                if let Some((name, value)) = v.split(';').next().and_then(|nv| nv.split_once('=')) {
                    self.cookies.retain(|(n, _)| n != name);
                    self.cookies.push((name.to_string(), value.to_string()));
                }
            }
        }
    }

    fn common(&self, mut r: Request) -> Request {
        r = r
            .header("sec-ch-ua", SEC_CH_UA)
            .header("sec-ch-ua-mobile", "?0")
            .header("sec-ch-ua-platform", "\"Linux\"")
            .header("user-agent", CHROME_UA)
            .header("accept-language", "en-US,en;q=0.9")
            .header("accept-encoding", "gzip, deflate, br, zstd");
        r
    }

    /// A top-level navigation; app-origin pages are skipped for transports without
    /// browser extras (they are not part of the tenant's traffic).
    pub fn navigate(
        &mut self,
        t: &mut dyn Transport,
        name: &str,
        url: &str,
        expected: u16,
    ) -> Result<Response, ScenarioError> {
        let tenant = self.is_tenant(url);
        if !tenant && !t.browser_extras() {
            self.page = url.to_string();
            return Ok(Response::new(expected));
        }
        let mut r = self.common(Request::new("GET", url))
            .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
            .header("upgrade-insecure-requests", "1")
            .header("sec-fetch-site", if tenant { "cross-site" } else { "same-origin" })
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-user", "?1")
            .header("sec-fetch-dest", "document")
            .header("referer", &self.page);
        if tenant && !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            r = r.header("cookie", &c.join("; "));
        }
        let resp = expect(
            t,
            Step {
                name: name.to_string(),
                request: r,
                initiator: Initiator::Navigation,
            },
            expected,
        )?;
        if tenant {
            self.remember_cookies(&resp);
        } else {
            self.page = url.to_string();
        }
        Ok(resp)
    }

    #[allow(clippy::too_many_arguments)]
    /// A script `fetch` from the app page, with a CORS preflight first when Chrome would
    /// send one (non-simple method, Authorization or JSON content type).
    pub fn fetch(
        &mut self,
        t: &mut dyn Transport,
        name: &str,
        method: &str,
        url: &str,
        bearer: Option<&str>,
        body: Option<Request>,
        expected: u16,
    ) -> Result<Response, ScenarioError> {
        let json_body = body
            .as_ref()
            .and_then(|b| b.get_header("content-type"))
            .map(|c| c.starts_with("application/json"))
            .unwrap_or(false);
        let simple_method = matches!(method, "GET" | "HEAD" | "POST");
        let needs_preflight = !simple_method || bearer.is_some() || json_body;
        let origin = self.env.app_origin.clone();
        if needs_preflight
            && t.browser_extras()
            && self
                .preflighted
                .insert((method.to_string(), url.to_string()))
        {
            let mut req_headers: Vec<&str> = Vec::new();
            if bearer.is_some() {
                req_headers.push("authorization");
            }
            if json_body {
                req_headers.push("content-type");
            }
            let pre = Request::new("OPTIONS", url)
                .header("accept", "*/*")
                .header("access-control-request-method", method)
                .header("access-control-request-headers", &req_headers.join(","))
                .header("origin", &origin)
                .header("user-agent", CHROME_UA)
                .header("sec-fetch-mode", "cors")
                .header("sec-fetch-site", "cross-site")
                .header("sec-fetch-dest", "empty")
                .header("referer", &format!("{origin}/"))
                .header("accept-encoding", "gzip, deflate, br, zstd")
                .header("accept-language", "en-US,en;q=0.9");
            expect(
                t,
                Step {
                    name: format!("{name} (preflight)"),
                    request: pre,
                    initiator: Initiator::Preflight,
                },
                204,
            )?;
        }
        let mut r = self.common(Request::new(method, url));
        r = r.header("accept", "*/*");
        if let Some(tok) = bearer {
            r = r.bearer(tok);
        }
        if let Some(b) = body {
            for (k, v) in b.headers {
                r = r.header(&k, &v);
            }
            r.body = b.body;
        }
        r = r
            .header("origin", &origin)
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "cors")
            .header("sec-fetch-dest", "empty")
            .header("referer", &format!("{origin}/"));
        expect(
            t,
            Step {
                name: name.to_string(),
                request: r,
                initiator: Initiator::Script,
            },
            expected,
        )
    }
}

/// Builds a `/authorize` URL with parameters in the given order.
pub fn authorize_url(env: &Env, params: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    env.tenant_url(&format!("/authorize?{q}"))
}

/// A body-only request used to pass a JSON body to `Browser::fetch`.
pub fn json(value: &serde_json::Value) -> Request {
    Request::new("POST", "about:blank").json_body(value)
}

/// A body-only request used to pass a form body to `Browser::fetch`.
pub fn form(pairs: &[(&str, &str)]) -> Request {
    Request::new("POST", "about:blank").form_body(pairs)
}
