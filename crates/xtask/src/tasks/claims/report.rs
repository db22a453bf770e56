//! The arithmetic of the claims (medians and ranges over rounds, ratios taken within
//! each round) and the Markdown document that shows them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mlx_profiler::gate::statistics::median;

use super::plan::{Condition, Fixture, VARIANTS, VariantId, variant};
use super::runner::RunFigures;

/// One fixture's measurement: every condition's runs, by variant, one per round.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The fixture.
    pub fixture: Fixture,
    /// Rounds run.
    pub rounds: usize,
    /// Each condition and its runs.
    pub conditions: Vec<(Condition, BTreeMap<VariantId, Vec<RunFigures>>)>,
}

/// A median with the range it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub low: f64,
    /// The largest value.
    pub high: f64,
}

impl Spread {
    /// The spread of `v` (NaN for an empty or non-finite list).
    pub fn of(v: &[f64]) -> Spread {
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return Spread {
                median: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            };
        }
        Spread {
            median: median(v),
            low: v.iter().copied().fold(f64::INFINITY, f64::min),
            high: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `median (low–high)` with `decimals` places, or `n/a`.
    fn show(&self, decimals: usize) -> String {
        if self.median.is_nan() {
            return "n/a".into();
        }
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.low,
            self.high,
            d = decimals
        )
    }
}

/// A figure of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Suite wall time, seconds.
    Wall,
    /// Time to the first test's result, seconds.
    FirstResult,
    /// The tests' waits for the model, summed, seconds.
    Overhead,
    /// Peak RSS, MiB.
    PeakRss,
}

impl Metric {
    fn of(self, r: &RunFigures) -> f64 {
        match self {
            Metric::Wall => r.wall.as_secs_f64(),
            Metric::FirstResult => r.first_result.as_secs_f64(),
            Metric::Overhead => r.waited.as_secs_f64(),
            Metric::PeakRss => r.peak_rss_kib as f64 / 1024.0,
        }
    }
}

/// A metric of one variant over the rounds.
pub fn spread(runs: &[RunFigures], metric: Metric) -> Spread {
    Spread::of(&runs.iter().map(|r| metric.of(r)).collect::<Vec<_>>())
}

/// The ratio of a variant's metric to the reference's, taken within each round.
pub fn ratio(runs: &[RunFigures], reference: &[RunFigures], metric: Metric) -> Spread {
    let ratios: Vec<f64> = runs
        .iter()
        .zip(reference)
        .map(|(r, b)| metric.of(r) / metric.of(b))
        .collect();
    Spread::of(&ratios)
}

/// One of the original design's claims: which variant it is about, against which,
/// on which metric, and the saving it promised.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// The claim as the design put it.
    pub text: &'static str,
    /// The variant that should save.
    pub variant: VariantId,
    /// What it is compared with.
    pub reference: VariantId,
    /// What is saved.
    pub metric: Metric,
    /// The smallest saving that makes the claim hold (a fraction).
    pub claimed: f64,
}

/// The claims, each judged against the variant that isolates it.
pub const CLAIMS: [Claim; 4] = [
    Claim {
        text: "lazy loading cuts suite overhead 50–70 % (lazy-only against none: the tests' waits for the model)",
        variant: VariantId::LazyOnly,
        reference: VariantId::None,
        metric: Metric::Overhead,
        claimed: 0.50,
    },
    Claim {
        text: "instance sharing cuts memory 30–50 % (sharing-only against none: peak RSS)",
        variant: VariantId::SharingOnly,
        reference: VariantId::None,
        metric: Metric::PeakRss,
        claimed: 0.30,
    },
    Claim {
        text: "mocks cut unit-test time 90 % (mock against the same suite on MLX with the default preset: wall time)",
        variant: VariantId::Mock,
        reference: VariantId::Balanced,
        metric: Metric::Wall,
        claimed: 0.90,
    },
    Claim {
        text: "pre-warming eliminates repeated overhead (aggressive against pooled-only, the same pool without pre-warm: the tests' waits; \"eliminates\" read as at least 90 % less)",
        variant: VariantId::Aggressive,
        reference: VariantId::PooledOnly,
        metric: Metric::Overhead,
        claimed: 0.90,
    },
];

