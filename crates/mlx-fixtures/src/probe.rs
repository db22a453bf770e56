//! The probe protocol: what `mlx-probe` prints on stdout, one JSON document per run.
//!
//! The profiler spawns `mlx-probe` in a fresh process (a cold start can only be
//! measured in one) and reads this document back. Timestamps are `CLOCK_MONOTONIC`
//! nanoseconds, which both processes read from the same system clock, so the parent
//! can measure spawn-to-main too.

use serde::{Deserialize, Serialize};

/// Version of the probe document format.
pub const PROBE_SCHEMA_VERSION: u32 = 1;

/// The phases a probe marks, in order. Each mark ends the phase of that name.
pub const PHASES: [&str; 8] = [
    "main",
    "runtime_init",
    "first_eval",
    "weights_load",
    "first_forward",
    "second_forward",
    "second_instance",
    "teardown",
];

/// One phase mark: when it ended and the memory at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseMark {
    /// Phase name (one of [`PHASES`]).
    pub name: String,
    /// `CLOCK_MONOTONIC` nanoseconds when the phase ended.
    pub at_ns: u64,
    /// Resident set size of the process, bytes.
    pub rss_bytes: u64,
    /// MLX active bytes (0 before MLX is initialised).
    pub mlx_active_bytes: u64,
    /// MLX peak bytes.
    pub mlx_peak_bytes: u64,
    /// MLX buffer-cache bytes.
    pub mlx_cache_bytes: u64,
    /// When the phase began, for a phase with its own start (a program's span, which
    /// need not follow the previous mark); `None`: at the previous mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<u64>,
}

/// One reading of the memory sampler that runs beside the phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySample {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub at_ns: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

impl PhaseMark {
    /// A mark named `name` taken now. With `mlx_started` false the MLX figures are
    /// reported as zero instead of read, since reading them would initialise MLX.
    pub fn now(name: &str, mlx_started: bool) -> Self {
        Self::at(name, monotonic_ns(), mlx_started)
    }

    /// A mark with a timestamp taken earlier (the probe's entry into `main`).
    pub fn at(name: &str, at_ns: u64, mlx_started: bool) -> Self {
        let rss_bytes = memory_stats::memory_stats().map_or(0, |m| m.physical_mem as u64);
        let mlx = |f: fn() -> mlx_rs::error::Result<usize>| {
            if mlx_started {
                f().unwrap_or(0) as u64
            } else {
                0
            }
        };
        PhaseMark {
            name: name.to_string(),
            at_ns,
            rss_bytes,
            mlx_active_bytes: mlx(mlx_rs::memory::active_memory),
            mlx_peak_bytes: mlx(mlx_rs::memory::peak_memory),
            mlx_cache_bytes: mlx(mlx_rs::memory::cache_memory),
            start_ns: None,
        }
    }
}

/// A successful probe run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The fixture it ran (`tiny`).
    pub fixture: String,
    /// MLX's device (`Device(cpu, 0)`).
    pub device: String,
    /// The probe's process id.
    pub pid: u32,
    /// Phase marks in order.
    pub phases: Vec<PhaseMark>,
    /// RSS sampled about every millisecond from `main` to teardown by a thread that
    /// never calls MLX (so it cannot change when MLX initialises).
    #[serde(default)]
    pub timeline: Vec<MemorySample>,
}

/// What the probe prints: its result or the failure that stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Every phase ran.
    Ok(ProbeReport),
    /// MLX (or the fixture) failed in `phase`.
    Error {
        /// The phase that failed.
        phase: String,
        /// The error, with its sources.
        message: String,
    },
}

/// The document on the probe's stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeDocument {
    /// [`PROBE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the marks client's clock, one definition.
pub use mlx_manager::marks::monotonic_ns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_with_an_outcome_tag() {
        let doc = ProbeDocument {
            schema_version: PROBE_SCHEMA_VERSION,
            outcome: ProbeOutcome::Error {
                phase: "weights_load".into(),
                message: "no such file".into(),
            },
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains("\"outcome\":\"error\""), "{text}");
        assert_eq!(serde_json::from_str::<ProbeDocument>(&text).unwrap(), doc);
    }
}
