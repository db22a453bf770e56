//! What `manager-claims` measures: the suite's variants (each a configuration given
//! through the manager's variables), the conditions a suite runs under (threads,
//! kernel cache, a process per test), and which of them each fixture gets.

use std::fmt;

/// An encoder fixture of the claims suite (`COLDSTART_SUITE_FIXTURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fixture {
    /// d=64, one block: a quick check of the task itself.
    Tiny,
    /// d=256, two blocks, 1000 frames.
    Small,
    /// Whisper-base's shapes (d=512, six blocks, 3000 frames): seconds per forward pass.
    Base,
}

impl Fixture {
    /// The name the suite reads.
    pub fn name(self) -> &'static str {
        match self {
            Fixture::Tiny => "tiny",
            Fixture::Small => "small",
            Fixture::Base => "base",
        }
    }

    /// Its shapes, as the encoder's presets have them.
    pub fn shape(self) -> &'static str {
        match self {
            Fixture::Tiny => "d=64, 1 block, 200 frames",
            Fixture::Small => "d=256, 2 blocks, 1000 frames",
            Fixture::Base => "d=512, 6 blocks, 3000 frames",
        }
    }

    /// The suite's tests this fixture runs: all twelve, or for base the first four
    /// (two that run the encoder, two that do not), so that a round stays within
    /// minutes where a forward pass takes seconds.
    pub fn tests(self) -> &'static [&'static str] {
        const ALL: [&str; 12] = [
            "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11", "t12",
        ];
        match self {
            Fixture::Tiny | Fixture::Small => &ALL,
            Fixture::Base => &ALL[..4],
        }
    }

    /// Rounds when `--runs` is not given.
    pub fn default_rounds(self) -> usize {
        match self {
            Fixture::Tiny | Fixture::Small => 5,
            Fixture::Base => 3,
        }
    }

    /// The conditions it is measured under: every one for tiny and small; for base
    /// the three that answer the claims (parallel tests with warm kernels for memory,
    /// one thread with cold kernels for the full start-up, a process per test).
    pub fn conditions(self) -> Vec<Condition> {
        use Kernels::*;
        use Layout::*;
        let c = |layout, kernels| Condition { layout, kernels };
        match self {
            Fixture::Tiny | Fixture::Small => vec![
                c(InProcess(Threads::Default), Cold),
                c(InProcess(Threads::One), Cold),
                c(InProcess(Threads::Default), Warm),
                c(InProcess(Threads::One), Warm),
                c(ProcessPerTest, Warm),
            ],
            Fixture::Base => vec![
                c(InProcess(Threads::One), Cold),
                c(InProcess(Threads::Default), Warm),
                c(ProcessPerTest, Warm),
            ],
        }
    }
}

/// How many tests libtest runs at once in one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// `cargo test`'s default: one per core.
    Default,
    /// `--test-threads=1`.
    One,
}

/// How the suite's tests are spread over processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One process for the whole suite (`cargo test`).
    InProcess(Threads),
    /// One process per test, one after another, as cargo-nextest runs them
    /// (`-j 1`): the test binary with `--exact <name> --test-threads=1`.
    ProcessPerTest,
}

/// The state of MLX's kernel cache (`$TMPDIR/mlx/<version>/cpu`) when a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// An empty `TMPDIR` of its own for every run: MLX compiles the kernel with g++.
    Cold,
    /// A `TMPDIR` an earlier run compiled into, shared by every warm run.
    Warm,
}

/// One condition: a layout and a kernel-cache state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    /// Processes and threads.
    pub layout: Layout,
    /// The kernel cache at the start.
    pub kernels: Kernels,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = match self.layout {
            Layout::InProcess(Threads::Default) => "cargo test (one thread per core)",
            Layout::InProcess(Threads::One) => "cargo test --test-threads=1",
            Layout::ProcessPerTest => "a process per test (nextest's model, one at a time)",
        };
        let kernels = match self.kernels {
            Kernels::Cold => "kernel-cold",
            Kernels::Warm => "kernel-warm",
        };
        write!(f, "{layout}, {kernels}")
    }
}

