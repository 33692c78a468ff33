//! How a request to a protected API carried its credential: `Authorization` header, URL token,
//! nothing, or a header the export removed.
//!
//! Owns the `Credential` decision for `/api/v2/*`, `/userinfo` and bearer calls to other APIs.
//! Must not put any part of a token into `Malformed::reason` (reasons are shown to users).
//!
//! The sanitized-HAR heuristic: Chrome's "Export HAR (sanitized)" and similar tools drop the
//! `Authorization` header but keep the response. When a request has no `Authorization` header and
//! no `access_token` query parameter, yet the response could only follow a presented token, we
//! say `Stripped` (credential unknown) instead of `None`. Those responses are: any 2xx (these
//! endpoints all require a token, auth0-facts.md §3.3/§1.5); 403 "Insufficient scope" (the token
//! was read, §2.3); 401 "Invalid token" / "Expired token ..." / "Bad audience" / "Invalid
//! signature" / "Token has expired" (§2.2); 400 "Bad HTTP authentication header format" (a header
//! was there but not a JWT, §2.2); or a `WWW-Authenticate` with `error="invalid_token"` or
//! `"insufficient_scope"`. A 401 "Missing authentication" means there really was none → `None`.
//! Export tools that keep the header but replace its value (`[REDACTED]`, `Bearer ****`) are
//! `Stripped` too (`looks_redacted`).
//! Known limit: a sanitized export of a request that genuinely had no header but got one of those
//! answers (impossible per Auth0's behaviour) would be mislabelled.

use super::errors::{insufficient_scopes, parse_mgmt_error, parse_www_authenticate};
use crate::decode::form;
use crate::model::{Auth0Error, Credential, Exchange, Token, TokenRole};

/// How tokens are decoded (the classifier passes its memo; tests pass `decode::jwt::decode`).
pub type Decode<'a> = &'a mut dyn FnMut(&str, TokenRole) -> Token;

fn malformed(reason: &str) -> Credential {
    Credential::Malformed {
        reason: reason.to_string(),
    }
}

/// Whether a header value was replaced by an export tool's placeholder (`[REDACTED]`,
/// `Bearer ****`, `<hidden>`...): the credential is unknown, not malformed.
pub fn looks_redacted(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "redacted",
        "filtered",
        "removed",
        "sanitized",
        "sanitised",
        "hidden",
        "masked",
        "omitted",
    ];
    let v = value.trim();
    let cred = v.split_once(' ').map(|(_, c)| c.trim()).unwrap_or(v);
    let filler = cred.len() >= 3
        && (cred.bytes().all(|b| b == b'*') || cred.bytes().all(|b| b == b'x' || b == b'X'));
    // Placeholders are short; a long value is a token even if its base64 spells a word.
    filler
        || (v.len() <= 48 && {
            let lower = v.to_ascii_lowercase();
            WORDS.iter().any(|w| lower.contains(w))
        })
}

