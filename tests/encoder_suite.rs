//! The claims suite: 12 tests shaped like a speech app's, served by one
//! `SuiteInstance` of the encoder fixture (a real weights file read, evaluated, and
//! an activation `compile`d on its first call, so MLX JIT-compiles a kernel).
//! Odd tests run the encoder on their input; even tests check only their own
//! plain-Rust preprocessing and never need the model. Every test first does its own
//! set-up (the input and its filterbank features, in plain Rust).
//!
//! How a test asks for the model follows the configuration in force
//! (`SuiteInstance::config`), so that each strategy is used the way it is meant to be:
//! pre-warming, the set-up of a test that uses the model starts the build and goes on
//! (`MODEL.prewarm()`); not lazy,
//! its set-up gets the model before anything else and holds it, used or not, as a
//! `setUp` fixture does; lazy, it asks only when and if its body needs the model.
//!
//! `cargo xtask manager-claims` runs it under each configuration. Variables:
//! `COLDSTART_SUITE_FIXTURE=tiny|small|base` (default tiny) picks the encoder;
//! `COLDSTART_SUITE_LOG=<file>` makes every test append one line: its name, `model` or
//! `plain`, the nanoseconds it waited for the model, its own nanoseconds, the
//! Unix time in nanoseconds when it ended, and the process's own peak RSS so far in
//! KiB (`getrusage(RUSAGE_SELF)`: a parent's wait4 would count the g++ that MLX runs
//! to compile a kernel, which is larger than the suite itself).

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlx_coldstart::fixtures::data::{Matrix, matrix, values};
use mlx_coldstart::fixtures::encoder::{Config, Preset, SendEncoder};
use mlx_coldstart::fixtures::reference;
use mlx_coldstart::manager::mode::RuntimeKind;
use mlx_coldstart::manager::suite::SuiteInstance;
use mlx_coldstart::manager::{BoxError, Handle};
use mlx_rs::Array;

/// The encoder preset, from `COLDSTART_SUITE_FIXTURE`.
fn preset() -> Preset {
    static PRESET: OnceLock<Preset> = OnceLock::new();
    *PRESET.get_or_init(|| match std::env::var("COLDSTART_SUITE_FIXTURE") {
        Err(_) => Preset::Tiny,
        Ok(v) => Preset::parse(v.trim()).unwrap_or_else(|| {
            panic!("COLDSTART_SUITE_FIXTURE={v:?} is not a fixture; use tiny, small or base")
        }),
    })
}

/// What a test gets: the encoder on MLX, or in unit mode a stub that answers with the
/// right shape and touches no MLX, as a unit test's mock does.
enum Model {
    Mlx(SendEncoder),
    Mock(Config),
}

impl Model {
    /// The encoding of a `(frames, n_mels)` input, flat, with its shape.
    fn forward(&mut self, mel: &[f32]) -> (Vec<i32>, Vec<f32>) {
        match self {
            Model::Mlx(m) => {
                let c = m.config();
                let x = Array::from_slice(mel, &[1, c.frames as i32, c.n_mels as i32]);
                let y = m.forward(&x).expect("the encoder's forward pass");
                (y.shape().to_vec(), y.as_slice::<f32>().to_vec())
            }
            Model::Mock(c) => {
                let shape = vec![1, (c.frames / 2) as i32, c.d_model as i32];
                (shape, vec![0.0; c.frames / 2 * c.d_model])
            }
        }
    }
}

fn build(kind: RuntimeKind) -> Result<Model, BoxError> {
    Ok(match kind {
        RuntimeKind::Real => Model::Mlx(SendEncoder::load(preset())?),
        RuntimeKind::Mock => Model::Mock(preset().config()),
    })
}

/// One forward pass with the shapes the tests use: MLX compiles the kernel here.
fn warm_up(model: &mut Model) -> Result<(), BoxError> {
    model.forward(&values(
        preset().config().frames * preset().config().n_mels,
        0,
    ));
    Ok(())
}

static MODEL: SuiteInstance<Model> = SuiteInstance::new(build).with_warm_up(warm_up);

/// A test's own set-up: its input (`frames × n_mels`) and that input through a
/// fixed filterbank (`n_mels × n_mels`), in plain Rust.
fn own_set_up(seed: u64) -> (Matrix, Matrix) {
    let c = preset().config();
    let mel = matrix(c.frames, c.n_mels, seed);
    let features = reference::matmul(&mel, &matrix(c.n_mels, c.n_mels, 1_000 + seed));
    (mel, features)
}

