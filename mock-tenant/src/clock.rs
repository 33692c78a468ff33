//! Injectable clock for the mock tenant.
//!
//! Owns: the notion of "now" used for token `iat`/`exp`, expiry checks, rate-limit windows and
//! `date` headers. `Clock::Fixed` is a shared, manually advanced clock (deterministic fixture
//! generation); `Clock::System` reads wall time (served tenants that real clients talk to).
//! Must not sleep. Limits: millisecond resolution.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Clock {
    /// Wall-clock time.
    System,
    /// Milliseconds since the Unix epoch, shared by every clone.
    Fixed(Arc<AtomicI64>),
}

impl Clock {
    pub fn fixed_ms(epoch_ms: i64) -> Self {
        Clock::Fixed(Arc::new(AtomicI64::new(epoch_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            Clock::Fixed(ms) => ms.load(Ordering::SeqCst),
        }
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves a fixed clock forward; returns false (and does nothing) on the system clock.
    pub fn advance_ms(&self, ms: i64) -> bool {
        match self {
            Clock::System => false,
            Clock::Fixed(v) => {
                v.fetch_add(ms, Ordering::SeqCst);
                true
            }
        }
    }

    /// Sets a fixed clock; returns false on the system clock.
    pub fn set_ms(&self, ms: i64) -> bool {
        match self {
            Clock::System => false,
            Clock::Fixed(v) => {
                v.store(ms, Ordering::SeqCst);
                true
            }
        }
    }
}

/// RFC 7231 IMF-fixdate for a `date` header.
pub fn http_date(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// RFC 3339 with milliseconds, as Chrome writes `startedDateTime`.
pub fn iso_ms(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_advances_and_shares() {
        let c = Clock::fixed_ms(1_000);
        let c2 = c.clone();
        assert!(c.advance_ms(2_500));
        assert_eq!(c2.now_ms(), 3_500);
        assert_eq!(c2.now_secs(), 3);
        assert!(!Clock::System.advance_ms(5));
    }

    #[test]
    fn formats() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso_ms(1_500), "1970-01-01T00:00:01.500Z");
    }
}
