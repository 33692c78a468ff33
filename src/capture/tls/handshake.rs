//! Handshake message reassembly and the hello parsers (ClientHello incl. the SSLv2-compatible
//! form, ServerHello incl. supported_versions and HelloRetryRequest).
//!
//! Owns: turning handshake-record payloads into messages, and reading the facts we need (randoms,
//! SNI, ALPN, session id, early_data, encrypt_then_mac, version, suite).
//! Must not: decrypt anything or keep secrets.
//! Limits: messages larger than `MAX_MESSAGE` (certificate chains) are skipped by length, never
//! buffered; their type is still reported.

/// Longest handshake message we buffer; longer ones are skipped (their body is not needed).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// SHA-256("HelloRetryRequest"), the ServerHello.random of an HRR (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub early_data: bool,
    pub encrypt_then_mac: bool,
    /// The hello came in the SSLv2-compatible record format.
    pub sslv2: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub random: [u8; 32],
    /// Negotiated version (supported_versions if present, else legacy_version).
    pub version: u16,
    pub suite: u16,
    pub alpn: Option<String>,
    pub encrypt_then_mac: bool,
    pub hello_retry: bool,
    pub session_id: Vec<u8>,
    /// Compression method (1 = DEFLATE, RFC 3749; TLS ≤ 1.2 only).
    pub compression: u8,
}

/// Where a hello stopped parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} truncated or malformed at byte {offset}")]
pub struct HelloError {
    pub what: &'static str,
    pub offset: usize,
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Self {
        Cur { b, pos: 0, what }
    }
    fn err(&self) -> HelloError {
        HelloError {
            what: self.what,
            offset: self.pos,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        let s = self.b.get(self.pos..self.pos + n).ok_or(self.err())?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HelloError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
}

fn alpn_list(data: &[u8]) -> Result<Vec<String>, HelloError> {
    let mut c = Cur::new(data, "ALPN extension");
    let list = c.vec16()?;
    let mut l = Cur::new(list, "ALPN list");
    let mut out = Vec::new();
    while !l.done() && out.len() < 16 {
        out.push(String::from_utf8_lossy(l.vec8()?).into_owned());
    }
    Ok(out)
}

fn sni(data: &[u8]) -> Result<Option<String>, HelloError> {
    let mut c = Cur::new(data, "server_name extension");
    let list = c.vec16()?;
    let mut l = Cur::new(list, "server_name list");
    while !l.done() {
        let kind = l.u8()?;
        let name = l.vec16()?;
        if kind == 0 {
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

/// Parse a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut c = Cur::new(body, "ClientHello");
    let _legacy_version = c.u16()?;
    let mut ch = ClientHello::default();
    ch.random.copy_from_slice(c.take(32)?);
    ch.session_id = c.vec8()?.to_vec();
    let _suites = c.vec16()?;
    let _compression = c.vec8()?;
    if c.done() {
        return Ok(ch);
    }
    let exts = c.vec16()?;
    let mut e = Cur::new(exts, "ClientHello extensions");
    while !e.done() {
        let ty = e.u16()?;
        let data = e.vec16()?;
        match ty {
            0 => ch.sni = sni(data)?,
            16 => ch.alpn = alpn_list(data)?,
            22 => ch.encrypt_then_mac = true,
            42 => ch.early_data = true,
            _ => {}
        }
    }
    Ok(ch)
}

/// Parse an SSLv2-format ClientHello record body (after the 2-byte length), RFC 5246 §E.2.
/// The challenge, left-padded with zeros to 32 bytes, is the client random.
pub fn parse_sslv2_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut c = Cur::new(body, "SSLv2 ClientHello");
    if c.u8()? != 1 {
        return Err(c.err());
    }
    let _version = c.u16()?;
    let suites_len = c.u16()? as usize;
    let sid_len = c.u16()? as usize;
    let chal_len = c.u16()? as usize;
    let _suites = c.take(suites_len)?;
    let sid = c.take(sid_len)?;
    let chal = c.take(chal_len)?;
    if chal.len() > 32 || chal.len() < 16 {
        return Err(c.err());
    }
    let mut ch = ClientHello {
        sslv2: true,
        session_id: sid.to_vec(),
        ..Default::default()
    };
    ch.random[32 - chal.len()..].copy_from_slice(chal);
    Ok(ch)
}

/// Parse a ServerHello body (after the 4-byte handshake header).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, HelloError> {
    let mut c = Cur::new(body, "ServerHello");
    let mut sh = ServerHello {
        version: c.u16()?,
        ..Default::default()
    };
    sh.random.copy_from_slice(c.take(32)?);
    sh.hello_retry = sh.random == HRR_RANDOM;
    sh.session_id = c.vec8()?.to_vec();
    sh.suite = c.u16()?;
    sh.compression = c.u8()?;
    if c.done() {
        return Ok(sh);
    }
    let exts = c.vec16()?;
    let mut e = Cur::new(exts, "ServerHello extensions");
    while !e.done() {
        let ty = e.u16()?;
        let data = e.vec16()?;
        match ty {
            16 => sh.alpn = alpn_list(data)?.into_iter().next(),
            22 => sh.encrypt_then_mac = true,
            43 if data.len() == 2 => sh.version = u16::from_be_bytes([data[0], data[1]]),
            _ => {}
        }
    }
    Ok(sh)
}

/// One complete handshake message (body kept only when ≤ `MAX_MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: u8,
    /// `None` when the message was too large and skipped.
    pub body: Option<Vec<u8>>,
}

/// Reassembles handshake messages from consecutive handshake-content payloads of one direction.
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    /// Bytes still to skip of an oversized message.
    skip: usize,
    /// Messages skipped because they exceeded `MAX_MESSAGE`.
    pub oversized: u64,
}

impl Reassembler {
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Message>) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = data.get(n..).unwrap_or_default();
        }
        self.buf.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.skip -= n;
                self.buf.drain(..n);
                if self.skip > 0 {
                    return;
                }
            }
            let (ty, len) = match self.buf.get(..4) {
                Some(h) => (h[0], u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize),
                None => return,
            };
            if len > MAX_MESSAGE {
                self.oversized += 1;
                out.push(Message {
                    msg_type: ty,
                    body: None,
                });
                self.buf.drain(..4);
                self.skip = len;
                continue;
            }
            match self.buf.get(4..4 + len) {
                Some(body) => {
                    out.push(Message {
                        msg_type: ty,
                        body: Some(body.to_vec()),
                    });
                    self.buf.drain(..4 + len);
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_split_and_skips_oversized() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(&[20, 0, 0, 3, 1], &mut out);
        assert!(out.is_empty());
        r.push(&[2, 3, 24, 0, 0, 1, 0], &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].body.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(out[1].msg_type, 24);
        let big = MAX_MESSAGE + 10;
        r.push(
            &[11, (big >> 16) as u8, (big >> 8) as u8, big as u8],
            &mut out,
        );
        r.push(&vec![0u8; big], &mut out);
        r.push(&[20, 0, 0, 0], &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out[2].body, None);
        assert_eq!(out[3].msg_type, 20);
        assert_eq!(r.oversized, 1);
    }

    #[test]
    fn truncated_hello_is_an_error() {
        assert!(parse_client_hello(&[3, 3, 1, 2]).is_err());
        assert!(parse_server_hello(&[]).is_err());
    }
}