/// Interpret one `Authorization` header value.
pub fn from_authorization(value: &str, dec: Decode<'_>) -> Credential {
    if looks_redacted(value) {
        return Credential::Stripped;
    }
    let v = value.trim_end_matches(['\r', '\n']);
    if v.trim().is_empty() {
        return malformed("the Authorization header is empty; expected `Bearer <access token>`");
    }
    let Some((scheme, rest)) = v.trim_start().split_once(' ') else {
        return if v.trim().eq_ignore_ascii_case("bearer") {
            malformed("`Bearer` without a token; the access token is missing")
        } else {
            malformed("no scheme: the header holds a bare value; expected `Bearer <access token>`")
        };
    };
    // Only a word-like scheme is echoed; anything else might be part of a secret.
    let shown =
        if scheme.len() <= 20 && scheme.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            scheme
        } else {
            "(not a scheme name)"
        };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credential::Malformed {
            reason: format!(
                "scheme `{shown}` instead of `Bearer`; the Management API and /userinfo take `Bearer <access token>`"
            ),
        };
    }
    if scheme != "Bearer" {
        return Credential::Malformed {
            reason: format!("scheme written `{shown}`; write it exactly `Bearer <access token>`"),
        };
    }
    if rest.trim().is_empty() {
        return malformed("`Bearer` with an empty token; the access token variable was empty");
    }
    if rest.starts_with([' ', '\t']) {
        return malformed("more than one space after `Bearer`");
    }
    let tok = rest.trim_end();
    if ["undefined", "null", "none", "[object object]", "nil"]
        .iter()
        .any(|w| tok.eq_ignore_ascii_case(w))
    {
        return Credential::Malformed {
            reason: format!(
                "the token is the literal `{tok}`: the variable holding it was not set"
            ),
        };
    }
    if tok.starts_with(['{', '[']) {
        return malformed(
            "the token is a serialized object (`{...}`), not the access_token string from it",
        );
    }
    if tok.starts_with(['"', '\'']) {
        return malformed("the token is wrapped in quotes");
    }
    if tok
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer"))
    {
        return malformed("the scheme is repeated (`Bearer Bearer <token>`)");
    }
    let spaced = if tok.is_ascii() {
        // No early exit on purpose: the loop vectorizes, and tokens are long.
        tok.bytes()
            .fold(false, |acc, b| acc | b.is_ascii_whitespace())
    } else {
        tok.contains(char::is_whitespace)
    };
    if spaced {
        return malformed("the token contains spaces; it is not one token");
    }
    Credential::Bearer(dec(tok, TokenRole::Unknown))
}

/// Whether the response implies a token was presented (see the module comment).
pub fn response_implies_token(ex: &Exchange) -> bool {
    let error = ex
        .response
        .as_ref()
        .filter(|r| r.status >= 400)
        .and_then(|r| parse_mgmt_error(&r.body.data));
    response_implies_token_with(ex, error.as_ref())
}

/// [`response_implies_token`] with the response's error body already parsed
/// (`parse_mgmt_error` of a status ≥ 400 answer), so a body is parsed once per call.
pub fn response_implies_token_with(ex: &Exchange, error: Option<&Auth0Error>) -> bool {
    let Some(resp) = &ex.response else {
        return false;
    };
    let status = resp.status;
    if (200..300).contains(&status) {
        return true;
    }
    if let Some((err, _, _)) = resp
        .headers
        .get("www-authenticate")
        .and_then(parse_www_authenticate)
    {
        if err == "invalid_token" || err == "insufficient_scope" {
            return true;
        }
    }
    // Only 400/401/403 read the message below, so a parse of ≥ 400 answers is enough.
    let message = error
        .and_then(|e| e.message.as_deref().or(e.error_code.as_deref()))
        .unwrap_or_default();
    match status {
        403 => insufficient_scopes(message).is_some(),
        401 => {
            let m = message.to_ascii_lowercase();
            [
                "invalid token",
                "expired token",
                "bad audience",
                "invalid signature",
                "token has expired",
            ]
            .iter()
            .any(|needle| m.contains(needle))
        }
        400 => message.contains("Bad HTTP authentication header format"),
        _ => false,
    }
}

/// The credential of an API request.
pub fn of_request(ex: &Exchange, dec: Decode<'_>) -> Credential {
    let error = ex
        .response
        .as_ref()
        .filter(|r| r.status >= 400)
        .and_then(|r| parse_mgmt_error(&r.body.data));
    of_request_with(ex, error.as_ref(), dec)
}

