//! One benchmark run as the gate sees it: Criterion's raw samples of every benchmark
//! the side files say ran, with their deterministic metrics and the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::environment::Fingerprint;
use super::error::GateError;
use super::run_record::{GroupRecord, RECORD_DIR};
use crate::bench::protocol::Unit;

/// The fewest samples a side of a comparison may have: below it no interval at the
/// gate's confidence exists, so fewer is an input error, not a verdict.
pub const MIN_SAMPLES: usize = 5;

/// The measurements of one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Mean time per iteration of each Criterion sample, nanoseconds (for a
    /// [`Unit::Ratio`] benchmark, the ratio's carrier time).
    pub samples_ns: Vec<f64>,
    /// Unit of the figure.
    #[serde(default)]
    pub unit: Unit,
    /// Deterministic metrics by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRun {
    /// Where it ran.
    pub environment: Fingerprint,
    /// Benchmark id → measurements.
    pub benchmarks: BTreeMap<String, Measured>,
}

/// Criterion's `sample.json`.
#[derive(Deserialize)]
struct CriterionSamples {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// Criterion's `benchmark.json` (the fields we use).
#[derive(Deserialize)]
struct CriterionBenchmark {
    full_id: String,
}

impl BenchRun {
    /// Reads the run in Criterion's output directory `dir`: every group that left a
    /// side file there.
    pub fn read(dir: &Path) -> Result<Self, GateError> {
        Self::read_groups(dir, None)
    }

    /// [`BenchRun::read`] of the named groups only (`None`: all). Another package's
    /// benches sharing the target directory (an example project's, a user's) leave
    /// side files of their own groups, from another run and other fixtures; a gate of
    /// this package's groups must not mix them in.
    pub fn read_groups(dir: &Path, groups: Option<&[String]>) -> Result<Self, GateError> {
        let fix_run = "run the benches first (cargo xtask bench, or cargo bench)";
        if !dir.is_dir() {
            return Err(GateError::bad(dir, "no Criterion output here", fix_run));
        }
        let records_dir = dir.join(RECORD_DIR);
        let mut records = Vec::new();
        for p in super::error::entries(&records_dir, "make it readable, or run the benches again")?
        {
            if p.extension().is_some_and(|e| e == "json") {
                let record = GroupRecord::read(&p)?;
                if groups.is_none_or(|g| g.contains(&record.group)) {
                    records.push(record);
                }
            }
        }
        if records.is_empty() {
            return Err(GateError::bad(
                &records_dir,
                "no bench side files (the benches of this workspace write one per group)",
                fix_run,
            ));
        }
        records.sort_by(|a, b| a.group.cmp(&b.group));
        let environment = records[0].environment.clone();
        for r in &records[1..] {
            if r.environment != environment {
                return Err(GateError::bad(
                    &records_dir,
                    format!(
                        "groups {} and {} ran in different environments ({})",
                        records[0].group,
                        r.group,
                        environment.differences(&r.environment).join(", ")
                    ),
                    "run every group again in one environment",
                ));
            }
        }
        let found = criterion_benchmarks(dir)?;
        let mut benchmarks = BTreeMap::new();
        for r in &records {
            for (id, recorded) in &r.benchmarks {
                let bench_dir = found.get(id).ok_or_else(|| {
                    GateError::bad(
                        dir,
                        format!(
                            "group {} ran {id}, but Criterion has no result for it",
                            r.group
                        ),
                        fix_run,
                    )
                })?;
                let sample_file = bench_dir.join("sample.json");
                let samples_ns = read_samples(&sample_file, r.started_unix_ms)?;
                let measured = Measured {
                    samples_ns,
                    unit: recorded.unit,
                    metrics: recorded.metrics.clone(),
                };
                measured
                    .check(id)
                    .map_err(|e| GateError::bad(&sample_file, e, fix_run))?;
                benchmarks.insert(id.clone(), measured);
            }
        }
        Ok(BenchRun {
            environment,
            benchmarks,
        })
    }
}

/// Full id → the `new/` directory of every benchmark Criterion has results for.
fn criterion_benchmarks(dir: &Path) -> Result<BTreeMap<String, PathBuf>, GateError> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for p in super::error::entries(&d, "make Criterion's directory readable")? {
            if !p.is_dir() {
                continue;
            }
            let name = p.file_name().unwrap_or_default().to_os_string();
            if name == RECORD_DIR || name == "report" {
                continue;
            }
            let meta = p.join("benchmark.json");
            if name == "new" && meta.is_file() {
                let text = std::fs::read_to_string(&meta)
                    .map_err(|e| GateError::bad(&meta, e.to_string(), "run the benches again"))?;
                let b: CriterionBenchmark = serde_json::from_str(&text).map_err(|e| {
                    GateError::bad(
                        &meta,
                        format!("not Criterion's benchmark.json: {e}"),
                        "delete target/criterion and run the benches again",
                    )
                })?;
                out.insert(b.full_id, p);
            } else if name != "base" && name != "change" {
                todo.push(p);
            }
        }
    }
    Ok(out)
}

/// Per-iteration means of a `sample.json`, checked.
fn read_samples(path: &Path, started_unix_ms: u64) -> Result<Vec<f64>, GateError> {
    let fix = "delete target/criterion and run the benches again";
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| GateError::bad(path, format!("unreadable: {e}"), fix))?;
    let modified_ms = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // A little slack for file systems with coarse timestamps.
    if modified_ms + 2_000 < started_unix_ms {
        return Err(GateError::bad(
            path,
            "older than the run that lists it (left over from an earlier run)",
            fix,
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| GateError::bad(path, format!("unreadable: {e}"), fix))?;
    let s: CriterionSamples = serde_json::from_str(&text)
        .map_err(|e| GateError::bad(path, format!("not Criterion's sample.json: {e}"), fix))?;
    if s.iters.len() != s.times.len() || s.iters.is_empty() {
        return Err(GateError::bad(
            path,
            format!(
                "{} iteration counts for {} times",
                s.iters.len(),
                s.times.len()
            ),
            fix,
        ));
    }
    s.iters
        .iter()
        .zip(&s.times)
        .map(|(&n, &t)| {
            // A zero time is as impossible as a negative one, here as in a baseline.
            if n.is_finite() && t.is_finite() && n > 0.0 && t > 0.0 {
                Ok(t / n)
            } else {
                Err(GateError::bad(
                    path,
                    format!("impossible sample: {t} ns over {n} iterations"),
                    fix,
                ))
            }
        })
        .collect()
}
