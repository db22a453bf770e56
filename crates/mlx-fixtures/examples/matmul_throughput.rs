//! The 1024x1024 f32 matmul throughput of the MLX this binary loads: the quickest way
//! to tell the bundled reference BLAS (a few GFLOP/s) from OpenBLAS (over a hundred).
//!
//! ```sh
//! cargo run --release -p mlx-fixtures --example matmul_throughput -- [N] [PRODUCTS]
//! ```
//!
//! Prints one line: the median and range of GFLOP/s over PRODUCTS timed products
//! (default 1024 and 20), after two untimed ones. To compare two BLAS libraries with
//! one binary, run it alternately with `LD_LIBRARY_PATH` naming each set-up's
//! `mlx/lib` (the cache's `dist/...` for bundled, `runtime/...+<blas>` for OpenBLAS).

use std::time::Instant;

use mlx_fixtures::workloads::SquareMatmul;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = args.next().transpose()?.unwrap_or(1024);
    let products = args.next().transpose()?.unwrap_or(20).max(1);
    let w = SquareMatmul::new(n)?;
    for _ in 0..2 {
        w.run()?;
    }
    let mut gflops: Vec<f64> = (0..products)
        .map(|_| {
            let t = Instant::now();
            w.run()
                .map(|()| w.flops() / t.elapsed().as_secs_f64() / 1e9)
        })
        .collect::<Result<_, _>>()?;
    gflops.sort_by(f64::total_cmp);
    let median = (gflops[(products - 1) / 2] + gflops[products / 2]) / 2.0;
    println!(
        "matmul {n}x{n} f32: median {median:.1} GFLOP/s (range {:.1}-{:.1}, {products} products)",
        gflops[0],
        gflops[products - 1]
    );
    Ok(())
}
