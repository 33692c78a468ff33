//! HAR input end to end: format detection + streamed reader on real exports (../shared/corpus),
//! on the bad-input fixtures (fixtures/err-*, made by benches/har/make_err_fixtures.py), and on
//! synthetic files for BOM, base64, gzip, key order and the reorder window; plus the HAR writer
//! round trip. Expected entry counts for the corpus are computed here with `serde_json::Value`,
//! never hard-coded. Corpus tests skip with a printed reason when ../shared/corpus is missing.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use authtap::model::{Body, Exchange, Headers, Origin, Request, Response, TlsInfo};
use authtap::redact::Redactor;
use authtap::sink::har::HarWriter;
use authtap::source::detect::{self, Format, OpenError};
use authtap::source::har::{read_har, read_har_with, HarError, HarOptions, HarStats};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AUTHTAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

fn find_hars(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            find_hars(&p, out);
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("har")) {
            out.push(p);
        }
    }
}

fn read_path(path: &Path) -> Result<(Vec<Exchange>, HarStats, String), String> {
    let opened = detect::open(path).map_err(|e| e.to_string())?;
    let name = opened.format_name();
    if opened.format != Format::Har {
        return Err(format!("{}: detected {name}", path.display()));
    }
    let mut out = Vec::new();
    let stats = read_har(opened.reader, 0, |e| out.push(e)).map_err(|e| e.to_string())?;
    Ok((out, stats, name))
}

fn read_str(text: &str) -> Result<(Vec<Exchange>, HarStats), HarError> {
    let mut out = Vec::new();
    let stats = read_har(text.as_bytes(), 0, |e| out.push(e))?;
    Ok((out, stats))
}

#[test]
fn every_corpus_har_reads_with_the_json_entry_count() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: ../shared/corpus is missing (set AUTHTAP_CORPUS to point at it)");
        return;
    };
    let mut files = Vec::new();
    find_hars(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .har files under {}", dir.display());
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let json = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let value: serde_json::Value = match serde_json::from_slice(json) {
            Ok(v) => v,
            Err(e) => {
                println!(
                    "skipped {}: not valid JSON for serde_json either ({e})",
                    path.display()
                );
                continue;
            }
        };
        let expected = value["log"]["entries"].as_array().map_or(0, Vec::len);
        let (exchanges, stats, format) =
            read_path(path).unwrap_or_else(|e| panic!("{}: fatal error: {e}", path.display()));
        assert_eq!(format, "har");
        assert_eq!(
            stats.malformed_count,
            0,
            "{}: {:?}",
            path.display(),
            stats.malformed
        );
        assert_eq!(exchanges.len(), expected, "{}", path.display());
        assert_eq!(stats.entries, expected, "{}", path.display());
        let mut indexes: Vec<usize> = exchanges.iter().map(|e| e.index).collect();
        indexes.sort_unstable();
        assert_eq!(
            indexes,
            (0..expected).collect::<Vec<_>>(),
            "{}",
            path.display()
        );
        for ex in &exchanges {
            assert!(!ex.request.method.is_empty(), "{}", path.display());
            assert!(
                ex.request.url.contains("://") && !ex.request.url.contains('#'),
                "{}: {}",
                path.display(),
                ex.request.url
            );
            assert!(ex.request.headers.iter().all(|(n, _)| !n.starts_with(':')));
            if let Some(r) = &ex.response {
                assert!(r.headers.iter().all(|(n, _)| !n.starts_with(':')));
                assert!(r.body.data.len() <= authtap::source::har::BODY_CAP);
            }
        }
        println!("{}: {expected} entries", path.display());
    }
}

