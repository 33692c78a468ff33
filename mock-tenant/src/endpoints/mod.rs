//! Endpoint handlers of the mock tenant, one file per Auth0 surface.
//! Each handler takes the tenant and a request and returns a response; none does I/O.

pub mod authorize;
pub mod management;
pub mod oidc;
pub mod token;

/// Minimal HTML escaping for attribute and text content.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
