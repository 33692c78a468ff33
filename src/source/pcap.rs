//! pcap / pcapng file reader (optionally gzip-compressed): bytes → frames → the capture pipeline.
//!
//! Owns: detecting the format by content (gzip, pcap µs/ns in either byte order, pcapng),
//! streaming the file through `pcap-parser`'s readers with a bounded buffer (256 KiB, grown on
//! demand up to [`MAX_RECORD`] for one large record; records are consumed without shifting the
//! buffer, which moves only the unread tail, once per refill), per-section interface tables (link type,
//! `if_tsresol`, `if_tsoffset`), EPB/SPB packets, and Decryption Secrets Blocks (TLS key log
//! text goes to the `KeyLog`). Must not: load the whole file, allocate for a declared length
//! over the cap, or panic on any byte sequence.
//!
//! Errors vs notes: a file that is too short for a header, has a bad magic number or a broken
//! first header is an error ([`CaptureError`]). A problem after that (a truncated last record,
//! a record or block longer than [`MAX_RECORD`], a malformed block, a gzip stream cut short)
//! stops reading at that byte: everything before it is analyzed and [`CaptureStats::stopped`]
//! says where and why. Known limits: the modified-Kuznetzov pcap format is read like plain pcap;
//! SPB timestamps reuse the previous packet's time (SPBs carry none).

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::rc::Rc;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use crate::capture::keylog::KeyLog;
use crate::capture::pipeline::{Pipeline, PipelineConfig, Stop};
use crate::capture::CaptureOutput;
use crate::model::Micros;

pub use crate::capture::pipeline::CaptureStats;

/// Largest single record/block accepted (16 MiB); larger declared lengths stop reading.
pub const MAX_RECORD: usize = 16 << 20;
const BUFFER: usize = 256 << 10;
const TLSK: u32 = 0x544c_534b;

/// Why a capture could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("read error at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("file is {len} bytes, too short for a capture header (pcap needs 24, pcapng 28)")]
    TruncatedHeader { len: usize },
    #[error("not a pcap or pcapng file: magic {found} at byte 0 (expected a1b2c3d4 or a1b23c4d in either byte order, or 0a0d0d0a)")]
    BadMagic { found: String },
    #[error("{format} file header at byte 0 is malformed: {detail}")]
    BadHeader {
        format: &'static str,
        detail: &'static str,
    },
}

/// Which container the content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

/// Detect a capture from its first bytes (after gzip removal): `Some` for pcap/pcapng magic.
pub fn sniff_format(head: &[u8]) -> Option<CaptureFormat> {
    match head.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x34, 0xcd, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xcd, 0x34] => Some(CaptureFormat::Pcap),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(CaptureFormat::PcapNg),
        _ => None,
    }
}

/// Read a capture and feed every exchange (and undecrypted TLS session) to `on`.
pub fn read_capture<R: Read>(
    reader: R,
    input: usize,
    keys: &mut KeyLog,
    on: impl FnMut(CaptureOutput),
) -> Result<CaptureStats, CaptureError> {
    read_capture_with(reader, input, keys, PipelineConfig::default(), on)
}

/// [`read_capture`] with explicit caps.
pub fn read_capture_with<R: Read>(
    reader: R,
    input: usize,
    keys: &mut KeyLog,
    config: PipelineConfig,
    mut on: impl FnMut(CaptureOutput),
) -> Result<CaptureStats, CaptureError> {
    let mut src = Source::new(Box::new(reader));
    let mut head = src.peek(4)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        src = Source::new(Box::new(flate2::read::MultiGzDecoder::new(src)));
        src.gzip = true;
        head = src.peek(4)?;
    }
    let shared = Rc::clone(&src.shared);
    let format = match sniff_format(&head) {
        Some(f) => f,
        None if head.len() < 4 => return Err(CaptureError::TruncatedHeader { len: head.len() }),
        None => {
            return Err(CaptureError::BadMagic {
                found: hex::encode(&head),
            })
        }
    };
    let mut pipeline = Pipeline::new(input, config);
    let mut run = Run {
        pipeline: &mut pipeline,
        keys,
        on: &mut on,
        last_ts: 0,
    };
    let res = match format {
        CaptureFormat::Pcap => run.legacy(src),
        CaptureFormat::PcapNg => run.ng(src),
    };
    match res {
        Err(CaptureError::TruncatedHeader { .. }) => {
            return Err(CaptureError::TruncatedHeader {
                len: shared.read.get() as usize,
            })
        }
        Err(CaptureError::Io { offset, source }) => {
            let source = shared.error.borrow_mut().take().unwrap_or(source);
            return Err(CaptureError::Io { offset, source });
        }
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    if shared.cut_gzip.get() {
        run.pipeline
            .note("the gzip stream ends early; the capture was read up to the cut".to_string());
    }
    let Run {
        pipeline, keys, on, ..
    } = run;
    Ok(pipeline.finish(keys, on))
}

