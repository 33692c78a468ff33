//! TLS key material: SSLKEYLOGFILE text and pcapng Decryption Secrets Blocks.
//!
//! Placeholder interface; the TLS work fills it in. Secrets never reach any output.

/// Key log entries indexed by client random.
#[derive(Debug, Default)]
pub struct KeyLog {
    /// Lines that could not be parsed.
    pub skipped_lines: u64,
}

impl KeyLog {
    /// Add SSLKEYLOGFILE-format text (LF or CRLF, `#` comments). Returns lines accepted.
    pub fn add_text(&mut self, text: &[u8]) -> usize {
        let _ = text;
        0
    }
}