/// The id of a variant (typed, so that a table or a claim cannot name one that is
/// not measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VariantId {
    /// No strategy: the reference.
    None,
    /// The conservative preset, which is lazy loading alone.
    LazyOnly,
    /// One shared instance, nothing else.
    SharingOnly,
    /// A pool of two, nothing else.
    PooledOnly,
    /// The balanced preset (the default).
    Balanced,
    /// The aggressive preset: the pool of two, pre-warmed.
    Aggressive,
    /// Mocks (`COLDSTART_TEST_MODE=unit`) with the default preset.
    Mock,
}

/// A configuration of the suite, given through the manager's variables.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Its id.
    pub id: VariantId,
    /// Its name in the report.
    pub label: &'static str,
    /// What it turns on.
    pub description: &'static str,
    /// The variables that select it.
    pub env: &'static [(&'static str, &'static str)],
}

const REAL: (&str, &str) = ("COLDSTART_TEST_MODE", "integration");

/// Every variant, the reference first.
pub const VARIANTS: [Variant; 7] = [
    Variant {
        id: VariantId::None,
        label: "none",
        description: "no strategy: a fresh instance for every test, got in its set-up, used or not; being eager, the manager also builds one throwaway instance when it is created (to warm MLX), so a process builds one more than its tests get",
        env: &[("COLDSTART_STRATEGIES", "none"), REAL],
    },
    Variant {
        id: VariantId::LazyOnly,
        label: "conservative = lazy-only",
        description: "lazy loading alone: a fresh instance, only for the tests that use it, when they use it",
        env: &[("COLDSTART_PRESET", "conservative"), REAL],
    },
    Variant {
        id: VariantId::SharingOnly,
        label: "sharing-only",
        description: "one instance shared by every test, got in each test's set-up",
        env: &[("COLDSTART_STRATEGIES", "shared"), REAL],
    },
    Variant {
        id: VariantId::PooledOnly,
        label: "pooled-only",
        description: "a pool of two, got in each test's set-up",
        env: &[("COLDSTART_STRATEGIES", "pooled"), REAL],
    },
    Variant {
        id: VariantId::Balanced,
        label: "balanced (default)",
        description: "lazy and shared, MLX's buffer cache capped at 1 GiB",
        env: &[("COLDSTART_PRESET", "balanced"), REAL],
    },
    Variant {
        id: VariantId::Aggressive,
        label: "aggressive",
        description: "the pool of two, pre-warmed from the set-up of each test that uses the model",
        env: &[("COLDSTART_PRESET", "aggressive"), REAL],
    },
    Variant {
        id: VariantId::Mock,
        label: "mock",
        description: "COLDSTART_TEST_MODE=unit: every test gets the stub, no MLX",
        env: &[
            ("COLDSTART_PRESET", "balanced"),
            ("COLDSTART_TEST_MODE", "unit"),
        ],
    },
];

/// Variables removed from every run's environment, so that nothing the caller has
/// set changes what a run measures.
pub const CLEARED: [&str; 13] = [
    "COLDSTART_PRESET",
    "COLDSTART_STRATEGIES",
    "COLDSTART_TEST_MODE",
    "COLDSTART_KERNEL_CACHE",
    "COLDSTART_PROFILING",
    "COLDSTART_INJECT",
    "COLDSTART_MARKS",
    "MLX_DISABLE_COMPILE",
    "MLX_PTX_CACHE_DIR",
    "RUST_TEST_THREADS",
    "NEXTEST",
    "NEXTEST_RUN_ID",
    "COLDSTART_SUITE_FIXTURE",
];

/// The variant with this id.
pub fn variant(id: VariantId) -> &'static Variant {
    VARIANTS
        .iter()
        .find(|v| v.id == id)
        .expect("every id has a variant")
}

/// The variables of one run: the variant's, the fixture, the suite's log and the
/// kernel cache's directory (`TMPDIR`).
pub fn run_env(
    variant: &Variant,
    fixture: Fixture,
    log: &std::path::Path,
    tmpdir: &std::path::Path,
) -> Vec<(String, std::ffi::OsString)> {
    let mut env: Vec<(String, std::ffi::OsString)> = variant
        .env
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).into()))
        .collect();
    env.push(("COLDSTART_SUITE_FIXTURE".into(), fixture.name().into()));
    env.push(("COLDSTART_SUITE_LOG".into(), log.into()));
    env.push(("TMPDIR".into(), tmpdir.into()));
    env
}

