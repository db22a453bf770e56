//! Cold- and warm-start profiling of MLX.
//!
//! A cold start can only be measured in a fresh process: the profiler spawns the
//! `mlx-probe` binary (from mlx-fixtures) under explicit cache states
//! ([`cache_state`]), reads its phase marks ([`probe_runner`]), summarises them
//! ([`cold`]), finds bottlenecks and suggestions ([`analysis`]), grades the result
//! ([`grade`]) into a [`report::Profile`], and writes it out ([`export`]). The CLI is
//! `mlx-profile`.
//!
//! The timing core: a [`clock::Clock`] (monotonic for real runs, manual for
//! deterministic tests) and the [`phases::PhaseRecorder`].
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

pub mod analysis;
pub mod cache_state;
pub mod clock;
pub mod cold;
pub mod error;
pub mod export;
pub mod gate;
pub mod grade;
pub mod page_cache;
pub mod phases;
pub mod probe_runner;
pub mod report;
