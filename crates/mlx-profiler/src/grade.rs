//! Grades against thresholds: Excellent / Good / Acceptable / Poor per metric, and
//! an overall grade (the worst). Defaults are the original design's; a TOML file
//! can override them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;

/// A grade, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Under the first threshold.
    Excellent,
    /// Under the second.
    Good,
    /// Under the third.
    Acceptable,
    /// Above all three.
    Poor,
}

/// Three upper bounds: excellent, good, acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Below this: excellent.
    pub excellent: f64,
    /// Below this: good.
    pub good: f64,
    /// Below this: acceptable; at or above: poor.
    pub acceptable: f64,
}

impl Bounds {
    /// The grade of `value`.
    pub fn grade(&self, value: f64) -> Grade {
        if value < self.excellent {
            Grade::Excellent
        } else if value < self.good {
            Grade::Good
        } else if value < self.acceptable {
            Grade::Acceptable
        } else {
            Grade::Poor
        }
    }
}

/// All thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Cold start, seconds.
    pub cold_start_seconds: Bounds,
    /// Memory overhead of MLX over the process baseline, MiB.
    pub memory_overhead_mib: Bounds,
    /// Share of test time spent in MLX start-up, percent.
    pub test_impact_percent: Bounds,
}

impl Default for Thresholds {
    /// The original design's: 5/10/20 s, 100/150/300 MB, 15/25/50 %.
    fn default() -> Self {
        Thresholds {
            cold_start_seconds: Bounds {
                excellent: 5.0,
                good: 10.0,
                acceptable: 20.0,
            },
            memory_overhead_mib: Bounds {
                excellent: 100.0,
                good: 150.0,
                acceptable: 300.0,
            },
            test_impact_percent: Bounds {
                excellent: 15.0,
                good: 25.0,
                acceptable: 50.0,
            },
        }
    }
}

impl Thresholds {
    /// Reads a TOML file with all three tables (see docs/formats/profile.md, "Thresholds file").
    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError::io("read the thresholds file", path, e))?;
        let t: Thresholds = toml::from_str(&text).map_err(|e| ProfileError::BadInput {
            what: path.display().to_string(),
            detail: format!("{e}; expected tables cold_start_seconds, memory_overhead_mib and test_impact_percent, each with excellent, good and acceptable"),
        })?;
        for (name, b) in [
            ("cold_start_seconds", t.cold_start_seconds),
            ("memory_overhead_mib", t.memory_overhead_mib),
            ("test_impact_percent", t.test_impact_percent),
        ] {
            if !(b.excellent <= b.good && b.good <= b.acceptable) {
                return Err(ProfileError::BadInput {
                    what: format!("{} [{name}]", path.display()),
                    detail: "bounds must grow: excellent <= good <= acceptable".into(),
                });
            }
        }
        Ok(t)
    }
}

/// One graded metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricGrade {
    /// Metric name.
    pub metric: String,
    /// Measured value (in the threshold's unit), or `None` when not measured.
    pub value: Option<f64>,
    /// Unit.
    pub unit: String,
    /// Grade, when measured.
    pub grade: Option<Grade>,
}

/// The worst grade among measured metrics.
pub fn overall(grades: &[MetricGrade]) -> Option<Grade> {
    grades.iter().filter_map(|g| g.grade).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grade_at_their_edges() {
        let b = Thresholds::default().cold_start_seconds;
        assert_eq!(b.grade(4.99), Grade::Excellent);
        assert_eq!(b.grade(5.0), Grade::Good);
        assert_eq!(b.grade(19.9), Grade::Acceptable);
        assert_eq!(b.grade(20.0), Grade::Poor);
    }

    #[test]
    fn overall_is_the_worst_measured() {
        let g = |grade| MetricGrade {
            metric: "m".into(),
            value: Some(1.0),
            unit: "s".into(),
            grade,
        };
        assert_eq!(
            overall(&[
                g(Some(Grade::Excellent)),
                g(Some(Grade::Acceptable)),
                g(None)
            ]),
            Some(Grade::Acceptable)
        );
        assert_eq!(overall(&[g(None)]), None);
    }

    #[test]
    fn thresholds_file_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.toml");
        std::fs::write(&f, "[cold_start_seconds]\nexcellent = 1.0\ngood = 2.0\nacceptable = 3.0\n[memory_overhead_mib]\nexcellent = 10.0\ngood = 20.0\nacceptable = 30.0\n[test_impact_percent]\nexcellent = 1.0\ngood = 2.0\nacceptable = 3.0\n").unwrap();
        assert_eq!(
            Thresholds::from_file(&f)
                .unwrap()
                .cold_start_seconds
                .grade(1.5),
            Grade::Good
        );
        std::fs::write(&f, "[cold_start_seconds]\nexcellent = 3.0\ngood = 2.0\nacceptable = 1.0\n[memory_overhead_mib]\nexcellent = 10.0\ngood = 20.0\nacceptable = 30.0\n[test_impact_percent]\nexcellent = 1.0\ngood = 2.0\nacceptable = 3.0\n").unwrap();
        let err = Thresholds::from_file(&f).unwrap_err().to_string();
        assert!(
            err.contains("must grow") && err.contains("cold_start_seconds"),
            "{err}"
        );
        std::fs::write(&f, "cold_start = 1").unwrap();
        let err = Thresholds::from_file(&f).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("t.toml"));
    }
}
