//! Cold- and warm-start profiling of MLX.
//!
//! The profiler measures where MLX start-up time goes, phase by phase. This first
//! part is the timing core every measurement goes through: a [`clock::Clock`]
//! abstraction (a monotonic clock for real runs, a manual clock for deterministic
//! tests) and the [`phases::PhaseRecorder`] that turns timestamps into phase
//! durations.
//!
//! ```
//! use std::time::Duration;
//! use mlx_profiler::clock::ManualClock;
//! use mlx_profiler::phases::PhaseRecorder;
//!
//! let clock = ManualClock::default();
//! let mut rec = PhaseRecorder::start(&clock);
//! clock.advance(Duration::from_millis(250));
//! rec.mark("runtime init");
//! clock.advance(Duration::from_millis(40));
//! rec.mark("first eval");
//! let phases = rec.finish();
//! assert_eq!(phases.get("runtime init"), Some(Duration::from_millis(250)));
//! assert_eq!(phases.total(), Duration::from_millis(290));
//! ```
#![warn(missing_docs)]

pub mod clock;
pub mod phases;
