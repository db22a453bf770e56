//! Shared group: what the manager saves. `get()` on a shared instance against
//! building a fresh one, and the per-test cost of a 24-test suite (one `get()` and a
//! forward pass of the tiny MLP each) under each preset, the manager created anew for
//! every suite.
//!
//! Deterministic metric: `instances_built` per suite under each preset.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mlx_coldstart::fixtures::data;
use mlx_coldstart::fixtures::tiny::TinyModel;
use mlx_coldstart::manager::{Manager, config::Preset};

/// Tests in the simulated suite (as many as the fixture suite in tests/).
const SUITE: u64 = 24;

fn manager(preset: Preset) -> Manager<TinyModel> {
    Manager::builder(TinyModel::load).preset(preset).build()
}

/// Runs one suite of `tests` tests on `m`.
fn suite(m: &Manager<TinyModel>, tests: u64, x: &mlx_coldstart::fixtures::data::Matrix) {
    for _ in 0..tests {
        let model = m.get().expect("instance");
        black_box(model.forward(x).expect("forward"));
    }
}

fn shared(c: &mut Criterion) {
    let mut rec = common::Record::start("shared");
    let mut group = c.benchmark_group("shared");

    let balanced = manager(Preset::Balanced);
    drop(balanced.get().expect("first build"));
    group.bench_function("get/shared_hit", |b| {
        rec.ran("shared/get/shared_hit");
        b.iter(|| drop(balanced.get().expect("instance")))
    });
    let fresh = manager(Preset::Conservative);
    group.bench_function("get/fresh_build", |b| {
        rec.ran("shared/get/fresh_build");
        b.iter(|| drop(fresh.get().expect("instance")))
    });

    let x = data::matrix(8, 64, 11);
    for preset in [Preset::Conservative, Preset::Balanced, Preset::Aggressive] {
        let name = format!("{preset:?}").to_lowercase();
        let id = format!("suite_per_test/{name}");
        let full = format!("shared/{id}");
        let probe = manager(preset);
        suite(&probe, SUITE, &x);
        rec.metric(
            &full,
            "instances_built",
            probe.stats().instances_built as f64,
        );
        drop(probe);
        group.bench_function(&id, |b| {
            rec.ran(&full);
            // One iteration is one test; a new manager (a new suite) every SUITE tests,
            // its creation charged to the suite's first test.
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(SUITE);
                    let t = Instant::now();
                    let m = manager(preset);
                    suite(&m, n, &x);
                    total += t.elapsed();
                    drop(m);
                    left -= n;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group! { name = benches; config = common::config(); targets = shared }
criterion_main!(benches);
