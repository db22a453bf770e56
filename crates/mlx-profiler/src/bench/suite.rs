//! [`Suite`]: the benchmarks of one bench executable, their set-up and options.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::protocol::{self, BIN_DIR_ENV, BenchInfo, BenchMode, MODE_ENV, Unit};

/// An error of a benchmark's set-up, shown with the benchmark's id.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A benchmark's routine: runs `iters` iterations, returns their total time.
pub type Routine = Box<dyn FnMut(u64) -> Duration>;

/// A routine that calls `f` `iters` times and times the whole batch (the result of
/// each call is kept from the optimiser).
pub fn per_iteration<O>(mut f: impl FnMut() -> O + 'static) -> impl FnMut(u64) -> Duration {
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(f());
        }
        start.elapsed()
    }
}

/// The binary `name` of the revision being measured: `$COLDSTART_BIN_DIR/name` when
/// the gate set that variable (it keeps each revision's binaries apart), else
/// `compiled_in`, normally `env!("CARGO_BIN_EXE_<name>")`: the binary Cargo built
/// from the same source as the bench.
pub fn bin_path(name: &str, compiled_in: &str) -> PathBuf {
    std::env::var_os(BIN_DIR_ENV)
        .map(|d| PathBuf::from(d).join(name))
        .unwrap_or_else(|| PathBuf::from(compiled_in))
}

/// The directory the gate keeps for this side across its rounds
/// ([`protocol::SCRATCH_ENV`]), or `None` (under Criterion: one process does it all).
pub fn scratch_dir() -> Option<PathBuf> {
    std::env::var_os(protocol::SCRATCH_ENV).map(PathBuf::from)
}

/// The bench mode: `COLDSTART_BENCH_MODE` (`quick`/`full`), or `--quick` among the
/// arguments; full otherwise.
///
/// # Panics
/// On a malformed `COLDSTART_BENCH_MODE` (the message names the value and the
/// allowed ones): benches run in the wrong mode would give figures that look right.
pub fn mode_from_env() -> BenchMode {
    match std::env::var(MODE_ENV) {
        Ok(v) if !v.is_empty() => BenchMode::parse(&v).unwrap_or_else(|e| panic!("{e}")),
        _ if std::env::args().any(|a| a == "--quick") => BenchMode::Quick,
        _ => BenchMode::Full,
    }
}

/// Deterministic metrics of one benchmark (bytes, counts), shared between its set-up
/// and its routine: a routine may update them as it runs (kernels compiled by each
/// cold process, say). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Rc<RefCell<BTreeMap<String, f64>>>);

impl Metrics {
    /// Sets metric `name`.
    pub fn set(&self, name: &str, value: f64) {
        self.0.borrow_mut().insert(name.into(), value);
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        self.0.borrow().clone()
    }
}

/// What a set-up closure gets: the mode and the benchmark's metrics.
#[derive(Debug)]
pub struct Setup {
    mode: BenchMode,
    metrics: Metrics,
}

impl Setup {
    /// The mode the suite runs in.
    pub fn mode(&self) -> BenchMode {
        self.mode
    }

    /// Whether it runs in quick mode.
    pub fn quick(&self) -> bool {
        self.mode == BenchMode::Quick
    }

    /// Records a deterministic metric of this benchmark.
    pub fn metric(&self, name: &str, value: f64) {
        self.metrics.set(name, value);
    }

    /// The metrics, for a routine to update as it runs.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }
}

/// How a benchmark is sampled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchOptions {
    /// Each iteration is a process (or long): one iteration a sample, flat sampling.
    pub unbatched: bool,
    /// Each iteration is a fresh process and the set-up ran one: no warm-up needed.
    pub fresh_process: bool,
    /// The set-up ran the routine's work once already: no warm-up needed.
    pub warmed_by_setup: bool,
    /// Criterion samples (default: the mode's).
    pub sample_size: Option<usize>,
    /// The unit of the figure.
    pub unit: Unit,
}

type SetupFn = Box<dyn FnOnce(&mut Setup) -> Result<Routine, BoxError>>;

enum State {
    Pending(SetupFn),
    Ready(Routine),
    Failed(String),
    Busy,
}

/// One benchmark of a suite.
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) options: BenchOptions,
    state: State,
    pub(super) metrics: Metrics,
}

