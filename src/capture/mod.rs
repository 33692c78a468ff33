//! Sans-I/O capture engines: packets, TCP reassembly, key logs, TLS, HTTP/1.x and HTTP/2.
//!
//! Every engine is `push(input, ts) -> outputs` and reads no clock, file or socket. The shared
//! vocabulary between the layers lives here: which way bytes flow, and what an HTTP parser
//! (HTTP/1.x or HTTP/2) hands up to the connection layer.

use crate::model::{Exchange, Micros, Request, Response};

pub mod conn;
pub mod hpack;
pub mod http1;
pub mod http2;
pub mod keylog;
pub mod packet;
pub mod pipeline;
pub mod tcp;
pub mod tls;

/// Direction of bytes on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    pub fn flip(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
}

/// One request and its response (when seen) as parsed from a connection by HTTP/1.x or HTTP/2.
/// The connection layer turns it into a `model::Exchange` by adding input, index and origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpPair {
    pub request: Request,
    pub response: Option<Response>,
    /// Time of the first request byte.
    pub started: Option<Micros>,
    /// Time of the last response byte.
    pub ended: Option<Micros>,
    /// What was missing ("no response seen", "gap in client stream", "body truncated at cap").
    pub notes: Vec<String>,
}

/// What reading a capture yields: exchanges, and TLS sessions that could not be decrypted
/// (so the engine can say which evidence is missing).
// Exchanges are nearly every output; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureOutput {
    Exchange(Exchange),
    TlsUndecrypted {
        input: usize,
        /// Server name from the ClientHello, if seen.
        sni: Option<String>,
        /// "ip:port" of the server.
        server: String,
        /// Why: "no key for this session", "unsupported cipher suite 0x...", "handshake not captured".
        reason: String,
        time: Option<Micros>,
    },
}
