//! 1,000 warm get/use cycles leave MLX's active memory at its steady level. Alone in
//! its test binary: MLX's memory figures are process-wide, and other tests running
//! beside it would move them.

mod common;

use common::{build_model, forward};
use mlx_fixtures::data::matrix;
use mlx_manager::Manager;
use mlx_manager::config::Preset;

#[test]
fn a_thousand_warm_cycles_leave_mlx_memory_where_it_was() {
    let m = Manager::builder(build_model)
        .preset(Preset::Balanced)
        .build();
    let x = matrix(4, 16, 5);
    let cycle = || {
        let h = m.get().unwrap();
        forward(&h, &x);
    };
    for _ in 0..100 {
        cycle();
    }
    let steady = mlx_rs::memory::active_memory().unwrap();
    for _ in 0..1000 {
        cycle();
    }
    let after = mlx_rs::memory::active_memory().unwrap();
    assert!(
        after <= steady,
        "MLX active memory grew from {steady} to {after} bytes over 1000 cycles"
    );
    assert_eq!(m.stats().instances_built, 1);
}