/// [`of_request`] with the response's error body already parsed (see
/// [`response_implies_token_with`]).
pub fn of_request_with(ex: &Exchange, error: Option<&Auth0Error>, dec: Decode<'_>) -> Credential {
    if let Some(h) = ex.request.headers.get("authorization") {
        return from_authorization(h, dec);
    }
    if let Some(tok) = form::query_of(&ex.request.url)
        .map(form::parse)
        .and_then(|f| f.get("access_token").map(str::to_string))
        .filter(|t| !t.is_empty())
    {
        return Credential::QueryToken(dec(&tok, TokenRole::Access));
    }
    if response_implies_token_with(ex, error) {
        Credential::Stripped
    } else {
        Credential::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::jwt::decode;
    use crate::model::{Body, Headers, Request, Response};

    fn fa(v: &str) -> Credential {
        from_authorization(v, &mut decode)
    }

    fn of(ex: &Exchange) -> Credential {
        of_request(ex, &mut decode)
    }

    fn ex(auth: Option<&str>, url: &str, status: u16, body: &str) -> Exchange {
        let mut headers = Headers::default();
        if let Some(a) = auth {
            headers.push("Authorization", a);
        }
        Exchange {
            request: Request {
                method: "GET".into(),
                url: url.into(),
                headers,
                ..Request::default()
            },
            response: Some(Response {
                status,
                body: Body {
                    data: body.as_bytes().to_vec(),
                    ..Body::default()
                },
                ..Response::default()
            }),
            ..Exchange::default()
        }
    }

    const URL: &str = "https://t.auth0.com/api/v2/users/auth0%7C1";

    #[test]
    fn bearer_is_decoded() {
        match of(&ex(Some("Bearer abc.def.ghi"), URL, 200, "{}")) {
            Credential::Bearer(t) => assert_eq!(&*t.raw, "abc.def.ghi"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_headers_never_echo_the_token() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJlc2VjcmV0";
        let cases = [
            format!("bearer {secret}"),
            format!("Token {secret}"),
            format!("Basic {secret}"),
            "Bearer ".to_string(),
            "Bearer".to_string(),
            format!("Bearer  {secret}"),
            format!("Bearer {{'access_token': '{secret}'}}"),
            format!("Bearer \"{secret}\""),
            format!("Bearer Bearer {secret}"),
            format!("Bearer {secret} extra"),
            "Bearer undefined".to_string(),
            secret.to_string(),
            format!("{secret} trailing"),
            String::new(),
        ];
        for c in cases {
            match fa(&c) {
                Credential::Malformed { reason } => {
                    assert!(!reason.contains("eyJhbGci"), "{reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{c:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn redacted_placeholders_are_stripped() {
        for v in [
            "[REDACTED]",
            "Bearer [redacted]",
            "Bearer ****",
            "<hidden>",
            "Bearer xxxxxxxx",
            "Bearer [Filtered]",
        ] {
            assert_eq!(fa(v), Credential::Stripped, "{v}");
        }
        assert!(matches!(fa("Bearer abc.def.ghi"), Credential::Bearer(_)));
    }

    #[test]
    fn query_token() {
        let e = ex(
            None,
            &format!("{URL}?access_token=abcdefghijklmnop"),
            200,
            "",
        );
        assert!(matches!(of(&e), Credential::QueryToken(t) if &*t.raw == "abcdefghijklmnop"));
    }

    #[test]
    fn sanitized_export_heuristic() {
        let stripped = [
            (200, "{}"),
            (
                403,
                r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users","errorCode":"insufficient_scope"}"#,
            ),
            (
                401,
                r#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}}"#,
            ),
            (
                401,
                r#"{"statusCode":401,"error":"Unauthorized","message":"Expired token received for JSON Web Token validation"}"#,
            ),
            (
                401,
                r#"{"statusCode":401,"error":"Unauthorized","message":"Bad audience: https://myaudience.com/api/v2"}"#,
            ),
            (
                400,
                r#"{"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"}"#,
            ),
        ];
        for (st, body) in stripped {
            assert_eq!(
                of(&ex(None, URL, st, body)),
                Credential::Stripped,
                "{st} {body}"
            );
        }
        let none = [
            (
                401,
                r#"{"statusCode":401,"error":"Unauthorized","message":"Missing authentication"}"#,
            ),
            (
                429,
                r#"{"statusCode":429,"message":"Global limit has been reached"}"#,
            ),
            (404, "{}"),
        ];
        for (st, body) in none {
            assert_eq!(of(&ex(None, URL, st, body)), Credential::None, "{st}");
        }
        let mut no_resp = ex(None, URL, 200, "");
        no_resp.response = None;
        assert_eq!(of(&no_resp), Credential::None);
    }
}
