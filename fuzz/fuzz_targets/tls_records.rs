//! Fuzz the TLS connection engine: arbitrary bytes split into client/server pushes, with a key
//! log that matches the ClientHello random found in the input (so decryption paths run too).
#![no_main]
use authtap::capture::keylog::KeyLog;
use authtap::capture::tls::TlsConn;
use authtap::capture::Dir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyLog::new();
    let r = "01".repeat(32);
    keys.add_text(
        format!(
            "CLIENT_RANDOM {r} {}\nCLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
            "02".repeat(48),
            "03".repeat(32),
            "04".repeat(32)
        )
        .as_bytes(),
    );
    let mut conn = TlsConn::new();
    // First byte chooses the split pattern; chunks alternate direction.
    let (ctl, rest) = data.split_first().map(|(c, r)| (*c, r)).unwrap_or((0, data));
    let step = (ctl as usize % 61) + 1;
    for (i, chunk) in rest.chunks(step).enumerate() {
        let dir = if (i + ctl as usize) % 3 == 0 {
            Dir::ServerToClient
        } else {
            Dir::ClientToServer
        };
        let _ = conn.push(dir, chunk, i as i64, &keys);
    }
    let _ = conn.finish(&keys);
});
