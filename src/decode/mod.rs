//! Decoding helpers shared by sources and `auth`: capped body decompression, forms, JSON, JWTs.

pub mod body;
pub mod jwt;
