//! Broken captures (`fixtures/err-*`, made by `fixtures/make_err_fixtures.py`): exact errors for
//! unreadable files, and for damage after the header, the packets before it analyzed plus a note.
#![allow(clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::pipeline::Stop;
use authtap::capture::CaptureOutput;
use authtap::model::Exchange;
use authtap::source::pcap::{read_capture, CaptureError, CaptureStats};

fn fixture(name: &str) -> std::fs::File {
    std::fs::File::open(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn read(name: &str) -> (Result<CaptureStats, CaptureError>, Vec<Exchange>) {
    let mut keys = KeyLog::default();
    let mut ex = Vec::new();
    let res = read_capture(fixture(name), 0, &mut keys, |o| {
        if let CaptureOutput::Exchange(e) = o {
            ex.push(e);
        }
    });
    (res, ex)
}

#[test]
fn truncated_header_is_an_error() {
    let (res, ex) = read("err-truncated-header.pcap");
    let err = res.unwrap_err();
    assert!(
        matches!(err, CaptureError::TruncatedHeader { len: 10 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "file is 10 bytes, too short for a capture header (pcap needs 24, pcapng 28)"
    );
    assert!(ex.is_empty());
}

#[test]
fn bad_magic_is_an_error_naming_the_bytes() {
    let (res, _) = read("err-bad-magic.pcap");
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a pcap or pcapng file: magic 47455420 at byte 0 (expected a1b2c3d4 or a1b23c4d in either byte order, or 0a0d0d0a)"
    );
    let (res, _) = {
        let mut keys = KeyLog::default();
        (read_capture(&b""[..], 0, &mut keys, |_| {}), ())
    };
    assert!(matches!(
        res.unwrap_err(),
        CaptureError::TruncatedHeader { len: 0 }
    ));
}

/// The one good packet before the damage carries this request; it has no response.
fn assert_one_request(ex: &[Exchange]) {
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.url, "http://t.auth0.com/api/v2/users");
    assert_eq!(ex[0].notes, ["no response seen"]);
}

#[test]
fn truncated_last_record_keeps_what_is_there() {
    let (res, ex) = read("err-truncated-record.pcap");
    let st = res.unwrap();
    assert_eq!(st.packets, 1);
    assert_one_request(&ex);
    assert_eq!(
        st.stopped,
        Some(Stop::TruncatedRecord {
            offset: 143,
            have: 30,
            declared: Some(89)
        })
    );
    assert_eq!(
        st.notes()[0],
        "the last record at byte 143 is truncated (30 of 89 bytes present); everything before it was analyzed"
    );
}

#[test]
fn absurd_lengths_stop_without_allocating() {
    let (res, ex) = read("err-absurd-record.pcap");
    let st = res.unwrap();
    assert_one_request(&ex);
    assert_eq!(
        st.stopped,
        Some(Stop::RecordTooLarge {
            offset: 143,
            declared: 0x7fff_ffff + 16
        })
    );

    let (res, ex) = read("err-absurd-block.pcapng");
    let st = res.unwrap();
    assert_one_request(&ex);
    assert_eq!(
        st.stopped,
        Some(Stop::RecordTooLarge {
            offset: 184,
            declared: 0xffff_fff0
        })
    );
    assert_eq!(
        st.notes()[0],
        "reading stopped at byte 184: a record declares 4294967280 bytes, over the 16777216 byte cap"
    );
}

#[test]
fn garbage_block_stops_with_offset() {
    let (res, ex) = read("err-garbage.pcapng");
    let st = res.unwrap();
    assert_one_request(&ex);
    assert_eq!(
        st.stopped,
        Some(Stop::Malformed {
            offset: 184,
            detail: "the block structure is invalid"
        })
    );
}

#[test]
fn capture_cut_mid_stream() {
    let (res, ex) = read("err-cut-mid-stream.pcap");
    let st = res.unwrap();
    assert!(st.stopped.is_none());
    assert_eq!(st.packets, 3);
    assert_eq!(st.tcp.mid_stream, 1);
    assert_eq!(ex.len(), 1);
    let resp = ex[0].response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.data, b"abc");
    assert!(resp.body.truncated);
    assert_eq!(
        ex[0].notes,
        ["server stream ended 97 bytes before the end of the body"]
    );
    assert_eq!(ex[0].started, Some(1_700_000_001_000_000));
    assert_eq!(
        ex[0].origin.connection.as_deref(),
        Some("10.0.0.1:40000 -> 10.0.0.2:8080")
    );
    // The leading body tail said nothing; the connection is still recognised as HTTP/1.
    assert_eq!(
        (st.conn.http1_connections, st.conn.non_http_connections),
        (1, 0)
    );
}

#[test]
fn every_prefix_of_every_fixture_is_safe() {
    let dir = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("err-") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        for n in 0..=bytes.len() {
            let mut keys = KeyLog::default();
            let _ = read_capture(&bytes[..n], 0, &mut keys, |_| {});
        }
    }
}

/// `fixtures/forum-thread.pcap` (little-endian pcap) with every frame cut to `snap` bytes, as
/// `tcpdump -s SNAP` would have written it (the original length stays in the record header).
fn with_snaplen(snap: usize) -> Vec<u8> {
    let data = std::fs::read(format!(
        "{}/fixtures/forum-thread.pcap",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut out = data[..24].to_vec();
    out[16..20].copy_from_slice(&(snap as u32).to_le_bytes());
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let kept = caplen.min(snap);
        out.extend_from_slice(&data[at..at + 8]);
        out.extend_from_slice(&(kept as u32).to_le_bytes());
        out.extend_from_slice(&data[at + 12..at + 16]);
        out.extend_from_slice(&data[at + 16..at + 16 + kept]);
        at += 16 + caplen;
    }
    out
}

#[test]
fn a_short_snap_length_is_named_with_how_to_capture_again() {
    let mut keys = KeyLog::default();
    let whole = read_capture(&with_snaplen(65535)[..], 0, &mut keys, |_| {}).unwrap();
    assert!(whole.notes().iter().all(|n| !n.contains("snap length")));
    let st = read_capture(&with_snaplen(120)[..], 0, &mut keys, |_| {}).unwrap();
    let notes = st.notes();
    let cut: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("cut by the capture's snap length"))
        .collect();
    assert_eq!(cut.len(), 1, "{notes:?}");
    assert!(cut[0].contains("`tcpdump -s 0`"), "{}", cut[0]);
    assert!(st.tcp.gaps > 0);
}
