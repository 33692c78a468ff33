//! Engine-level stories: hand-built `Exchange`s (as a HAR or proxy would produce them) go through
//! the real classifier, correlator and diagnoser; the tests assert the exact set of rule ids and
//! that no raw token, code or secret appears in any finding.
//!
//! Tokens are RS256-signed with the auth branch's test key (`src/decode/testdata`, kid
//! `test-rsa-1`), so the JWKS-based signature check runs for real. Bodies and messages follow
//! `../shared/reference/auth0-facts.md` §2.2, §2.3, §2.4, §2.5, §3.1.

use std::collections::BTreeSet;

use authtap::engine::{Engine, EngineConfig};
use authtap::model::{Body, Exchange, Finding, Headers, Request, Response};
use serde_json::{json, Value};

const HOST: &str = "dev-forum.us.auth0.com";
const CLIENT: &str = "FoRuMcLiEnTiD0123456789abcdefAB";
const USER: &str = "auth0|5f1a2b3c4d5e6f7a8b9c0d1e";
const NOW: i64 = 1_800_000_000;
const KEY: &str = include_str!("../src/decode/testdata/rsa_test_key.pem");
const JWKS: &str = include_str!("../src/decode/testdata/rsa_test_jwks.json");
const DB_PASSWORD: &str = "C0uchDB-Pa55w0rd!";

fn sign(claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("test-rsa-1".into());
    h.typ = Some("JWT".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(KEY.as_bytes()).expect("test key parses");
    jsonwebtoken::encode(&h, claims, &key).expect("test token signs")
}

fn mgmt_aud() -> String {
    format!("https://{HOST}/api/v2/")
}

fn access_token(scope: &str) -> String {
    sign(&json!({
        "iss": format!("https://{HOST}/"), "sub": USER,
        "aud": [mgmt_aud(), format!("https://{HOST}/userinfo")],
        "azp": CLIENT, "iat": NOW - 10, "exp": NOW + 7200, "scope": scope,
    }))
}

fn id_token(nonce: &str, extra: Value) -> String {
    let mut c = json!({
        "iss": format!("https://{HOST}/"), "sub": USER, "aud": CLIENT,
        "iat": NOW - 10, "exp": NOW + 36000, "nonce": nonce,
        "name": "Jane Doe", "email": "jane@example.com",
    });
    if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
        o.extend(e);
    }
    sign(&c)
}

/// The newer opaque token Auth0 issues without an audience (JWE, `alg: dir`, auth0-facts §4.1).
fn jwe() -> String {
    use base64::Engine as _;
    let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({"alg": "dir", "enc": "A256GCM", "iss": format!("https://{HOST}/")}).to_string(),
    );
    format!("{h}..bGRvaGdyX0FsNm1YMGFabg.UzhJQUhCX2NpcGhlcnRleHQxMjM0NTY.SG1heFdpWjhQRTBrOHBGOA")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Story {
    exchanges: Vec<Exchange>,
}

