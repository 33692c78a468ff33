//! Record protection: decrypting one TLS record with AEAD (TLS 1.2 GCM/ChaCha, TLS 1.3 AEAD) or
//! AES-CBC + HMAC (MAC-then-encrypt and encrypt-then-MAC, TLS 1.1/1.2 explicit IV, TLS 1.0
//! chained IV).
//!
//! Owns: nonce/AAD construction, sequence numbers, padding and MAC checks.
//! Must not: know about handshakes or key logs. Keys are never formatted (`Debug` prints kinds).
//! Limits: the CBC MAC check is not constant-time; this is a passive offline decoder, not a
//! TLS endpoint, so padding-oracle timing does not apply.

use super::keys::{Bulk, Suite};
use aes::{Aes128, Aes256};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
use ring::aead;
use ring::hmac;
use std::fmt;

/// Why a record did not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("AEAD authentication tag did not verify")]
    BadTag,
    #[error("record too short for its cipher ({len} bytes)")]
    TooShort { len: usize },
    #[error("CBC padding invalid")]
    BadPadding,
    #[error("record MAC did not verify")]
    BadMac,
    #[error("TLS 1.3 inner plaintext has no content type (all zero)")]
    NoInnerType,
    #[error("key material has the wrong length")]
    BadKey,
}

enum Kind {
    /// TLS 1.3: nonce = iv XOR seq, AAD = record header, inner content type.
    Aead13 {
        key: aead::LessSafeKey,
        iv: [u8; 12],
    },
    /// TLS 1.2 AES-GCM: nonce = 4-byte salt || 8-byte explicit nonce from the record.
    Gcm12 {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    /// TLS 1.2 ChaCha20-Poly1305 (RFC 7905): nonce = iv XOR seq.
    Chacha12 {
        key: aead::LessSafeKey,
        iv: [u8; 12],
    },
    Cbc {
        key: Vec<u8>,
        mac: hmac::Key,
        mac_len: usize,
        etm: bool,
        /// TLS 1.0: IV carried over from the previous record; TLS ≥ 1.1: `None` (explicit IV).
        chained_iv: Option<[u8; 16]>,
    },
}

/// Decryption state of one direction under one key.
pub struct RecordCipher {
    kind: Kind,
    seq: u64,
}

impl fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            Kind::Aead13 { .. } => "aead13",
            Kind::Gcm12 { .. } => "gcm12",
            Kind::Chacha12 { .. } => "chacha12",
            Kind::Cbc { .. } => "cbc",
        };
        write!(f, "RecordCipher({k}, seq {})", self.seq)
    }
}