/// Whether a claim holds under one condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every round saved at least the claimed fraction.
    Holds,
    /// Some rounds did, some did not.
    Mixed,
    /// No round did.
    Fails,
}

impl Verdict {
    /// The verdict on per-round savings against the claimed fraction.
    pub fn of(saving: &Spread, claimed: f64) -> Verdict {
        if saving.low >= claimed {
            Verdict::Holds
        } else if saving.high >= claimed {
            Verdict::Mixed
        } else {
            Verdict::Fails
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Mixed => "in some rounds",
            Verdict::Fails => "does not hold",
        }
    }
}

/// The saving (1 − ratio) of a claim under one condition, per round.
pub fn saving(claim: &Claim, runs: &BTreeMap<VariantId, Vec<RunFigures>>) -> Option<Spread> {
    let r = ratio(
        runs.get(&claim.variant)?,
        runs.get(&claim.reference)?,
        claim.metric,
    );
    Some(Spread {
        median: 1.0 - r.median,
        low: 1.0 - r.high,
        high: 1.0 - r.low,
    })
}

/// What the document says about the machine and the tools.
#[derive(Debug, Clone)]
pub struct Context {
    /// CPU model, cores, OS and architecture.
    pub machine: String,
    /// The one-minute load average when the run started, where known.
    pub load: Option<f64>,
    /// `cargo nextest --version`, or `None` when it is not installed.
    pub nextest: Option<String>,
}

/// The document.
pub fn render(measured: &[Measured], ctx: &Context) -> String {
    let mut out = String::new();
    let load = ctx
        .load
        .map(|l| format!(", load average {l:.1} when the run started (a shared, busy machine)"))
        .unwrap_or_default();
    let _ = writeln!(out, "# The manager's claims, measured\n");
    let _ = writeln!(
        out,
        "Generated by `cargo xtask manager-claims` (do not edit). Machine: {}{load}.\n",
        ctx.machine
    );
    render_claims(&mut out, measured);
    render_suite(&mut out, measured, ctx);
    for m in measured {
        for (condition, runs) in &m.conditions {
            render_condition(&mut out, m, condition, runs);
        }
    }
    out
}

fn render_claims(out: &mut String, measured: &[Measured]) {
    let _ = writeln!(
        out,
        "## The claims\n\nThe original design's claims, each against the variant that isolates it. \
         Savings are 1 − the ratio of the two, taken within each round; median (range over the rounds). \
         A claim holds where every round saved at least the claimed fraction.\n"
    );
    for claim in &CLAIMS {
        let _ = writeln!(out, "**{}**\n", claim.text);
        let _ = writeln!(out, "| fixture | condition | saving | verdict |");
        let _ = writeln!(out, "|---|---|---|---|");
        for m in measured {
            for (condition, runs) in &m.conditions {
                if let Some(s) = saving(claim, runs) {
                    let pct = Spread {
                        median: 100.0 * s.median,
                        low: 100.0 * s.low,
                        high: 100.0 * s.high,
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {condition} | {} % | {} |",
                        m.fixture.name(),
                        pct.show(0),
                        Verdict::of(&s, claim.claimed).word()
                    );
                }
            }
        }
        let _ = writeln!(out);
    }
}

