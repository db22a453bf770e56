//! A test-only knob that makes the encoder's forward pass slower by a chosen fraction,
//! so that the regression gate's detection rate can be measured rather than asserted.
//!
//! `COLDSTART_INJECT_SLOWDOWN=0.10` makes every [`Encoder::forward`] spin for 10 % of
//! the time the previous pass took, before it starts: the slowdown scales with the
//! workload on any machine. Unset (or `0`), it costs one cached lookup.
//!
//! [`Encoder::forward`]: crate::encoder::Encoder::forward
//!
//! ```
//! use std::time::Duration;
//! use mlx_fixtures::slowdown::Slowdown;
//!
//! let s = Slowdown::parse("0.25").unwrap();
//! assert_eq!(s.extra(Duration::from_millis(40)), Duration::from_millis(10));
//! assert!(Slowdown::parse("-1").is_err());
//! ```

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable that sets the fraction.
pub const ENV: &str = "COLDSTART_INJECT_SLOWDOWN";

/// A fractional slowdown (0 = none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slowdown(f64);

impl Slowdown {
    /// Parses a fraction between 0 and 10 (`0.1` = 10 % slower).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().parse::<f64>() {
            Ok(f) if (0.0..=10.0).contains(&f) => Ok(Slowdown(f)),
            _ => Err(format!(
                "{ENV}={s:?} is not a fraction between 0 and 10 (0.1 means 10 % slower)"
            )),
        }
    }

    /// The knob as the environment sets it, read once per process.
    ///
    /// # Panics
    /// On a malformed value: a measurement with a silently ignored knob would be wrong.
    pub fn from_env() -> Slowdown {
        static KNOB: OnceLock<Slowdown> = OnceLock::new();
        *KNOB.get_or_init(|| match std::env::var(ENV) {
            Ok(v) => Slowdown::parse(&v).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => Slowdown(0.0),
        })
    }

    /// The extra time owed for work that took `took`.
    pub fn extra(self, took: Duration) -> Duration {
        took.mul_f64(self.0)
    }

    /// Spins (rather than sleeps, whose granularity would distort short passes) for
    /// the extra time owed for work that took `took`.
    pub fn spin_for(self, took: Duration) {
        if self.0 > 0.0 {
            let until = Instant::now() + self.extra(took);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
}
