//! Fuzz the SSLKEYLOGFILE parser (`add_text`, and the line-by-line `add_reader` used for
//! `--keylog` files): never panics, accepted + skipped lines never exceed the number of lines,
//! and the two agree on text with LF endings and short lines.
#![no_main]
use authtap::capture::keylog::KeyLog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut kl = KeyLog::new();
    let accepted = kl.add_text(data);
    let lines = data.split(|b| *b == b'\n' || *b == b'\r').count();
    assert!(accepted + kl.skipped_lines as usize <= lines);
    let _ = format!("{kl:?}");

    let mut by_line = KeyLog::new();
    let Ok(loaded) = by_line.add_reader(std::io::BufReader::with_capacity(64, data)) else {
        panic!("reading from memory cannot fail");
    };
    let lf_lines = data.split(|b| *b == b'\n').count();
    assert!(loaded.accepted + loaded.malformed + loaded.ignored <= lf_lines as u64);
    let short = data.split(|b| *b == b'\n').all(|l| l.len() <= 4096);
    if short && !data.contains(&b'\r') {
        assert_eq!(loaded.accepted, accepted as u64);
        assert_eq!(by_line.len(), kl.len());
    }
});
