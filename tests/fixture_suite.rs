//! A fixture test suite shaped like a user's: 24 tests, each needing the tiny model,
//! served by one `SuiteInstance`. `COLDSTART_PRESET` and `COLDSTART_TEST_MODE` pick the
//! strategy and mock/real; `cargo xtask manager-claims` runs it under each and
//! measures. With `COLDSTART_SUITE_LOG=<file>`, every test appends how long it waited
//! for the model and how long its body took (nanoseconds), for "test impact".

use std::io::Write;
use std::time::Instant;

use mlx_coldstart::fixtures::data::{Matrix, matrix};
use mlx_coldstart::fixtures::reference::max_relative_error;
use mlx_coldstart::fixtures::tiny::{INPUT, OUTPUT, ReferenceTiny, TinyModel};
use mlx_coldstart::manager::BoxError;
use mlx_coldstart::manager::mode::RuntimeKind;
use mlx_coldstart::manager::suite::SuiteInstance;

/// The model a test gets: real MLX, or in unit mode a stub that answers with the
/// right shape at no cost, as a unit test's mock does (it tests the code around the
/// model, not the model's numbers).
enum Tiny {
    Mlx(TinyModel),
    Mock,
}

impl Tiny {
    fn forward(&self, x: &Matrix) -> Matrix {
        match self {
            Tiny::Mlx(m) => m.forward(x).expect("MLX forward"),
            Tiny::Mock => Matrix::new(x.rows(), OUTPUT, vec![0.0; x.rows() * OUTPUT]),
        }
    }
}

fn build(kind: RuntimeKind) -> Result<Tiny, BoxError> {
    Ok(match kind {
        RuntimeKind::Real => Tiny::Mlx(TinyModel::load()?),
        RuntimeKind::Mock => Tiny::Mock,
    })
}

fn warm_up(model: &mut Tiny) -> Result<(), BoxError> {
    model.forward(&matrix(1, INPUT, 0));
    Ok(())
}

static MODEL: SuiteInstance<Tiny> = SuiteInstance::new(build).with_warm_up(warm_up);

/// One test: get the model, run a few forward passes, check them against Rust.
fn case(seed: u64) {
    let asked = Instant::now();
    let model = MODEL.get().expect("the tiny model");
    let startup = asked.elapsed();
    let body = Instant::now();
    for round in 0..4 {
        let x = matrix(8, INPUT, seed * 16 + round);
        let got = model.forward(&x);
        assert_eq!((got.rows(), got.cols()), (8, OUTPUT));
        if let Tiny::Mlx(_) = &*model {
            let want = ReferenceTiny::new().forward(&x);
            let err = max_relative_error(got.values(), want.values());
            assert!(err < 1e-4, "seed {seed} round {round}: error {err}");
        }
    }
    drop(model);
    let body = body.elapsed();
    if let Some(log) = std::env::var_os("COLDSTART_SUITE_LOG") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("suite log");
        // One short write per line: appends from parallel tests do not interleave.
        f.write_all(format!("{} {}\n", startup.as_nanos(), body.as_nanos()).as_bytes())
            .expect("suite log");
    }
}

macro_rules! cases {
    ($($name:ident = $seed:expr),* $(,)?) => {
        $(#[test] fn $name() { case($seed); })*
    };
}

cases! {
    t01 = 1, t02 = 2, t03 = 3, t04 = 4, t05 = 5, t06 = 6, t07 = 7, t08 = 8,
    t09 = 9, t10 = 10, t11 = 11, t12 = 12, t13 = 13, t14 = 14, t15 = 15, t16 = 16,
    t17 = 17, t18 = 18, t19 = 19, t20 = 20, t21 = 21, t22 = 22, t23 = 23, t24 = 24,
}
