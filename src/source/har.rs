//! HAR 1.2 reader, streamed: turns `log.entries[*]` into `Exchange`s one entry at a time.
//!
//! Owns: walking the root object and `log` (keys in any order, `entries` before or after `pages`
//! and `creator`), capturing each entry with `scan::Scanner` and deserializing it alone with
//! `serde_json::from_slice` into borrowed structs, then converting it: HTTP/2 pseudo-headers
//! dropped (but `:authority`/`:path`/`:scheme`/`:method` used when the URL or method lacks them),
//! URL fragments removed, base64 bodies decoded, `postData.params` re-encoded as a form, bodies
//! capped, `startedDateTime` parsed. A bounded window (`reorder`) sorts unsorted entries.
//! Must not: hold more than one entry, one read chunk and the reorder window in memory; panic on
//! any input; give up on a malformed entry (it is counted, noted with its index, and skipped).
//! Fatal errors (`HarError`) name the byte offset and line:column. Exchanges delivered before a
//! fatal error stay delivered; the reorder window is flushed before the error is returned.
//! Known limits: entries larger than `HarOptions::entry_cap` are skipped (counted as malformed);
//! values outside `entries` larger than `SKIP_VALIDATE_CAP` are checked for structure only.
//! `Exchange::index` is the entry's position in `log.entries` (so evidence points into the file).

mod reorder;
mod scan;

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use base64::Engine as _;
use serde::de::{self, IgnoredAny};
use serde::Deserialize;

use crate::model::{Body, Exchange, Headers, Origin, Request, Response, TlsInfo};
use reorder::Reorder;
use scan::{describe_byte, Captured, Scanner};

pub use scan::MAX_DEPTH;

/// Read chunk size.
pub const CHUNK: usize = 1 << 20;
/// Bodies longer than this are cut and marked truncated.
pub const BODY_CAP: usize = 1 << 20;
/// Entries longer than this (in JSON bytes) are skipped and counted.
pub const ENTRY_CAP: usize = 32 << 20;
/// Values outside `entries` up to this size are fully validated as JSON.
pub const SKIP_VALIDATE_CAP: usize = 4 << 20;
/// Reorder window, in entries.
pub const REORDER_WINDOW: usize = 1024;
/// Reorder window, in approximate bytes held.
pub const REORDER_BYTES: usize = 32 << 20;
/// Malformed-entry notes kept verbatim; the rest are only counted.
pub const MAX_NOTES: usize = 200;

/// Caps for one read. `Default` gives the documented constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarOptions {
    pub chunk: usize,
    pub body_cap: usize,
    pub entry_cap: usize,
    pub reorder_window: usize,
    pub reorder_bytes: usize,
}

impl Default for HarOptions {
    fn default() -> Self {
        Self {
            chunk: CHUNK,
            body_cap: BODY_CAP,
            entry_cap: ENTRY_CAP,
            reorder_window: REORDER_WINDOW,
            reorder_bytes: REORDER_BYTES,
        }
    }
}

/// What one read produced besides the exchanges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarStats {
    /// Exchanges delivered.
    pub entries: usize,
    /// One note per malformed entry (entry index, position, reason), at most `MAX_NOTES`.
    pub malformed: Vec<String>,
    /// Every malformed entry, including those past `MAX_NOTES`.
    pub malformed_count: usize,
    /// Entries that arrived too late for the reorder window to sort them.
    pub reordered_late: usize,
    /// Input bytes read.
    pub bytes: u64,
}

impl HarStats {
    /// One sentence per kind of loss, for `InputSummary::notes`.
    pub fn summary_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.malformed_count > 0 {
            notes.push(format!(
                "{} malformed HAR entr{} skipped",
                self.malformed_count,
                if self.malformed_count == 1 {
                    "y"
                } else {
                    "ies"
                }
            ));
            notes.extend(self.malformed.iter().cloned());
            if self.malformed_count > self.malformed.len() {
                notes.push(format!(
                    "{} more malformed entries not listed",
                    self.malformed_count - self.malformed.len()
                ));
            }
        }
        if self.reordered_late > 0 {
            notes.push(format!(
                "{} entries were too far out of time order for the {}-entry reorder window",
                self.reordered_late, REORDER_WINDOW
            ));
        }
        notes
    }
}

/// Where in the input something is. Columns count bytes from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub byte: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {})",
            self.line, self.column, self.byte
        )
    }
}

/// Why a HAR input could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    #[error("read error at byte {byte}: {source}")]
    Io {
        byte: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("empty input at {pos}: expected a HAR JSON object `{{`")]
    Empty { pos: Position },
    #[error("not JSON at {pos}: expected a HAR JSON object `{{`, found {found}")]
    NotJson { pos: Position, found: String },
    #[error("truncated JSON at {pos}: expected {expected}")]
    Truncated {
        pos: Position,
        expected: &'static str,
    },
    #[error("invalid JSON at {pos}: {detail}")]
    Syntax { pos: Position, detail: String },
    #[error("JSON nested deeper than {max} levels at {pos}")]
    TooDeep { pos: Position, max: usize },
    #[error("wrong type for `{what}` at {pos}: expected {expected}, found {found}")]
    WrongType {
        pos: Position,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("not a HAR file: the root object has no `log` member (object ends at {pos})")]
    MissingLog { pos: Position },
    #[error("not a HAR file: `log` has no `entries` array (`log` ends at {pos})")]
    MissingEntries { pos: Position },
    #[error("unexpected data after the HAR object at {pos}: found {found}")]
    TrailingData { pos: Position, found: String },
}