/// Waiting for the model, timed.
fn waiting<'a>(
    waited: &mut Duration,
    get: impl FnOnce() -> Handle<'a, Model>,
) -> Handle<'a, Model> {
    let asked = Instant::now();
    let handle = get();
    *waited += asked.elapsed();
    handle
}

/// The set-up every test starts with, as the configuration's strategies have it.
/// Only a test that will ask for the model starts a pre-warm: a process that exits
/// while a pre-warm is still building can crash in MLX's static destructors.
fn suite_set_up(waited: &mut Duration, needs_model: bool) -> Option<Handle<'static, Model>> {
    let config = MODEL.config().expect("the suite's configuration");
    if config.prewarm {
        if needs_model {
            MODEL.prewarm().expect("starting the pre-warm");
        }
        None
    } else if !config.lazy {
        Some(waiting(waited, || MODEL.get().expect("the encoder")))
    } else {
        None
    }
}

/// A test that runs the encoder and checks what the final layer norm guarantees:
/// the output's shape, finite values, rows of mean about 0.
fn model_test(name: &str, seed: u64) {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let held = suite_set_up(&mut waited, true);
    let (mel, _features) = own_set_up(seed);
    let mut model =
        held.unwrap_or_else(|| waiting(&mut waited, || MODEL.get().expect("the encoder")));
    let (shape, out) = model.forward(mel.values());
    let real = matches!(*model, Model::Mlx(_));
    drop(model);
    let c = preset().config();
    assert_eq!(shape, [1, (c.frames / 2) as i32, c.d_model as i32]);
    if real {
        assert!(out.iter().all(|v| v.is_finite()), "{name}: not finite");
        for row in out.chunks(c.d_model).take(4) {
            let mean = row.iter().sum::<f32>() / row.len() as f32;
            assert!(mean.abs() < 0.05, "{name}: row mean {mean}");
        }
    }
    log(name, "model", waited, started.elapsed());
}

/// A test of the preprocessing alone: the filterbank features against a direct sum.
fn plain_test(name: &str, seed: u64) {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let held = suite_set_up(&mut waited, false);
    let (mel, features) = own_set_up(seed);
    let bank = matrix(mel.cols(), mel.cols(), 1_000 + seed);
    for (r, c) in [
        (0, 0),
        (mel.rows() / 2, 7),
        (mel.rows() - 1, mel.cols() - 1),
    ] {
        let direct: f64 = (0..mel.cols())
            .map(|k| f64::from(mel.get(r, k)) * f64::from(bank.get(k, c)))
            .sum();
        let err = (f64::from(features.get(r, c)) - direct).abs();
        assert!(err <= 1e-4 * direct.abs().max(1.0), "{name}: {err}");
    }
    drop(held);
    log(name, "plain", waited, started.elapsed());
}

fn log(name: &str, kind: &str, waited: Duration, took: Duration) {
    let Some(path) = std::env::var_os("COLDSTART_SUITE_LOG") else {
        return;
    };
    let ended = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    let line = format!(
        "{name} {kind} {} {} {} {}\n",
        waited.as_nanos(),
        took.as_nanos(),
        ended.as_nanos(),
        peak_rss_kib()
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("the suite log");
    // One short write per line: appends from parallel tests do not interleave.
    f.write_all(line.as_bytes()).expect("the suite log");
}

/// This process's peak RSS so far, in KiB (its threads', not its children's).
fn peak_rss_kib() -> i64 {
    // SAFETY: rusage is plain data, zero is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage with a valid out-pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    if cfg!(target_os = "macos") {
        usage.ru_maxrss / 1024
    } else {
        usage.ru_maxrss
    }
}

macro_rules! tests {
    ($($name:ident = $kind:ident($seed:expr)),* $(,)?) => {
        $(#[test] fn $name() { $kind(stringify!($name), $seed); })*
    };
}

tests! {
    t01 = model_test(1), t02 = plain_test(2), t03 = model_test(3), t04 = plain_test(4),
    t05 = model_test(5), t06 = plain_test(6), t07 = model_test(7), t08 = plain_test(8),
    t09 = model_test(9), t10 = plain_test(10), t11 = model_test(11), t12 = plain_test(12),
}