impl Story {
    fn new() -> Self {
        Self {
            exchanges: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        status: u16,
        resp_headers: &[(&str, &str)],
        resp_body: &str,
    ) {
        let index = self.exchanges.len();
        let mut h = Headers::default();
        for (k, v) in headers {
            h.push(*k, *v);
        }
        let mut rh = Headers::default();
        for (k, v) in resp_headers {
            rh.push(*k, *v);
        }
        let mime = |hs: &Headers| hs.get("content-type").map(str::to_string);
        self.exchanges.push(Exchange {
            input: 0,
            index,
            started: Some((NOW + index as i64) * 1_000_000),
            duration_ms: Some(12.0),
            request: Request {
                method: method.to_string().into(),
                url: url.into(),
                http_version: "HTTP/2".into(),
                body: Body {
                    data: body.as_bytes().to_vec(),
                    truncated: false,
                    mime: mime(&h).map(Into::into),
                },
                headers: h,
            },
            response: Some(Response {
                status,
                status_text: "".into(),
                http_version: "HTTP/2".into(),
                body: Body {
                    data: resp_body.as_bytes().to_vec(),
                    truncated: false,
                    mime: mime(&rh).map(Into::into),
                },
                headers: rh,
            }),
            ..Exchange::default()
        });
    }

    /// An implicit-grant /authorize answered with a fragment redirect (auth0-facts §3.1).
    fn implicit(&mut self, state: &str, scope: &str, audience: Option<&str>, fragment: &str) {
        let mut url = format!(
            "https://{HOST}/authorize?client_id={CLIENT}&response_type={}&redirect_uri={}&scope={}&state={state}&nonce=n-{state}",
            enc("token id_token"),
            enc("http://localhost:3000/callback"),
            enc(scope)
        );
        if let Some(a) = audience {
            url.push_str(&format!("&audience={}", enc(a)));
        }
        let location = format!("http://localhost:3000/callback#{fragment}&state={state}");
        self.push("GET", &url, &[], "", 302, &[("location", &location)], "");
    }

    fn patch_user(&mut self, auth: Option<&str>, status: u16, body: &str) {
        let url = format!("https://{HOST}/api/v2/users/{}", enc(USER));
        let bearer = auth.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        self.push(
            "PATCH",
            &url,
            &headers,
            r#"{"user_metadata":{"theme":"dark"}}"#,
            status,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        );
    }

    fn run(&self, config: EngineConfig) -> (Engine, Vec<Finding>, usize) {
        let mut engine = Engine::new(config);
        let mut pushed = 0;
        for ex in &self.exchanges {
            pushed += engine.push(ex).findings.len();
        }
        let _ = engine.finish();
        let findings = engine.findings();
        (engine, findings, pushed)
    }
}

fn ids(f: &[Finding]) -> BTreeSet<&'static str> {
    f.iter().map(|f| f.rule).collect()
}

fn text(f: &[Finding]) -> String {
    serde_json::to_string(f).unwrap_or_default()
}

fn assert_no_secrets(findings: &[Finding], secrets: &[&str]) {
    let all: String = findings
        .iter()
        .map(|f| format!("{} {} {} {}", f.title, f.explanation, f.fix, f.rule))
        .collect();
    for s in secrets {
        assert!(
            !all.contains(s),
            "a raw secret leaked into a finding: {}…",
            &s[..s.len().min(12)]
        );
    }
}

/// The forum thread: implicit grant without audience → opaque token → 400; the ID token → 401;
/// with audience but `update:users` → granted `openid profile email` → 403; with
/// `update:current_user_metadata` → 200; and an ID token carrying a namespaced app_metadata with
/// a database password.
fn forum_thread(sanitized: bool) -> (Story, Vec<String>) {
    let mut s = Story::new();
    let opaque = jwe();
    let id1 = id_token("n-st1", json!({}));
    s.implicit(
        "st1",
        "openid profile email",
        None,
        &format!(
            "access_token={opaque}&scope={}&expires_in=7200&token_type=Bearer&id_token={id1}",
            enc("openid profile email")
        ),
    );
    let bad_format = r#"{"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"}"#;
    s.patch_user((!sanitized).then_some(opaque.as_str()), 400, bad_format);
    let invalid = r#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}}"#;
    s.patch_user((!sanitized).then_some(id1.as_str()), 401, invalid);
    s.patch_user((!sanitized).then_some(id1.as_str()), 401, invalid);

    let at2 = access_token("openid profile email");
    let id2 = id_token("n-st2", json!({}));
    s.implicit(
        "st2",
        "openid profile email update:users",
        Some(&mgmt_aud()),
        &format!(
            "access_token={at2}&scope={}&expires_in=7200&token_type=Bearer&id_token={id2}",
            enc("openid profile email")
        ),
    );
    let forbidden = r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#;
    s.patch_user((!sanitized).then_some(at2.as_str()), 403, forbidden);

    let scope3 = "openid profile email update:current_user_metadata";
    let at3 = access_token(scope3);
    let id3 = id_token(
        "n-st3",
        json!({"https://forum.example.com/app_metadata": {"plan": "pro", "couchdb": {"user": "forum", "password": DB_PASSWORD}}}),
    );
    s.implicit(
        "st3",
        scope3,
        Some(&mgmt_aud()),
        &format!(
            "access_token={at3}&scope={}&expires_in=7200&token_type=Bearer&id_token={id3}",
            enc(scope3)
        ),
    );
    s.patch_user(
        (!sanitized).then_some(at3.as_str()),
        200,
        &json!({"user_id": USER, "user_metadata": {"theme": "dark"}}).to_string(),
    );
    (
        s,
        vec![opaque, id1, at2, id2, at3, id3, DB_PASSWORD.to_string()],
    )
}

