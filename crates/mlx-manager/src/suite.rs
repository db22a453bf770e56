//! One shared, pre-warmed instance for a whole test binary, in one line.
//!
//! ```
//! use mlx_manager::suite::SuiteInstance;
//! use mlx_manager::mode::RuntimeKind;
//!
//! // Real tests would build an MLX model for RuntimeKind::Real and a stand-in for Mock.
//! fn build(kind: RuntimeKind) -> Result<Vec<f32>, mlx_manager::BoxError> {
//!     Ok(match kind { RuntimeKind::Mock => vec![0.0; 4], RuntimeKind::Real => vec![1.0; 4] })
//! }
//! static MODEL: SuiteInstance<Vec<f32>> = SuiteInstance::new(build);
//!
//! let model = MODEL.get().unwrap();   // in any #[test]: built once, shared by all
//! assert_eq!(model.len(), 4);
//! ```
//!
//! Under `cargo test` the tests of one binary are threads of one process, so every
//! test shares the instance and the start-up is paid once per binary. Under
//! `cargo nextest` every test is its own process: in-process sharing cannot help
//! there, and the summary says so; persisting MLX's kernel cache between processes
//! is what helps instead.

use std::sync::{Arc, OnceLock};

use crate::config::{ManagerConfig, Preset};
use crate::env;
use crate::error::{BoxError, ManagerError};
use crate::handle::Handle;
use crate::manager::Manager;
use crate::mode::{RuntimeKind, TestMode};
use crate::runtime::{MockRuntime, Runtime, default_runtime};

/// A suite's factory: builds the instance for the runtime the test mode selects.
pub type SuiteFactory<T> = fn(RuntimeKind) -> Result<T, BoxError>;
/// A suite's warm-up.
pub type SuiteWarmUp<T> = fn(&mut T) -> Result<(), BoxError>;

/// A lazily started manager per runtime kind, shared by every test of a binary.
pub struct SuiteInstance<T: Send + 'static> {
    factory: SuiteFactory<T>,
    warm_up: Option<SuiteWarmUp<T>>,
    preset: Preset,
    mock: OnceLock<Manager<T>>,
    real: OnceLock<Manager<T>>,
}

impl<T: Send + 'static> SuiteInstance<T> {
    /// A suite instance built by `factory` for the runtime the test mode selects,
    /// with the [`Preset::Balanced`] preset (one instance, shared by every test of
    /// the binary), the same default as [`Manager::builder`].
    pub const fn new(factory: SuiteFactory<T>) -> Self {
        SuiteInstance {
            factory,
            warm_up: None,
            preset: Preset::Balanced,
            mock: OnceLock::new(),
            real: OnceLock::new(),
        }
    }

    /// Uses `preset` (`COLDSTART_PRESET` or `COLDSTART_STRATEGIES`, when set,
    /// overrides it: CI can try another without a code change).
    pub const fn with_preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }

    /// Runs `warm_up` on the instance before any test gets it.
    pub const fn with_warm_up(mut self, warm_up: SuiteWarmUp<T>) -> Self {
        self.warm_up = Some(warm_up);
        self
    }

    /// The instance for a test that can run on mocks (`COLDSTART_TEST_MODE` decides).
    pub fn get(&self) -> Result<Handle<'_, T>, ManagerError> {
        self.get_for(false)
    }

    /// The real-MLX instance, for a test that needs it; an error in unit mode.
    pub fn get_real(&self) -> Result<Handle<'_, T>, ManagerError> {
        self.get_for(true)
    }

    /// Starts building the instance on a background thread and returns at once, so
    /// that it overlaps whatever the calling test does next (its own set-up); a later
    /// `get()` waits only for what is left. Call it at the top of every test that has
    /// set-up of its own: after the first call it costs nothing.
    pub fn prewarm(&self) -> Result<(), ManagerError> {
        self.manager(false)?.start_prewarm();
        Ok(())
    }

    fn get_for(&self, needs_real: bool) -> Result<Handle<'_, T>, ManagerError> {
        self.manager(needs_real)?.get()
    }

    fn manager(&self, needs_real: bool) -> Result<&Manager<T>, ManagerError> {
        let mode = TestMode::from_env()?;
        let kind = mode
            .runtime_for(needs_real)
            .ok_or(ManagerError::RealRuntimeDisabled)?;
        let cell = match kind {
            RuntimeKind::Mock => &self.mock,
            RuntimeKind::Real => &self.real,
        };
        let config = self.config()?;
        Ok(cell.get_or_init(|| {
            let factory = self.factory;
            let runtime: Arc<dyn Runtime> = match kind {
                RuntimeKind::Mock => Arc::new(MockRuntime::default()),
                RuntimeKind::Real => default_runtime(),
            };
            let mut b = Manager::builder(move || factory(kind))
                .config(config)
                .runtime(runtime);
            if let Some(w) = self.warm_up {
                b = b.warm_up(w);
            }
            b.build()
        }))
    }

    /// One line for the end of a suite: statistics per runtime, and a warning when
    /// the process-per-test model of nextest makes sharing useless.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = [("mock", &self.mock), ("mlx", &self.real)]
            .iter()
            .filter_map(|(name, cell)| cell.get().map(|m| format!("{name}: {}", m.stats())))
            .collect();
        if parts.is_empty() {
            parts.push("no instance requested".into());
        }
        if under_nextest() {
            parts.push(
                "note: running under cargo-nextest (one process per test), so in-process sharing cannot help; persist MLX's kernel cache instead".into(),
            );
        }
        format!("mlx-manager: {}", parts.join("; "))
    }
}

impl<T: Send + 'static> SuiteInstance<T> {
    /// The configuration the suite's managers are built with:
    /// `COLDSTART_STRATEGIES` when set, else `COLDSTART_PRESET` when set, else the
    /// preset given in code. A test can read it to shape its own set-up (whether to
    /// start a pre-warm, for instance).
    pub fn config(&self) -> Result<ManagerConfig, ManagerError> {
        if let Some(config) = env::strategies()? {
            return Ok(config);
        }
        Ok(env::preset()?.unwrap_or(self.preset).config())
    }
}

/// Whether this process runs under cargo-nextest, which sets `NEXTEST_RUN_ID`.
pub fn under_nextest() -> bool {
    std::env::var_os("NEXTEST_RUN_ID").is_some()
        || std::env::var_os("NEXTEST").is_some_and(|v| v == "1")
}