impl HarError {
    /// Position of the error, when it has one (I/O errors carry only a byte offset).
    pub fn position(&self) -> Option<Position> {
        match self {
            HarError::Io { .. } => None,
            HarError::Empty { pos }
            | HarError::NotJson { pos, .. }
            | HarError::Truncated { pos, .. }
            | HarError::Syntax { pos, .. }
            | HarError::TooDeep { pos, .. }
            | HarError::WrongType { pos, .. }
            | HarError::MissingLog { pos }
            | HarError::MissingEntries { pos }
            | HarError::TrailingData { pos, .. } => Some(*pos),
        }
    }
}

/// Read a HAR stream with default caps. See the module docs.
pub fn read_har<R: Read>(
    reader: R,
    input: usize,
    on_exchange: impl FnMut(Exchange),
) -> Result<HarStats, HarError> {
    read_har_with(reader, input, &HarOptions::default(), on_exchange)
}

/// Read a HAR stream with explicit caps.
pub fn read_har_with<R: Read>(
    reader: R,
    input: usize,
    opts: &HarOptions,
    mut on_exchange: impl FnMut(Exchange),
) -> Result<HarStats, HarError> {
    let mut rd = HarReader {
        sc: Scanner::new(reader, opts.chunk),
        opts: opts.clone(),
        input,
        index: 0,
        stats: HarStats::default(),
        window: Reorder::new(opts.reorder_window.max(1), opts.reorder_bytes),
        delivered: 0,
    };
    let result = {
        let mut emit = |ex: Exchange| {
            on_exchange(ex);
        };
        let r = rd.document(&mut emit);
        rd.window.drain(&mut |ex| {
            rd.delivered += 1;
            emit(ex)
        });
        r
    };
    rd.stats.entries += rd.delivered;
    rd.stats.reordered_late = rd.window.late;
    rd.stats.bytes = rd.sc.bytes_read();
    result.map(|()| rd.stats)
}

struct HarReader<R> {
    sc: Scanner<R>,
    opts: HarOptions,
    input: usize,
    /// Index of the next entry in `log.entries`.
    index: usize,
    stats: HarStats,
    window: Reorder,
    delivered: usize,
}

/// What kind of JSON value starts with `b`, for messages.
fn describe_value_start(b: u8) -> String {
    match b {
        b'{' => "an object".into(),
        b'[' => "an array".into(),
        b'"' => "a string".into(),
        b't' | b'f' => "a boolean".into(),
        b'n' => "null".into(),
        b'-' | b'0'..=b'9' => "a number".into(),
        other => describe_byte(other),
    }
}

/// Byte offset inside `slice` of serde_json's 1-based (line, column).
fn offset_of(slice: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0usize;
    let mut remaining = line.saturating_sub(1);
    while remaining > 0 {
        match memchr::memchr(b'\n', &slice[start..]) {
            Some(k) => start += k + 1,
            None => break,
        }
        remaining -= 1;
    }
    (start + column.saturating_sub(1)).min(slice.len())
}

/// serde_json's message without its own (slice-relative) position suffix.
fn serde_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let head = match s.rsplit_once(" at line ") {
        Some((head, _)) => head,
        None => &s,
    };
    // serde quotes the offending value (`invalid type: string "Bearer eyJ…"`); the value may be a
    // secret of an entry that is skipped (so never registered for redaction): keep only its size.
    let mut out = String::new();
    for (i, part) in head.split('"').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<{} chars>", part.chars().count()));
        } else {
            out.push_str(part);
        }
    }
    out
}

impl<R: Read> HarReader<R> {
    /// Count a malformed entry; build its note only while fewer than `MAX_NOTES` are kept.
    fn note_malformed(&mut self, note: impl FnOnce(&Scanner<R>) -> String) {
        self.stats.malformed_count += 1;
        if self.stats.malformed.len() < MAX_NOTES {
            let text = note(&self.sc);
            self.stats.malformed.push(text);
        }
    }

    /// Absolute position of a serde error inside the captured value `buf[start..end]`.
    fn serde_pos(&self, start: usize, end: usize, e: &serde_json::Error) -> Position {
        let off = offset_of(self.sc.slice(start, end), e.line(), e.column());
        self.sc.position(start + off)
    }

    fn expect_byte(&mut self, want: u8, expected: &'static str) -> Result<(), HarError> {
        match self.sc.peek()? {
            Some(b) if b == want => {
                self.sc.bump();
                Ok(())
            }
            Some(b) => Err(HarError::Syntax {
                pos: self.sc.here(),
                detail: format!("expected {expected}, found {}", describe_byte(b)),
            }),
            None => Err(HarError::Truncated {
                pos: self.sc.here(),
                expected,
            }),
        }
    }