fn render_suite(out: &mut String, measured: &[Measured], ctx: &Context) {
    let _ = writeln!(
        out,
        "## What ran\n\n\
         The suite is tests/encoder_suite.rs: tests shaped like a speech app's, served by one \
         `SuiteInstance` of the encoder fixture through `mlx_fixtures::encoder::SendEncoder` (each build reads \
         the weights file, evaluates every weight and runs one forward pass as its warm-up; the activation is \
         `compile`d, so the first forward pass of a process has MLX JIT-compile a kernel with g++, or load it \
         from the kernel cache). Odd tests run the encoder on their input and check its output; even tests check \
         only their own plain-Rust preprocessing. Every test first does its own set-up (its input through a \
         filterbank, in plain Rust). How a test asks for the model follows the configuration: pre-warming, its \
         set-up of a test that uses the model starts the build and goes on; not lazy, its set-up gets the model first and holds it, used or \
         not, as a `setUp` fixture does; lazy, it asks when and if its body needs the model.\n"
    );
    let _ = writeln!(out, "| fixture | tests (using the model) | rounds |");
    let _ = writeln!(out, "|---|---|---|");
    for m in measured {
        let tests = m.fixture.tests().len();
        let _ = writeln!(
            out,
            "| {} ({}) | {tests} ({}) | {} |",
            m.fixture.name(),
            m.fixture.shape(),
            tests.div_ceil(2),
            m.rounds
        );
    }
    let _ = writeln!(out, "\nThe variants:\n");
    for v in &VARIANTS {
        let vars: Vec<String> = v.env.iter().map(|(k, x)| format!("{k}={x}")).collect();
        let _ = writeln!(
            out,
            "- **{}**: {} (`{}`)",
            v.label,
            v.description,
            vars.join(" ")
        );
    }
    let nextest = match &ctx.nextest {
        Some(version) => format!(
            "cargo-nextest is installed ({version}); the figures still come from the test binary run \
             once per test, which is how nextest runs it"
        ),
        None => "cargo-nextest is not installed here; the test binary run once per test \
                 (`--exact <name> --test-threads=1`) is how nextest runs it"
            .into(),
    };
    let _ = writeln!(
        out,
        "\nEach round runs every variant once under every condition, the variants in an order rotated \
         from round to round. Kernel-cold runs get an empty `TMPDIR` of their own (MLX's CPU kernel cache is \
         `$TMPDIR/mlx/<version>/cpu`); kernel-warm runs share one that a run before the first round filled. \
         A process per test runs the tests one after another, so their peak RSS is the largest process's; \
         {nextest}. Wall time runs from the first spawn to the last exit; the first result is the end of the \
         first test to finish; the overhead is the time tests spent waiting for the model (in `get()`), per \
         test; peak RSS is the largest that a test of the run logged for its own process (`getrusage(RUSAGE_SELF)` \
         at the end of each test: wait4 on the process would report the g++ that MLX runs for a cold kernel, \
         which is larger than the suite). Ratios (×) are to **none**, taken within each round.\n"
    );
}