impl Entry {
    /// The routine, setting it up on first use; the error names the benchmark.
    pub(super) fn routine(&mut self, mode: BenchMode) -> Result<&mut Routine, String> {
        if let State::Pending(_) = self.state {
            let State::Pending(setup) = std::mem::replace(&mut self.state, State::Busy) else {
                unreachable!("checked above")
            };
            let mut ctx = Setup {
                mode,
                metrics: self.metrics.clone(),
            };
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| setup(&mut ctx)));
            self.state = match outcome {
                Ok(Ok(r)) => State::Ready(r),
                Ok(Err(e)) => State::Failed(format!("set-up of {} failed: {e}", self.id)),
                Err(p) => State::Failed(format!(
                    "set-up of {} panicked: {}",
                    self.id,
                    panic_message(&p)
                )),
            };
        }
        match &mut self.state {
            State::Ready(r) => Ok(r),
            State::Failed(e) => Err(e.clone()),
            State::Pending(_) | State::Busy => Err(format!("set-up of {} did not finish", self.id)),
        }
    }

    pub(super) fn info(&self) -> BenchInfo {
        BenchInfo {
            id: self.id.clone(),
            unit: self.options.unit,
            unbatched: self.options.unbatched,
            fresh_process: self.options.fresh_process,
            warmed_by_setup: self.options.warmed_by_setup,
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A builder handle for one benchmark's options.
pub struct BenchHandle<'a>(&'a mut BenchOptions);

impl BenchHandle<'_> {
    /// Each iteration is a process of its own (or long and unbatched).
    pub fn unbatched(self) -> Self {
        self.0.unbatched = true;
        self
    }

    /// Each iteration is a fresh process, and the set-up already ran the program once
    /// (which also fails early with its own message): implies
    /// [`unbatched`](Self::unbatched), and lets the A/B gate skip the warm-up iteration
    /// in each round's new server, which for a kernel-cold start is a whole JIT
    /// compile a side. The parent keeps nothing warm that a fresh child reuses (the
    /// page cache is the machine's, and both sides' set-ups touch it).
    pub fn fresh_process(self) -> Self {
        self.0.fresh_process = true;
        self.unbatched()
    }

    /// The set-up already ran the routine's work once, on everything the routine
    /// uses (a forward pass of the loaded model, an allocation round with the cache
    /// setting applied): lets the A/B gate skip the warm-up iteration in each round's
    /// new server, one iteration a side a round of work the set-up just did. Declare
    /// it only where that holds; a routine whose first call still does one-off work
    /// would give each round's first sample that work.
    pub fn warmed_by_setup(self) -> Self {
        self.0.warmed_by_setup = true;
        self
    }

    /// Criterion samples for this benchmark.
    pub fn sample_size(self, n: usize) -> Self {
        self.0.sample_size = Some(n);
        self
    }

    /// The figure is a ratio carried as 100 ms per unit (see [`Unit::Ratio`]).
    pub fn ratio(self) -> Self {
        self.0.unit = Unit::Ratio;
        self
    }
}

/// A group of benchmarks: one bench executable (a Criterion group).
///
/// ```no_run
/// use std::time::Instant;
/// use mlx_profiler::bench::{Suite, per_iteration};
///
/// fn main() {
///     let mut suite = Suite::new("warm");
///     suite.bench("sum_1k", |setup| {
///         let v: Vec<u64> = (0..1000).collect();
///         setup.metric("elements", v.len() as f64); // a deterministic metric, gated exactly
///         Ok(per_iteration(move || v.iter().sum::<u64>()))
///     });
///     suite.main();
/// }
/// ```
pub struct Suite {
    pub(super) group: String,
    pub(super) mode: BenchMode,
    inputs: Vec<PathBuf>,
    pub(super) entries: Vec<Entry>,
}

impl Suite {
    /// An empty suite for group `group`, in the mode the environment asks for
    /// ([`mode_from_env`]).
    pub fn new(group: &str) -> Self {
        Suite {
            group: group.into(),
            mode: mode_from_env(),
            inputs: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The group name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The mode.
    pub fn mode(&self) -> BenchMode {
        self.mode
    }

    /// Whether the suite runs in quick mode.
    pub fn quick(&self) -> bool {
        self.mode == BenchMode::Quick
    }

    /// Files whose content the figures depend on (model weights): their hash goes
    /// into the environment fingerprint, so that a baseline of other weights is not
    /// taken for this one's.
    pub fn inputs(&mut self, files: impl IntoIterator<Item = PathBuf>) -> &mut Self {
        self.inputs.extend(files);
        self
    }

    /// Adds benchmark `name` (its id is `group/name`). `setup` runs once, when the
    /// benchmark is first measured, and returns its routine.
    ///
    /// # Panics
    /// When `name` is already taken: two benchmarks with one id would share a baseline.
    pub fn bench<R>(
        &mut self,
        name: &str,
        setup: impl FnOnce(&mut Setup) -> Result<R, BoxError> + 'static,
    ) -> BenchHandle<'_>
    where
        R: FnMut(u64) -> Duration + 'static,
    {
        let id = format!("{}/{name}", self.group);
        assert!(
            self.entries.iter().all(|e| e.id != id),
            "benchmark {id} is defined twice"
        );
        self.entries.push(Entry {
            name: name.into(),
            id,
            options: BenchOptions::default(),
            state: State::Pending(Box::new(move |s| setup(s).map(|r| Box::new(r) as Routine))),
            metrics: Metrics::default(),
        });
        BenchHandle(&mut self.entries.last_mut().expect("just pushed").options)
    }

    /// The benchmarks' ids, in definition order.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.id.clone()).collect()
    }

    /// The environment of this process, with the suite's inputs hashed.
    pub(super) fn fingerprint(&self) -> Result<crate::gate::environment::Fingerprint, String> {
        let inputs: Vec<&std::path::Path> = self.inputs.iter().map(PathBuf::as_path).collect();
        crate::gate::environment::Fingerprint::detect(self.mode.as_str(), &inputs)
    }

    /// Runs the suite: serves the gate when [`protocol::SERVE_ENV`] is set, else
    /// measures it with Criterion (`cargo bench`, `cargo test --benches`).
    pub fn main(self) {
        if std::env::var_os(protocol::SERVE_ENV).is_some() {
            #[cfg(feature = "mlx")]
            std::process::exit(super::serve::serve(self));
        }
        #[cfg(feature = "criterion")]
        super::criterion_front::run(self);
        #[cfg(not(feature = "criterion"))]
        panic!(
            "mlx-profiler was built without its `criterion` feature: this suite can only serve the gate"
        );
    }
}
