//! Streaming JSON byte scanner for the HAR reader.
//!
//! Owns: a bounded read buffer over any `Read`, whitespace skipping, and `capture`, which finds
//! the end of one complete JSON value (tracking strings, escapes, bracket kinds and depth) so the
//! reader can hand exactly one entry at a time to `serde_json`. It also keeps line/column
//! accounting for every byte it has discarded, so any error can name line, column and byte.
//! Must not: interpret values (that is `super`), or hold more than one value plus one chunk.
//! Known limits: it checks structure only (brackets, strings, depth); token-level validation of a
//! captured value is left to `serde_json`. Columns count bytes, not characters, from 1.

use std::io::{ErrorKind, Read};

use super::{HarError, Position};

/// Deepest nesting accepted anywhere in the document (root object = 1).
pub const MAX_DEPTH: usize = 128;

/// Result of `Scanner::capture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured {
    /// The value is `buf[start..end]`; the caller reads it with `slice` then calls `consume_to(end)`.
    Value { start: usize, end: usize },
    /// The value was longer than the cap; it was skipped (structurally) and already consumed.
    Oversized { len: u64 },
}

pub struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// Next unconsumed byte in `buf`.
    pos: usize,
    /// Absolute offset of `buf[0]` in the input.
    base: u64,
    /// Line number (1-based) of `buf[0]`.
    line: u64,
    /// Absolute offset where line `line` starts.
    line_start: u64,
    eof: bool,
    chunk: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Number of `\n` bytes in `data`. Counted in blocks with a `u8` accumulator so the compiler
/// vectorizes it; line accounting runs over every byte read.
fn count_newlines(data: &[u8]) -> u64 {
    data.chunks(255)
        .map(|block| {
            let mut n = 0u8;
            for &b in block {
                n += u8::from(b == b'\n');
            }
            u64::from(n)
        })
        .sum()
}

/// How a byte is shown in an error message.
pub fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

