//! What the replayed gates cost in measuring time: each benchmark's seconds a round
//! and each group's servers' seconds a round, from one recorded run's accounting
//! ([`BenchComparison::measuring_s`], [`Comparison::groups`]), times the rounds the
//! replay's A/A gates took on average. Expectations add, so the mean rounds are
//! enough: no simulated gate has to be priced one by one.
//!
//! What the price leaves as it was recorded: a round's servers are priced at the
//! run's average over its rounds, which mixes rounds with pinned and unpinned server
//! pairs (a group with `pin = false` benchmarks starts two pairs a round while they
//! are undecided); the first round's unpinned pair, started for the greetings before
//! measuring, is not in the run's accounting; and the machine's speed is the
//! recording machine's.
//!
//! [`BenchComparison::measuring_s`]: crate::gate::verdict::BenchComparison::measuring_s
//!
//! ```
//! use mlx_profiler::gate::replay::cost::RoundCosts;
//! use std::collections::BTreeMap;
//! let costs = RoundCosts {
//!     bench: BTreeMap::from([("cold/a".to_string(), 4.0), ("cold/b".to_string(), 1.0)]),
//!     servers: BTreeMap::from([("cold".to_string(), 0.5)]),
//! };
//! // cold/a took 20 rounds on average, cold/b 16; the group ran 20.
//! let rounds = BTreeMap::from([("cold/a".to_string(), 20.0), ("cold/b".to_string(), 16.0)]);
//! let t = costs.expected(&rounds, &[("cold".to_string(), 20.0)]);
//! assert_eq!(t.groups, [("cold".to_string(), 4.0 * 20.0 + 16.0 + 0.5 * 20.0)]);
//! assert!(t.unpriced.is_empty());
//! ```

use std::collections::BTreeMap;

use super::group_of;
use crate::gate::verdict::Comparison;

/// Seconds a round, per benchmark and per group's servers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundCosts {
    /// Per benchmark id: its set-ups and pairs, both sides, per round it took.
    pub bench: BTreeMap<String, f64>,
    /// Per group: starting and stopping its servers, per round it ran.
    pub servers: BTreeMap<String, f64>,
}

/// The expected measuring time of a gate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectedTime {
    /// Per group, in the order given: seconds.
    pub groups: Vec<(String, f64)>,
    /// Benchmarks with rounds but no price, and groups whose servers have none (the
    /// run priced from did not measure them): left out of the figures, which then
    /// understate.
    pub unpriced: Vec<String>,
}

impl ExpectedTime {
    /// All groups together.
    pub fn total(&self) -> f64 {
        self.groups.iter().map(|(_, s)| s).sum()
    }
}

impl RoundCosts {
    /// The costs `run` recorded, or `None` for a run recorded before the gate kept
    /// its accounting (no group times).
    pub fn from_run(run: &Comparison) -> Option<Self> {
        if run.groups.is_empty() {
            return None;
        }
        let bench = run
            .benchmarks
            .iter()
            .filter_map(|b| {
                let rounds = b.rounds.len() + b.unjudged_rounds.len();
                let spent = b.measuring_s?;
                (rounds > 0).then(|| (b.id.clone(), spent / rounds as f64))
            })
            .collect();
        let servers = run
            .groups
            .iter()
            .filter(|g| g.rounds > 0)
            .map(|g| {
                (
                    g.group.clone(),
                    (g.starting_servers_s + g.stopping_servers_s) / g.rounds as f64,
                )
            })
            .collect();
        Some(RoundCosts { bench, servers })
    }

    /// The expected seconds of a gate whose benchmarks take `rounds` on average (per
    /// id) and whose groups run `group_rounds` (the most any member took, on
    /// average; a gate whose benchmarks' looks interleave runs a few more, each
    /// a round of its servers' starts and stops, which this leaves out), per group
    /// in that order.
    pub fn expected(
        &self,
        rounds: &BTreeMap<String, f64>,
        group_rounds: &[(String, f64)],
    ) -> ExpectedTime {
        let mut unpriced = Vec::new();
        let groups = group_rounds
            .iter()
            .map(|(group, n)| {
                let servers = match self.servers.get(group) {
                    Some(each) => each * n,
                    None => {
                        unpriced.push(format!("{group}'s servers"));
                        0.0
                    }
                };
                let benches: f64 = rounds
                    .iter()
                    .filter(|(id, _)| group_of(id) == group)
                    .map(|(id, r)| match self.bench.get(id) {
                        Some(each) => each * r,
                        None => {
                            unpriced.push(id.clone());
                            0.0
                        }
                    })
                    .sum();
                (group.clone(), servers + benches)
            })
            .collect();
        ExpectedTime { groups, unpriced }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::verdict::GroupMeasuring;

    #[test]
    fn a_run_prices_each_benchmark_by_its_rounds_and_each_group_by_its_servers() {
        let bench = |id: &str, rounds: usize, unjudged: usize, spent: Option<f64>| {
            serde_json::from_value::<crate::gate::verdict::BenchComparison>(serde_json::json!({
                "id": id, "verdict": "unchanged", "unit": "nanoseconds",
                "baseline_median": 1.0, "candidate_median": 1.0, "shift": null,
                "threshold": 0.05, "metrics": [], "advisory": false, "reason": "",
                "rounds": vec![0.0; rounds], "unjudged_rounds": vec![0.0; unjudged],
                "measuring_s": spent,
            }))
            .unwrap()
        };
        let mut run = super::super::paired_run(vec![
            bench("cold/k", 2, 2, Some(8.0)),
            bench("cold/old", 1, 0, None),
        ]);
        assert_eq!(RoundCosts::from_run(&run), None);
        run.groups.push(GroupMeasuring {
            group: "cold".into(),
            rounds: 4,
            seconds: 12.0,
            starting_servers_s: 1.5,
            setting_up_s: 3.0,
            stopping_servers_s: 0.5,
        });
        let costs = RoundCosts::from_run(&run).unwrap();
        // Judged and unjudged rounds both count; a benchmark without the key is
        // not priced.
        assert_eq!(costs.bench, BTreeMap::from([("cold/k".to_string(), 2.0)]));
        assert_eq!(costs.servers, BTreeMap::from([("cold".to_string(), 0.5)]));
        let rounds = BTreeMap::from([
            ("cold/k".to_string(), 10.0),
            ("cold/old".to_string(), 8.0),
            ("warm/w".to_string(), 8.0),
        ]);
        let t = costs.expected(&rounds, &[("cold".to_string(), 10.0)]);
        assert_eq!(t.groups, [("cold".to_string(), 2.0 * 10.0 + 0.5 * 10.0)]);
        assert_eq!(t.total(), 25.0);
        assert_eq!(t.unpriced, ["cold/old"]);
        // A group the run did not time is named too, not priced at zero in silence.
        let t = costs.expected(&rounds, &[("warm".to_string(), 8.0)]);
        assert_eq!(t.unpriced, ["warm's servers", "warm/w"]);
    }
}