    /// Next member name of the object being walked, or `None` after its closing `}`.
    fn next_key(&mut self, first: bool) -> Result<Option<String>, HarError> {
        let mut b = self.sc.peek()?;
        if first {
            if b == Some(b'}') {
                self.sc.bump();
                return Ok(None);
            }
        } else {
            match b {
                Some(b',') => {
                    self.sc.bump();
                    b = self.sc.peek()?;
                }
                Some(b'}') => {
                    self.sc.bump();
                    return Ok(None);
                }
                Some(other) => {
                    return Err(HarError::Syntax {
                        pos: self.sc.here(),
                        detail: format!("expected `,` or `}}`, found {}", describe_byte(other)),
                    })
                }
                None => {
                    return Err(HarError::Truncated {
                        pos: self.sc.here(),
                        expected: "`,` or `}`",
                    })
                }
            }
        }
        match b {
            Some(b'"') => {}
            Some(other) => {
                return Err(HarError::Syntax {
                    pos: self.sc.here(),
                    detail: format!(
                        "expected a member name in double quotes, found {}",
                        describe_byte(other)
                    ),
                })
            }
            None => {
                return Err(HarError::Truncated {
                    pos: self.sc.here(),
                    expected: "a member name",
                })
            }
        }
        let key = match self.sc.capture(0, SKIP_VALIDATE_CAP)? {
            Captured::Value { start, end } => {
                let key =
                    serde_json::from_slice::<String>(self.sc.slice(start, end)).map_err(|e| {
                        HarError::Syntax {
                            pos: self.serde_pos(start, end, &e),
                            detail: serde_message(&e),
                        }
                    })?;
                self.sc.consume_to(end);
                key
            }
            // A member name longer than the cap is not one we look for.
            Captured::Oversized { .. } => String::new(),
        };
        self.expect_byte(b':', "`:`")?;
        Ok(Some(key))
    }

    /// Skip one value inside a container at `depth`, validating it when it is small enough.
    fn skip_value(&mut self, depth: usize) -> Result<(), HarError> {
        if let Captured::Value { start, end } = self.sc.capture(depth, SKIP_VALIDATE_CAP)? {
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(self.sc.slice(start, end)) {
                return Err(HarError::Syntax {
                    pos: self.serde_pos(start, end, &e),
                    detail: serde_message(&e),
                });
            }
            self.sc.consume_to(end);
        }
        Ok(())
    }

    fn document(&mut self, emit: &mut impl FnMut(Exchange)) -> Result<(), HarError> {
        self.sc.skip_bom()?;
        match self.sc.peek()? {
            Some(b'{') => self.sc.bump(),
            Some(b) => {
                return Err(HarError::NotJson {
                    pos: self.sc.here(),
                    found: describe_byte(b),
                })
            }
            None => {
                return Err(HarError::Empty {
                    pos: self.sc.here(),
                })
            }
        }
        let mut saw_log = false;
        let mut first = true;
        while let Some(key) = self.next_key(first)? {
            first = false;
            if key == "log" && !saw_log {
                saw_log = true;
                self.log(emit)?;
            } else {
                self.skip_value(1)?;
            }
        }
        if !saw_log {
            return Err(HarError::MissingLog {
                pos: self.sc.position(self.sc.cursor().saturating_sub(1)),
            });
        }
        if let Some(b) = self.sc.peek()? {
            return Err(HarError::TrailingData {
                pos: self.sc.here(),
                found: describe_byte(b),
            });
        }
        Ok(())
    }

    fn log(&mut self, emit: &mut impl FnMut(Exchange)) -> Result<(), HarError> {
        match self.sc.peek()? {
            Some(b'{') => self.sc.bump(),
            Some(b) => {
                return Err(HarError::WrongType {
                    pos: self.sc.here(),
                    what: "log",
                    expected: "an object",
                    found: describe_value_start(b),
                })
            }
            None => {
                return Err(HarError::Truncated {
                    pos: self.sc.here(),
                    expected: "the `log` object",
                })
            }
        }
        let mut saw_entries = false;
        let mut first = true;
        while let Some(key) = self.next_key(first)? {
            first = false;
            if key == "entries" {
                saw_entries = true;
                self.entries(emit)?;
            } else {
                self.skip_value(2)?;
            }
        }
        if !saw_entries {
            return Err(HarError::MissingEntries {
                pos: self.sc.position(self.sc.cursor().saturating_sub(1)),
            });
        }
        Ok(())
    }

    fn entries(&mut self, emit: &mut impl FnMut(Exchange)) -> Result<(), HarError> {
        match self.sc.peek()? {
            Some(b'[') => self.sc.bump(),
            Some(b) => {
                return Err(HarError::WrongType {
                    pos: self.sc.here(),
                    what: "log.entries",
                    expected: "an array",
                    found: describe_value_start(b),
                })
            }
            None => {
                return Err(HarError::Truncated {
                    pos: self.sc.here(),
                    expected: "the `entries` array",
                })
            }
        }
        let mut first = true;
        loop {
            let b = self.sc.peek()?;
            if first {
                if b == Some(b']') {
                    self.sc.bump();
                    return Ok(());
                }
            } else {
                match b {
                    Some(b',') => self.sc.bump(),
                    Some(b']') => {
                        self.sc.bump();
                        return Ok(());
                    }
                    Some(other) => {
                        return Err(HarError::Syntax {
                            pos: self.sc.here(),
                            detail: format!(
                                "expected `,` or `]` after entry {}, found {}",
                                self.index.saturating_sub(1),
                                describe_byte(other)
                            ),
                        })
                    }
                    None => {
                        return Err(HarError::Truncated {
                            pos: self.sc.here(),
                            expected: "`,` or `]`",
                        })
                    }
                }
            }
            first = false;
            self.entry(emit)?;
        }
    }