fn aead_key(bulk: Bulk, key: &[u8]) -> Result<aead::LessSafeKey, RecordError> {
    let alg = match bulk {
        Bulk::Aes128Gcm => &aead::AES_128_GCM,
        Bulk::Aes256Gcm => &aead::AES_256_GCM,
        Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        Bulk::Aes128Cbc | Bulk::Aes256Cbc => return Err(RecordError::BadKey),
    };
    aead::UnboundKey::new(alg, key)
        .map(aead::LessSafeKey::new)
        .map_err(|_| RecordError::BadKey)
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

impl RecordCipher {
    /// TLS 1.3 record protection from a derived key and IV.
    pub fn tls13(suite: &Suite, key: &[u8], iv: [u8; 12]) -> Result<Self, RecordError> {
        Ok(RecordCipher {
            kind: Kind::Aead13 {
                key: aead_key(suite.bulk, key)?,
                iv,
            },
            seq: 0,
        })
    }

    /// TLS 1.0–1.2 record protection from key-block material.
    pub fn tls12(
        suite: &Suite,
        version: u16,
        mac_key: &[u8],
        key: &[u8],
        iv: &[u8],
        etm: bool,
    ) -> Result<Self, RecordError> {
        let kind = match suite.bulk {
            Bulk::Aes128Gcm | Bulk::Aes256Gcm => Kind::Gcm12 {
                key: aead_key(suite.bulk, key)?,
                salt: iv.try_into().map_err(|_| RecordError::BadKey)?,
            },
            Bulk::ChaCha20Poly1305 => Kind::Chacha12 {
                key: aead_key(suite.bulk, key)?,
                iv: iv.try_into().map_err(|_| RecordError::BadKey)?,
            },
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => {
                let alg = suite.mac.hmac().ok_or(RecordError::BadKey)?;
                if key.len() != suite.bulk.key_len() {
                    return Err(RecordError::BadKey);
                }
                let chained_iv = if version <= 0x0301 {
                    Some(iv.try_into().map_err(|_| RecordError::BadKey)?)
                } else {
                    None
                };
                Kind::Cbc {
                    key: key.to_vec(),
                    mac: hmac::Key::new(alg, mac_key),
                    mac_len: suite.mac.len(),
                    etm,
                    chained_iv,
                }
            }
        };
        Ok(RecordCipher { kind, seq: 0 })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Decrypt one record. `header` is the 5-byte record header, `body` its payload. On success
    /// the plaintext is appended to `out` and the (inner) content type returned; the sequence
    /// number advances only on success, so a failed trial decryption leaves state untouched.
    pub fn open(
        &mut self,
        header: [u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, RecordError> {
        let start = out.len();
        let r = self.open_inner(header, body, out);
        match r {
            Ok(t) => {
                self.seq = self.seq.wrapping_add(1);
                Ok(t)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn open_inner(
        &mut self,
        header: [u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, RecordError> {
        let start = out.len();
        let seq = self.seq;
        match &mut self.kind {
            Kind::Aead13 { key, iv } => {
                if body.len() < 17 {
                    return Err(RecordError::TooShort { len: body.len() });
                }
                out.extend_from_slice(body);
                let nonce = aead::Nonce::assume_unique_for_key(xor_seq(iv, seq));
                let buf = out.get_mut(start..).ok_or(RecordError::BadKey)?;
                let plain_len = key
                    .open_in_place(nonce, aead::Aad::from(header), buf)
                    .map_err(|_| RecordError::BadTag)?
                    .len();
                out.truncate(start + plain_len);
                // Strip zero padding; the last non-zero byte is the content type.
                while let Some(&b) = out.last() {
                    if out.len() <= start {
                        break;
                    }
                    out.pop();
                    if b != 0 {
                        return Ok(b);
                    }
                }
                Err(RecordError::NoInnerType)
            }
            Kind::Gcm12 { key, salt } => {
                if body.len() < 8 + 16 {
                    return Err(RecordError::TooShort { len: body.len() });
                }
                let (explicit, ct) = body.split_at(8);
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(explicit);
                let plain_len = ct.len() - 16;
                let aad = aad12(seq, header, plain_len);
                out.extend_from_slice(ct);
                let buf = out.get_mut(start..).ok_or(RecordError::BadKey)?;
                let n = key
                    .open_in_place(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(aad),
                        buf,
                    )
                    .map_err(|_| RecordError::BadTag)?
                    .len();
                out.truncate(start + n);
                Ok(header[0])
            }
            Kind::Chacha12 { key, iv } => {
                if body.len() < 16 {
                    return Err(RecordError::TooShort { len: body.len() });
                }
                let aad = aad12(seq, header, body.len() - 16);
                out.extend_from_slice(body);
                let buf = out.get_mut(start..).ok_or(RecordError::BadKey)?;
                let n = key
                    .open_in_place(
                        aead::Nonce::assume_unique_for_key(xor_seq(iv, seq)),
                        aead::Aad::from(aad),
                        buf,
                    )
                    .map_err(|_| RecordError::BadTag)?
                    .len();
                out.truncate(start + n);
                Ok(header[0])
            }
            Kind::Cbc {
                key,
                mac,
                mac_len,
                etm,
                chained_iv,
            } => {
                let mac_len = *mac_len;
                let (ct, tag) = if *etm {
                    if body.len() < mac_len {
                        return Err(RecordError::TooShort { len: body.len() });
                    }
                    let (ct, tag) = body.split_at(body.len() - mac_len);
                    let mut ctx = hmac::Context::with_key(mac);
                    ctx.update(&aad12(seq, header, ct.len()));
                    ctx.update(ct);
                    if ctx.sign().as_ref() != tag {
                        return Err(RecordError::BadMac);
                    }
                    (ct, Some(tag))
                } else {
                    (body, None)
                };
                let (iv, ct): ([u8; 16], &[u8]) = match chained_iv {
                    Some(iv) => (*iv, ct),
                    None => {
                        if ct.len() < 16 {
                            return Err(RecordError::TooShort { len: ct.len() });
                        }
                        let (iv, rest) = ct.split_at(16);
                        (iv.try_into().map_err(|_| RecordError::BadKey)?, rest)
                    }
                };
                if ct.is_empty() || ct.len() % 16 != 0 {
                    return Err(RecordError::TooShort { len: ct.len() });
                }
                let next_iv: Option<[u8; 16]> =
                    ct.get(ct.len() - 16..).and_then(|b| b.try_into().ok());
                out.extend_from_slice(ct);
                let buf = out.get_mut(start..).ok_or(RecordError::BadKey)?;
                let ok = match key.len() {
                    16 => cbc::Decryptor::<Aes128>::new_from_slices(key, &iv)
                        .map_err(|_| RecordError::BadKey)?
                        .decrypt_padded_mut::<NoPadding>(buf)
                        .is_ok(),
                    _ => cbc::Decryptor::<Aes256>::new_from_slices(key, &iv)
                        .map_err(|_| RecordError::BadKey)?
                        .decrypt_padded_mut::<NoPadding>(buf)
                        .is_ok(),
                };
                if !ok {
                    return Err(RecordError::BadPadding);
                }
                let pad = *out.last().ok_or(RecordError::BadPadding)? as usize;
                let total = out.len() - start;
                let min = pad + 1 + if tag.is_some() { 0 } else { mac_len };
                if total < min {
                    return Err(RecordError::BadPadding);
                }
                let pad_ok = out
                    .get(out.len() - pad - 1..)
                    .map(|p| p.iter().all(|&b| b as usize == pad))
                    .unwrap_or(false);
                if !pad_ok {
                    return Err(RecordError::BadPadding);
                }
                out.truncate(out.len() - pad - 1);
                if tag.is_none() {
                    let content_len = out.len() - start - mac_len;
                    let (content, got) = out
                        .get(start..)
                        .map(|s| s.split_at(content_len))
                        .ok_or(RecordError::BadMac)?;
                    let mut ctx = hmac::Context::with_key(mac);
                    ctx.update(&aad12(seq, header, content_len));
                    ctx.update(content);
                    if ctx.sign().as_ref() != got {
                        return Err(RecordError::BadMac);
                    }
                    out.truncate(start + content_len);
                }
                if let (Some(civ), Some(n)) = (chained_iv.as_mut(), next_iv) {
                    *civ = n;
                }
                Ok(header[0])
            }
        }
    }
}

/// TLS ≤ 1.2 additional data / MAC header: seq || type || version || length.
fn aad12(seq: u64, header: [u8; 5], len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = header[0];
    a[9] = header[1];
    a[10] = header[2];
    a[11..].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

/// Encrypt one TLS 1.3 record (used by tests and the bench generator to make real records).
pub fn seal13(
    suite: &Suite,
    key: &[u8],
    iv: [u8; 12],
    seq: u64,
    content_type: u8,
    plaintext: &[u8],
) -> Result<Vec<u8>, RecordError> {
    let k = aead_key(suite.bulk, key)?;
    let mut inner = Vec::with_capacity(plaintext.len() + 1 + 16 + 5);
    inner.extend_from_slice(plaintext);
    inner.push(content_type);
    let len = inner.len() + 16;
    let header = [23u8, 3, 3, (len >> 8) as u8, len as u8];
    k.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(xor_seq(&iv, seq)),
        aead::Aad::from(header),
        &mut inner,
    )
    .map_err(|_| RecordError::BadKey)?;
    let mut rec = Vec::with_capacity(5 + inner.len());
    rec.extend_from_slice(&header);
    rec.extend_from_slice(&inner);
    Ok(rec)
}
