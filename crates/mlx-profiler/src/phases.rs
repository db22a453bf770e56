//! Phases of a start-up: named, consecutive spans between marks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// One phase: its name, when it began (relative to the recording's start) and how
/// long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// Name, e.g. `runtime init`.
    pub name: String,
    /// Offset of the phase's start from the recording's start.
    pub start: Duration,
    /// Length of the phase.
    pub duration: Duration,
}

/// Phases in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// The phases, consecutive and non-overlapping.
    pub phases: Vec<Phase>,
}

impl PhaseTimings {
    /// Duration of the phase called `name`, if it was recorded.
    pub fn get(&self, name: &str) -> Option<Duration> {
        self.phases
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.duration)
    }

    /// Sum of all phases (the span from start to the last mark).
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The phases ordered by duration, longest first, with each one's share of the
    /// total in [0, 1]: the raw material of bottleneck ranking.
    pub fn ranked(&self) -> Vec<(&Phase, f64)> {
        let total = self.total().as_secs_f64();
        let mut ranked: Vec<(&Phase, f64)> = self
            .phases
            .iter()
            .map(|p| {
                (
                    p,
                    if total > 0.0 {
                        p.duration.as_secs_f64() / total
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        ranked.sort_by_key(|r| std::cmp::Reverse(r.0.duration));
        ranked
    }
}

/// Records consecutive phases: each [`mark`](PhaseRecorder::mark) ends the phase
/// that began at the previous mark (or at the start).
pub struct PhaseRecorder<'c, C: Clock> {
    clock: &'c C,
    origin: Duration,
    last: Duration,
    timings: PhaseTimings,
}

impl<'c, C: Clock> PhaseRecorder<'c, C> {
    /// Starts recording now.
    pub fn start(clock: &'c C) -> Self {
        let origin = clock.now();
        PhaseRecorder {
            clock,
            origin,
            last: origin,
            timings: PhaseTimings::default(),
        }
    }

    /// Ends the current phase and names it.
    pub fn mark(&mut self, name: impl Into<String>) {
        let now = self.clock.now();
        self.timings.phases.push(Phase {
            name: name.into(),
            start: self.last - self.origin,
            duration: now - self.last,
        });
        self.last = now;
    }

    /// The recorded phases.
    pub fn finish(self) -> PhaseTimings {
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn phases_are_consecutive_and_ranked() {
        let clock = ManualClock::default();
        clock.advance(ms(1000)); // the recording starts later than the clock's origin
        let mut rec = PhaseRecorder::start(&clock);
        for (name, d) in [
            ("spawn", 10),
            ("init", 300),
            ("first forward", 540),
            ("second forward", 31),
        ] {
            clock.advance(ms(d));
            rec.mark(name);
        }
        let t = rec.finish();
        assert_eq!(t.phases[0].start, Duration::ZERO);
        assert_eq!(t.phases[2].start, ms(310));
        assert_eq!(t.total(), ms(881));
        let ranked = t.ranked();
        assert_eq!(ranked[0].0.name, "first forward");
        assert!((ranked[0].1 - 540.0 / 881.0).abs() < 1e-12);
        assert_eq!(ranked.last().unwrap().0.name, "spawn");
    }

    #[test]
    fn empty_recording_has_no_shares() {
        let clock = ManualClock::default();
        let t = PhaseRecorder::start(&clock).finish();
        assert_eq!(t.total(), Duration::ZERO);
        assert!(t.ranked().is_empty());
        assert_eq!(t.get("x"), None);
    }

    #[test]
    fn timings_round_trip_through_json() {
        let clock = ManualClock::default();
        let mut rec = PhaseRecorder::start(&clock);
        clock.advance(ms(3));
        rec.mark("a");
        let t = rec.finish();
        let back: PhaseTimings = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
