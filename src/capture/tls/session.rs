//! The TLS seam of `capture::conn`: `TlsConn` behind the `conn::TlsSession` trait, and the
//! factory registered in `pipeline::PipelineConfig::default()`.
//!
//! Owns: forwarding ciphertext to `TlsConn`, handing plaintext back, remembering why a session
//! was not decrypted, TCP gaps inside TLS. Must not: parse HTTP (conn.rs dispatches plaintext).
//! Limits: `undecrypted_reason` cannot retry pending records (it has no key log). Records wait
//! in `TlsConn` up to `PENDING_CAP` and are retried on every later packet of the connection;
//! keys that arrive after its last packet are used only while the pipeline keeps the closed
//! connection parked (`pipeline::PARK_GRACE`).

use super::{TlsConn, TlsOutput, Undecryptable};
use crate::capture::conn::TlsSession;
use crate::capture::keylog::KeyLog;
use crate::capture::tcp::ConnMeta;
use crate::capture::Dir;
use crate::model::{Micros, TlsInfo};

/// `TlsConn` as a `conn::TlsSession`.
pub struct TlsPlugin {
    pub conn: TlsConn,
    reason: Option<Undecryptable>,
    gaps: u64,
}

/// Factory for `conn::Plugins::tls`.
pub fn tls_plugin(_meta: &ConnMeta) -> Box<dyn TlsSession> {
    Box::new(TlsPlugin {
        conn: TlsConn::new(),
        reason: None,
        gaps: 0,
    })
}

impl TlsSession for TlsPlugin {
    fn push(
        &mut self,
        dir: Dir,
        data: &[u8],
        ts: Micros,
        keys: &KeyLog,
        plain: &mut dyn FnMut(Dir, &[u8], Micros),
    ) {
        for o in self.conn.push(dir, data, ts, keys) {
            match o {
                TlsOutput::Plaintext { dir, data, ts } => plain(dir, &data, ts),
                TlsOutput::Handshake(_) => {}
                TlsOutput::Undecryptable { reason, .. } => {
                    if self.reason.is_none() {
                        self.reason = Some(reason);
                    }
                }
            }
        }
    }

    fn gap(&mut self, dir: Dir, len: u64) {
        self.gaps += 1;
        if let Some(r) = self.conn.gap(dir, len) {
            if self.reason.is_none() {
                self.reason = Some(r);
            }
        }
    }

    fn info(&self) -> TlsInfo {
        let f = self.conn.facts();
        TlsInfo {
            sni: f.sni.clone(),
            version: f.version.clone(),
            alpn: f.alpn.clone(),
            decrypted: f.decrypted,
        }
    }

    fn awaits_keys(&self) -> bool {
        self.reason.is_none() && self.conn.awaits_keys()
    }

    fn undecrypted_reason(&self) -> Option<String> {
        self.reason
            .clone()
            .or_else(|| self.conn.final_reason())
            .map(|r| r.to_string())
    }
}