/// The input stream: fills read buffers completely (pcap-parser reads once per refill), keeps
/// the byte count, and turns a cut gzip stream into a clean end plus a note.
struct Source<'r> {
    inner: Box<dyn Read + 'r>,
    peeked: Vec<u8>,
    gzip: bool,
    error: Option<std::io::Error>,
    shared: Rc<Shared>,
}

/// State the read loop needs back after `pcap-parser` took ownership of the `Source`.
#[derive(Default)]
struct Shared {
    read: Cell<u64>,
    cut_gzip: Cell<bool>,
    error: RefCell<Option<std::io::Error>>,
}

impl<'r> Source<'r> {
    fn new(inner: Box<dyn Read + 'r>) -> Self {
        Self {
            inner,
            peeked: Vec::new(),
            gzip: false,
            error: None,
            shared: Rc::new(Shared::default()),
        }
    }

    fn peek(&mut self, n: usize) -> Result<Vec<u8>, CaptureError> {
        while self.peeked.len() < n {
            let mut b = [0u8; 64];
            let want = (n - self.peeked.len()).min(b.len());
            match self.inner.read(b.get_mut(..want).unwrap_or(&mut [])) {
                Ok(0) => break,
                Ok(k) => self.peeked.extend_from_slice(b.get(..k).unwrap_or(&[])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(CaptureError::Io {
                        offset: self.peeked.len() as u64,
                        source: e,
                    })
                }
            }
        }
        Ok(self.peeked.clone())
    }
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        if !self.peeked.is_empty() {
            let n = self.peeked.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.peeked.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.peeked.drain(..n);
            filled = n;
        }
        while filled < buf.len() && !self.shared.cut_gzip.get() && self.error.is_none() {
            match self.inner.read(buf.get_mut(filled..).unwrap_or(&mut [])) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if self.gzip && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.shared.cut_gzip.set(true);
                }
                Err(e) => {
                    if filled == 0 {
                        return Err(e);
                    }
                    self.error = Some(e);
                }
            }
        }
        if filled == 0 {
            if let Some(e) = self.error.take() {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                *self.shared.error.borrow_mut() = Some(e);
                return Err(copy);
            }
        }
        self.shared.read.set(self.shared.read.get() + filled as u64);
        Ok(filled)
    }
}

struct Iface {
    linktype: i32,
    /// Units per second.
    resolution: u64,
    offset_s: i64,
}

struct Run<'a, 'k> {
    pipeline: &'a mut Pipeline,
    keys: &'k mut KeyLog,
    on: &'a mut dyn FnMut(CaptureOutput),
    last_ts: Micros,
}

/// What the read loop should do after an error from `next()`.
enum Next {
    Refill,
    Grow(usize),
    Stop(Stop),
    Eof,
}

impl Run<'_, '_> {
    fn frame(&mut self, linktype: i32, data: &[u8], wire_len: usize, ts: Micros) {
        self.last_ts = ts;
        self.pipeline
            .push_frame(linktype, data, wire_len, ts, self.keys, self.on);
    }

