//! Shared group: what the manager saves. `get()` on a shared instance against
//! building a fresh one, and the per-test cost of a 24-test suite (one `get()` and a
//! forward pass of the tiny MLP each) under each preset, the manager created anew for
//! every suite.
//!
//! Deterministic metric: `instances_built` per suite under each preset.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use mlx_coldstart::fixtures::data::{self, Matrix};
use mlx_coldstart::fixtures::tiny::TinyModel;
use mlx_coldstart::manager::{Manager, config::Preset};
use mlx_coldstart::profiler::bench::per_iteration;

/// Tests in the simulated suite (as many as the fixture suite in tests/).
const SUITE: u64 = 24;

fn manager(preset: Preset) -> Manager<TinyModel> {
    Manager::builder(TinyModel::load).preset(preset).build()
}

/// Runs one suite of `tests` tests on `m`.
fn suite(m: &Manager<TinyModel>, tests: u64, x: &Matrix) {
    for _ in 0..tests {
        let model = m.get().expect("instance");
        black_box(model.forward(x).expect("forward"));
    }
}

fn main() {
    let mut s = common::suite("shared");
    s.bench("get/shared_hit", |_| {
        let balanced = manager(Preset::Balanced);
        drop(balanced.get()?);
        Ok(per_iteration(move || {
            drop(balanced.get().expect("instance"))
        }))
    });
    s.bench("get/fresh_build", |_| {
        let fresh = manager(Preset::Conservative);
        Ok(per_iteration(move || drop(fresh.get().expect("instance"))))
    });
    for preset in [Preset::Conservative, Preset::Balanced, Preset::Aggressive] {
        s.bench(&format!("suite_per_test/{}", preset.name()), move |setup| {
            let x = data::matrix(8, 64, 11);
            let probe = manager(preset);
            suite(&probe, SUITE, &x);
            setup.metric("instances_built", probe.stats().instances_built as f64);
            drop(probe);
            // One iteration is one test; a new manager (a new suite) every SUITE
            // tests, its creation charged to the suite's first test.
            Ok(move |iters: u64| {
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
    s.main();
}
