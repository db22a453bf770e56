//! The suite under Criterion (`cargo bench`): every benchmark through `iter_custom`,
//! then the side file that tells the baseline store which benchmarks ran, in which
//! environment, in which unit, with which deterministic metrics.

use std::collections::BTreeSet;
use std::time::Duration;

use criterion::{Criterion, SamplingMode};

use super::protocol::BenchMode;
use super::suite::Suite;
use crate::gate::run_record::{GroupRecord, criterion_dir};

/// Criterion's configuration for `mode`. HTML reports stay on.
fn config(mode: BenchMode) -> Criterion {
    let c = Criterion::default();
    match mode {
        // Fewer bootstrap resamples for Criterion's own report: the gate uses the raw
        // samples, and 100,000 resamples cost about a second per benchmark.
        BenchMode::Quick => c
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .nresamples(10_000),
        BenchMode::Full => c
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4)),
    }
}

/// Whether this is a measuring run: `cargo bench` passes `--bench`; `cargo test`
/// runs each routine once without samples, and `--list` runs none.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
        && !std::env::args().any(|a| a == "--list" || a == "--test")
}

/// Runs `suite` under Criterion, honouring its command line (filters, `--list`,
/// `--test`, baselines), then writes the side file of what ran.
pub(super) fn run(mut suite: Suite) {
    let mode = suite.mode;
    let mut c = config(mode).configure_from_args();
    // Started before the first sample, so that the gate can tell this run's samples
    // from an earlier run's.
    let record = measuring().then(|| {
        let env = suite
            .fingerprint()
            .unwrap_or_else(|e| panic!("environment fingerprint of group {}: {e}", suite.group));
        GroupRecord::start(&suite.group, env)
    });
    let mut ran = BTreeSet::new();
    {
        let mut group = c.benchmark_group(suite.group.clone());
        for entry in &mut suite.entries {
            let o = entry.options.clone();
            if o.unbatched {
                // Each iteration is a process (a kernel-cold one takes a second): few
                // samples, one iteration each, a short warm-up.
                group.sampling_mode(SamplingMode::Flat);
                group.warm_up_time(match mode {
                    BenchMode::Quick => Duration::from_millis(100),
                    BenchMode::Full => Duration::from_millis(500),
                });
            } else {
                group.sampling_mode(SamplingMode::Auto);
                group.warm_up_time(match mode {
                    BenchMode::Quick => Duration::from_millis(300),
                    BenchMode::Full => Duration::from_secs(1),
                });
            }
            group.sample_size(o.sample_size.unwrap_or(match (mode, o.unbatched) {
                (BenchMode::Quick, _) => 10,
                (BenchMode::Full, true) => 20,
                (BenchMode::Full, false) => 30,
            }));
            let id = entry.id.clone();
            group.bench_function(entry.name.clone(), |b| {
                // Criterion calls this only for benchmarks its filter keeps.
                let routine = entry.routine(mode).unwrap_or_else(|e| panic!("{e}"));
                ran.insert(id.clone());
                b.iter_custom(&mut *routine);
            });
        }
        group.finish();
    }
    if let Some(record) = record.filter(|_| !ran.is_empty()) {
        write_record(record, &suite, &ran);
    }
    c.final_summary();
}

fn write_record(mut record: GroupRecord, suite: &Suite, ran: &BTreeSet<String>) {
    for e in suite.entries.iter().filter(|e| ran.contains(&e.id)) {
        record.ran(&e.id, e.options.unit);
        for (name, value) in e.metrics.snapshot() {
            record.metric(&e.id, &name, value);
        }
    }
    match record.write(&criterion_dir()) {
        Ok(p) => println!("side file: {}", p.display()),
        Err(e) => eprintln!("warning: {e}"),
    }
}
