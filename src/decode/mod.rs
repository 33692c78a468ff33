//! Decoding helpers shared by sources and `auth`: capped body decompression, forms, JSON, JWTs.

pub mod body;
pub mod form;
pub mod html;
pub mod jwt;