    fn legacy(&mut self, src: Source<'_>) -> Result<(), CaptureError> {
        let mut reader = match LegacyPcapReader::new(BUFFER, src) {
            Ok(r) => r,
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                return Err(CaptureError::TruncatedHeader { len: 0 })
            }
            Err(_) => {
                return Err(CaptureError::BadHeader {
                    format: "pcap",
                    detail: "unsupported version or layout",
                })
            }
        };
        let mut linktype = 1;
        let mut nanos = false;
        let mut big_endian = false;
        // Plain (not "modified") pcap, once its header is read: records wholly in the buffer are
        // read here, without `pcap-parser`'s per-record block; anything else (a record cut by
        // the buffer end, one over the cap, the file end) goes through `next()` as before.
        let mut plain = false;
        loop {
            if plain {
                let mut used = 0usize;
                let data = reader.data();
                while let Some(rec) = whole_record(data.get(used..).unwrap_or(&[]), big_endian) {
                    let sub = if nanos { rec.frac / 1000 } else { rec.frac };
                    let ts = i64::from(rec.ts_sec) * 1_000_000 + sub;
                    self.frame(linktype, rec.data, rec.origlen, ts);
                    used += 16 + rec.data.len();
                }
                if used > 0 {
                    reader.consume_noshift(used);
                }
            }
            let step = match reader.next() {
                Ok((offset, block)) => {
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            linktype = h.network.0;
                            nanos = h.is_nanosecond_precision();
                            big_endian = h.is_bigendian();
                            plain = !h.is_modified_format();
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let frac = i64::from(b.ts_usec);
                            let sub = if nanos { frac / 1000 } else { frac };
                            let ts = i64::from(b.ts_sec) * 1_000_000 + sub;
                            self.frame(linktype, b.data, b.origlen as usize, ts);
                        }
                        PcapBlockOwned::NG(_) => {}
                    }
                    reader.consume_noshift(offset);
                    continue;
                }
                Err(e) => {
                    let kind = ErrKind::of(&e);
                    classify(kind, reader.reader_exhausted(), || {
                        // Declared length of the record at the buffer head: 16-byte header + caplen.
                        let d = reader.data();
                        let cap = read_u32(d, 8, big_endian);
                        (cap.map(|c| c as usize + 16), d.len())
                    })
                }
            };
            let at = reader.consumed() as u64;
            if self.step(step, at, &mut reader)? {
                break;
            }
        }
        Ok(())
    }

    fn ng(&mut self, src: Source<'_>) -> Result<(), CaptureError> {
        let mut reader = match PcapNGReader::new(BUFFER, src) {
            Ok(r) => r,
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                return Err(CaptureError::TruncatedHeader { len: 0 })
            }
            Err(_) => {
                return Err(CaptureError::BadHeader {
                    format: "pcapng",
                    detail: "the first block is not a valid Section Header Block",
                })
            }
        };
        let mut ifaces: Vec<Iface> = Vec::new();
        let mut big_endian = false;
        loop {
            let step = match reader.next() {
                Ok((offset, block)) => {
                    if let PcapBlockOwned::NG(b) = block {
                        match b {
                            Block::SectionHeader(shb) => {
                                ifaces.clear();
                                big_endian = shb.big_endian();
                            }
                            Block::InterfaceDescription(idb) => {
                                let resolution = match idb.ts_resolution() {
                                    Some(r) if r > 0 => r,
                                    _ => {
                                        self.pipeline.note(format!(
                                            "interface {} has an invalid if_tsresol {}; microseconds assumed",
                                            ifaces.len(),
                                            idb.if_tsresol
                                        ));
                                        1_000_000
                                    }
                                };
                                ifaces.push(Iface {
                                    linktype: idb.linktype.0,
                                    resolution,
                                    offset_s: idb.if_tsoffset,
                                });
                            }
                            Block::EnhancedPacket(epb) => match ifaces.get(epb.if_id as usize) {
                                Some(ifc) => {
                                    let units =
                                        (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                    let us =
                                        u128::from(units) * 1_000_000 / u128::from(ifc.resolution);
                                    let ts = ifc
                                        .offset_s
                                        .saturating_mul(1_000_000)
                                        .saturating_add(i64::try_from(us).unwrap_or(i64::MAX));
                                    let lt = ifc.linktype;
                                    let data =
                                        epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                                    self.frame(lt, data, epb.origlen as usize, ts);
                                }
                                None => self.pipeline.note_unknown_interface(epb.if_id),
                            },
                            Block::SimplePacket(spb) => match ifaces.first() {
                                Some(ifc) => {
                                    let lt = ifc.linktype;
                                    let data =
                                        spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                                    let ts = self.last_ts;
                                    self.frame(lt, data, spb.origlen as usize, ts);
                                }
                                None => self.pipeline.note_unknown_interface(0),
                            },
                            Block::DecryptionSecrets(dsb) => {
                                if dsb.secrets_type.0 == TLSK {
                                    let text = dsb
                                        .data
                                        .get(..dsb.secrets_len as usize)
                                        .unwrap_or(dsb.data);
                                    let n = self.keys.add_text(text);
                                    self.pipeline.count_secrets(n);
                                } else {
                                    self.pipeline.note(format!(
                                        "Decryption Secrets Block of type 0x{:08x} ignored (only TLS key logs are used)",
                                        dsb.secrets_type.0
                                    ));
                                }
                            }
                            _ => {}
                        }
                    }
                    reader.consume_noshift(offset);
                    continue;
                }
                Err(e) => {
                    let kind = ErrKind::of(&e);
                    classify(kind, reader.reader_exhausted(), || {
                        let d = reader.data();
                        let len = read_u32(d, 4, big_endian);
                        (len.map(|l| l as usize), d.len())
                    })
                }
            };
            let at = reader.consumed() as u64;
            if self.step(step, at, &mut reader)? {
                break;
            }
        }
        Ok(())
    }

    /// Act on a read-loop step; `true` means stop reading.
    fn step<P: PcapReaderIterator>(
        &mut self,
        step: Next,
        at: u64,
        reader: &mut P,
    ) -> Result<bool, CaptureError> {
        match step {
            Next::Eof => Ok(true),
            Next::Refill => match reader.refill() {
                Ok(()) => Ok(false),
                Err(_) => Err(CaptureError::Io {
                    offset: at,
                    source: std::io::Error::other("the underlying reader failed"),
                }),
            },
            Next::Grow(n) => {
                reader.grow(n);
                match reader.refill() {
                    Ok(()) => Ok(false),
                    Err(_) => Err(CaptureError::Io {
                        offset: at,
                        source: std::io::Error::other("the underlying reader failed"),
                    }),
                }
            }
            Next::Stop(mut stop) => {
                stop.set_offset(at);
                self.pipeline.stop(stop);
                Ok(true)
            }
        }
    }
}

