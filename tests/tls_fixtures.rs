//! The mock tenant's own TLS captures (fixtures/, made by scripts/capture-fixtures.sh with curl,
//! tcpdump and SSLKEYLOGFILE): decrypted with the key log, or with the embedded DSB, they must
//! yield the same exchange sequence (method, path, status) as the plain-HTTP capture of the same
//! scenario; without keys they yield no exchange and an undecrypted report naming the tenant.

use authtap::capture::keylog::KeyLog;
use authtap::capture::CaptureOutput;
use authtap::source::pcap::read_capture;
use std::path::{Path, PathBuf};

mod capture_support;

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

/// The frames of a fixture (see `capture_support::frames`), with the time between frames
/// divided by `speedup` (the fixtures' curl runs sleep between steps).
fn frames(name: &str, speedup: i64) -> Vec<(i32, i64, Vec<u8>)> {
    let mut out = capture_support::frames(&fixture(name));
    let t0 = out.first().map_or(0, |f| f.1);
    for f in &mut out {
        f.1 = t0 + (f.1 - t0) / speedup;
    }
    out
}

fn push_all(
    p: &mut authtap::capture::pipeline::Pipeline,
    frames: &[(i32, i64, Vec<u8>)],
    keys: &KeyLog,
    got: &mut Vec<CaptureOutput>,
) {
    for (lt, ts, f) in frames {
        p.push_frame(*lt, f, f.len(), *ts, keys, &mut |o| got.push(o));
    }
}

/// Live capture reads the key log between batches of packets, so a short connection can close
/// before the client's key log lines are read. It waits (parked) and is decrypted when they are.
#[test]
fn keys_read_after_the_connections_closed_still_decrypt_them() {
    use authtap::capture::pipeline::{Pipeline, PipelineConfig, PARK_GRACE};
    // All eight connections within the grace period.
    let frames = frames("forum-thread-h2.pcap", 10);
    let span = frames.last().map_or(0, |f| f.1) - frames.first().map_or(0, |f| f.1);
    assert!(span < PARK_GRACE, "{span}");
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let mut keys = KeyLog::new();
    let mut got = Vec::new();
    push_all(&mut p, &frames, &keys, &mut got);
    assert!(got.is_empty(), "nothing decided before the keys: {got:?}");

    let text = std::fs::read(fixture("forum-thread-h2.keys")).expect("key log fixture");
    assert!(keys.add_text(&text) > 0);
    p.poll_parked(frames.last().map_or(0, |f| f.1), &keys, &mut |o| {
        got.push(o)
    });
    let stats = p.finish(&keys, &mut |o| got.push(o));

    let reference = read("forum-thread.pcap", None);
    let seq: Vec<_> = got
        .iter()
        .map(|o| match o {
            CaptureOutput::Exchange(e) => (
                e.request.method.to_string(),
                url::Url::parse(&e.request.url)
                    .expect("url")
                    .path()
                    .to_string(),
                e.status(),
            ),
            CaptureOutput::TlsUndecrypted { reason, .. } => panic!("undecrypted: {reason}"),
        })
        .collect();
    assert_eq!(seq, sequence(&reference));
    assert_eq!(stats.conn.tls_undecrypted, 0);
}

/// Keys that never come: each parked session is reported ("no key") once `PARK_GRACE` of capture
/// time has passed, without waiting for the end of the capture.
#[test]
fn parked_sessions_without_keys_are_reported_after_the_grace_period() {
    use authtap::capture::pipeline::{Pipeline, PipelineConfig, PARK_GRACE};
    let frames = frames("forum-thread-h2.pcap", 10);
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let keys = KeyLog::new();
    let mut got = Vec::new();
    push_all(&mut p, &frames, &keys, &mut got);
    assert!(got.is_empty(), "{got:?}");
    // The last frame again (a duplicate, ignored by TCP), once the grace period is over.
    let (lt, ts, f) = frames.last().expect("frames").clone();
    p.push_frame(lt, &f, f.len(), ts + PARK_GRACE, &keys, &mut |o| {
        got.push(o)
    });
    let reported = got.len();
    assert!(reported > 0);
    assert!(got.iter().all(|o| matches!(o,
        CaptureOutput::TlsUndecrypted { reason, .. } if reason.contains("no key"))));
    p.finish(&keys, &mut |o| got.push(o));
    assert_eq!(got.len(), reported, "reported once");
}

/// A live key log read between the client's two application secrets: the server's direction
/// decrypts at once, the client's records wait for `CLIENT_TRAFFIC_SECRET_0` and decrypt when
/// the key log grows; a secret that never comes leaves them counted as failed, not invented.
#[test]
fn a_key_log_read_between_the_two_application_secrets_still_decrypts_both_directions() {
    use authtap::capture::pipeline::{Pipeline, PipelineConfig};
    let frames = frames("forum-thread-h2.pcap", 10);
    let full = std::fs::read_to_string(fixture("forum-thread-h2.keys")).expect("key log fixture");
    let partial: String = full
        .lines()
        .filter(|l| !l.starts_with("CLIENT_TRAFFIC_SECRET_0 "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(partial.len() < full.len());

    let exchanges = |got: &[CaptureOutput]| {
        got.iter()
            .filter(|o| matches!(o, CaptureOutput::Exchange(_)))
            .count()
    };
    // The client secret arrives after all the traffic.
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let mut keys = KeyLog::new();
    keys.add_text(partial.as_bytes());
    let mut got = Vec::new();
    push_all(&mut p, &frames, &keys, &mut got);
    assert_eq!(exchanges(&got), 0, "no request without the client's secret");
    keys.add_text(full.as_bytes());
    p.poll_parked(frames.last().map_or(0, |f| f.1), &keys, &mut |o| {
        got.push(o)
    });
    let stats = p.finish(&keys, &mut |o| got.push(o));
    assert_eq!(exchanges(&got), 10, "{got:?}");
    assert_eq!(stats.conn.tls_undecrypted, 0);

    // It never arrives: no exchange is made up from the server's side alone.
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let mut keys = KeyLog::new();
    keys.add_text(partial.as_bytes());
    let mut got = Vec::new();
    push_all(&mut p, &frames, &keys, &mut got);
    let stats = p.finish(&keys, &mut |o| got.push(o));
    assert_eq!(exchanges(&got), 0, "{got:?}");
    assert_eq!(
        stats.conn.tls_undecrypted, stats.conn.tls_sessions,
        "{stats:?}"
    );
    assert!(got.iter().all(|o| matches!(o,
        CaptureOutput::TlsUndecrypted { reason, .. } if reason.contains("CLIENT_TRAFFIC_SECRET_0"))));
}

/// Live capture on a link that went quiet: the clock alone (`poll_parked`) reports the parked
/// sessions once their grace period is over, not only the next packet.
#[test]
fn the_clock_alone_reports_parked_sessions_on_a_quiet_link() {
    use authtap::capture::pipeline::{Pipeline, PipelineConfig, PARK_GRACE};
    let frames = frames("forum-thread-h2.pcap", 10);
    let last = frames.last().map_or(0, |f| f.1);
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let keys = KeyLog::new();
    let mut got = Vec::new();
    push_all(&mut p, &frames, &keys, &mut got);
    p.poll_parked(last + 1, &keys, &mut |o| got.push(o));
    assert!(got.is_empty(), "{got:?}");
    p.poll_parked(last + PARK_GRACE, &keys, &mut |o| got.push(o));
    assert!(!got.is_empty());
    assert!(got
        .iter()
        .all(|o| matches!(o, CaptureOutput::TlsUndecrypted { .. })));
}
