//! The mock tenant's real captures (`fixtures/*.pcap`, recorded by `scripts/capture-fixtures.sh`)
//! yield the same exchanges as the HAR recordings of the same scenarios: the same sequence of
//! method, host, path, query parameter names and status. Values (tokens, state, nonce) differ
//! because every recording is a fresh run; ports differ because captures use port 18080 / 443.
//! The HARs are browser recordings, so they also hold the app's own pages (`forum-app.example`)
//! and CORS preflights (`OPTIONS`, which the engine skips); the captures record what `curl` sent
//! to the tenant. The comparison is therefore over the HAR's non-preflight calls to the tenant.
//! Covers plain HTTP/1.1, cleartext HTTP/2, TLS 1.2/1.3 with key logs, and pcapng DSBs.
#![allow(clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::CaptureOutput;
use authtap::model::Exchange;
use authtap::source::har::read_har;
use authtap::source::pcap::read_capture;

fn path(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// (method, host without port, path, sorted query names, status)
type Key = (String, String, String, Vec<String>, Option<u16>);

fn key(ex: &Exchange) -> Key {
    let url = url::Url::parse(&ex.request.url).unwrap();
    let mut names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.sort();
    (
        ex.request.method.to_string(),
        url.host_str().unwrap_or("").to_string(),
        url.path().to_string(),
        names,
        ex.status(),
    )
}

fn sorted(mut v: Vec<Exchange>) -> Vec<Key> {
    v.sort_by_key(|e| (e.started, e.index));
    v.iter().map(key).collect()
}

const TENANT: &str = "dev-forum.us.auth0.com";

fn har(name: &str) -> Vec<Key> {
    let mut v = Vec::new();
    read_har(std::fs::File::open(path(name)).unwrap(), 0, |e| v.push(e)).unwrap();
    let all = sorted(v);
    assert!(all.iter().any(|k| k.1 != TENANT || k.0 == "OPTIONS") || name.starts_with("m2m"));
    all.into_iter()
        .filter(|k| k.1 == TENANT && k.0 != "OPTIONS")
        .collect()
}

fn capture(name: &str, keys_file: Option<&str>) -> (Vec<Key>, Vec<Exchange>) {
    let mut keys = KeyLog::default();
    if let Some(k) = keys_file {
        keys.add_text(&std::fs::read(path(k)).unwrap());
    }
    let mut v = Vec::new();
    let mut undecrypted = Vec::new();
    let stats = read_capture(
        std::fs::File::open(path(name)).unwrap(),
        0,
        &mut keys,
        |o| match o {
            CaptureOutput::Exchange(e) => v.push(e),
            CaptureOutput::TlsUndecrypted { reason, .. } => undecrypted.push(reason),
        },
    )
    .unwrap();
    assert!(
        undecrypted.is_empty(),
        "{name}: undecrypted sessions: {undecrypted:?}"
    );
    assert_eq!(stats.conn.exchanges as usize, v.len());
    (sorted(v.clone()), v)
}

#[test]
fn plain_http1_captures_match_their_hars() {
    for scenario in ["forum-thread", "m2m"] {
        let (got, ex) = capture(&format!("{scenario}.pcap"), None);
        assert!(got.len() >= 10, "{scenario}: {} exchanges", got.len());
        assert_eq!(got, har(&format!("{scenario}.har")), "{scenario}");
        for e in &ex {
            assert!(e.request.url.starts_with("http://"), "{}", e.request.url);
            assert!(e
                .origin
                .connection
                .as_deref()
                .is_some_and(|c| c.ends_with(":18080")));
            assert!(e.origin.tls.is_none());
            assert!(e.started.is_some() && e.duration_ms.is_some());
            assert!(e.notes.is_empty(), "{}: {:?}", e.request.url, e.notes);
        }
    }
}

#[test]
fn cleartext_http2_capture_matches_its_har() {
    let (got, _) = capture("forum-thread-h2c.pcap", None);
    assert_eq!(got, har("forum-thread.har"));
}

#[test]
fn tls_captures_with_key_logs_and_dsbs_match_their_hars() {
    let cases: [(&str, Option<&str>, &str); 7] = [
        (
            "forum-thread-h2.pcap",
            Some("forum-thread-h2.keys"),
            "forum-thread",
        ),
        (
            "forum-thread-h1-tls.pcap",
            Some("forum-thread-h1-tls.keys"),
            "forum-thread",
        ),
        (
            "forum-thread-h2-tls12.pcap",
            Some("forum-thread-h2-tls12.keys"),
            "forum-thread",
        ),
        (
            "forum-thread-h2-aes128.pcap",
            Some("forum-thread-h2-aes128.keys"),
            "forum-thread",
        ),
        ("forum-thread-h2-dsb.pcapng", None, "forum-thread"),
        ("m2m-h2.pcap", Some("m2m-h2.keys"), "m2m"),
        ("m2m-h2-dsb.pcapng", None, "m2m"),
    ];
    for (cap, keys, scenario) in cases {
        let (got, ex) = capture(cap, keys);
        assert_eq!(got, har(&format!("{scenario}.har")), "{cap}");
        for e in &ex {
            let tls = e.origin.tls.as_ref().unwrap();
            assert!(tls.decrypted, "{cap}");
            assert!(e.request.url.starts_with("https://"), "{}", e.request.url);
        }
    }
}
