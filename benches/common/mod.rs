//! What every bench group shares: its suite, with the fixture weights the figures
//! depend on hashed into the environment fingerprint.

use std::path::PathBuf;

use mlx_coldstart::fixtures::encoder::{self, Preset};
use mlx_coldstart::profiler::bench::Suite;

/// The weights files the benches read (written on first use): part of the
/// environment, since a change of generator changes every figure.
pub fn fixture_weights() -> Vec<PathBuf> {
    [Preset::Tiny, Preset::Small, Preset::Base]
        .into_iter()
        .map(|p| encoder::weights_file(p).expect("fixture weights file"))
        .collect()
}

/// The suite of `group`, its inputs declared.
pub fn suite(group: &str) -> Suite {
    let mut s = Suite::new(group);
    s.inputs(fixture_weights());
    s
}
