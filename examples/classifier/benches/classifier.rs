//! The classifier's benchmarks, each one call of mlx_profiler's standard set: its
//! start-up in fresh processes (spawn to its own `model_ready` mark) with a cold and
//! a warm kernel cache, a warm batch, a shared `get()`, a pool checkout. `cargo
//! bench` measures them; `mlx-bench compare --package classifier-app --bench
//! classifier` gates them, A/B against a revision.

use mlx_profiler::bench::{Suite, standard};
use mlx_profiler::cache_state::CacheState;

use classifier_app::Classifier;

const BATCH: [&str; 3] = [
    "my invoice shows the wrong amount",
    "crash after the last update",
    "would love a keyboard shortcut",
];

fn main() {
    let mut s = Suite::new("classifier");
    s.inputs([classifier_app::weights_file().expect("the classifier's weights")]);
    let app = || vec![env!("CARGO_BIN_EXE_classifier-app").into()];
    for (id, state) in [
        ("ready/kernel_cold", CacheState::KernelCold),
        ("ready/kernel_warm", CacheState::KernelWarm),
    ] {
        standard::cold_command(&mut s, id, app(), Some("model_ready"), state);
    }
    standard::warm(&mut s, "classify_batch", Classifier::load, |c| {
        c.classify(&BATCH).expect("classify")
    });
    standard::shared_get(&mut s, "get/shared", Classifier::load);
    standard::pooled_checkout(&mut s, "checkout/pool_2", Classifier::load, 2, 1);
    s.main();
}