/// The test binary's arguments for a whole suite in one process.
pub fn in_process_args(threads: Threads, tests: &[&str]) -> Vec<String> {
    let mut args = vec!["--exact".to_string(), "-q".to_string()];
    if threads == Threads::One {
        args.push("--test-threads=1".into());
    }
    args.extend(tests.iter().map(|t| (*t).to_string()));
    args
}

/// The test binary's arguments for one test in a process of its own, as
/// cargo-nextest runs it.
pub fn per_test_args(test: &str) -> Vec<String> {
    ["--exact", test, "--test-threads=1", "-q"]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(id: VariantId) -> Vec<(&'static str, &'static str)> {
        variant(id).env.to_vec()
    }

    #[test]
    fn each_variant_selects_its_configuration_through_the_managers_variables() {
        assert_eq!(
            env_of(VariantId::None),
            [
                ("COLDSTART_STRATEGIES", "none"),
                ("COLDSTART_TEST_MODE", "integration")
            ]
        );
        assert!(env_of(VariantId::SharingOnly).contains(&("COLDSTART_STRATEGIES", "shared")));
        assert!(env_of(VariantId::PooledOnly).contains(&("COLDSTART_STRATEGIES", "pooled")));
        assert!(env_of(VariantId::LazyOnly).contains(&("COLDSTART_PRESET", "conservative")));
        assert!(env_of(VariantId::Mock).contains(&("COLDSTART_TEST_MODE", "unit")));
        // Every real variant asks for MLX explicitly; every variable a variant sets
        // is one the run clears first, so the caller's environment cannot add to it.
        for v in &VARIANTS {
            let real = v.env.contains(&REAL);
            assert_eq!(real, v.id != VariantId::Mock, "{}", v.label);
            for (k, _) in v.env {
                assert!(CLEARED.contains(k), "{k}");
            }
        }
        assert_eq!(VARIANTS[0].id, VariantId::None);
    }

    #[test]
    fn a_run_gets_the_fixture_its_log_and_its_kernel_directory() {
        let env = run_env(
            variant(VariantId::Balanced),
            Fixture::Base,
            "/l/log".as_ref(),
            "/t/cold-3".as_ref(),
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("COLDSTART_SUITE_FIXTURE"), Some("base".into()));
        assert_eq!(get("COLDSTART_SUITE_LOG"), Some("/l/log".into()));
        assert_eq!(get("TMPDIR"), Some("/t/cold-3".into()));
        assert_eq!(get("COLDSTART_PRESET"), Some("balanced".into()));
    }

    #[test]
    fn arguments_select_exactly_the_fixtures_tests() {
        assert_eq!(
            in_process_args(Threads::One, Fixture::Base.tests()),
            [
                "--exact",
                "-q",
                "--test-threads=1",
                "t01",
                "t02",
                "t03",
                "t04"
            ]
        );
        let default = in_process_args(Threads::Default, &["t01"]);
        assert_eq!(default, ["--exact", "-q", "t01"]);
        assert_eq!(
            per_test_args("t07"),
            ["--exact", "t07", "--test-threads=1", "-q"]
        );
        assert_eq!(Fixture::Small.tests().len(), 12);
    }

    #[test]
    fn base_measures_fewer_conditions_but_one_of_each_kind() {
        let base = Fixture::Base.conditions();
        assert!(base.iter().any(|c| c.layout == Layout::ProcessPerTest));
        assert!(base.iter().any(|c| c.kernels == Kernels::Cold));
        assert!(
            base.iter()
                .any(|c| c.layout == Layout::InProcess(Threads::Default))
        );
        assert_eq!(Fixture::Small.conditions().len(), 5);
        assert_eq!(
            Condition {
                layout: Layout::InProcess(Threads::One),
                kernels: Kernels::Cold
            }
            .to_string(),
            "cargo test --test-threads=1, kernel-cold"
        );
    }
}