    /// Fast path: deserialize the entry straight from the buffer when it is complete there and
    /// well-formed (one pass, no separate scan). Returns `false` to fall back to the careful path,
    /// which re-reads the same bytes. serde_json's own recursion limit (128 below the entry)
    /// bounds the stack here.
    fn fast_entry(&mut self, index: usize, emit: &mut impl FnMut(Exchange)) -> bool {
        let start = self.sc.cursor();
        let avail = self.sc.slice(start, usize::MAX);
        if avail.first() != Some(&b'{') {
            return false;
        }
        let mut stream = serde_json::Deserializer::from_slice(avail).into_iter::<RawEntry<'_>>();
        let raw = match stream.next() {
            Some(Ok(raw)) => raw,
            _ => return false,
        };
        let end = start + stream.byte_offset();
        let converted = convert(raw, self.input, index, &self.opts);
        self.sc.consume_to(end);
        match converted {
            Ok(ex) => {
                let delivered = &mut self.delivered;
                self.window.push(ex, &mut |ex| {
                    *delivered += 1;
                    emit(ex)
                });
            }
            Err(why) => self.note_malformed(|sc| {
                format!("entry {index} at {}: {why}; skipped", sc.position(start))
            }),
        }
        true
    }

    fn entry(&mut self, emit: &mut impl FnMut(Exchange)) -> Result<(), HarError> {
        let index = self.index;
        self.index += 1;
        self.sc.peek()?;
        if self.fast_entry(index, emit) {
            return Ok(());
        }
        // Careful path: entries that cross the end of the buffer, are malformed, too deep or too
        // large. Positions (line/column) cost a scan of the buffer, so they are computed only for
        // the notes that are kept.
        let start_byte = self.sc.offset(self.sc.cursor());
        let (start, end) = match self.sc.capture(3, self.opts.entry_cap)? {
            Captured::Oversized { len } => {
                let cap_mib = self.opts.entry_cap >> 20;
                self.note_malformed(|_| {
                    format!(
                        "entry {index} at byte {start_byte}: {len} bytes, over the {cap_mib} MiB entry cap; skipped"
                    )
                });
                return Ok(());
            }
            Captured::Value { start, end } => (start, end),
        };
        let slice = self.sc.slice(start, end);
        let first = slice.first().copied().unwrap_or(b' ');
        if first != b'{' {
            // Still must be valid JSON.
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(slice) {
                return Err(HarError::Syntax {
                    pos: self.serde_pos(start, end, &e),
                    detail: serde_message(&e),
                });
            }
            let found = describe_value_start(first);
            self.note_malformed(|sc| {
                format!(
                    "entry {index} at {}: expected an object, found {found}; skipped",
                    sc.position(start)
                )
            });
            self.sc.consume_to(end);
            return Ok(());
        }
        let parsed = serde_json::from_slice::<RawEntry<'_>>(slice);
        let converted = match parsed {
            Ok(raw) => convert(raw, self.input, index, &self.opts),
            Err(e) if e.is_data() => {
                let msg = serde_message(&e);
                let (line, column) = (e.line(), e.column());
                self.note_malformed(|sc| {
                    let off = offset_of(sc.slice(start, end), line, column);
                    format!(
                        "entry {index} at {}: {msg} at {}; skipped",
                        sc.position(start),
                        sc.position(start + off)
                    )
                });
                self.sc.consume_to(end);
                return Ok(());
            }
            Err(e) => {
                return Err(HarError::Syntax {
                    pos: self.serde_pos(start, end, &e),
                    detail: serde_message(&e),
                })
            }
        };
        match converted {
            Ok(ex) => {
                self.sc.consume_to(end);
                let delivered = &mut self.delivered;
                self.window.push(ex, &mut |ex| {
                    *delivered += 1;
                    emit(ex)
                });
            }
            Err(why) => {
                self.note_malformed(|sc| {
                    format!("entry {index} at {}: {why}; skipped", sc.position(start))
                });
                self.sc.consume_to(end);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Borrowed entry shapes. Unknown members (including `_custom` ones, `cache`, `timings`, sizes) are
// skipped by serde without allocation. `null` is accepted wherever a member is optional.

/// A string that borrows from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> de::Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A string, or a number/boolean written as one (exporters disagree on `connection`, `status`
/// and header values).
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Number(f64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Scalar<'_> {
    fn text(&self) -> String {
        match self {
            Scalar::Text(t) => t.to_string(),
            Scalar::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Scalar::Number(n) => n.to_string(),
        }
    }
    fn number(&self) -> Option<f64> {
        match self {
            Scalar::Number(n) => Some(*n),
            Scalar::Text(t) => t.trim().parse().ok(),
        }
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a HAR entry object")]
struct RawEntry<'a> {
    #[serde(rename = "startedDateTime", borrow, default)]
    started: Option<Str<'a>>,
    #[serde(default)]
    time: Option<f64>,
    #[serde(borrow, default)]
    request: Option<RawRequest<'a>>,
    #[serde(borrow, default)]
    response: Option<RawResponse<'a>>,
    #[serde(rename = "serverIPAddress", borrow, default)]
    server_ip: Option<Str<'a>>,
    #[serde(borrow, default)]
    connection: Option<Scalar<'a>>,
    /// Written by authtap's own HAR sink.
    #[serde(rename = "_notes", default)]
    notes: Option<Vec<String>>,
    /// Written by authtap's own HAR sink.
    #[serde(rename = "_tls", borrow, default)]
    tls: Option<RawTls<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct RawTls<'a> {
    #[serde(borrow, default)]
    sni: Option<Str<'a>>,
    #[serde(borrow, default)]
    version: Option<Str<'a>>,
    #[serde(borrow, default)]
    alpn: Option<Str<'a>>,
    #[serde(default)]
    decrypted: Option<bool>,
}

#[derive(Deserialize)]
#[serde(expecting = "a header object with `name` and `value`")]
struct RawHeader<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow, default)]
    value: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a HAR request object")]
struct RawRequest<'a> {
    #[serde(borrow, default)]
    method: Option<Str<'a>>,
    #[serde(borrow, default)]
    url: Option<Str<'a>>,
    #[serde(rename = "httpVersion", borrow, default)]
    http_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    headers: Option<Vec<RawHeader<'a>>>,
    #[serde(rename = "postData", borrow, default)]
    post_data: Option<RawPostData<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a param object with `name`")]
struct RawParam<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    /// Some exporters (pagexray) put a JSON object here.
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(expecting = "a HAR postData object")]
struct RawPostData<'a> {
    #[serde(rename = "mimeType", borrow, default)]
    mime: Option<Str<'a>>,
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
    #[serde(borrow, default)]
    params: Option<Vec<RawParam<'a>>>,
    #[serde(borrow, default)]
    encoding: Option<Str<'a>>,
    #[serde(rename = "_truncated", default)]
    truncated: Option<bool>,
}

#[derive(Deserialize)]
#[serde(expecting = "a HAR response object")]
struct RawResponse<'a> {
    #[serde(borrow, default)]
    status: Option<Scalar<'a>>,
    #[serde(rename = "statusText", borrow, default)]
    status_text: Option<Str<'a>>,
    #[serde(rename = "httpVersion", borrow, default)]
    http_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    headers: Option<Vec<RawHeader<'a>>>,
    #[serde(borrow, default)]
    content: Option<RawContent<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a HAR content object")]
struct RawContent<'a> {
    #[serde(default)]
    size: Option<f64>,
    #[serde(rename = "mimeType", borrow, default)]
    mime: Option<Str<'a>>,
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
    #[serde(borrow, default)]
    encoding: Option<Str<'a>>,
    #[serde(rename = "_truncated", default)]
    truncated: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Conversion to `Exchange`.

fn s<'v>(v: &'v Option<Str<'_>>) -> Option<&'v str> {
    v.as_ref().map(|x| x.0.as_ref())
}

/// Parse `startedDateTime` into microseconds since the epoch.
pub fn parse_started(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(t, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

/// Split headers into regular ones and HTTP/2 pseudo-headers.
fn split_headers(raw: Option<Vec<RawHeader<'_>>>) -> (Headers, Vec<(String, String)>) {
    let raw = raw.unwrap_or_default();
    let mut headers = Headers::with_capacity(raw.len(), 0);
    let mut pseudo = Vec::new();
    for h in raw {
        let value = match h.value {
            Some(Scalar::Text(t)) => t.into_owned(),
            Some(other) => other.text(),
            None => String::new(),
        };
        if h.name.0.starts_with(':') {
            pseudo.push((h.name.0.to_ascii_lowercase(), value));
        } else {
            headers.push(&h.name.0, value);
        }
    }
    (headers, pseudo)
}

fn pseudo<'p>(list: &'p [(String, String)], name: &str) -> Option<&'p str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn base64_engines() -> [base64::engine::GeneralPurpose; 2] {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let cfg = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    [
        GeneralPurpose::new(&base64::alphabet::STANDARD, cfg),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg),
    ]
}

