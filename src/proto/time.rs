//! The core's clock: a point in time that the caller supplies.
//!
//! Owns one type, [`Instant`]: a duration since an origin of the caller's choosing on a clock
//! that never goes back (a tick counter, a monotonic timer). The core never reads a clock: every
//! method that needs the time takes it. With the `std` feature, a `std::time::Instant` converts
//! into one (`Into`, against one origin for the whole process, taken from the first instant
//! converted) and back ([`Instant::to_std`]), so code on std passes the standard library's
//! instants as it would anyway (that glue lives outside the core, in `std_time.rs`).
#![forbid(unsafe_code)]

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The instant `since` after the origin.
    pub const fn from_origin(since: Duration) -> Instant {
        Instant(since)
    }

    /// How long after the origin this is.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates rather than overflows: a deadline past the end of time never comes.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}
