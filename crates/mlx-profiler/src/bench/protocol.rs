//! The A/B protocol between the gate and a bench executable in serve mode: JSON lines
//! on the child's stdin and stdout.
//!
//! With [`SERVE_ENV`] set, a bench executable built on [`Suite`](super::Suite) does
//! not run Criterion: it prints a [`Hello`] naming its benchmarks, then answers each
//! [`Request`] with a [`Reply`] until its stdin closes. The gate starts the baseline
//! revision's executable and the candidate's side by side and asks them for samples
//! in turn, so that both are measured in the same minutes of the same machine.
//!
//! ```
//! use mlx_profiler::bench::protocol::{Request, Reply};
//! let r: Request = serde_json::from_str(r#"{"op":"run","id":"warm/forward_tiny","iters":8}"#).unwrap();
//! assert_eq!(r, Request::Run { id: "warm/forward_tiny".into(), iters: 8, repeats: 1 });
//! let ok = Reply::sample(vec![1.0e6, 0.5e6], Default::default());
//! assert!(serde_json::to_string(&ok).unwrap().contains("\"ns\":1500000"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gate::environment::Fingerprint;

/// Name of the protocol in every [`Hello`].
pub const PROTOCOL: &str = "mlx-coldstart-bench";

/// Version of the protocol: a gate refuses an executable that speaks another one.
pub const PROTOCOL_VERSION: u32 = 1;

/// Set (to anything) in a bench executable's environment: serve instead of Criterion.
pub const SERVE_ENV: &str = "COLDSTART_BENCH_SERVE";

/// Directory holding the binaries of the revision a bench executable belongs to (the
/// probe, a user's command), for [`bin_path`](super::bin_path): the gate keeps each
/// revision's binaries in a directory of their own.
pub const BIN_DIR_ENV: &str = "COLDSTART_BIN_DIR";

/// A directory the gate gives each side for the whole run (kept across its rounds):
/// state a benchmark can reuse between its processes, such as a primed kernel cache.
pub const SCRATCH_ENV: &str = "COLDSTART_BENCH_SCRATCH";

/// Set by the gate for every round after the first: the server skips detecting its
/// environment (hashing the suite's inputs), which the first round already reported.
pub const NO_FINGERPRINT_ENV: &str = "COLDSTART_BENCH_NO_FINGERPRINT";

/// `COLDSTART_BENCH_MODE`: `quick` or `full`.
pub const MODE_ENV: &str = "COLDSTART_BENCH_MODE";

/// How long and how often the benches measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BenchMode {
    /// Few, short samples: the CI gate's mode.
    Quick,
    /// Criterion's usual sampling, more A/B pairs.
    Full,
}

impl BenchMode {
    /// `quick` or `full`, as in file names and fingerprints.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchMode::Quick => "quick",
            BenchMode::Full => "full",
        }
    }

    /// Parses `quick` or `full`; the error names the variable, the value and the
    /// allowed values.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "quick" => Ok(BenchMode::Quick),
            "full" => Ok(BenchMode::Full),
            other => Err(format!(
                "{MODE_ENV}={other:?} is not a bench mode; use `quick` or `full`"
            )),
        }
    }
}

impl std::fmt::Display for BenchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a benchmark's figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Time per iteration, nanoseconds.
    #[default]
    Nanoseconds,
    /// A dimensionless ratio, carried through Criterion as 100 ms per unit (a routine
    /// returns `ratio × 100 ms`), so that Criterion's own report stays readable.
    Ratio,
}

impl Unit {
    /// The figure of a per-iteration time of `ns` nanoseconds in this unit.
    ///
    /// ```
    /// use mlx_profiler::bench::protocol::Unit;
    /// assert_eq!(Unit::Ratio.value(1e8), 1.0);
    /// assert_eq!(Unit::Nanoseconds.value(250.0), 250.0);
    /// ```
    pub fn value(self, ns: f64) -> f64 {
        match self {
            Unit::Nanoseconds => ns,
            Unit::Ratio => ns / RATIO_SCALE_NS,
        }
    }

    /// `ns` or `ratio`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Ratio => "ratio",
        }
    }
}

/// Nanoseconds that stand for a ratio of 1 (see [`Unit::Ratio`]).
pub const RATIO_SCALE_NS: f64 = 1e8;

/// One benchmark an executable offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchInfo {
    /// Full id, `group/name`.
    pub id: String,
    /// Unit of its figure.
    pub unit: Unit,
    /// Every iteration is a process of its own (or otherwise long and unbatched): one
    /// iteration a sample.
    pub unbatched: bool,
    /// Every iteration is a fresh process, and the set-up already ran one: the
    /// server has nothing to warm up, and honours [`Request::Prepare`] with
    /// `warm_up: false` (absent in the greetings of servers built before the field:
    /// those always warm up, so the gate warms up both sides unless both report it).
    #[serde(default)]
    pub fresh_process: bool,
    /// Its set-up already ran the routine's work once, on everything the routine
    /// uses: a warm-up iteration adds nothing, and the server honours
    /// [`Request::Prepare`] with `warm_up: false` (absent in older greetings, read
    /// as false, as for [`fresh_process`](Self::fresh_process)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmed_by_setup: bool,
}