/// Build a capped body from HAR text, decoding base64 when asked.
fn make_body(
    text: Cow<'_, str>,
    encoding: Option<&str>,
    mime: Option<std::borrow::Cow<'static, str>>,
    marked_truncated: bool,
    cap: usize,
    what: &str,
    notes: &mut Vec<String>,
) -> Body {
    let mut truncated = marked_truncated;
    let is_b64 = encoding.is_some_and(|e| e.eq_ignore_ascii_case("base64"));
    let mut data: Vec<u8> = Vec::new();
    let mut decoded = false;
    if is_b64 {
        // Decode only the prefix that can fill the cap.
        let clean: Cow<'_, str> = if text.bytes().any(|b| b.is_ascii_whitespace()) {
            Cow::Owned(text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
        } else {
            Cow::Borrowed(text.as_ref())
        };
        let need = (cap / 3 + 1) * 4;
        let prefix = if clean.len() > need {
            clean.get(..need).unwrap_or(&clean)
        } else {
            &clean
        };
        for engine in base64_engines() {
            if let Ok(bytes) = engine.decode(prefix.as_bytes()) {
                if prefix.len() < clean.len() {
                    truncated = true;
                }
                data = bytes;
                decoded = true;
                break;
            }
        }
        if !decoded {
            notes.push(format!(
                "{what} body is marked base64 but is not valid base64; kept as text"
            ));
        }
    } else if let Some(enc) = encoding.filter(|e| !e.is_empty()) {
        notes.push(format!(
            "{what} body has unknown encoding `{}`; kept as text",
            enc.chars().take(32).collect::<String>()
        ));
    }
    if !decoded {
        if text.len() > cap {
            truncated = true;
            let bytes = text.as_bytes();
            data = bytes.get(..cap).unwrap_or(bytes).to_vec();
        } else {
            // An unescaped (owned) string becomes the body without another copy.
            data = text.into_owned().into_bytes();
        }
    }
    if data.len() > cap {
        data.truncate(cap);
        truncated = true;
    }
    if truncated && !marked_truncated {
        notes.push(format!("{what} body truncated at {} KiB", cap / 1024));
    }
    Body {
        data,
        truncated,
        mime,
    }
}

