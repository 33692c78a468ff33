//! Fuzz the TLS connection engine: arbitrary bytes split into client/server pushes, with a key
//! log that matches the ClientHello random found in the input (so decryption paths run too).
//! When the control byte's top bit is set, the client's TLS 1.3 application secret is added
//! only halfway through (a live key log read between its lines: the partial-keys path).
#![no_main]
use authtap::capture::keylog::KeyLog;
use authtap::capture::tls::TlsConn;
use authtap::capture::Dir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyLog::new();
    let r = "01".repeat(32);
    let client = format!("CLIENT_TRAFFIC_SECRET_0 {r} {}\n", "03".repeat(32));
    // First byte chooses the split pattern; chunks alternate direction.
    let (ctl, rest) = data.split_first().map(|(c, r)| (*c, r)).unwrap_or((0, data));
    let late_client_secret = ctl & 0x80 != 0;
    keys.add_text(
        format!(
            "CLIENT_RANDOM {r} {}\n{}SERVER_TRAFFIC_SECRET_0 {r} {}\n",
            "02".repeat(48),
            if late_client_secret { "" } else { client.as_str() },
            "04".repeat(32)
        )
        .as_bytes(),
    );
    let mut conn = TlsConn::new();
    let step = (ctl as usize % 61) + 1;
    let halfway = rest.len() / step / 2;
    for (i, chunk) in rest.chunks(step).enumerate() {
        if late_client_secret && i == halfway {
            keys.add_text(client.as_bytes());
        }
        let dir = if (i + ctl as usize) % 3 == 0 {
            Dir::ServerToClient
        } else {
            Dir::ClientToServer
        };
        let _ = conn.push(dir, chunk, i as i64, &keys);
    }
    let _ = conn.finish(&keys);
});