#[test]
fn corpus_exports_keep_their_specific_details() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: ../shared/corpus is missing");
        return;
    };
    // BOM export.
    let bom = dir.join("mitmproxy/har_files/with-bom.har");
    if bom.exists() {
        let (ex, _, _) = read_path(&bom).unwrap();
        assert_eq!(ex.len(), 1);
    }
    // Firefox HTTP/2 export: HTTP/2 entries keep an absolute URL and times in order.
    let h2 = dir.join("pagexray/http/http2-firefox.har");
    if h2.exists() {
        let (ex, stats, _) = read_path(&h2).unwrap();
        assert_eq!(stats.reordered_late, 0);
        let starts: Vec<i64> = ex.iter().filter_map(|e| e.started).collect();
        assert_eq!(starts.len(), ex.len(), "every entry has a start time");
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "sorted by start");
    }
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// Read a fixture directly (no detection) so the HAR reader's own error is checked.
fn read_fixture_raw(name: &str) -> (Result<HarStats, HarError>, usize) {
    let data = std::fs::read(fixture(name)).unwrap();
    let mut n = 0;
    (read_har(&data[..], 0, |_| n += 1), n)
}

#[test]
fn empty_file_is_refused_at_byte_0() {
    let err = detect::open(&fixture("err-empty.har")).unwrap_err();
    assert!(matches!(err, OpenError::Unknown { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("err-empty.har: byte 0: expected HAR JSON, pcap or pcapng, found end of file"),
        "{msg}"
    );
    let (res, _) = read_fixture_raw("err-empty.har");
    match res.unwrap_err() {
        HarError::Empty { pos } => assert_eq!((pos.line, pos.column, pos.byte), (1, 1, 0)),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn binary_junk_is_refused_at_byte_0() {
    let msg = detect::open(&fixture("err-junk.har"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("byte 0: expected HAR JSON, pcap or pcapng, found bytes 89 50 4e 47"),
        "{msg}"
    );
    let (res, _) = read_fixture_raw("err-junk.har");
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "not JSON at line 1, column 1 (byte 0): expected a HAR JSON object `{`, found byte 0x89"
    );
}

fn eof_position(data: &[u8]) -> (u64, u64, u64) {
    let line = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = data.iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
    (
        line,
        (data.len() - line_start) as u64 + 1,
        data.len() as u64,
    )
}

#[test]
fn truncated_json_reports_end_position_and_keeps_earlier_entries() {
    let data = std::fs::read(fixture("err-truncated.har")).unwrap();
    let (res, delivered) = read_fixture_raw("err-truncated.har");
    assert_eq!(delivered, 1, "the complete first entry is delivered");
    match res.unwrap_err() {
        HarError::Truncated { pos, expected } => {
            assert_eq!((pos.line, pos.column, pos.byte), eof_position(&data));
            assert_eq!(expected, "`}`");
        }
        other => panic!("unexpected {other}"),
    }
    // The same through gzip and detection.
    let opened = detect::open(&fixture("err-truncated.har.gz")).unwrap();
    assert_eq!(opened.format_name(), "har+gzip");
    let err = read_har(opened.reader, 0, |_| {}).unwrap_err();
    assert!(
        err.to_string().starts_with("truncated JSON at line "),
        "{err}"
    );
    assert_eq!(err.position().map(|p| p.byte), Some(data.len() as u64));
}

#[test]
fn wrong_types_at_document_level_are_fatal_with_position() {
    let data = std::fs::read(fixture("err-wrong-types.har")).unwrap();
    let (res, _) = read_fixture_raw("err-wrong-types.har");
    match res.unwrap_err() {
        HarError::WrongType {
            pos,
            what,
            expected,
            found,
        } => {
            assert_eq!(
                (what, expected, found.as_str()),
                ("log.entries", "an array", "an object")
            );
            let at = data
                .windows(11)
                .position(|w| w == b"\"entries\": ")
                .unwrap()
                + 11;
            assert_eq!(pos.byte, at as u64);
            assert_eq!(data[at], b'{');
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn deep_nesting_is_fatal_at_the_128th_level() {
    let (res, _) = read_fixture_raw("err-deep.har");
    match res.unwrap_err() {
        HarError::TooDeep { pos, max } => {
            assert_eq!(max, 128);
            // root, log, entries and the entry object take 4 levels: the 125th `[` is level 129.
            assert_eq!((pos.line, pos.column, pos.byte), (2, 139, 178));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn json_without_log_is_not_a_har() {
    let (res, _) = read_fixture_raw("err-no-log.har");
    let err = res.unwrap_err();
    assert!(matches!(err, HarError::MissingLog { .. }), "{err}");
}

#[test]
fn wrong_typed_entries_are_skipped_counted_and_noted() {
    let har = r#"{"log":{"entries":[
      {"request":{"method":"GET","url":"https://a/0"},"response":{"status":200}},
      {"request":{"method":"GET","url":"https://a/1"},"response":{"status":true}},
      {"request":{"method":"GET","url":"https://a/2","headers":[{"name":1}]}},
      [],
      {"startedDateTime":5,"request":{"method":"GET","url":"https://a/4"}},
      {"request":{"method":"GET","url":"https://a/5"},"response":{"status":404}}
    ]}}"#;
    let (ex, stats) = read_str(har).unwrap();
    assert_eq!(ex.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 5]);
    assert_eq!(stats.malformed_count, 4);
    for (note, idx) in stats.malformed.iter().zip([1, 2, 3, 4]) {
        assert!(note.starts_with(&format!("entry {idx} at line ")), "{note}");
        assert!(note.ends_with("; skipped"), "{note}");
    }
    assert!(stats.summary_notes()[0].starts_with("4 malformed HAR entries skipped"));
}

#[test]
fn bom_custom_fields_and_member_order() {
    let har = "\u{feff}\n{\"_custom\":{\"log\":1},\"log\":{\"entries\":[{\"_x\":[{}],\"request\":{\"method\":\"GET\",\"url\":\"https://a/\",\"headersSize\":-1,\"bodySize\":-1},\"response\":{\"status\":204,\"bodySize\":-1,\"content\":{\"size\":-1}}}],\"pages\":[{\"id\":\"p\"}],\"creator\":{\"name\":\"z\"},\"version\":\"1.2\"}}";
    let (ex, stats) = read_str(har).unwrap();
    assert_eq!(stats.entries, 1);
    assert_eq!(ex[0].status(), Some(204));
    assert!(ex[0].response.as_ref().unwrap().body.data.is_empty());
}

#[test]
fn base64_bodies_are_decoded() {
    let har = r#"{"log":{"entries":[{"request":{"method":"POST","url":"https://a/",
      "postData":{"mimeType":"application/json","text":"eyJ4IjoxfQ==","encoding":"base64"}},
      "response":{"status":200,"content":{"mimeType":"image/png","text":"iVBORw0KGgo=","encoding":"base64"}}},
      {"request":{"method":"GET","url":"https://a/"},
      "response":{"status":200,"content":{"text":"not base64 !!","encoding":"base64"}}}]}}"#;
    let (ex, _) = read_str(har).unwrap();
    assert_eq!(ex[0].request.body.data, br#"{"x":1}"#);
    assert_eq!(
        ex[0].response.as_ref().unwrap().body.data,
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]
    );
    assert_eq!(ex[1].response.as_ref().unwrap().body.data, b"not base64 !!");
    assert!(ex[1].notes.iter().any(|n| n.contains("not valid base64")));
}

fn entry_json(i: usize, second: u32) -> String {
    format!(
        r#"{{"startedDateTime":"2024-05-01T10:00:{second:02}.000Z","time":1,"request":{{"method":"GET","url":"https://a/{i}"}},"response":{{"status":200}}}}"#
    )
}

#[test]
fn gzip_har_is_detected_and_read() {
    let entries: Vec<String> = (0..50).map(|i| entry_json(i, (i % 60) as u32)).collect();
    let har = format!(r#"{{"log":{{"entries":[{}]}}}}"#, entries.join(","));
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(har.as_bytes()).unwrap();
    file.write_all(&enc.finish().unwrap()).unwrap();
    let (ex, stats, format) = read_path(file.path()).unwrap();
    assert_eq!(format, "har+gzip");
    assert_eq!(ex.len(), 50);
    assert_eq!(stats.bytes, har.len() as u64);
}

#[test]
fn reorder_window_sorts_nearby_entries_and_counts_late_ones() {
    // Seconds in file order: 5 4 3 2 1 0 50 51 ... 59 and finally one at second 6, which
    // arrives after 50 and 51 have left the 8-entry window.
    let mut seconds: Vec<u32> = vec![5, 4, 3, 2, 1, 0];
    seconds.extend(50..60);
    seconds.push(6);
    let entries: Vec<String> = seconds
        .iter()
        .enumerate()
        .map(|(i, s)| entry_json(i, *s))
        .collect();
    let har = format!(r#"{{"log":{{"entries":[{}]}}}}"#, entries.join(","));
    let opts = HarOptions {
        reorder_window: 8,
        ..HarOptions::default()
    };
    let mut ex = Vec::new();
    let stats = read_har_with(har.as_bytes(), 0, &opts, |e| ex.push(e)).unwrap();
    let got: Vec<usize> = ex.iter().map(|e| e.index).collect();
    assert_eq!(&got[..6], &[5, 4, 3, 2, 1, 0]);
    assert_eq!(
        stats.reordered_late, 1,
        "second 6 arrives after 50.. were released"
    );
    assert_eq!(stats.entries, seconds.len());
    let late = ex.iter().find(|e| e.index == 16).unwrap();
    assert!(late.notes.iter().any(|n| n.contains("out of time order")));
}

#[test]
fn small_read_chunks_give_the_same_result() {
    let entries: Vec<String> = (0..40).map(|i| entry_json(i, (i % 60) as u32)).collect();
    let har = format!(
        "{{\n \"log\": {{ \"entries\": [\n{}\n]}}}}",
        entries.join(",\n")
    );
    let mut big = Vec::new();
    read_har(har.as_bytes(), 0, |e| big.push(e)).unwrap();
    let opts = HarOptions {
        chunk: 64,
        ..HarOptions::default()
    };
    let mut small = Vec::new();
    read_har_with(har.as_bytes(), 0, &opts, |e| small.push(e)).unwrap();
    assert_eq!(big, small);
    assert_eq!(big.len(), 40);
}

#[test]
fn oversized_entries_are_skipped_and_counted() {
    let big = "x".repeat(10_000);
    let har = format!(
        r#"{{"log":{{"entries":[{},{{"request":{{"method":"GET","url":"https://a/{big}"}}}},{}]}}}}"#,
        entry_json(0, 1),
        entry_json(2, 2)
    );
    let opts = HarOptions {
        chunk: 256,
        entry_cap: 4096,
        ..HarOptions::default()
    };
    let mut ex = Vec::new();
    let stats = read_har_with(har.as_bytes(), 0, &opts, |e| ex.push(e)).unwrap();
    assert_eq!(ex.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(stats.malformed_count, 1);
    assert!(
        stats.malformed[0].contains("over the"),
        "{:?}",
        stats.malformed
    );
}

fn sample_exchanges() -> Vec<Exchange> {
    let mut req_headers = Headers::default();
    req_headers.push(
        "Authorization",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    );
    req_headers.push("Cookie", "did=s%3Av0%3Aabc; auth0=xyz123456");
    req_headers.push("Content-Type", "application/json");
    let mut resp_headers = Headers::default();
    resp_headers.push("Content-Type", "application/json; charset=utf-8");
    resp_headers.push("x-ratelimit-remaining", "9");
    vec![
        Exchange {
            input: 0,
            index: 0,
            started: Some(1_714_557_600_123_456),
            duration_ms: Some(81.25),
            request: Request {
                method: "PATCH".into(),
                url: "https://dev-x.eu.auth0.com/api/v2/users/auth0%7C123?fields=a,b".into(),
                http_version: "HTTP/2".into(),
                headers: req_headers,
                body: Body {
                    data: br#"{"user_metadata":{"theme":"dark"}}"#.to_vec(),
                    truncated: false,
                    mime: Some("application/json".into()),
                },
            },
            response: Some(Response {
                status: 403,
                status_text: "Forbidden".into(),
                http_version: "HTTP/2".into(),
                headers: resp_headers,
                body: Body {
                    data: br#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users","errorCode":"insufficient_scope"}"#.to_vec(),
                    truncated: false,
                    mime: Some("application/json".into()),
                },
            }),
            origin: Origin {
                connection: Some("10.0.0.2:5123 -> 10.0.0.1:443".into()),
                server_addr: Some("10.0.0.1".into()),
                tls: Some(TlsInfo {
                    sni: Some("dev-x.eu.auth0.com".into()),
                    version: Some("TLS 1.3".into()),
                    alpn: Some("h2".into()),
                    decrypted: true,
                }),
            },
            notes: vec!["gap in stream".into()],
        },
        Exchange {
            input: 0,
            index: 1,
            started: Some(1_714_557_601_000_000),
            duration_ms: Some(3.0),
            request: Request {
                method: "GET".into(),
                url: "https://cdn.example/logo.png".into(),
                http_version: "HTTP/1.1".into(),
                headers: Headers::default(),
                body: Body::default(),
            },
            response: Some(Response {
                status: 200,
                status_text: "OK".into(),
                http_version: "HTTP/1.1".into(),
                headers: Headers::default(),
                body: Body {
                    data: vec![0x89, b'P', b'N', b'G', 0xff, 0x00, 0xfe],
                    truncated: true,
                    mime: Some("image/png".into()),
                },
            }),
            origin: Origin::default(),
            notes: vec!["response body truncated at 1024 KiB".into()],
        },
    ]
}

fn write_har(exchanges: &[Exchange], r: &Redactor) -> Vec<u8> {
    let mut w = HarWriter::new(Vec::new()).unwrap();
    for ex in exchanges {
        w.write(ex, r).unwrap();
    }
    assert_eq!(w.entries(), exchanges.len() as u64);
    w.finish().unwrap()
}

#[test]
fn har_writer_round_trips_with_secrets_included() {
    let original = sample_exchanges();
    let bytes = write_har(&original, &Redactor::new(true));
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_eq!(v["log"]["version"], "1.2");
    let mut back = Vec::new();
    let stats = read_har(&bytes[..], 0, |e| back.push(e)).unwrap();
    assert_eq!(stats.malformed_count, 0);
    assert_eq!(back, original);
}

#[test]
fn har_writer_redacts_by_default_and_output_reads_back() {
    let original = sample_exchanges();
    let bytes = write_har(&original, &Redactor::new(false));
    let text = String::from_utf8_lossy(&bytes);
    for secret in [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "xyz123456",
        "s%3Av0%3Aabc",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let mut back = Vec::new();
    read_har(&bytes[..], 0, |e| back.push(e)).unwrap();
    assert_eq!(back.len(), 2);
    assert!(back[0]
        .request
        .headers
        .get("authorization")
        .is_some_and(|v| v.starts_with("Bearer fp:")));
}

#[test]
fn missing_response_is_written_as_status_0_and_read_back_as_none() {
    let mut ex = sample_exchanges().remove(1);
    ex.response = None;
    let bytes = write_har(&[ex], &Redactor::new(true));
    let mut back = Vec::new();
    read_har(&bytes[..], 0, |e| back.push(e)).unwrap();
    assert_eq!(back.len(), 1);
    assert!(back[0].response.is_none());
}