impl BenchInfo {
    /// Whether its server has nothing to warm up: a fresh process each iteration, or
    /// a set-up that already ran the routine's work.
    ///
    /// ```
    /// use mlx_profiler::bench::protocol::BenchInfo;
    /// let info: BenchInfo =
    ///     serde_json::from_str(r#"{"id":"g/a","unit":"nanoseconds","unbatched":false}"#).unwrap();
    /// assert!(!info.needs_no_warm_up());
    /// assert!(BenchInfo { warmed_by_setup: true, ..info.clone() }.needs_no_warm_up());
    /// assert!(BenchInfo { fresh_process: true, ..info }.needs_no_warm_up());
    /// ```
    pub fn needs_no_warm_up(&self) -> bool {
        self.fresh_process || self.warmed_by_setup
    }
}

/// The first line a serving executable prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL`].
    pub protocol: String,
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The group (Criterion group name).
    pub group: String,
    /// The mode it was started in.
    pub mode: BenchMode,
    /// Its environment (`None` when detection failed; `error` says why).
    pub environment: Option<Fingerprint>,
    /// Why the environment could not be detected.
    #[serde(default)]
    pub error: Option<String>,
    /// Its benchmarks, in definition order.
    pub benchmarks: Vec<BenchInfo>,
}

/// A request of the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Set the benchmark up (once) and, unless `warm_up` is false, run one iteration
    /// as a warm-up.
    Prepare {
        /// Full id.
        id: String,
        /// `false`: set up only, no warm-up iteration, for a benchmark that
        /// [`BenchInfo::needs_no_warm_up`] (a server warms any other up anyway);
        /// its reply's time is zero, with no batches.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        warm_up: bool,
    },
    /// Run `iters` iterations `repeats` times and report each batch's total time.
    Run {
        /// Full id.
        id: String,
        /// Iterations a batch.
        iters: u64,
        /// Batches (1 when absent).
        #[serde(default = "one")]
        repeats: u32,
    },
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// The answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether it worked.
    pub ok: bool,
    /// Total time of all batches, ns (in the benchmark's unit scale).
    #[serde(default)]
    pub ns: Option<f64>,
    /// Total time of each batch, ns.
    #[serde(default)]
    pub each_ns: Vec<f64>,
    /// The benchmark's deterministic metrics as they stand after the request.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// What went wrong (set-up error, panic message).
    #[serde(default)]
    pub error: Option<String>,
}

impl Reply {
    /// The times of one or more batches.
    pub fn sample(each_ns: Vec<f64>, metrics: BTreeMap<String, f64>) -> Self {
        Reply {
            ok: true,
            ns: Some(each_ns.iter().sum()),
            each_ns,
            metrics,
            error: None,
        }
    }

    /// A failure.
    pub fn failure(error: impl Into<String>) -> Self {
        Reply {
            ok: false,
            ns: None,
            each_ns: Vec::new(),
            metrics: BTreeMap::new(),
            error: Some(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_name_the_variable_when_wrong() {
        assert_eq!(BenchMode::parse("quick"), Ok(BenchMode::Quick));
        assert_eq!(BenchMode::parse("full").unwrap().as_str(), "full");
        let e = BenchMode::parse("fast").unwrap_err();
        assert!(
            e.contains("COLDSTART_BENCH_MODE") && e.contains("\"fast\"") && e.contains("quick")
        );
    }

    #[test]
    fn requests_and_replies_round_trip() {
        for r in [
            Request::Prepare {
                id: "a/b".into(),
                warm_up: true,
            },
            Request::Prepare {
                id: "a/b".into(),
                warm_up: false,
            },
            Request::Run {
                id: "a/b".into(),
                iters: 3,
                repeats: 5,
            },
        ] {
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        }
        let f = Reply::failure("boom");
        let back: Reply = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }

    #[test]
    fn servers_and_gates_of_before_fresh_process_still_understand_each_other() {
        // An older gate's request warms up; a request that warms up reads as before.
        let old: Request = serde_json::from_str(r#"{"op":"prepare","id":"a/b"}"#).unwrap();
        assert_eq!(
            old,
            Request::Prepare {
                id: "a/b".into(),
                warm_up: true
            }
        );
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"op":"prepare","id":"a/b"}"#
        );
        // An older server's greeting: no fresh_process, so it must be warmed up.
        let info: BenchInfo =
            serde_json::from_str(r#"{"id":"a/b","unit":"nanoseconds","unbatched":true}"#).unwrap();
        assert!(!info.fresh_process && !info.warmed_by_setup);
        // A greeting without it says nothing new (older gates read it as before).
        assert!(
            !serde_json::to_string(&info)
                .unwrap()
                .contains("warmed_by_setup")
        );
    }
}
