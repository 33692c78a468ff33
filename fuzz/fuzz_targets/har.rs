//! Fuzz target: the streamed HAR reader must never panic, whatever the bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = authtap::source::har::read_har(data, 0, |_| {});
});
