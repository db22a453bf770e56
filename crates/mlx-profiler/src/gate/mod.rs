//! The regression gate: the baseline store and the comparison of a benchmark run
//! with it.
//!
//! The benches (`benches/` of the workspace) run under Criterion and write a side
//! file per group ([`run_record`]) with the environment ([`environment`]) and
//! deterministic metrics; [`run::BenchRun`] reads a run back from Criterion's raw
//! samples and those files; [`baseline`] stores a run per environment;
//! [`verdict::compare`] judges each benchmark with [`statistics`] under the
//! committed [`thresholds`]; [`formats`] writes the result. The CLI is `mlx-bench`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::path::PathBuf;
//! use mlx_profiler::gate::{baseline::{Baseline, Chosen}, run::{BenchRun, Measured},
//!     thresholds::GateThresholds, verdict::{compare, Verdict}};
//! # let environment = mlx_profiler::gate::environment::Fingerprint {
//! #     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(), cpu: "c".into(),
//! #     cores: 2, mlx: "0.32.2".into(), mlx_rs: "0.33.0".into(), blas: "OpenBLAS".into(),
//! #     fixture_weights: "ab".into(), mode: "quick".into() };
//! let run = |scale: f64| BenchRun {
//!     environment: environment.clone(),
//!     benchmarks: BTreeMap::from([("warm/forward_tiny".to_string(), Measured {
//!         samples_ns: (0..10).map(|i| scale * (1000.0 + (i * 7 % 10) as f64)).collect(),
//!         metrics: BTreeMap::new(),
//!     })]),
//! };
//! let chosen = Chosen { path: PathBuf::from("b.json"), baseline: Baseline::of(&run(1.0)),
//!                       differences: vec![] };
//! let slower = compare(&chosen, &run(1.3), &GateThresholds::default());
//! assert_eq!(slower.benchmarks[0].verdict, Verdict::Regressed);
//! let same = compare(&chosen, &run(1.0), &GateThresholds::default());
//! assert_eq!(same.benchmarks[0].verdict, Verdict::Unchanged);
//! ```

pub mod baseline;
pub mod environment;
pub mod error;
pub mod formats;
pub mod run;
pub mod run_record;
pub mod statistics;
pub mod thresholds;
pub mod verdict;
