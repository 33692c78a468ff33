//! Fuzz the capture reader end to end: any bytes as a pcap/pcapng (or gzip) file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut keys = authtap::capture::keylog::KeyLog::default();
    let _ = authtap::source::pcap::read_capture(data, 0, &mut keys, |_| {});
});