impl<R: Read> Scanner<R> {
    pub fn new(reader: R, chunk: usize) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            line: 1,
            line_start: 0,
            eof: false,
            chunk: chunk.max(64),
        }
    }

    /// Bytes consumed or discarded so far plus what is buffered: total bytes read.
    pub fn bytes_read(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Drop `buf[..n]` (all consumed), keeping line accounting.
    fn discard(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        if n == 0 {
            return;
        }
        let dropped = &self.buf[..n];
        let newlines = count_newlines(dropped);
        if newlines > 0 {
            self.line += newlines;
            if let Some(k) = memchr::memrchr(b'\n', dropped) {
                self.line_start = self.base + k as u64 + 1;
            }
        }
        self.buf.drain(..n);
        self.base += n as u64;
        self.pos -= n;
    }

    /// Discard consumed bytes and read one more chunk. `Ok(false)` at end of input.
    fn fill(&mut self) -> Result<bool, HarError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.discard(self.pos);
        }
        let old = self.buf.len();
        self.buf.resize(old + self.chunk, 0);
        loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    if n == 0 {
                        self.eof = true;
                        return Ok(false);
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.buf.truncate(old);
                    return Err(HarError::Io {
                        byte: self.base + old as u64,
                        source,
                    });
                }
            }
        }
    }

    /// Position of `buf[idx]` (or of the end of input when `idx == buf.len()`).
    pub fn position(&self, idx: usize) -> Position {
        let idx = idx.min(self.buf.len());
        let before = &self.buf[..idx];
        let newlines = count_newlines(before);
        let (line, line_start) = match memchr::memrchr(b'\n', before) {
            Some(k) if newlines > 0 => (self.line + newlines, self.base + k as u64 + 1),
            _ => (self.line, self.line_start),
        };
        let byte = self.base + idx as u64;
        Position {
            line,
            column: byte - line_start + 1,
            byte,
        }
    }

    /// Absolute byte offset of `buf[idx]` (cheap, unlike `position`).
    pub fn offset(&self, idx: usize) -> u64 {
        self.base + idx.min(self.buf.len()) as u64
    }

    /// Position of the next unconsumed byte.
    pub fn here(&self) -> Position {
        self.position(self.pos)
    }

    /// Index of the next unconsumed byte in the buffer (for `position`).
    pub fn cursor(&self) -> usize {
        self.pos
    }

    /// Skip a UTF-8 byte order mark at the very start of the input.
    pub fn skip_bom(&mut self) -> Result<(), HarError> {
        while self.buf.len() < 3 && !self.eof {
            if !self.fill()? {
                break;
            }
        }
        if self.base == 0 && self.pos == 0 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        }
        Ok(())
    }

    /// Skip whitespace and return the next byte without consuming it; `None` at end of input.
    pub fn peek(&mut self) -> Result<Option<u8>, HarError> {
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                if is_ws(b) {
                    self.pos += 1;
                } else {
                    return Ok(Some(b));
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consume the byte `peek` returned.
    pub fn bump(&mut self) {
        if self.pos < self.buf.len() {
            self.pos += 1;
        }
    }

    pub fn slice(&self, start: usize, end: usize) -> &[u8] {
        let end = end.min(self.buf.len());
        &self.buf[start.min(end)..end]
    }

    pub fn consume_to(&mut self, end: usize) {
        self.pos = end.min(self.buf.len());
    }

    /// Find the end of the JSON value that starts at the next non-whitespace byte.
    ///
    /// `base_depth` is the nesting depth of the container holding the value. Values longer than
    /// `cap` bytes are skipped without being buffered and reported as `Oversized`.
    pub fn capture(&mut self, base_depth: usize, cap: usize) -> Result<Captured, HarError> {
        let first = match self.peek()? {
            Some(b) => b,
            None => {
                return Err(HarError::Truncated {
                    pos: self.here(),
                    expected: "a value",
                })
            }
        };
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let mut in_string = first == b'"';
        // Offset from `self.pos` of the next byte to scan.
        let mut rel: usize = usize::from(in_string);
        let mut depth: usize = 0;
        // Bit d-1 set: the container at relative depth d is an object.
        let mut kinds: u128 = 0;
        let mut escape = false;
        let mut oversized = false;
        let mut skipped: u64 = 0;

        loop {
            let avail = self.buf.len() - self.pos;
            if rel >= avail {
                if rel as u64 + skipped > cap as u64 {
                    oversized = true;
                }
                if oversized {
                    skipped += rel as u64;
                    self.pos += rel;
                    rel = 0;
                }
                if !self.fill()? {
                    if scalar {
                        return Ok(self.finish_capture(
                            rel,
                            oversized || rel as u64 + skipped > cap as u64,
                            skipped,
                        ));
                    }
                    let expected = if in_string {
                        "closing `\"` of a string"
                    } else if depth > 0 && (kinds >> (depth - 1)) & 1 == 1 {
                        "`}`"
                    } else {
                        "`]`"
                    };
                    return Err(HarError::Truncated {
                        pos: self.position(self.buf.len()),
                        expected,
                    });
                }
                continue;
            }
            let b = &self.buf[self.pos..];
            if escape {
                escape = false;
                rel += 1;
                continue;
            }
            if in_string {
                match memchr::memchr2(b'"', b'\\', &b[rel..]) {
                    None => rel = b.len(),
                    Some(k) => {
                        let at = rel + k;
                        if b[at] == b'\\' {
                            if at + 1 < b.len() {
                                rel = at + 2;
                            } else {
                                escape = true;
                                rel = at + 1;
                            }
                        } else {
                            in_string = false;
                            rel = at + 1;
                            if depth == 0 {
                                return Ok(self.finish_capture(
                                    rel,
                                    oversized || rel as u64 + skipped > cap as u64,
                                    skipped,
                                ));
                            }
                        }
                    }
                }
                continue;
            }
            if scalar {
                while rel < b.len() {
                    let c = b[rel];
                    if is_ws(c) || matches!(c, b',' | b'}' | b']' | b':' | b'"' | b'{' | b'[') {
                        return Ok(self.finish_capture(
                            rel,
                            oversized || rel as u64 + skipped > cap as u64,
                            skipped,
                        ));
                    }
                    rel += 1;
                }
                continue;
            }
            while rel < b.len() {
                let c = b[rel];
                rel += 1;
                match c {
                    b'"' => {
                        in_string = true;
                        break;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        if base_depth + depth > MAX_DEPTH {
                            return Err(HarError::TooDeep {
                                pos: self.position(self.pos + rel - 1),
                                max: MAX_DEPTH,
                            });
                        }
                        let bit = 1u128 << (depth - 1);
                        if c == b'{' {
                            kinds |= bit;
                        } else {
                            kinds &= !bit;
                        }
                    }
                    b'}' | b']' => {
                        if depth == 0 {
                            // Unreachable for containers (we return at depth 0); be safe.
                            return Ok(self.finish_capture(rel - 1, oversized, skipped));
                        }
                        let is_object = (kinds >> (depth - 1)) & 1 == 1;
                        if (c == b'}') != is_object {
                            return Err(HarError::Syntax {
                                pos: self.position(self.pos + rel - 1),
                                detail: format!(
                                    "expected {}, found {}",
                                    if is_object { "`}`" } else { "`]`" },
                                    describe_byte(c)
                                ),
                            });
                        }
                        depth -= 1;
                        if depth == 0 {
                            return Ok(self.finish_capture(
                                rel,
                                oversized || rel as u64 + skipped > cap as u64,
                                skipped,
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn finish_capture(&mut self, rel: usize, oversized: bool, skipped: u64) -> Captured {
        if oversized {
            self.pos += rel;
            Captured::Oversized {
                len: skipped + rel as u64,
            }
        } else {
            Captured::Value {
                start: self.pos,
                end: self.pos + rel,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns one byte per call, to exercise every refill boundary.
    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn capture_all(input: &[u8]) -> Vec<String> {
        let mut sc = Scanner::new(OneByte(input), 64);
        let mut out = Vec::new();
        while let Ok(Some(_)) = sc.peek() {
            match sc.capture(0, 1 << 20) {
                Ok(Captured::Value { start, end }) => {
                    out.push(String::from_utf8_lossy(sc.slice(start, end)).into_owned());
                    sc.consume_to(end);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn captures_values_across_one_byte_reads() {
        let got = capture_all(br#"{"a":"x\"}\\"} [1,[2]] "s\"" 12.5 true"#);
        assert_eq!(
            got,
            vec![r#"{"a":"x\"}\\"}"#, "[1,[2]]", r#""s\"""#, "12.5", "true"]
        );
    }

    #[test]
    fn mismatched_bracket_is_a_syntax_error_with_position() {
        let mut sc = Scanner::new(&b"\n  {\"a\": [1}"[..], 64);
        let err = sc.capture(0, 1024).unwrap_err();
        match err {
            HarError::Syntax { pos, detail } => {
                assert_eq!((pos.line, pos.column, pos.byte), (2, 11, 11));
                assert!(detail.contains("expected `]`"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversized_values_are_skipped_and_counted() {
        let mut data = b"[".to_vec();
        data.extend(std::iter::repeat_n(b'1', 10_000));
        data.extend(b"] 7");
        let mut sc = Scanner::new(&data[..], 128);
        assert_eq!(
            sc.capture(0, 1000).unwrap(),
            Captured::Oversized { len: 10_002 }
        );
        assert_eq!(sc.peek().unwrap(), Some(b'7'));
        assert_eq!(sc.here().byte, 10_003);
    }

    #[test]
    fn depth_cap_is_enforced() {
        let data = "[".repeat(200);
        let mut sc = Scanner::new(data.as_bytes(), 64);
        match sc.capture(0, 1 << 20).unwrap_err() {
            HarError::TooDeep { pos, max } => {
                assert_eq!(max, MAX_DEPTH);
                assert_eq!(pos.byte, MAX_DEPTH as u64);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