fn render_condition(
    out: &mut String,
    m: &Measured,
    condition: &Condition,
    runs: &BTreeMap<VariantId, Vec<RunFigures>>,
) {
    let Some(reference) = runs.get(&VariantId::None) else {
        return;
    };
    let _ = writeln!(out, "### {}: {condition}\n", m.fixture.name());
    let _ = writeln!(
        out,
        "| variant | wall s | × none | first result s | overhead per test ms | overhead × none | peak RSS MiB | RSS × none |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (id, vruns) in runs {
        let per_test: Vec<f64> = vruns
            .iter()
            .map(|r| r.per_test_overhead().as_secs_f64() * 1e3)
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            variant(*id).label,
            spread(vruns, Metric::Wall).show(2),
            ratio(vruns, reference, Metric::Wall).show(2),
            spread(vruns, Metric::FirstResult).show(2),
            Spread::of(&per_test).show(0),
            ratio(vruns, reference, Metric::Overhead).show(2),
            spread(vruns, Metric::PeakRss).show(0),
            ratio(vruns, reference, Metric::PeakRss).show(2),
        );
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::plan::{Kernels, Layout, Threads};
    use super::*;

    fn run(wall_ms: u64, waited_ms: u64, rss_mib: u64) -> RunFigures {
        RunFigures {
            wall: Duration::from_millis(wall_ms),
            first_result: Duration::from_millis(wall_ms / 4),
            waited: Duration::from_millis(waited_ms),
            tests: 4,
            peak_rss_kib: rss_mib * 1024,
        }
    }

    /// Three rounds: none, lazy-only (a third to a half of none's waits), sharing-only
    /// (memory 20–40 % lower), pooled-only, aggressive, balanced, mock.
    fn measured() -> Measured {
        let runs = BTreeMap::from([
            (
                VariantId::None,
                vec![
                    run(4000, 3000, 200),
                    run(5000, 4000, 200),
                    run(4400, 3000, 250),
                ],
            ),
            (
                VariantId::LazyOnly,
                vec![
                    run(2000, 1000, 200),
                    run(3000, 2000, 200),
                    run(2200, 1200, 250),
                ],
            ),
            (
                VariantId::SharingOnly,
                vec![
                    run(1500, 600, 160),
                    run(1600, 700, 120),
                    run(1500, 600, 200),
                ],
            ),
            (
                VariantId::PooledOnly,
                vec![
                    run(1500, 1000, 200),
                    run(1600, 1000, 200),
                    run(1500, 1000, 250),
                ],
            ),
            (
                VariantId::Aggressive,
                vec![run(1400, 50, 200), run(1500, 80, 200), run(1400, 120, 250)],
            ),
            (
                VariantId::Balanced,
                vec![
                    run(1500, 600, 160),
                    run(1600, 700, 160),
                    run(1500, 600, 200),
                ],
            ),
            (
                VariantId::Mock,
                vec![run(100, 0, 20), run(120, 0, 20), run(90, 0, 20)],
            ),
        ]);
        Measured {
            fixture: Fixture::Base,
            rounds: 3,
            conditions: vec![(
                Condition {
                    layout: Layout::InProcess(Threads::One),
                    kernels: Kernels::Cold,
                },
                runs,
            )],
        }
    }

    #[test]
    fn spreads_and_ratios_are_taken_within_rounds() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.low, s.high), (2.0, 1.0, 3.0));
        assert!(Spread::of(&[]).median.is_nan());
        assert!(Spread::of(&[1.0, f64::INFINITY]).median.is_nan());
        let m = measured();
        let runs = &m.conditions[0].1;
        let r = ratio(
            &runs[&VariantId::LazyOnly],
            &runs[&VariantId::None],
            Metric::Overhead,
        );
        // Per round 1/3, 2/4, 1.2/3: median 0.4, not the ratio of the medians (0.4 too
        // here, so check the range).
        assert!((r.median - 0.4).abs() < 1e-9 && (r.low - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.high - 0.5).abs() < 1e-9);
    }

    #[test]
    fn verdicts_need_every_round_for_holds_and_none_for_fails() {
        let m = measured();
        let runs = &m.conditions[0].1;
        let verdict = |i: usize| {
            let s = saving(&CLAIMS[i], runs).unwrap();
            (s, Verdict::of(&s, CLAIMS[i].claimed))
        };
        let (lazy, v) = verdict(0);
        assert!((lazy.median - 0.6).abs() < 1e-9 && (lazy.low - 0.5).abs() < 1e-9);
        assert_eq!(v, Verdict::Holds);
        // Sharing: memory 20 %, 40 %, 20 % lower: one round of three reaches 30 %.
        assert_eq!(verdict(1).1, Verdict::Mixed);
        // Mock against balanced: 92–94 % less.
        assert_eq!(verdict(2).1, Verdict::Holds);
        // Pre-warm: 88–95 % fewer waits than the same pool without it.
        assert_eq!(verdict(3).1, Verdict::Mixed);
        let none = Spread {
            median: 0.1,
            low: 0.0,
            high: 0.2,
        };
        assert_eq!(Verdict::of(&none, 0.3), Verdict::Fails);
    }

    #[test]
    fn the_document_shows_claims_variants_and_tables() {
        let doc = render(
            &[measured()],
            &Context {
                machine: "AMD EPYC 7B13, 2 cores, linux x86_64".into(),
                load: Some(4.3),
                nextest: None,
            },
        );
        assert!(doc.contains("Machine: AMD EPYC 7B13, 2 cores, linux x86_64, load average 4.3"));
        assert!(
            doc.contains(
                "| base | cargo test --test-threads=1, kernel-cold | 60 (50–67) % | holds |"
            ),
            "{doc}"
        );
        assert!(doc.contains(
            "| base | cargo test --test-threads=1, kernel-cold | 20 (20–40) % | in some rounds |"
        ));
        assert!(doc.contains("cargo-nextest is not installed here"));
        assert!(doc.contains("| base (d=512, 6 blocks, 3000 frames) | 4 (2) | 3 |"));
        assert!(doc.contains("- **sharing-only**: one instance shared by every test"));
        assert!(doc.contains("### base: cargo test --test-threads=1, kernel-cold"));
        // none's own row: ratios of exactly 1.
        assert!(doc.contains(
            "| none | 4.40 (4.00–5.00) | 1.00 (1.00–1.00) | 1.10 (1.00–1.25) | 750 (750–1000) | 1.00 (1.00–1.00) | 200 (200–250) | 1.00 (1.00–1.00) |"
        ), "{doc}");
    }
}
