//! The time herald runs on. A real service reads the system clock; `herald demo --speed N`
//! runs a scaled clock (N seconds of store time per real second), and `herald simulate` a
//! manual clock that the simulator moves forward itself. Every handler and worker asks the
//! [`Clock`] in `AppState`, never the system, so the same code runs in all three.

use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Clock(Arc<Kind>);

#[derive(Debug)]
enum Kind {
    System,
    /// Store time `start`, moving `speed` times as fast as real time since `origin`.
    Scaled {
        origin: std::time::Instant,
        start: Timestamp,
        speed: f64,
    },
    /// Store time in microseconds, moved only by [`Clock::set`].
    Manual(AtomicI64),
}

/// The shortest real pause a worker takes, however fast the clock runs: a fast demo still
/// leaves the machine time for requests.
const SHORTEST_PAUSE: Duration = Duration::from_millis(50);

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Kind::System))
    }

    /// Store time that starts at `start` and runs `speed` times faster than real time.
    pub fn scaled(start: Timestamp, speed: f64) -> Self {
        Self(Arc::new(Kind::Scaled {
            origin: std::time::Instant::now(),
            start,
            speed: speed.max(f64::MIN_POSITIVE),
        }))
    }

    /// Store time that stands at `start` until [`Clock::set`] moves it.
    pub fn manual(start: Timestamp) -> Self {
        Self(Arc::new(Kind::Manual(AtomicI64::new(
            start.as_microsecond(),
        ))))
    }

    pub fn now(&self) -> Timestamp {
        match &*self.0 {
            Kind::System => Timestamp::now(),
            Kind::Scaled {
                origin,
                start,
                speed,
            } => {
                let real = origin.elapsed().as_secs_f64() * speed;
                start
                    .checked_add(SignedDuration::from_secs_f64(real))
                    .unwrap_or(*start)
            }
            Kind::Manual(us) => {
                Timestamp::from_microsecond(us.load(Ordering::Acquire)).unwrap_or(Timestamp::MAX)
            }
        }
    }

    /// Moves a manual clock to `t` (never backwards). Other clocks ignore it.
    pub fn set(&self, t: Timestamp) {
        if let Kind::Manual(us) = &*self.0 {
            us.fetch_max(t.as_microsecond(), Ordering::AcqRel);
        }
    }

    /// Whether a driver moves this clock itself (a simulation): nobody reads its pages
    /// between moves, so they are rendered only when something changed.
    pub fn is_manual(&self) -> bool {
        matches!(&*self.0, Kind::Manual(_))
    }

    /// Store seconds per real second.
    pub fn speed(&self) -> f64 {
        match &*self.0 {
            Kind::Scaled { speed, .. } => *speed,
            _ => 1.0,
        }
    }

    /// The real time a worker waits for `store_time` to pass on this clock (at least
    /// [`SHORTEST_PAUSE`] on a fast clock; a manual clock's driver calls workers itself).
    pub fn pause(&self, store_time: Duration) -> Duration {
        match &*self.0 {
            Kind::Scaled { speed, .. } if *speed > 1.0 => {
                store_time.div_f64(*speed).max(SHORTEST_PAUSE)
            }
            _ => store_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_forward_and_only_when_told() {
        let t0: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let c = Clock::manual(t0);
        assert_eq!(c.now(), t0);
        let t1 = t0 + SignedDuration::from_hours(5);
        c.set(t1);
        assert_eq!(c.now(), t1);
        c.set(t0);
        assert_eq!(c.now(), t1, "never backwards");
    }

    #[test]
    fn a_scaled_clock_runs_fast_and_pauses_short() {
        let t0: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let c = Clock::scaled(t0, 3600.0);
        std::thread::sleep(Duration::from_millis(20));
        let gone = c.now().duration_since(t0);
        assert!(gone >= SignedDuration::from_secs(60), "{gone:?}");
        assert_eq!(c.pause(Duration::from_secs(3600)), Duration::from_secs(1));
        assert_eq!(c.pause(Duration::from_secs(1)), SHORTEST_PAUSE);
        assert_eq!(
            Clock::system().pause(Duration::from_secs(15)),
            Duration::from_secs(15)
        );
    }
}
