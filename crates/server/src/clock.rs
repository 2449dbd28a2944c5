//! The time herald runs on. A real service reads the system clock; `herald demo --speed N`
//! runs a scaled clock (N seconds of store time per real second), and `herald simulate` a
//! manual clock that the simulator moves forward itself. Every handler and worker asks the
//! [`Clock`] in `AppState`, never the system, so the same code runs in all three.

use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Clock(Arc<Kind>);

#[derive(Debug)]
enum Kind {
    System,
    /// Store time that a driver moves ([`Clock::set`]) or that runs on its own at a speed
    /// ([`Clock::run`]).
    Virtual(Mutex<Virtual>),
}

#[derive(Debug, Clone, Copy)]
struct Virtual {
    /// Store time at `origin`.
    at: Timestamp,
    origin: std::time::Instant,
    /// Store seconds per real second; `None` while a driver moves the clock itself.
    speed: Option<f64>,
}

impl Virtual {
    fn now(&self) -> Timestamp {
        match self.speed {
            None => self.at,
            Some(speed) => {
                let gone = self.origin.elapsed().as_secs_f64() * speed;
                self.at
                    .checked_add(SignedDuration::from_secs_f64(gone))
                    .unwrap_or(self.at)
            }
        }
    }
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
        let c = Self::manual(start);
        c.run(speed);
        c
    }

    /// Store time that stands at `start` until [`Clock::set`] moves it.
    pub fn manual(start: Timestamp) -> Self {
        Self(Arc::new(Kind::Virtual(Mutex::new(Virtual {
            at: start,
            origin: std::time::Instant::now(),
            speed: None,
        }))))
    }

    fn virtual_time(&self) -> Option<std::sync::MutexGuard<'_, Virtual>> {
        match &*self.0 {
            Kind::System => None,
            Kind::Virtual(v) => Some(v.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.virtual_time().map_or_else(Timestamp::now, |v| v.now())
    }

    /// Moves a manual clock to `t` (never backwards). Other clocks ignore it.
    pub fn set(&self, t: Timestamp) {
        if let Some(mut v) = self.virtual_time()
            && v.speed.is_none()
        {
            v.at = v.at.max(t);
        }
    }

    /// From now on, runs on its own at `speed` store seconds per real second (a manual clock
    /// that has caught up, say). The system clock ignores it.
    pub fn run(&self, speed: f64) {
        if let Some(mut v) = self.virtual_time() {
            *v = Virtual {
                at: v.now(),
                origin: std::time::Instant::now(),
                speed: Some(speed.max(f64::MIN_POSITIVE)),
            };
        }
    }

    /// Whether a driver moves this clock itself (a simulation): nobody reads its pages
    /// between moves, so they are rendered only when something changed.
    pub fn is_manual(&self) -> bool {
        self.virtual_time().is_some_and(|v| v.speed.is_none())
    }

    /// Store seconds per real second.
    pub fn speed(&self) -> f64 {
        self.virtual_time().and_then(|v| v.speed).unwrap_or(1.0)
    }

    /// The real time a worker waits for `store_time` to pass on this clock (at least
    /// [`SHORTEST_PAUSE`] on a fast clock; a manual clock's driver calls workers itself).
    pub fn pause(&self, store_time: Duration) -> Duration {
        match self.speed() {
            speed if speed > 1.0 => store_time.div_f64(speed).max(SHORTEST_PAUSE),
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
        assert!(c.is_manual());
        c.run(60.0);
        assert!(!c.is_manual());
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.now() > t1, "runs on its own once told to");
        c.set(t1 + SignedDuration::from_hours(100));
        assert!(
            c.now() < t1 + SignedDuration::from_hours(1),
            "a running clock is not set"
        );
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
