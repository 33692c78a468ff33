//! `application/x-www-form-urlencoded` decoding (query strings, URL fragments, form bodies).
//!
//! Owns splitting on `&`/`=`, `+` → space and percent-decoding (invalid UTF-8 is replaced, never
//! an error). Must not decide what is secret (that is `crate::redact`). Known limits: at most
//! `MAX_PAIRS` pairs are kept per input; the rest are counted in `Form::dropped`.

/// Cap on pairs kept from one string.
pub const MAX_PAIRS: usize = 1024;

/// Decoded pairs in order, duplicates kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub pairs: Vec<(String, String)>,
    /// Pairs beyond `MAX_PAIRS` that were not kept.
    pub dropped: usize,
}

impl Form {
    /// First value of `name` (exact, case-sensitive as OAuth parameters are).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }
}

/// Percent-decode one component, `+` meaning space.
pub fn decode_component(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parse `a=1&b=two+words&c` (a leading `?` or `#` is skipped).
pub fn parse(s: &str) -> Form {
    let s = s.strip_prefix(['?', '#']).unwrap_or(s);
    let mut form = Form::default();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        if form.pairs.len() >= MAX_PAIRS {
            form.dropped += 1;
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        form.pairs.push((decode_component(k), decode_component(v)));
    }
    form
}

/// Query string of a URL (between `?` and `#`), if any.
pub fn query_of(url: &str) -> Option<&str> {
    let before_frag = url.split('#').next().unwrap_or(url);
    before_frag.split_once('?').map(|(_, q)| q)
}

/// Fragment of a URL (after `#`), if any.
pub fn fragment_of(url: &str) -> Option<&str> {
    url.split_once('#').map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_duplicates() {
        let f = parse("?scope=openid+profile%20email&state=a%2Fb&flag&state=2");
        assert_eq!(f.get("scope"), Some("openid profile email"));
        assert_eq!(f.get("state"), Some("a/b"));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.pairs.len(), 4);
    }

    #[test]
    fn invalid_percent_and_utf8_do_not_fail() {
        let f = parse("a=%ZZ&b=%ff%fe&c=%");
        assert_eq!(f.get("a"), Some("%ZZ"));
        assert_eq!(f.get("c"), Some("%"));
        assert!(f.get("b").is_some());
    }

    #[test]
    fn caps_pairs() {
        let s = "a=1&".repeat(MAX_PAIRS + 5);
        let f = parse(&s);
        assert_eq!(f.pairs.len(), MAX_PAIRS);
        assert_eq!(f.dropped, 5);
    }

    #[test]
    fn query_and_fragment_split() {
        let u = "https://app/cb?x=1#access_token=t&state=s";
        assert_eq!(query_of(u), Some("x=1"));
        assert_eq!(fragment_of(u), Some("access_token=t&state=s"));
        assert_eq!(query_of("https://app/cb#a?b"), None);
    }
}
