//! Pulls OAuth results out of the two HTML pages Auth0 uses to hand them back
//! (auth0-facts.md §3.1 "How results come back"):
//! - `form_post`: an auto-submitting `<form method="post" action="REDIRECT_URI">` with
//!   `<input type="hidden" name="code" value="...">` fields;
//! - `web_message`: a script holding `{type: "authorization_response", response: {...}}` that is
//!   `postMessage`d to the opener (silent auth, §2.6).
//!
//! Owns tolerant, regex-based extraction (attribute order, quote style, HTML entities, JS string
//! escapes). Must not execute or fully parse HTML. Known limits: only the first form and the
//! first `authorization_response` object are read; at most `MAX_FIELDS` fields are kept; nested
//! objects inside `response` are not supported.

use std::sync::OnceLock;

use regex::Regex;

/// Cap on fields kept per page.
pub const MAX_FIELDS: usize = 64;

/// Fields found on a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageFields {
    /// `action` of the form (form_post only).
    pub action: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl PageFields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn re(cell: &'static OnceLock<Option<Regex>>, pat: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pat).ok()).as_ref()
}

/// Decode the few HTML entities Auth0 templates emit (`&amp; &quot; &#39; &#x2F; &lt; &gt;`).
pub fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let tail = rest.get(i..).unwrap_or("");
        let end = tail.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let ent = tail.get(1..e)?;
            let c = match ent {
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                "lt" => '<',
                "gt" => '>',
                _ => {
                    let num = ent.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = tail.get(e + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    static ATTR: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &ATTR,
        r#"(?is)\b([a-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#,
    )?;
    re.captures_iter(tag).find_map(|c| {
        let n = c.get(1)?.as_str();
        if !n.eq_ignore_ascii_case(name) {
            return None;
        }
        let v = c.get(2).or_else(|| c.get(3)).or_else(|| c.get(4))?;
        Some(unescape_html(v.as_str()))
    })
}

/// Hidden inputs of the first POST form (a `form_post` response page). `None` when the page has
/// no form with hidden inputs.
pub fn form_post_fields(html: &str) -> Option<PageFields> {
    static FORM: OnceLock<Option<Regex>> = OnceLock::new();
    static INPUT: OnceLock<Option<Regex>> = OnceLock::new();
    let form_re = re(&FORM, r"(?is)<form\b[^>]*>")?;
    let input_re = re(&INPUT, r"(?is)<input\b[^>]*>")?;
    let form_tag = form_re.find(html)?;
    let mut page = PageFields {
        action: attr(form_tag.as_str(), "action"),
        fields: Vec::new(),
    };
    let after = html.get(form_tag.end()..).unwrap_or("");
    let body = match after.to_ascii_lowercase().find("</form") {
        Some(end) => after.get(..end).unwrap_or(after),
        None => after,
    };
    for m in input_re.find_iter(body) {
        if page.fields.len() >= MAX_FIELDS {
            break;
        }
        let tag = m.as_str();
        let hidden = attr(tag, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden"));
        if let (true, Some(name)) = (hidden, attr(tag, "name")) {
            page.fields
                .push((name, attr(tag, "value").unwrap_or_default()));
        }
    }
    (!page.fields.is_empty()).then_some(page)
}

fn js_string(raw: &str, quote: char) -> String {
    if quote == '"' {
        if let Ok(s) = serde_json::from_str::<String>(&format!("\"{raw}\"")) {
            return s;
        }
    }
    // Minimal JS unescape: \xHH, \/, \', \\ ; anything else is kept as written.
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                match u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\x");
                        out.push_str(&h);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The `response` object of a `web_message` page (`authorization_response`).
pub fn web_message_fields(html: &str) -> Option<PageFields> {
    static RESP: OnceLock<Option<Regex>> = OnceLock::new();
    static PAIR: OnceLock<Option<Regex>> = OnceLock::new();
    let start = html.find("authorization_response")?;
    let tail = html.get(start..)?;
    let resp_re = re(&RESP, r#"(?s)["']?response["']?\s*:\s*\{"#)?;
    let m = resp_re.find(tail)?;
    let obj = tail.get(m.end()..)?;
    let obj = obj.get(..obj.find('}').unwrap_or(obj.len()))?;
    let pair_re = re(
        &PAIR,
        r#"(?s)["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?[0-9]+))"#,
    )?;
    let mut page = PageFields::default();
    for c in pair_re.captures_iter(obj) {
        if page.fields.len() >= MAX_FIELDS {
            break;
        }
        let Some(k) = c.get(1) else { continue };
        let v = if let Some(v) = c.get(2) {
            js_string(v.as_str(), '"')
        } else if let Some(v) = c.get(3) {
            js_string(v.as_str(), '\'')
        } else {
            c.get(4).map(|v| v.as_str().to_string()).unwrap_or_default()
        };
        page.fields.push((k.as_str().to_string(), v));
    }
    (!page.fields.is_empty()).then_some(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM_POST: &str = r#"<html><head><title>Submit This Form</title></head>
<body onload="javascript:document.forms[0].submit()">
<form method="post" action="https://app.example.com/callback">
<input type="hidden" name="code" value="SplxlOBeZQQYbYS6WxSbIA"/>
<input value='af0ifjsldkj&amp;x' name='state' type='hidden'>
<input type="submit" name="go" value="Go">
</form></body></html>"#;

    #[test]
    fn form_post_page_fields() {
        let f = form_post_fields(FORM_POST).expect("fields");
        assert_eq!(
            f.action.as_deref(),
            Some("https://app.example.com/callback")
        );
        assert_eq!(f.get("code"), Some("SplxlOBeZQQYbYS6WxSbIA"));
        assert_eq!(f.get("state"), Some("af0ifjsldkj&x"));
        assert_eq!(f.get("go"), None, "non-hidden inputs are skipped");
    }

    #[test]
    fn web_message_page_fields() {
        let html = r#"<script>(function(window, document) {
 var targetOrigin = "https://app.example.com";
 var authorizationResponse = {type: "authorization_response", response: {"code":"abc\u002Fdef","state":"st8"}};
 window.parent.postMessage(authorizationResponse, targetOrigin);
})(this, this.document);</script>"#;
        let f = web_message_fields(html).expect("fields");
        assert_eq!(f.get("code"), Some("abc/def"));
        assert_eq!(f.get("state"), Some("st8"));
    }

    #[test]
    fn web_message_error_single_quotes() {
        let html = "postMessage({type:'authorization_response', response:{error:'login_required', error_description:'Login required', state:'s\\x31'}})";
        let f = web_message_fields(html).expect("fields");
        assert_eq!(f.get("error"), Some("login_required"));
        assert_eq!(f.get("error_description"), Some("Login required"));
        assert_eq!(f.get("state"), Some("s1"));
    }

    #[test]
    fn pages_without_results() {
        assert!(form_post_fields("<html><body>hello</body></html>").is_none());
        assert!(web_message_fields("<script>var x = {response: {a:'b'}}</script>").is_none());
        assert_eq!(unescape_html("a&#x2F;b&#47;c&bogus;&"), "a/b/c&bogus;&");
    }
}
