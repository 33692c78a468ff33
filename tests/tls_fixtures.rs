//! The mock tenant's own TLS captures (fixtures/, made by scripts/capture-fixtures.sh with curl,
//! tcpdump and SSLKEYLOGFILE): decrypted with the key log, or with the embedded DSB, they must
//! yield the same exchange sequence (method, path, status) as the plain-HTTP capture of the same
//! scenario; without keys they yield no exchange and an undecrypted report naming the tenant.

use authtap::capture::keylog::KeyLog;
use authtap::capture::CaptureOutput;
use authtap::source::pcap::read_capture;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

struct Seen {
    exchanges: Vec<(String, String, Option<u16>, Option<String>)>,
    undecrypted: Vec<(Option<String>, String)>,
}

fn read(name: &str, keylog: Option<&str>) -> Seen {
    let mut keys = KeyLog::new();
    if let Some(k) = keylog {
        let text = std::fs::read(fixture(k)).expect("key log fixture");
        assert!(keys.add_text(&text) > 0, "{k}: no key lines");
    }
    let file = std::fs::File::open(fixture(name)).expect("capture fixture");
    let mut seen = Seen {
        exchanges: Vec::new(),
        undecrypted: Vec::new(),
    };
    read_capture(file, 0, &mut keys, |o| match o {
        CaptureOutput::Exchange(e) => {
            let url = url::Url::parse(&e.request.url).expect("absolute url");
            let path = url.path().to_string();
            seen.exchanges.push((
                e.request.method.to_string(),
                path,
                e.status(),
                e.origin.tls.as_ref().and_then(|t| t.version.clone()),
            ));
        }
        CaptureOutput::TlsUndecrypted { sni, reason, .. } => seen.undecrypted.push((sni, reason)),
    })
    .expect("readable capture");
    seen
}

fn sequence(s: &Seen) -> Vec<(String, String, Option<u16>)> {
    s.exchanges
        .iter()
        .map(|(m, p, st, _)| (m.clone(), p.clone(), *st))
        .collect()
}

fn check(plain: &str, tls: &str, keys: Option<&str>, version: &str) {
    let reference = read(plain, None);
    assert_eq!(reference.exchanges.len(), 10, "{plain}");
    let got = read(tls, keys);
    assert_eq!(sequence(&got), sequence(&reference), "{tls} vs {plain}");
    assert!(got.undecrypted.is_empty(), "{tls}: {:?}", got.undecrypted);
    assert!(
        got.exchanges
            .iter()
            .all(|e| e.3.as_deref() == Some(version)),
        "{tls}: {:?}",
        got.exchanges
    );
}

#[test]
fn forum_thread_over_tls13_h2_matches_plain_http() {
    check(
        "forum-thread.pcap",
        "forum-thread-h2.pcap",
        Some("forum-thread-h2.keys"),
        "TLS 1.3",
    );
}

#[test]
fn forum_thread_over_tls13_http11_matches_plain_http() {
    check(
        "forum-thread.pcap",
        "forum-thread-h1-tls.pcap",
        Some("forum-thread-h1-tls.keys"),
        "TLS 1.3",
    );
}

#[test]
fn forum_thread_over_tls12_h2_matches_plain_http() {
    check(
        "forum-thread.pcap",
        "forum-thread-h2-tls12.pcap",
        Some("forum-thread-h2-tls12.keys"),
        "TLS 1.2",
    );
}

#[test]
fn embedded_dsb_needs_no_key_log() {
    check(
        "forum-thread.pcap",
        "forum-thread-h2-dsb.pcapng",
        None,
        "TLS 1.3",
    );
    check("m2m.pcap", "m2m-h2-dsb.pcapng", None, "TLS 1.3");
    check("m2m.pcap", "m2m-h2.pcap", Some("m2m-h2.keys"), "TLS 1.3");
}

#[test]
fn without_keys_nothing_is_invented_and_the_tenant_is_named() {
    for name in [
        "forum-thread-h2.pcap",
        "forum-thread-h1-tls.pcap",
        "m2m-h2.pcap",
    ] {
        let got = read(name, None);
        assert!(got.exchanges.is_empty(), "{name}");
        assert!(!got.undecrypted.is_empty(), "{name}");
        for (sni, reason) in &got.undecrypted {
            assert!(
                sni.as_deref().is_some_and(|s| s.ends_with(".auth0.com")),
                "{name}: {sni:?}"
            );
            assert!(reason.contains("no key"), "{name}: {reason}");
        }
    }
}
