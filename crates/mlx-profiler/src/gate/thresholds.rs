//! Per-benchmark thresholds of the gate, from a committed TOML file
//! (`benches/thresholds.toml`), so that a noisy benchmark can demand a larger change
//! than a quiet one, and each exception says why.
//!
//! ```
//! use mlx_profiler::gate::thresholds::GateThresholds;
//!
//! let t = GateThresholds::parse(r#"
//!     [defaults]
//!     threshold = 0.10
//!     [benchmarks."cold/process_ready"]
//!     threshold = 0.30
//!     why = "process spawns vary with the machine's load"
//!     [metrics.mlx_peak_bytes]
//!     tolerance = 0.01
//! "#, "example").unwrap();
//! assert_eq!(t.time_threshold("cold/process_ready"), 0.30);
//! assert_eq!(t.time_threshold("warm/forward_tiny"), 0.10);
//! assert_eq!(t.metric_tolerance("mlx_peak_bytes"), 0.01);
//! assert_eq!(t.metric_tolerance("instances_built"), 0.0);
//! assert!(!t.advisory("cold/process_ready"));
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::GateError;

/// Defaults for every benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Relative change a time must exceed to count (0.10 = 10 %).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Confidence level of the change's interval; the test's significance level is
    /// one minus it.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Relative increase a deterministic metric may show (0 = none).
    #[serde(default)]
    pub metric_tolerance: f64,
    /// Whether time verdicts are advisory by default (reported, never failing).
    #[serde(default)]
    pub advisory: bool,
}

fn default_threshold() -> f64 {
    0.10
}
fn default_confidence() -> f64 {
    0.99
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            threshold: default_threshold(),
            confidence: default_confidence(),
            metric_tolerance: 0.0,
            advisory: false,
        }
    }
}

/// An exception for one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkThreshold {
    /// Its time threshold.
    pub threshold: f64,
    /// Report its time verdict without failing the gate on it (its deterministic
    /// metrics still count): for absolute times on a machine too noisy to hold them.
    #[serde(default)]
    pub advisory: Option<bool>,
    /// Why it differs from the default (shown in reviews, not used).
    #[serde(default)]
    pub why: String,
}

/// An exception for one deterministic metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTolerance {
    /// Relative increase allowed.
    pub tolerance: f64,
    /// Why.
    #[serde(default)]
    pub why: String,
}

/// The whole thresholds file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateThresholds {
    /// Defaults.
    #[serde(default)]
    pub defaults: Defaults,
    /// Per benchmark id.
    #[serde(default)]
    pub benchmarks: BTreeMap<String, BenchmarkThreshold>,
    /// Per metric name.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricTolerance>,
}

impl GateThresholds {
    /// Parses the TOML text of the file named `what`, and checks the values.
    pub fn parse(text: &str, what: &str) -> Result<Self, GateError> {
        let path = Path::new(what);
        let fix = "fix the value (see benches/thresholds.toml for the format)";
        let t: GateThresholds = toml::from_str(text)
            .map_err(|e| GateError::bad(path, format!("not a thresholds file: {e}"), fix))?;
        let check = |name: &str, v: f64, ok: bool| {
            if v.is_finite() && ok {
                Ok(())
            } else {
                Err(GateError::bad(
                    path,
                    format!("{name} = {v} is out of range"),
                    fix,
                ))
            }
        };
        check(
            "defaults.threshold",
            t.defaults.threshold,
            t.defaults.threshold >= 0.0,
        )?;
        check(
            "defaults.confidence",
            t.defaults.confidence,
            t.defaults.confidence > 0.5 && t.defaults.confidence < 1.0,
        )?;
        check(
            "defaults.metric_tolerance",
            t.defaults.metric_tolerance,
            t.defaults.metric_tolerance >= 0.0,
        )?;
        for (id, b) in &t.benchmarks {
            check(
                &format!("benchmarks.{id:?}.threshold"),
                b.threshold,
                b.threshold >= 0.0,
            )?;
        }
        for (id, m) in &t.metrics {
            check(
                &format!("metrics.{id}.tolerance"),
                m.tolerance,
                m.tolerance >= 0.0,
            )?;
        }
        Ok(t)
    }

    /// Reads and checks a thresholds file.
    pub fn load(path: &Path) -> Result<Self, GateError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            GateError::bad(
                path,
                format!("unreadable: {e}"),
                "pass an existing file with --thresholds",
            )
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The time threshold of benchmark `id`.
    pub fn time_threshold(&self, id: &str) -> f64 {
        self.benchmarks
            .get(id)
            .map_or(self.defaults.threshold, |b| b.threshold)
    }

    /// Whether the time verdict of benchmark `id` is advisory.
    pub fn advisory(&self, id: &str) -> bool {
        self.benchmarks
            .get(id)
            .and_then(|b| b.advisory)
            .unwrap_or(self.defaults.advisory)
    }

    /// The tolerance of metric `name`.
    pub fn metric_tolerance(&self, name: &str) -> f64 {
        self.metrics
            .get(name)
            .map_or(self.defaults.metric_tolerance, |m| m.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_and_unknown_keys_name_the_file() {
        for (text, needle) in [
            ("[defaults]\nthreshold = -0.1\n", "defaults.threshold"),
            ("[defaults]\nconfidence = 1.0\n", "defaults.confidence"),
            ("[benchmarks.\"warm/a\"]\nthreshold = nan\n", "warm/a"),
            ("[defaults]\nthreshhold = 0.1\n", "unknown field"),
            ("[metrics.x]\ntolerance = -1\n", "metrics.x"),
        ] {
            let e = GateThresholds::parse(text, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("t.toml: ") && e.contains(needle), "{e}");
        }
        assert!(GateThresholds::parse("", "t.toml").is_ok());
    }
}
