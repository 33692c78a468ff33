//! Record protection: decrypting one TLS record with AEAD (TLS 1.2 GCM/ChaCha, TLS 1.3 AEAD) or
//! AES-CBC + HMAC (MAC-then-encrypt and encrypt-then-MAC, TLS 1.1/1.2 explicit IV, TLS 1.0
//! chained IV).
//!
//! Owns: nonce/AAD construction, sequence numbers, padding and MAC checks.
//! Must not: know about handshakes or key logs. Keys are never formatted (`Debug` prints kinds).
//! Limits: the CBC MAC check is not constant-time; this is a passive offline decoder, not a
//! TLS endpoint, so padding-oracle timing does not apply.

use super::keys::{hmac_md5, Mac};
use super::keys::{Bulk, Suite};
use aes::{Aes128, Aes256};
use camellia::{Camellia128, Camellia256};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyInit, KeyIvInit, StreamCipher};
use des::{Des, TdesEde3};
use rc4::{consts::U16, Rc4};
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
        alg: Bulk,
        key: Vec<u8>,
        mac: MacKey,
        etm: bool,
        /// TLS 1.0: IV carried over from the previous record; TLS ≥ 1.1: `None` (explicit IV).
        chained_iv: Option<Vec<u8>>,
    },
    /// RC4 (state carried across records) or NULL encryption, MAC-then-encrypt.
    Stream {
        rc4: Option<Box<Rc4<U16>>>,
        mac: MacKey,
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
            Kind::Stream { .. } => "stream",
        };
        write!(f, "RecordCipher({k}, seq {})", self.seq)
    }
}

fn aead_key(bulk: Bulk, key: &[u8]) -> Result<aead::LessSafeKey, RecordError> {
    let alg = match bulk {
        Bulk::Aes128Gcm => &aead::AES_128_GCM,
        Bulk::Aes256Gcm => &aead::AES_256_GCM,
        Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        _ => return Err(RecordError::BadKey),
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
            Bulk::Rc4_128 | Bulk::Null => Kind::Stream {
                rc4: if suite.bulk == Bulk::Rc4_128 {
                    Some(Box::new(
                        Rc4::<U16>::new_from_slice(key).map_err(|_| RecordError::BadKey)?,
                    ))
                } else {
                    None
                },
                mac: MacKey::new(suite.mac, mac_key)?,
            },
            alg => {
                if key.len() != alg.key_len() {
                    return Err(RecordError::BadKey);
                }
                let chained_iv = if version <= 0x0301 {
                    if iv.len() != alg.block_len() {
                        return Err(RecordError::BadKey);
                    }
                    Some(iv.to_vec())
                } else {
                    None
                };
                Kind::Cbc {
                    alg,
                    key: key.to_vec(),
                    mac: MacKey::new(suite.mac, mac_key)?,
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
            Kind::Stream { rc4, mac } => {
                let mac_len = mac.len();
                if body.len() < mac_len {
                    return Err(RecordError::TooShort { len: body.len() });
                }
                out.extend_from_slice(body);
                if let Some(rc4) = rc4.as_mut() {
                    if let Some(buf) = out.get_mut(start..) {
                        rc4.apply_keystream(buf);
                    }
                }
                let content_len = body.len() - mac_len;
                let ok = {
                    let (content, got) = out
                        .get(start..)
                        .map(|s| s.split_at(content_len))
                        .ok_or(RecordError::BadMac)?;
                    mac.compute(seq, header, content) == got
                };
                if !ok {
                    return Err(RecordError::BadMac);
                }
                out.truncate(start + content_len);
                Ok(header[0])
            }
            Kind::Cbc {
                alg,
                key,
                mac,
                etm,
                chained_iv,
            } => {
                let mac_len = mac.len();
                let bl = alg.block_len();
                let (ct, tag) = if *etm {
                    if body.len() < mac_len {
                        return Err(RecordError::TooShort { len: body.len() });
                    }
                    let (ct, tag) = body.split_at(body.len() - mac_len);
                    if mac.compute(seq, header, ct) != tag {
                        return Err(RecordError::BadMac);
                    }
                    (ct, Some(tag))
                } else {
                    (body, None)
                };
                let (iv, ct): (Vec<u8>, &[u8]) = match chained_iv {
                    Some(iv) => (iv.clone(), ct),
                    None => {
                        if ct.len() < bl {
                            return Err(RecordError::TooShort { len: ct.len() });
                        }
                        let (iv, rest) = ct.split_at(bl);
                        (iv.to_vec(), rest)
                    }
                };
                if ct.is_empty() || ct.len() % bl != 0 {
                    return Err(RecordError::TooShort { len: ct.len() });
                }
                let next_iv = ct.get(ct.len() - bl..).map(|b| b.to_vec());
                out.extend_from_slice(ct);
                let buf = out.get_mut(start..).ok_or(RecordError::BadKey)?;
                if !cbc_decrypt(*alg, key, &iv, buf) {
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
                    let ok = {
                        let (content, got) = out
                            .get(start..)
                            .map(|s| s.split_at(content_len))
                            .ok_or(RecordError::BadMac)?;
                        mac.compute(seq, header, content) == got
                    };
                    if !ok {
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

fn cbc_decrypt(alg: Bulk, key: &[u8], iv: &[u8], buf: &mut [u8]) -> bool {
    fn run<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> bool
    where
        cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
        C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher,
    {
        match cbc::Decryptor::<C>::new_from_slices(key, iv) {
            Ok(d) => d.decrypt_padded_mut::<NoPadding>(buf).is_ok(),
            Err(_) => false,
        }
    }
    match alg {
        Bulk::Aes128Cbc => run::<Aes128>(key, iv, buf),
        Bulk::Aes256Cbc => run::<Aes256>(key, iv, buf),
        Bulk::Camellia128Cbc => run::<Camellia128>(key, iv, buf),
        Bulk::Camellia256Cbc => run::<Camellia256>(key, iv, buf),
        Bulk::TripleDesCbc => run::<TdesEde3>(key, iv, buf),
        Bulk::DesCbc => run::<Des>(key, iv, buf),
        _ => false,
    }
}

/// Record MAC key: HMAC-SHA1/256/384 from `ring`, HMAC-MD5 from `md-5`.
enum MacKey {
    Ring(hmac::Key, usize),
    Md5(Vec<u8>),
}

impl MacKey {
    fn new(mac: Mac, key: &[u8]) -> Result<Self, RecordError> {
        match (mac, mac.hmac()) {
            (Mac::Md5, _) => Ok(MacKey::Md5(key.to_vec())),
            (_, Some(alg)) => Ok(MacKey::Ring(hmac::Key::new(alg, key), mac.len())),
            _ => Err(RecordError::BadKey),
        }
    }
    fn len(&self) -> usize {
        match self {
            MacKey::Ring(_, n) => *n,
            MacKey::Md5(_) => 16,
        }
    }
    fn compute(&self, seq: u64, header: [u8; 5], content: &[u8]) -> Vec<u8> {
        let hdr = aad12(seq, header, content.len());
        match self {
            MacKey::Ring(k, _) => {
                let mut ctx = hmac::Context::with_key(k);
                ctx.update(&hdr);
                ctx.update(content);
                ctx.sign().as_ref().to_vec()
            }
            MacKey::Md5(k) => hmac_md5(k, &[&hdr, content]).to_vec(),
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
