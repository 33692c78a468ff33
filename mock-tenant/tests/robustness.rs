//! The tenant never panics on arbitrary requests and always answers a known status.

use mock_tenant::clock::Clock;
use mock_tenant::scenario::{fixture_tenant, Env, Profile};
use mock_tenant::Request;
use proptest::prelude::*;

const KNOWN: &[u16] = &[200, 204, 302, 400, 401, 403, 404, 429];

fn paths() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/authorize".to_string()),
        Just("/oauth/token".to_string()),
        Just("/userinfo".to_string()),
        Just("/api/v2/users".to_string()),
        Just("/api/v2/users/auth0%7C6561f0c2a9d3e4b5c6d7e8f9".to_string()),
        Just("/.well-known/jwks.json".to_string()),
        "/[a-z0-9/%?=&._-]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn arbitrary_requests_get_a_known_status(
        method in prop_oneof![Just("GET".to_string()), Just("POST".to_string()), Just("PATCH".to_string()), Just("DELETE".to_string()), Just("OPTIONS".to_string()), "[A-Z]{1,7}"],
        path in paths(),
        query in "[a-z_]{0,10}=[ -~]{0,30}(&[a-z_]{1,12}=[ -~]{0,20}){0,4}",
        auth in proptest::option::of("(Bearer |Basic |)[ -~]{0,80}"),
        ctype in prop_oneof![Just("application/json".to_string()), Just("application/x-www-form-urlencoded".to_string()), Just("text/plain".to_string())],
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let env = Env::new("dev-forum.us.auth0.com");
        let t = fixture_tenant(&env, Profile::Forum, Clock::fixed_ms(1_795_166_045_000));
        let url = format!("https://dev-forum.us.auth0.com{path}?{query}");
        let mut req = Request::new(&method, &url).header("content-type", &ctype);
        if let Some(a) = auth {
            req = req.header("authorization", &a);
        }
        req.body = body;
        let resp = t.handle(&req);
        prop_assert!(KNOWN.contains(&resp.status), "status {} for {} {}", resp.status, method, url);
        prop_assert!(resp.get_header("date").is_some());
    }
}

#[test]
fn garbage_urls_and_jwt_shaped_junk_do_not_panic() {
    let env = Env::new("dev-forum.us.auth0.com");
    let t = fixture_tenant(&env, Profile::Forum, Clock::fixed_ms(1_795_166_045_000));
    for url in [
        "",
        "not a url",
        "https://",
        "https://dev-forum.us.auth0.com/api/v2/users/%FF%FE",
        "https://dev-forum.us.auth0.com/api/v2/users//x",
    ] {
        let r = t.handle(&Request::new("GET", url));
        assert!(KNOWN.contains(&r.status), "{url}: {}", r.status);
    }
    for tok in [
        "a.b.c",
        "....",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJ.eyJ.sig",
        "x.y.z.w.v",
    ] {
        let r = t.handle(&Request::new("GET", &env.tenant_url("/api/v2/users")).bearer(tok));
        assert!(matches!(r.status, 400 | 401), "{tok}: {}", r.status);
    }
}
