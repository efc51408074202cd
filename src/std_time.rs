//! `std::time::Instant` and the core's clock ([`proto::time::Instant`](crate::proto::time::Instant)):
//! conversions both ways against one origin per process, so that code on std passes
//! `std::time::Instant::now()` to the core and gives the core's deadlines to its timers.
//!
//! Owns the origin and nothing else; outside the core because it may read the clock (once, if
//! an instant is converted back before any was converted forward).
#![forbid(unsafe_code)]

use std::sync::OnceLock;
use std::time::Duration;

use crate::proto::time::Instant;

/// Well before the first instant seen, so that earlier instants a caller still holds convert
/// too (they saturate at the origin).
fn origin(seen: Option<std::time::Instant>) -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let t = seen.unwrap_or_else(std::time::Instant::now);
        [86_400 * 365, 86_400, 3_600, 60, 1]
            .into_iter()
            .find_map(|s| t.checked_sub(Duration::from_secs(s)))
            .unwrap_or(t)
    })
}

impl From<std::time::Instant> for Instant {
    fn from(t: std::time::Instant) -> Instant {
        Instant::from_origin(t.saturating_duration_since(origin(Some(t))))
    }
}

impl Instant {
    /// The same point as a `std::time::Instant` (for an adapter's timer).
    pub fn to_std(self) -> std::time::Instant {
        let o = origin(None);
        o.checked_add(self.since_origin()).unwrap_or(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let a = std::time::Instant::now();
        let b = a + Duration::from_millis(1500);
        let (ca, cb): (Instant, Instant) = (a.into(), b.into());
        assert_eq!(cb - ca, Duration::from_millis(1500));
        assert!(cb > ca);
        assert_eq!(ca.to_std(), a);
        assert_eq!(
            (ca + Duration::from_secs(2)).to_std(),
            a + Duration::from_secs(2)
        );
    }
}