/// Map a `pcap-parser` error to the next step. `head` gives (declared length of the record at
/// the buffer head, bytes available) for the size checks.
fn classify(e: ErrKind, exhausted: bool, head: impl FnOnce() -> (Option<usize>, usize)) -> Next {
    let too_large = |len: usize| {
        Next::Stop(Stop::RecordTooLarge {
            offset: 0,
            declared: len as u64,
        })
    };
    match e {
        ErrKind::Eof => Next::Eof,
        ErrKind::Incomplete if !exhausted => match head().0 {
            Some(len) if len > MAX_RECORD => too_large(len),
            _ => Next::Refill,
        },
        ErrKind::Incomplete | ErrKind::UnexpectedEof => {
            let (declared, have) = head();
            match declared {
                Some(len) if len > MAX_RECORD => too_large(len),
                _ => Next::Stop(Stop::TruncatedRecord {
                    offset: 0,
                    have: have as u64,
                    declared: declared.map(|d| d as u64),
                }),
            }
        }
        ErrKind::BufferTooSmall => match head().0 {
            Some(len) if len <= MAX_RECORD => Next::Grow((len + 4096).next_power_of_two()),
            Some(len) => too_large(len),
            None => Next::Stop(Stop::Malformed {
                offset: 0,
                detail: "record header unreadable",
            }),
        },
        ErrKind::ReadError => Next::Stop(Stop::ReadFailed { offset: 0 }),
        ErrKind::Invalid => match head().0 {
            Some(len) if len > MAX_RECORD => too_large(len),
            _ => Next::Stop(Stop::Malformed {
                offset: 0,
                detail: "the block structure is invalid",
            }),
        },
    }
}

/// `pcap-parser` errors without the borrowed input, so the reader can be inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrKind {
    Eof,
    Incomplete,
    UnexpectedEof,
    BufferTooSmall,
    ReadError,
    Invalid,
}

impl ErrKind {
    fn of(e: &PcapError<&[u8]>) -> Self {
        match e {
            PcapError::Eof => ErrKind::Eof,
            PcapError::Incomplete(_) => ErrKind::Incomplete,
            PcapError::UnexpectedEof => ErrKind::UnexpectedEof,
            PcapError::BufferTooSmall => ErrKind::BufferTooSmall,
            PcapError::ReadError => ErrKind::ReadError,
            PcapError::HeaderNotRecognized
            | PcapError::NomError(_, _)
            | PcapError::OwnedNomError(_, _) => ErrKind::Invalid,
        }
    }
}

/// One legacy pcap record read straight from the reader's buffer.
struct Record<'a> {
    ts_sec: u32,
    /// Microseconds or nanoseconds, as the file header says.
    frac: i64,
    origlen: usize,
    data: &'a [u8],
}

/// The record at the start of `d` (16-byte header in the file's byte order, then `caplen`
/// bytes), when it is wholly there and within [`MAX_RECORD`]; `None` leaves it to `pcap-parser`.
fn whole_record(d: &[u8], big_endian: bool) -> Option<Record<'_>> {
    let caplen = read_u32(d, 8, big_endian)? as usize;
    if caplen.saturating_add(16) > MAX_RECORD {
        return None;
    }
    Some(Record {
        ts_sec: read_u32(d, 0, big_endian)?,
        frac: i64::from(read_u32(d, 4, big_endian)?),
        origlen: read_u32(d, 12, big_endian)? as usize,
        data: d.get(16..16 + caplen)?,
    })
}

/// The u32 at `at` in the file's byte order, if the buffer holds it.
fn read_u32(d: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}
