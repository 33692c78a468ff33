//! Fuzz the passive HTTP/2 parser: preface + arbitrary frames in both directions.
#![no_main]
use authtap::capture::http2::{H2Conn, PREFACE};
use authtap::capture::Dir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = H2Conn::new("https", Some("fuzz.example".into()));
    let mut client = PREFACE.to_vec();
    let mid = data.len() / 2;
    client.extend_from_slice(&data[..mid]);
    for (i, chunk) in client.chunks(97).enumerate() {
        let _ = c.push(Dir::ClientToServer, chunk, i as i64);
    }
    for (i, chunk) in data[mid..].chunks(53).enumerate() {
        let _ = c.push(Dir::ServerToClient, chunk, i as i64);
    }
    let _ = c.finish();
    assert!(c.open_streams() <= authtap::capture::http2::MAX_STREAMS);
});
