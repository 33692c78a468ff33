//! AuthEvent → Flow: joins authorize, result, token grant and API calls (explicit transition table).
//!
//! Placeholder; the correlation work fills it in.