fn form_encode(params: &[RawParam<'_>]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    params
        .iter()
        .map(|p| {
            let owned;
            let v = match &p.value {
                Some(serde_json::Value::String(v)) => v.as_str(),
                None | Some(serde_json::Value::Null) => "",
                Some(other) => {
                    owned = other.to_string();
                    owned.as_str()
                }
            };
            format!(
                "{}={}",
                utf8_percent_encode(&p.name.0, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn non_empty<T: From<String>>(v: Option<&str>) -> Option<T> {
    v.filter(|m| !m.is_empty()).map(|m| T::from(m.to_owned()))
}

/// Convert one parsed entry; `Err` says why it is unusable.
fn convert(
    raw: RawEntry<'_>,
    input: usize,
    index: usize,
    opts: &HarOptions,
) -> Result<Exchange, String> {
    let mut notes = raw.notes.unwrap_or_default();
    let req = raw.request.ok_or("missing `request`")?;
    let (headers, pseudo_req) = split_headers(req.headers);

    let method = match non_empty(s(&req.method)) {
        Some(m) => m,
        None => pseudo(&pseudo_req, ":method")
            .map(str::to_owned)
            .ok_or("missing `request.method`")?,
    };

    let raw_url = s(&req.url).unwrap_or("").trim();
    let has_authority = raw_url.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty() && !rest.is_empty() && !rest.starts_with('/')
    });
    let mut url = if has_authority {
        raw_url.to_string()
    } else {
        match pseudo(&pseudo_req, ":authority")
            .or_else(|| headers.get("host").filter(|h| !h.is_empty()))
        {
            Some(authority) => {
                let scheme = pseudo(&pseudo_req, ":scheme").unwrap_or("https");
                let path = if raw_url.starts_with('/') {
                    raw_url
                } else {
                    pseudo(&pseudo_req, ":path").unwrap_or("/")
                };
                notes.push("request URL rebuilt from :authority/:path".into());
                format!("{scheme}://{authority}{path}")
            }
            None if raw_url.is_empty() => return Err("missing `request.url`".into()),
            None => {
                notes.push("request URL has no host".into());
                raw_url.to_string()
            }
        }
    };
    if let Some(hash) = url.find('#') {
        url.truncate(hash);
    }

    let req_body = match req.post_data {
        Some(pd) => {
            let mime = non_empty(s(&pd.mime)).or_else(|| non_empty(headers.get("content-type")));
            let text: Cow<'_, str> = match (pd.text, &pd.params) {
                (Some(t), _) if !t.0.is_empty() => t.0,
                (_, Some(params)) if !params.is_empty() => Cow::Owned(form_encode(params)),
                _ => Cow::Borrowed(""),
            };
            make_body(
                text,
                s(&pd.encoding),
                mime,
                pd.truncated.unwrap_or(false),
                opts.body_cap,
                "request",
                &mut notes,
            )
        }
        None => Body {
            mime: non_empty(headers.get("content-type")),
            ..Body::default()
        },
    };

    let response = match raw.response {
        None => {
            notes.push("no response in HAR entry".into());
            None
        }
        Some(resp) => {
            let status = match &resp.status {
                None => None,
                Some(v) => match v.number() {
                    Some(n) if n.fract() == 0.0 && (0.0..=999.0).contains(&n) => Some(n as u16),
                    _ => {
                        return Err(format!(
                            "`response.status` is not an HTTP status: {}",
                            v.text().chars().take(32).collect::<String>()
                        ))
                    }
                },
            };
            match status {
                None | Some(0) => {
                    notes.push("no response recorded (status 0 or missing)".into());
                    None
                }
                Some(status) => {
                    let (rheaders, _pseudo) = split_headers(resp.headers);
                    let body = match resp.content {
                        Some(c) => {
                            let mime = non_empty(s(&c.mime))
                                .or_else(|| non_empty(rheaders.get("content-type")));
                            match c.text {
                                Some(t) => make_body(
                                    t.0,
                                    s(&c.encoding),
                                    mime,
                                    c.truncated.unwrap_or(false),
                                    opts.body_cap,
                                    "response",
                                    &mut notes,
                                ),
                                None => {
                                    if c.size.is_some_and(|n| n > 0.0) {
                                        notes.push("response body not recorded in HAR".into());
                                    }
                                    Body {
                                        mime,
                                        ..Body::default()
                                    }
                                }
                            }
                        }
                        None => Body {
                            mime: non_empty(rheaders.get("content-type")),
                            ..Body::default()
                        },
                    };
                    Some(Response {
                        status,
                        status_text: s(&resp.status_text).unwrap_or("").to_string().into(),
                        http_version: s(&resp.http_version).unwrap_or("").to_string().into(),
                        headers: rheaders,
                        body,
                    })
                }
            }
        }
    };

    let started = match s(&raw.started) {
        Some(t) => {
            let parsed = parse_started(t);
            if parsed.is_none() {
                notes.push(format!(
                    "startedDateTime `{}` is not ISO 8601",
                    t.chars().take(40).collect::<String>()
                ));
            }
            parsed
        }
        None => None,
    };

    // A HAR written by authtap carries earlier notes in `_notes`; do not repeat them.
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));

    Ok(Exchange {
        input,
        index,
        started,
        duration_ms: raw.time.filter(|t| *t >= 0.0 && t.is_finite()),
        request: Request {
            method: method.into(),
            url,
            http_version: s(&req.http_version).unwrap_or("").to_string().into(),
            headers,
            body: req_body,
        },
        response,
        origin: Origin {
            connection: raw
                .connection
                .map(|c| c.text())
                .filter(|c| !c.is_empty())
                .map(Into::into),
            server_addr: non_empty(s(&raw.server_ip)),
            tls: raw.tls.map(|t| TlsInfo {
                sni: non_empty(s(&t.sni)),
                version: non_empty(s(&t.version)),
                alpn: non_empty(s(&t.alpn)),
                decrypted: t.decrypted.unwrap_or(false),
            }),
        },
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Vec<Exchange>, HarStats), HarError> {
        let mut out = Vec::new();
        let stats = read_har(text.as_bytes(), 0, |e| out.push(e))?;
        Ok((out, stats))
    }

    const ENTRY: &str = r#"{"startedDateTime":"2024-05-01T10:00:00.250Z","time":12.5,
        "request":{"method":"GET","url":"https://t.eu.auth0.com/api/v2/users#frag","httpVersion":"HTTP/1.1",
          "headers":[{"name":"Authorization","value":"Bearer abc"}],"cookies":[],"queryString":[],"headersSize":-1,"bodySize":-1},
        "response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[],
          "content":{"size":-1,"mimeType":"application/json","text":"eyJhIjoxfQ==","encoding":"base64"},
          "redirectURL":"","headersSize":-1,"bodySize":-1,"_custom":{"x":[1,2]}},
        "cache":{},"timings":{"send":0,"wait":12.5,"receive":0},"serverIPAddress":"10.0.0.1","connection":443}"#;

    #[test]
    fn reads_a_minimal_entry() {
        let har = format!(
            r#"{{"log":{{"version":"1.2","entries":[{ENTRY}],"creator":{{"name":"x"}}}}}}"#
        );
        let (ex, stats) = read(&har).unwrap();
        assert_eq!(stats.entries, 1);
        let e = &ex[0];
        assert_eq!(e.request.url, "https://t.eu.auth0.com/api/v2/users");
        assert_eq!(e.started, Some(1_714_557_600_250_000));
        assert_eq!(e.duration_ms, Some(12.5));
        assert_eq!(e.origin.connection.as_deref(), Some("443"));
        assert_eq!(e.origin.server_addr.as_deref(), Some("10.0.0.1"));
        let resp = e.response.as_ref().unwrap();
        assert_eq!(resp.body.data, br#"{"a":1}"#);
        assert_eq!(resp.body.mime.as_deref(), Some("application/json"));
        assert_eq!(e.request.headers.get("authorization"), Some("Bearer abc"));
    }

    #[test]
    fn pseudo_headers_are_dropped_and_used_for_the_url() {
        let har = r#"{"log":{"entries":[{"request":{"method":"","url":"/api/v2/users?q=1","headers":[
            {"name":":authority","value":"t.auth0.com"},{"name":":method","value":"POST"},
            {"name":":path","value":"/ignored"},{"name":":scheme","value":"https"},{"name":"accept","value":"*/*"}]},
            "response":{"status":"201","headers":[{"name":":status","value":"201"}]}}]}}"#;
        let (ex, _) = read(har).unwrap();
        assert_eq!(ex[0].request.url, "https://t.auth0.com/api/v2/users?q=1");
        assert_eq!(ex[0].request.method, "POST");
        assert_eq!(ex[0].request.headers.len(), 1);
        assert_eq!(ex[0].status(), Some(201));
        assert!(ex[0].response.as_ref().unwrap().headers.is_empty());
    }

    #[test]
    fn post_params_become_a_form_body() {
        let har = r#"{"log":{"entries":[{"request":{"method":"POST","url":"https://a/oauth/token",
            "postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"grant_type","value":"client_credentials"},{"name":"a b","value":"c&d"}]}},
            "response":{"status":200}}]}}"#;
        let (ex, _) = read(har).unwrap();
        assert_eq!(
            ex[0].request.body.text(),
            "grant%5Ftype=client%5Fcredentials&a%20b=c%26d"
        );
        assert_eq!(
            ex[0].request.body.mime.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn bodies_are_capped_and_noted() {
        let big = "x".repeat(5000);
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 5000]);
        let har = format!(
            r#"{{"log":{{"entries":[{{"request":{{"method":"POST","url":"https://a/","postData":{{"text":"{big}"}}}},
            "response":{{"status":200,"content":{{"text":"{b64}","encoding":"base64"}}}}}}]}}}}"#
        );
        let opts = HarOptions {
            body_cap: 1000,
            ..HarOptions::default()
        };
        let mut out = Vec::new();
        read_har_with(har.as_bytes(), 0, &opts, |e| out.push(e)).unwrap();
        let e = &out[0];
        assert_eq!(e.request.body.data.len(), 1000);
        assert!(e.request.body.truncated);
        let r = e.response.as_ref().unwrap();
        assert_eq!(r.body.data.len(), 1000);
        assert!(r.body.data.iter().all(|b| *b == 7));
        assert!(r.body.truncated);
        assert_eq!(
            e.notes.iter().filter(|n| n.contains("truncated")).count(),
            2
        );
    }

    #[test]
    fn wrong_typed_entries_are_counted_and_the_rest_read() {
        let har = r#"{"log":{"entries":[
            {"request":{"method":"GET","url":"https://a/1"},"response":{"status":200}},
            {"request":"oops"},
            42,
            {"request":{"method":"GET","url":"https://a/2","headers":5}},
            {"request":{"method":"GET","url":"https://a/3"},"response":{"status":200}}
        ]}}"#;
        let (ex, stats) = read(har).unwrap();
        assert_eq!(ex.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 4]);
        assert_eq!(stats.malformed_count, 3);
        assert!(
            stats.malformed[0].starts_with("entry 1 at line 3, column 13 (byte 120): invalid type: string <4 chars>, expected a HAR request object at line 3, column 29 (byte 136)"),
            "{:?}",
            stats.malformed
        );
        assert!(stats.malformed[1].contains("expected an object, found a number"));
        assert!(
            stats.malformed[2].contains("invalid type: integer `5`"),
            "{:?}",
            stats.malformed
        );
    }

    #[test]
    fn fatal_errors_name_line_column_and_byte() {
        let err = read("{\"log\": {\"entries\": [\n  {\"request\": 1}\n").unwrap_err();
        assert!(
            matches!(
                err,
                HarError::Truncated {
                    expected: "`,` or `]`",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "truncated JSON at line 3, column 1 (byte 39): expected `,` or `]`"
        );
        let err = read("  ").unwrap_err();
        assert!(matches!(err, HarError::Empty { .. }));
        let err = read("{\"foo\": 1}").unwrap_err();
        assert!(matches!(err, HarError::MissingLog { .. }));
        let err = read("{\"log\": {\"version\": \"1.2\"}}").unwrap_err();
        assert!(matches!(err, HarError::MissingEntries { .. }));
        let err = read("{\"log\": []}").unwrap_err();
        assert!(matches!(err, HarError::WrongType { what: "log", .. }));
        let err = read("{\"log\": {\"entries\": []}} x").unwrap_err();
        assert!(matches!(err, HarError::TrailingData { .. }));
        let err = read("{\"log\": {\"entries\": [{\"a\": tru}]}}").unwrap_err();
        match err {
            // serde_json points at the byte where the literal went wrong.
            HarError::Syntax { pos, .. } => assert_eq!(pos.byte, 30),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn delivered_exchanges_survive_a_later_fatal_error() {
        let har =
            r#"{"log":{"entries":[{"request":{"method":"GET","url":"https://a/1"}},{"request":"#;
        let mut out = Vec::new();
        let err = read_har(har.as_bytes(), 0, |e| out.push(e)).unwrap_err();
        assert!(matches!(err, HarError::Truncated { .. }));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn started_date_time_variants() {
        assert_eq!(parse_started("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(
            parse_started("1970-01-01T01:00:01.5+01:00"),
            Some(1_500_000)
        );
        assert_eq!(parse_started("1970-01-01T01:00:01.5+0100"), Some(1_500_000));
        assert_eq!(parse_started("1970-01-01T00:00:02"), Some(2_000_000));
        assert_eq!(parse_started("yesterday"), None);
    }
}
