//! Fuzz the HPACK decoder: arbitrary header blocks against one shared dynamic table; the decoded
//! list never exceeds the header-list cap.
#![no_main]
use authtap::capture::hpack::{Decoder, MAX_HEADER_LIST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new();
    for block in data.split(|b| *b == 0xA5) {
        if let Ok(b) = d.decode(block) {
            let size: usize = b.headers.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert!(size <= MAX_HEADER_LIST);
        }
    }
});
