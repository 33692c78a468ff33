//! Fuzz the SSLKEYLOGFILE parser: never panics, and accepted + skipped lines never exceed the
//! number of lines.
#![no_main]
use authtap::capture::keylog::KeyLog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut kl = KeyLog::new();
    let accepted = kl.add_text(data);
    let lines = data.split(|b| *b == b'\n' || *b == b'\r').count();
    assert!(accepted + kl.skipped_lines as usize <= lines);
    let _ = format!("{kl:?}");
});
