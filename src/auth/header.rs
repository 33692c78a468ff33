//! Header-name matching for the per-call lookups of the classifier (`Authorization`, the
//! rate-limit headers): the common spellings are compared byte for byte first, and only other
//! spellings pay the case-insensitive comparison (which folds every byte).
//!
//! Must give exactly what `Headers::get` gives (first header of that name, any case). Known
//! limit: only as fast as `Headers::get` for names in unusual case (`AUTHORIZATION`).

use crate::model::Headers;

/// `name` equals `lower` ignoring ASCII case; `lower` must be lowercase, `usual` is another
/// common spelling (e.g. `Authorization`) tried before folding.
pub fn name_is(name: &str, lower: &str, usual: &str) -> bool {
    name.len() == lower.len()
        && (name == lower || name == usual || name.eq_ignore_ascii_case(lower))
}

/// First value of the header `lower` (lowercase) / `usual` (its usual spelling), any case:
/// `h.get(lower)`.
pub fn get<'a>(h: &'a Headers, lower: &str, usual: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| name_is(n, lower, usual))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_headers_get_in_any_case() {
        let mut h = Headers::default();
        h.push("Host", "t.auth0.com");
        h.push("AUTHORIZATION", "Bearer first");
        h.push("authorization", "Bearer second");
        h.push("Authorisation", "Bearer typo");
        for (lower, usual) in [
            ("authorization", "Authorization"),
            ("host", "Host"),
            ("x-missing", "X-Missing"),
        ] {
            assert_eq!(get(&h, lower, usual), h.get(lower), "{lower}");
        }
        assert_eq!(
            get(&h, "authorization", "Authorization"),
            Some("Bearer first")
        );
        assert!(name_is("Authorization", "authorization", "Authorization"));
        assert!(name_is("aUTHORIZATION", "authorization", "Authorization"));
        assert!(!name_is("authorizatio", "authorization", "Authorization"));
        assert!(!name_is("authorizatioN-", "authorization", "Authorization"));
    }
}
