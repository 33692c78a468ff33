//! Endpoint behaviour of the in-process tenant against the exact Auth0 bodies in
//! ../shared/reference/auth0-facts.md (§1.3, §1.4, §2.2–§2.6, §4.1).

use mock_tenant::clock::Clock;
use mock_tenant::scenario::{fixture_tenant, Env, Profile};
use mock_tenant::tokens::s256;
use mock_tenant::{Client, ClientGrant, RateLimit, Request, ResourceServer, Response, Tenant};
use serde_json::{json, Value};

const T0: i64 = 1_795_166_045_000;

fn setup() -> (Env, Tenant) {
    let env = Env::new("dev-forum.us.auth0.com");
    let t = fixture_tenant(&env, Profile::Forum, Clock::fixed_ms(T0));
    (env, t)
}

fn get(t: &Tenant, url: &str) -> Response {
    t.handle(&Request::new("GET", url))
}

fn location_params(r: &Response) -> Vec<(String, String)> {
    let loc = r.get_header("location").expect("location header");
    let u = url::Url::parse(loc).expect("absolute location");
    let mut out: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    if let Some(f) = u.fragment() {
        out.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
    }
    out
}

fn p<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn authorize(t: &Tenant, env: &Env, extra: &[(&str, &str)]) -> Response {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", &env.spa_client_id),
        ("redirect_uri", &env.redirect_uri),
        ("state", "st-123456"),
        ("nonce", "nonce-123456"),
    ];
    params.extend_from_slice(extra);
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    get(t, &env.tenant_url(&format!("/authorize?{q}")))
}

fn implicit_token(
    t: &Tenant,
    env: &Env,
    scope: &str,
    audience: Option<&str>,
) -> Vec<(String, String)> {
    let mut extra = vec![("response_type", "token id_token"), ("scope", scope)];
    if let Some(a) = audience {
        extra.push(("audience", a));
    }
    let r = authorize(t, env, &extra);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    location_params(&r)
}

