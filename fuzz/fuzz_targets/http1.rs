//! Fuzz HTTP/1 framing: the input is split into client and server chunks (and gaps) and fed to
//! one connection's parser.
#![no_main]
use authtap::capture::http1::{Http1Caps, Http1Conn};
use authtap::capture::Dir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Http1Conn::new("http", "10.0.0.2:80".into(), Http1Caps::default());
    let mut out = Vec::new();
    let mut rest = data;
    // Each record: 1 byte (bit 0 direction, bit 1 gap), 1 byte length, payload.
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let dir = if op & 1 == 0 { Dir::ClientToServer } else { Dir::ServerToClient };
        if op & 2 != 0 {
            c.gap(dir, u64::from(*len), 0, &mut out);
        } else {
            c.push(dir, chunk, 0, &mut out);
        }
        if op & 4 != 0 {
            c.end(dir, 0, &mut out);
        }
        let _ = c.take_upgrade();
    }
    c.close(0, &mut out);
});
