//! The core's clock: a point in time that the caller supplies.
//!
//! Owns one type, [`Instant`]: a duration since an origin of the caller's choosing on a clock
//! that never goes back (a tick counter, a monotonic timer). The core never reads a clock: every
//! method that needs the time takes it. With the `std` feature, a `std::time::Instant` converts
//! into one (`Into`, against one origin for the whole process, taken from the first instant
//! converted) and back ([`Instant::to_std`]), so code on std passes the standard library's
//! instants as it would anyway (that glue lives outside the core, in `std_time.rs`).
#![forbid(unsafe_code)]

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, as a duration since the caller's origin. Only differences matter: pick any
/// origin, and keep to it for a connection's life.
///
/// ```
/// use core::time::Duration;
/// use websock::proto::time::Instant;
///
/// // A device with a millisecond tick counter:
/// let now = Instant::from_origin(Duration::from_millis(1_234));
/// assert_eq!(now + Duration::from_secs(1), Instant::from_origin(Duration::from_millis(2_234)));
/// ```
///
/// Held as nanoseconds in a `u64` (8 bytes, and plain integer arithmetic on the per-message
/// path): 584 years from the origin, past which instants saturate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// Nanoseconds of `d`, saturating.
const fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(d.subsec_nanos() as u64)
}

impl Instant {
    /// The instant `since` after the origin.
    pub const fn from_origin(since: Duration) -> Instant {
        Instant(nanos(since))
    }

    /// How long after the origin this is.
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instant")
            .field(&self.since_origin())
            .finish()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates rather than overflows: a deadline past the end of time never comes.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_table() {
        let ns = Duration::from_nanos;
        let at = |n| Instant::from_origin(ns(n));
        // (instant, plus, expected instant)
        for (start, plus, want) in [
            (at(0), ns(1), at(1)),
            (at(999_999_999), ns(1), at(1_000_000_000)),
            (at(1_500_000_000), Duration::from_secs(2), at(3_500_000_000)),
            (at(u64::MAX - 1), ns(5), at(u64::MAX)),
            (at(7), Duration::MAX, at(u64::MAX)),
        ] {
            assert_eq!(start + plus, want, "{start:?} + {plus:?}");
        }
        assert_eq!(at(10) - at(3), ns(7));
        assert_eq!(at(3) - at(10), Duration::ZERO);
        assert!(at(3) < at(10));
        assert_eq!(at(123_456_789_012).since_origin(), ns(123_456_789_012));
        // Past 584 years from the origin, instants saturate rather than wrap.
        assert_eq!(
            Instant::from_origin(Duration::from_secs(u64::MAX)),
            at(u64::MAX)
        );
        assert_eq!(alloc::format!("{:?}", at(1_500_000_000)), "Instant(1.5s)");
    }
}