#[test]
fn forum_thread_yields_exactly_its_rules() {
    let (story, secrets) = forum_thread(false);
    let (engine, findings, pushed) = story.run(EngineConfig::default());
    let expected: BTreeSet<&str> = [
        "implicit-grant",
        "opaque-access-token",
        "id-token-as-access-token",
        "scope-not-granted",
        "insufficient-scope",
        "sensitive-claim",
    ]
    .into_iter()
    .collect();
    assert_eq!(ids(&findings), expected, "{}", text(&findings));
    assert_eq!(pushed, findings.len(), "push reported each finding once");
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets(&findings, &secrets);

    let one = |id: &str| {
        findings
            .iter()
            .find(|f| f.rule == id)
            .cloned()
            .expect("rule fired")
    };
    let opaque = one("opaque-access-token");
    assert!(
        opaque
            .explanation
            .contains("GET /authorize (input 0, exchange #0)"),
        "{}",
        opaque.explanation
    );
    assert!(opaque
        .fix
        .contains(&format!("audience=https://{HOST}/api/v2/")));
    let idt = one("id-token-as-access-token");
    assert!(
        idt.explanation.contains("Seen 2 times"),
        "{}",
        idt.explanation
    );
    let sng = one("scope-not-granted");
    assert!(
        sng.explanation
            .contains("`update:users` → `update:current_user_metadata`"),
        "{}",
        sng.explanation
    );
    let ins = one("insufficient-scope");
    assert!(
        ins.fix.contains("update:current_user_metadata"),
        "{}",
        ins.fix
    );
    let sens = one("sensitive-claim");
    assert!(
        sens.explanation
            .contains("[\"https://forum.example.com/app_metadata\"].couchdb.password"),
        "{}",
        sens.explanation
    );
    // Three implicit logins are three flows; every finding belongs to one of them.
    let flows = engine.flows();
    assert_eq!(flows.len(), 3, "{flows:#?}");
    assert!(flows.iter().all(|f| f
        .label
        .starts_with("implicit grant (response_type=token id_token) for client ")));
    assert!(findings
        .iter()
        .all(|f| f.flow.is_some_and(|id| flows.iter().any(|fl| fl.id == id))));
    assert_eq!(engine.flows_evicted(), 0);
}

#[test]
fn sanitized_forum_thread_says_evidence_is_missing() {
    let (story, secrets) = forum_thread(true);
    let (_, findings, _) = story.run(EngineConfig::default());
    let expected: BTreeSet<&str> = [
        "implicit-grant",
        "scope-not-granted",
        "insufficient-scope",
        "sensitive-claim",
        "evidence-missing",
    ]
    .into_iter()
    .collect();
    assert_eq!(ids(&findings), expected, "{}", text(&findings));
    let em = findings
        .iter()
        .find(|f| f.rule == "evidence-missing")
        .expect("fired");
    assert!(em.fix.contains("Allow to generate HAR with sensitive data"));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets(&findings, &secrets);
}