fn user_url(env: &Env, id: &str) -> String {
    env.tenant_url(&format!(
        "/api/v2/users/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    ))
}

fn patch(t: &Tenant, env: &Env, id: &str, token: &str, body: Value) -> Response {
    t.handle(
        &Request::new("PATCH", &user_url(env, id))
            .bearer(token)
            .json_body(&body),
    )
}

fn body(r: &Response) -> Value {
    r.json_value().expect("json body")
}

fn cc(t: &Tenant, env: &Env, client: &str, secret: &str, extra: Value) -> Response {
    let mut b = json!({"client_id": client, "client_secret": secret, "audience": env.management_audience(), "grant_type": "client_credentials"});
    if let (Some(o), Value::Object(e)) = (b.as_object_mut(), extra) {
        o.extend(e);
    }
    t.handle(&Request::new("POST", &env.tenant_url("/oauth/token")).json_body(&b))
}

#[test]
fn discovery_and_jwks_describe_the_signing_key() {
    let (env, t) = setup();
    let d = body(&get(
        &t,
        &env.tenant_url("/.well-known/openid-configuration"),
    ));
    assert_eq!(d["issuer"], "https://dev-forum.us.auth0.com/");
    assert_eq!(
        d["jwks_uri"],
        "https://dev-forum.us.auth0.com/.well-known/jwks.json"
    );
    let jwks = body(&get(&t, &env.tenant_url("/.well-known/jwks.json")));
    let kid = jwks["keys"][0]["kid"].as_str().expect("kid").to_string();
    let pairs = implicit_token(&t, &env, "openid", None);
    let id = p(&pairs, "id_token").expect("id_token");
    let header = jsonwebtoken::decode_header(id).expect("jwt header");
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
}

#[test]
fn implicit_without_audience_gives_opaque_token_rejected_with_400() {
    let (env, t) = setup();
    let pairs = implicit_token(&t, &env, "openid profile email", None);
    let at = p(&pairs, "access_token").expect("access_token");
    let raw = patch(&t, &env, &env.user_id, at, json!({}));
    assert_eq!(
        String::from_utf8_lossy(&raw.body),
        r#"{"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"}"#
    );
    assert_eq!(at.len(), 32);
    assert!(!at.contains('.'));
    assert_eq!(p(&pairs, "state"), Some("st-123456"));
    assert_eq!(p(&pairs, "expires_in"), Some("7200"));
    // §2.2 exact body.
    let r = patch(
        &t,
        &env,
        &env.user_id,
        at,
        json!({"user_metadata": {"a": 1}}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        body(&r),
        json!({"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"})
    );
    // The opaque token still works for /userinfo (§4.1).
    let u = t.handle(&Request::new("GET", &env.tenant_url("/userinfo")).bearer(at));
    assert_eq!(u.status, 200);
    assert_eq!(body(&u)["sub"], env.user_id.as_str());
}

#[test]
fn id_token_as_bearer_is_invalid_token_and_carries_the_namespaced_secret() {
    let (env, t) = setup();
    let pairs = implicit_token(&t, &env, "openid profile email", None);
    let id = p(&pairs, "id_token").expect("id_token");
    let r = patch(&t, &env, &env.user_id, id, json!({"user_metadata": {}}));
    assert_eq!(r.status, 401);
    let b = body(&r);
    assert_eq!(b["message"], "Invalid token");
    assert_eq!(b["error"], "Unauthorized");
    assert_eq!(b["attributes"]["error"], "Invalid token");
    let claims = mock_tenant::tokens::verify(t.signing_key(), id).expect("valid signature");
    assert_eq!(claims["aud"], env.spa_client_id.as_str());
    assert_eq!(claims["nonce"], "nonce-123456");
    assert_eq!(
        claims[env.app_metadata_claim.as_str()]["couchdb"]["password"],
        env.couch_password.as_str()
    );
}

#[test]
fn user_token_for_management_api_keeps_only_current_user_scopes() {
    let (env, t) = setup();
    let mgmt = env.management_audience();
    let pairs = implicit_token(&t, &env, "openid profile email update:users", Some(&mgmt));
    assert_eq!(p(&pairs, "scope"), Some("openid profile email"));
    let at = p(&pairs, "access_token").expect("at");
    let claims = mock_tenant::tokens::verify(t.signing_key(), at).expect("jwt");
    assert_eq!(claims["scope"], "openid profile email");
    assert_eq!(
        claims["aud"],
        json!([mgmt, "https://dev-forum.us.auth0.com/userinfo"])
    );
    let r = patch(
        &t,
        &env,
        &env.user_id,
        at,
        json!({"user_metadata": {"theme": "dark"}}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#
    );
    assert_eq!(
        body(&r),
        json!({"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"})
    );
}

#[test]
fn current_user_metadata_scope_updates_own_metadata_only() {
    let (env, t) = setup();
    let mgmt = env.management_audience();
    let pairs = implicit_token(&t, &env, "openid update:current_user_metadata", Some(&mgmt));
    assert_eq!(
        p(&pairs, "scope"),
        Some("openid update:current_user_metadata")
    );
    let at = p(&pairs, "access_token").expect("at");
    let ok = patch(
        &t,
        &env,
        &env.user_id,
        at,
        json!({"user_metadata": {"theme": "dark"}}),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(body(&ok)["user_metadata"]["theme"], "dark");
    let app = patch(
        &t,
        &env,
        &env.user_id,
        at,
        json!({"app_metadata": {"plan": "free"}}),
    );
    assert_eq!(app.status, 403);
    assert!(body(&app)["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("Some fields cannot be updated"));
    let other = patch(
        &t,
        &env,
        &env.other_user_id,
        at,
        json!({"user_metadata": {}}),
    );
    assert_eq!(other.status, 403);
    assert_eq!(
        body(&other)["message"],
        "User to be acted on does not match subject in bearer token."
    );
}

#[test]
fn unknown_audience_redirects_access_denied_service_not_found() {
    let (env, t) = setup();
    let r = authorize(
        &t,
        &env,
        &[
            ("response_type", "token id_token"),
            ("scope", "openid"),
            ("audience", "https://nope.example/"),
        ],
    );
    assert_eq!(r.status, 302);
    let loc = r.get_header("location").expect("location");
    assert!(
        loc.starts_with("https://forum-app.example/callback#"),
        "{loc}"
    );
    let pairs = location_params(&r);
    assert_eq!(p(&pairs, "error"), Some("access_denied"));
    assert_eq!(
        p(&pairs, "error_description"),
        Some("Service not found: https://nope.example/")
    );
    assert_eq!(p(&pairs, "state"), Some("st-123456"));
    // With the code flow the error travels in the query.
    let r = authorize(
        &t,
        &env,
        &[
            ("response_type", "code"),
            ("audience", "https://nope.example/"),
        ],
    );
    assert!(r
        .get_header("location")
        .expect("loc")
        .contains("?error=access_denied"));
}

#[test]
fn callback_mismatch_is_an_error_page_without_redirect() {
    let (env, t) = setup();
    let q = format!(
        "/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2F",
        env.spa_client_id
    );
    let r = get(&t, &env.tenant_url(&q));
    assert_eq!(r.status, 400);
    assert!(r.get_header("location").is_none());
    assert!(String::from_utf8_lossy(&r.body).contains("Callback URL mismatch"));
}

#[test]
fn code_with_pkce_exchanges_once_and_checks_the_verifier() {
    let (env, t) = setup();
    let verifier = "a-verifier-that-is-long-enough-0123456789abcdef";
    let mgmt = env.management_audience();
    let challenge = s256(verifier);
    let exchange = |code: &str, v: &str| {
        t.handle(
            &Request::new("POST", &env.tenant_url("/oauth/token")).form_body(&[
                ("grant_type", "authorization_code"),
                ("client_id", &env.spa_client_id),
                ("code", code),
                ("code_verifier", v),
                ("redirect_uri", &env.redirect_uri),
            ]),
        )
    };
    let code_for = || {
        let r = authorize(
            &t,
            &env,
            &[
                ("response_type", "code"),
                ("scope", "openid read:current_user"),
                ("audience", &mgmt),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        p(&location_params(&r), "code").expect("code").to_string()
    };
    let code = code_for();
    let ok = exchange(&code, verifier);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let b = body(&ok);
    assert_eq!(b["scope"], "openid read:current_user");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 86400);
    assert!(b["id_token"].is_string());
    // Single use.
    assert_eq!(exchange(&code, verifier).status, 403);
    // Wrong verifier.
    let code2 = code_for();
    let bad = exchange(&code2, "wrong-verifier-wrong-verifier-wrong-verifier");
    assert_eq!(bad.status, 403);
    assert_eq!(body(&bad)["error"], "invalid_grant");
    // The access token reads the user's own profile.
    let at = b["access_token"].as_str().expect("at");
    let me = t.handle(&Request::new("GET", &user_url(&env, &env.user_id)).bearer(at));
    assert_eq!(me.status, 200);
    assert_eq!(body(&me)["user_id"], env.user_id.as_str());
}

#[test]
fn form_post_and_web_message_deliver_results_in_html() {
    let (env, t) = setup();
    let r = authorize(
        &t,
        &env,
        &[("response_type", "code"), ("response_mode", "form_post")],
    );
    assert_eq!(r.status, 200);
    let html = String::from_utf8_lossy(&r.body).to_string();
    assert!(html.contains("action=\"https://forum-app.example/callback\""));
    assert!(html.contains("name=\"code\""));
    assert!(html.contains("name=\"state\" value=\"st-123456\""));
    let r = authorize(
        &t,
        &env,
        &[("response_type", "code"), ("response_mode", "web_message")],
    );
    let html = String::from_utf8_lossy(&r.body).to_string();
    assert!(html.contains("\"type\":\"authorization_response\""));
    assert!(html.contains("postMessage"));
    assert!(html.contains("\"state\":\"st-123456\""));
}

#[test]
fn client_credentials_enforces_client_grants() {
    let (env, t) = setup();
    let ok = cc(
        &t,
        &env,
        &env.backend_client_id,
        &env.backend_secret,
        json!({}),
    );
    assert_eq!(ok.status, 200);
    let b = body(&ok);
    assert_eq!(b["scope"], "read:users update:users");
    assert_eq!(b["expires_in"], 86400);
    let claims =
        mock_tenant::tokens::verify(t.signing_key(), b["access_token"].as_str().expect("at"))
            .expect("jwt");
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["sub"], format!("{}@clients", env.backend_client_id));
    let denied = cc(
        &t,
        &env,
        &env.backend_client_id,
        &env.backend_secret,
        json!({"scope": "read:users delete:users"}),
    );
    assert_eq!(denied.status, 403);
    assert_eq!(
        body(&denied),
        json!({"error":"access_denied","error_description":"Client has not been granted scopes: delete:users"})
    );
    let unknown = cc(
        &t,
        &env,
        &env.backend_client_id,
        &env.backend_secret,
        json!({"audience": "https://nope.example/"}),
    );
    assert_eq!(
        body(&unknown)["error_description"],
        "Service not enabled within domain: https://nope.example/"
    );
    assert_eq!(
        cc(&t, &env, &env.backend_client_id, "wrong", json!({})).status,
        401
    );
    let spa = cc(&t, &env, &env.spa_client_id, "", json!({}));
    assert_eq!(spa.status, 403);
    assert_eq!(body(&spa)["error"], "unauthorized_client");
}

#[test]
fn m2m_token_gets_403_on_delete_and_expires() {
    let (env, t) = setup();
    let at = body(&cc(
        &t,
        &env,
        &env.backend_client_id,
        &env.backend_secret,
        json!({}),
    ))["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let del = t.handle(&Request::new("DELETE", &user_url(&env, &env.other_user_id)).bearer(&at));
    assert_eq!(del.status, 403);
    assert_eq!(
        body(&del),
        json!({"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: delete:users,delete:current_user","errorCode":"insufficient_scope"})
    );
    assert!(t.clock().advance_ms(86_400_000 + 1_000));
    let r = t.handle(&Request::new("GET", &user_url(&env, &env.user_id)).bearer(&at));
    assert_eq!(r.status, 401);
    assert_eq!(
        body(&r),
        json!({"statusCode":401,"error":"Unauthorized","message":"Expired token received for JSON Web Token validation","attributes":{"error":"Expired token received for JSON Web Token validation"}})
    );
}

#[test]
fn rate_limit_answers_429_with_headers() {
    let (env, t) = setup();
    let mut c = Client::m2m(
        "RateLimitedClient000000000000000",
        "rl",
        "rl-secret-rl-secret",
    );
    c.rate_limit = Some(RateLimit {
        limit: 2,
        window_secs: 10,
    });
    t.add_client(c);
    t.add_client_grant(ClientGrant {
        client_id: "RateLimitedClient000000000000000".into(),
        audience: env.management_audience(),
        scopes: vec!["read:users".into()],
    });
    let at = body(&cc(
        &t,
        &env,
        "RateLimitedClient000000000000000",
        "rl-secret-rl-secret",
        json!({}),
    ))["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let call = || t.handle(&Request::new("GET", &env.tenant_url("/api/v2/users")).bearer(&at));
    let first = call();
    assert_eq!(first.status, 200);
    assert_eq!(first.get_header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(call().get_header("x-ratelimit-remaining"), Some("0"));
    let limited = call();
    assert_eq!(limited.status, 429);
    assert_eq!(
        body(&limited),
        json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"})
    );
    assert_eq!(limited.get_header("x-ratelimit-limit"), Some("2"));
    assert_eq!(limited.get_header("x-ratelimit-remaining"), Some("0"));
    let reset = (T0 / 1000 + 10).to_string();
    assert_eq!(
        limited.get_header("x-ratelimit-reset"),
        Some(reset.as_str())
    );
    // A new window opens after the reset.
    t.clock().advance_ms(10_000);
    assert_eq!(call().status, 200);
}

#[test]
fn header_errors_and_bad_signatures() {
    let (env, t) = setup();
    let url = user_url(&env, &env.user_id);
    let missing = t.handle(&Request::new("GET", &url));
    assert_eq!(missing.status, 401);
    assert_eq!(body(&missing)["message"], "Missing authentication");
    let basic = t.handle(&Request::new("GET", &url).header("authorization", "Basic Zm9vOmJhcg=="));
    assert_eq!(basic.status, 400);
    assert_eq!(body(&basic)["errorCode"], "Bearer");
    let at = body(&cc(
        &t,
        &env,
        &env.backend_client_id,
        &env.backend_secret,
        json!({}),
    ))["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let mut forged = at.clone();
    forged.truncate(at.len() - 4);
    forged.push_str("AAAA");
    let r = t.handle(&Request::new("GET", &url).bearer(&forged));
    assert_eq!(r.status, 401);
    assert_eq!(
        body(&r)["message"],
        "Invalid signature received for JSON Web Token validation."
    );
    let wrong_aud = t.sign_claims(&json!({"iss": t.issuer(), "sub": "x@clients", "aud": "https://myaudience.com/api/v2", "exp": T0 / 1000 + 60, "scope": "read:users"}));
    let r = t.handle(&Request::new("GET", &url).bearer(&wrong_aud));
    assert_eq!(
        body(&r)["message"],
        "Bad audience: https://myaudience.com/api/v2"
    );
}

#[test]
fn refresh_and_password_realm_grants() {
    let (env, t) = setup();
    t.add_api(ResourceServer {
        identifier: "https://api.forum.example/".into(),
        name: "Forum API".into(),
        scopes: vec!["read:posts".into()],
        token_lifetime: 3600,
        allow_offline_access: true,
        is_management: false,
    });
    let pr = t.handle(
        &Request::new("POST", &env.tenant_url("/oauth/token")).form_body(&[
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/password-realm",
            ),
            ("client_id", &env.spa_client_id),
            ("username", "sam.rivera@dev-forum.example"),
            ("password", "Sam-Forum-Passw0rd!"),
            ("realm", "Username-Password-Authentication"),
            ("audience", "https://api.forum.example/"),
            ("scope", "openid offline_access read:posts write:posts"),
        ]),
    );
    assert_eq!(pr.status, 200, "{}", String::from_utf8_lossy(&pr.body));
    let b = body(&pr);
    assert_eq!(b["scope"], "openid offline_access read:posts");
    assert_eq!(b["expires_in"], 3600);
    let rt = b["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let refreshed = t.handle(
        &Request::new("POST", &env.tenant_url("/oauth/token")).form_body(&[
            ("grant_type", "refresh_token"),
            ("client_id", &env.spa_client_id),
            ("refresh_token", &rt),
        ]),
    );
    assert_eq!(refreshed.status, 200);
    assert!(body(&refreshed)["access_token"].is_string());
    let bad = t.handle(
        &Request::new("POST", &env.tenant_url("/oauth/token")).form_body(&[
            ("grant_type", "refresh_token"),
            ("client_id", &env.spa_client_id),
            ("refresh_token", "not-a-refresh-token"),
        ]),
    );
    assert_eq!(bad.status, 403);
    assert_eq!(
        body(&bad),
        json!({"error":"invalid_grant","error_description":"Unknown or invalid refresh token."})
    );
    let wrong = t.handle(
        &Request::new("POST", &env.tenant_url("/oauth/token")).form_body(&[
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/password-realm",
            ),
            ("client_id", &env.spa_client_id),
            ("username", "sam.rivera@dev-forum.example"),
            ("password", "nope"),
            ("realm", "Username-Password-Authentication"),
        ]),
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(
        body(&wrong)["error_description"],
        "Wrong email or password."
    );
}

#[test]
fn delete_with_scope_removes_the_user() {
    let (env, t) = setup();
    t.add_client_grant(ClientGrant {
        client_id: env.cron_client_id.clone(),
        audience: "unused".into(),
        scopes: vec![],
    });
    let c = Client::m2m(
        "DeleterClient0000000000000000000",
        "deleter",
        "deleter-secret",
    );
    t.add_client(c);
    t.add_client_grant(ClientGrant {
        client_id: "DeleterClient0000000000000000000".into(),
        audience: env.management_audience(),
        scopes: vec!["delete:users".into(), "read:users".into()],
    });
    let at = body(&cc(
        &t,
        &env,
        "DeleterClient0000000000000000000",
        "deleter-secret",
        json!({}),
    ))["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let del = t.handle(&Request::new("DELETE", &user_url(&env, &env.other_user_id)).bearer(&at));
    assert_eq!(del.status, 204);
    let gone = t.handle(&Request::new("GET", &user_url(&env, &env.other_user_id)).bearer(&at));
    assert_eq!(gone.status, 404);
    assert_eq!(body(&gone)["message"], "The user does not exist.");
}

#[test]
fn healthy_profile_has_no_secret_claim() {
    let env = Env::new("dev-forum.us.auth0.com");
    let t = fixture_tenant(&env, Profile::Healthy, Clock::fixed_ms(T0));
    let pairs = implicit_token(&t, &env, "openid profile", None);
    let claims = mock_tenant::tokens::verify(t.signing_key(), p(&pairs, "id_token").expect("id"))
        .expect("jwt");
    assert!(claims.get(env.app_metadata_claim.as_str()).is_none());
}
