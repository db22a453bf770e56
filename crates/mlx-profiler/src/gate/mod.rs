//! The regression gate: the baseline store and the verdict on a candidate.
//!
//! Two ways to get the baseline's figures, one verdict:
//! - **A/B** ([`ab`], the default): the baseline revision's bench executables and the
//!   candidate's run side by side, in alternation, and each change is judged on the
//!   paired ratios ([`statistics::clustered`]). Needs only the baseline's commit, so it
//!   works on any runner, and the machine's drift cancels.
//! - **Stored** ([`stored`]): this run's Criterion samples against those stored in a
//!   baseline file ([`baseline`]), judged on two independent samples
//!   ([`statistics::compare`]). No rebuild; valid on a quiet, dedicated machine of
//!   the baseline's environment ([`environment`]).
//!
//! Either way [`verdict`] applies the committed [`thresholds`] and [`formats`] writes
//! the result. [`replay`] replays the A/B gate on recorded A/A rounds to measure its
//! false-alarm rate and power. The benches write one side file per group ([`run_record`]), which
//! [`run::BenchRun`] reads back with Criterion's raw samples.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::path::PathBuf;
//! use mlx_profiler::gate::{baseline::{Baseline, Chosen}, run::{BenchRun, Measured},
//!     stored, thresholds::GateThresholds, verdict::Verdict};
//! use mlx_profiler::provenance::Provenance;
//! # let environment = mlx_profiler::gate::environment::Fingerprint {
//! #     os: "linux".into(), arch: "x86_64".into(), backend: "cpu".into(), cpu: "c".into(),
//! #     cores: 2, mlx: "0.32.2".into(), mlx_rs: "0.33.0".into(), blas: "OpenBLAS".into(),
//! #     fixture_weights: "ab".into(), mode: "quick".into() };
//! let run = |scale: f64| BenchRun {
//!     environment: environment.clone(),
//!     benchmarks: BTreeMap::from([("warm/forward_tiny".to_string(), Measured {
//!         samples_ns: (0..10).map(|i| scale * (1000.0 + (i * 7 % 10) as f64)).collect(),
//!         unit: Default::default(),
//!         metrics: BTreeMap::new(),
//!     })]),
//! };
//! let when = Provenance::fixed("2026-11-26T00:00:00Z");
//! let chosen = Chosen { path: PathBuf::from("b.json"), baseline: Baseline::of(&run(1.0), when.clone()),
//!                       differences: vec![] };
//! let t = GateThresholds::default();
//! let slower = stored::compare(&chosen, &run(1.3), &t, &Default::default(), when.clone());
//! assert_eq!(slower.benchmarks[0].verdict, Verdict::Regressed);
//! assert!(slower.regressed());
//! let same = stored::compare(&chosen, &run(1.0), &t, &Default::default(), when.clone());
//! assert_eq!(same.benchmarks[0].verdict, Verdict::Unchanged);
//! // `--only` holds for the stored comparison too: what it leaves out is skipped.
//! let only = mlx_profiler::gate::filter::Only(vec!["cold/".into()]);
//! let left_out = stored::compare(&chosen, &run(1.3), &t, &only, when);
//! assert_eq!(left_out.benchmarks[0].verdict, Verdict::Skipped);
//! assert!(!left_out.regressed());
//! ```

pub mod ab;
pub mod baseline;
pub mod command;
pub mod environment;
pub mod error;
pub mod filter;
pub mod formats;
pub mod json_check;
pub mod noise_floor;
pub mod replay;
pub mod run;
pub mod run_record;
pub mod statistics;
pub mod stored;
pub mod thresholds;
pub mod verdict;