/// A healthy SPA: code + PKCE with audience and the scope it uses; tokens verify against the
/// JWKS the app fetched; nothing fires.
#[test]
fn healthy_code_pkce_flow_has_no_findings() {
    let mut s = Story::new();
    let scope = "openid profile email update:current_user_metadata";
    let authorize = format!(
        "https://{HOST}/authorize?client_id={CLIENT}&response_type=code&redirect_uri={}&scope={}&audience={}&state=st-ok&nonce=n-ok&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&response_mode=query",
        enc("http://localhost:3000/callback"),
        enc(scope),
        enc(&mgmt_aud())
    );
    let code = "SplxlOBeZQQYbYS6WxSbIA4x";
    s.push(
        "GET",
        &authorize,
        &[],
        "",
        302,
        &[(
            "location",
            &format!("http://localhost:3000/callback?code={code}&state=st-ok"),
        )],
        "",
    );
    s.push(
        "GET",
        &format!("https://{HOST}/.well-known/jwks.json"),
        &[],
        "",
        200,
        &[("content-type", "application/json")],
        JWKS,
    );
    let at = access_token(scope);
    let idt = id_token("n-ok", json!({}));
    let form = format!("grant_type=authorization_code&client_id={CLIENT}&code={code}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri={}", enc("http://localhost:3000/callback"));
    let answer = json!({"access_token": at, "id_token": idt, "scope": scope, "expires_in": 86400, "token_type": "Bearer"}).to_string();
    s.push(
        "POST",
        &format!("https://{HOST}/oauth/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
        200,
        &[("content-type", "application/json")],
        &answer,
    );
    s.patch_user(Some(&at), 200, &json!({"user_id": USER}).to_string());
    let (engine, findings, _) = s.run(EngineConfig::default());
    assert!(findings.is_empty(), "{}", text(&findings));
    let flows = engine.flows();
    assert_eq!(flows.len(), 1, "{flows:#?}");
    assert!(
        flows[0].label.starts_with("authorization code + PKCE"),
        "{}",
        flows[0].label
    );
    assert_eq!(
        flows[0].exchanges.len(),
        3,
        "authorize, token, API call joined"
    );
}

/// A token used before the JWKS shows up is verified at `finish`: a tampered one is caught.
#[test]
fn signature_checked_once_jwks_appears_later() {
    let mut s = Story::new();
    let good = access_token("update:current_user_metadata");
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    {
        use base64::Engine as _;
        let forged = json!({"iss": format!("https://{HOST}/"), "sub": USER, "aud": mgmt_aud(), "exp": NOW + 7200, "scope": "update:users"});
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    }
    let tampered = parts.join(".");
    s.patch_user(Some(&good), 200, "{}");
    s.patch_user(Some(&tampered), 200, "{}");
    s.push(
        "GET",
        &format!("https://{HOST}/.well-known/jwks.json"),
        &[],
        "",
        200,
        &[("content-type", "application/json")],
        JWKS,
    );
    let mut engine = Engine::new(EngineConfig::default());
    for ex in &s.exchanges {
        assert!(
            engine
                .push(ex)
                .findings
                .iter()
                .all(|f| f.rule != "unsigned-token"),
            "not decidable before the JWKS"
        );
    }
    let late = engine.finish();
    assert_eq!(
        late.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["unsigned-token"],
        "{}",
        text(&late)
    );
    let tampered_fp = authtap::model::fingerprint(&tampered);
    assert!(late[0].explanation.contains(&format!("fp:{tampered_fp}")));
    assert_no_secrets(&late, &[&tampered, &good]);
}

/// An M2M backend: client_credentials, a 403 on DELETE, a 429 with x-ratelimit-*, a token
/// endpoint access_denied, an expired token.
#[test]
fn m2m_backend_story() {
    let mut s = Story::new();
    let m2m = "M2mBackendClient0001xyzABCDEFGH";
    let tok = sign(
        &json!({"iss": format!("https://{HOST}/"), "sub": format!("{m2m}@clients"), "aud": mgmt_aud(), "azp": m2m, "iat": NOW - 10, "exp": NOW + 86400, "scope": "read:users", "gty": "client-credentials"}),
    );
    let form = format!("grant_type=client_credentials&client_id={m2m}&client_secret=very-secret-value-123&audience={}", enc(&mgmt_aud()));
    s.push("POST", &format!("https://{HOST}/oauth/token"), &[("content-type", "application/x-www-form-urlencoded")], &form, 200, &[("content-type", "application/json")], &json!({"access_token": tok, "expires_in": 86400, "scope": "read:users", "token_type": "Bearer"}).to_string());
    let bearer = format!("Bearer {tok}");
    let user_url = format!("https://{HOST}/api/v2/users/{}", enc(USER));
    s.push("DELETE", &user_url, &[("authorization", &bearer)], "", 403, &[("content-type", "application/json")], r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: delete:users,delete:current_user","errorCode":"insufficient_scope"}"#);
    for _ in 0..3 {
        s.push("GET", &format!("https://{HOST}/api/v2/users?q=email%3A%22x%40example.com%22"), &[("authorization", &bearer)], "", 429, &[("content-type", "application/json"), ("x-ratelimit-limit", "50"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &(NOW + 30).to_string())], r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#);
    }
    let form2 = format!("grant_type=client_credentials&client_id={m2m}&client_secret=very-secret-value-123&audience={}&scope={}", enc(&mgmt_aud()), enc("delete:users"));
    s.push("POST", &format!("https://{HOST}/oauth/token"), &[("content-type", "application/x-www-form-urlencoded")], &form2, 403, &[("content-type", "application/json")], r#"{"error":"access_denied","error_description":"Client has not been granted scopes: delete:users"}"#);
    let old = sign(
        &json!({"iss": format!("https://{HOST}/"), "sub": format!("{m2m}@clients"), "aud": mgmt_aud(), "azp": m2m, "iat": NOW - 90000, "exp": NOW - 3600, "scope": "read:users", "gty": "client-credentials"}),
    );
    s.push("GET", &format!("https://{HOST}/api/v2/users"), &[("authorization", &format!("Bearer {old}"))], "", 401, &[("content-type", "application/json")], r#"{"statusCode":401,"error":"Unauthorized","message":"Expired token received for JSON Web Token validation","attributes":{"error":"Expired token received for JSON Web Token validation"}}"#);
    let (engine, findings, _) = s.run(EngineConfig::default());
    let expected: BTreeSet<&str> = [
        "insufficient-scope",
        "rate-limited",
        "token-endpoint-error",
        "token-expired",
    ]
    .into_iter()
    .collect();
    assert_eq!(ids(&findings), expected, "{}", text(&findings));
    let rl = findings
        .iter()
        .find(|f| f.rule == "rate-limited")
        .expect("fired");
    assert!(
        rl.explanation
            .contains("limit 50, remaining 0, resets at 2027-01-15 08:00:30 UTC"),
        "{}",
        rl.explanation
    );
    assert!(rl.explanation.contains("Seen 3 times"));
    let ins = findings
        .iter()
        .find(|f| f.rule == "insufficient-scope")
        .expect("fired");
    assert!(
        ins.fix.contains("`delete:users`") && ins.fix.contains(m2m),
        "{}",
        ins.fix
    );
    assert_no_secrets(&findings, &[&tok, &old, "very-secret-value-123"]);
    // The grants and the calls with the issued token share one client_credentials flow; the
    // expired token's issuance is not in the capture, so it has its own Unlinked flow.
    let kinds: Vec<_> = engine.flows().iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            authtap::model::FlowKind::ClientCredentials,
            authtap::model::FlowKind::Unlinked
        ]
    );
}

#[test]
fn undecrypted_tenant_tls_is_reported_once() {
    let mut engine = Engine::new(EngineConfig::default());
    let first = engine.note_undecrypted(
        0,
        Some(HOST),
        "104.16.1.2:443",
        "no key log entry for this session",
        Some(NOW * 1_000_000),
    );
    let again = engine.note_undecrypted(
        0,
        Some(HOST),
        "104.16.1.2:443",
        "no key log entry for this session",
        None,
    );
    let other =
        engine.note_undecrypted(0, Some("example.org"), "93.184.216.34:443", "no key", None);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].rule, "evidence-missing");
    assert!(first[0].fix.contains("SSLKEYLOGFILE"));
    assert!(again.is_empty() && other.is_empty());
}

#[test]
fn flow_cap_is_honoured_and_counted() {
    let mut s = Story::new();
    for i in 0..5 {
        let st = format!("st{i}");
        s.implicit(
            &st,
            "openid",
            None,
            &format!("access_token={}&expires_in=7200&token_type=Bearer", jwe()),
        );
    }
    let (engine, _, _) = s.run(EngineConfig {
        flow_cap: 2,
        ..EngineConfig::default()
    });
    assert_eq!(engine.flows().len(), 2);
    assert_eq!(engine.flows_evicted(), 3);
    assert!(engine
        .notes()
        .iter()
        .any(|n| n.starts_with("3 flows were evicted")));
}
