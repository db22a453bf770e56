//! What every bench group shares: the quick/full mode, Criterion's configuration,
//! and the side file that tells the gate which benchmarks ran, where, and with which
//! deterministic metrics.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use mlx_coldstart::fixtures::encoder::{self, Preset};
use mlx_coldstart::profiler::gate::environment::Fingerprint;
use mlx_coldstart::profiler::gate::run_record::{GroupRecord, criterion_dir};

/// `COLDSTART_BENCH_MODE=quick` (or Criterion's `--quick`): every group in a few
/// seconds to a minute, for the CI gate.
pub fn quick_mode() -> bool {
    std::env::var("COLDSTART_BENCH_MODE").is_ok_and(|m| m == "quick")
        || std::env::args().any(|a| a == "--quick")
}

/// `quick` or `full`.
pub fn mode_name() -> &'static str {
    if quick_mode() { "quick" } else { "full" }
}

/// Criterion's configuration for this mode. HTML reports stay on.
pub fn config() -> Criterion {
    let c = Criterion::default();
    if quick_mode() {
        // Fewer bootstrap resamples for Criterion's own report: the gate uses the
        // raw samples, and 100,000 resamples cost about a second per benchmark.
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .nresamples(10_000)
    } else {
        c.sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
    }
}

/// The weights files the benches read (written on first use): part of the
/// environment, since a change of generator changes every figure.
pub fn fixture_weights() -> Vec<PathBuf> {
    [Preset::Tiny, Preset::Small, Preset::Base]
        .into_iter()
        .map(|p| encoder::weights_file(p).expect("fixture weights file"))
        .collect()
}

/// The side file of one group, written when it is dropped (after Criterion ran the
/// group), so that the gate knows what ran in this run. Metrics are kept only for
/// benchmarks that ran: a filtered-out benchmark has no samples of this run.
pub struct Record {
    record: GroupRecord,
    ran: BTreeSet<String>,
    metrics: Vec<(String, String, f64)>,
}

impl Record {
    /// Starts the record of `group`; detects the environment (initialises MLX).
    pub fn start(group: &str) -> Self {
        let files = fixture_weights();
        let refs: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
        let env = Fingerprint::detect(mode_name(), &refs).expect("environment fingerprint");
        Record {
            record: GroupRecord::start(group, env),
            ran: BTreeSet::new(),
            metrics: Vec::new(),
        }
    }

    /// Notes that `id` ran (call from inside the benchmark's routine: Criterion does
    /// not call filtered-out routines).
    pub fn ran(&mut self, id: &str) {
        self.ran.insert(id.to_string());
    }

    /// Records a deterministic metric of `id` (kept if `id` runs).
    pub fn metric(&mut self, id: &str, name: &str, value: f64) {
        self.metrics.push((id.into(), name.into(), value));
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // Only a measuring run (`cargo bench` passes --bench); `cargo test` runs each
        // routine once without samples, and --list runs none.
        let measuring = std::env::args().any(|a| a == "--bench")
            && !std::env::args().any(|a| a == "--list" || a == "--test");
        if self.ran.is_empty() || !measuring {
            return;
        }
        for id in &self.ran {
            self.record.ran(id);
        }
        for (id, name, value) in &self.metrics {
            if self.ran.contains(id) {
                self.record.metric(id, name, *value);
            }
        }
        match self.record.write(&criterion_dir()) {
            Ok(p) => println!("side file: {}", p.display()),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
}
