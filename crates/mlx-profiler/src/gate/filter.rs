//! The `--only` filter: which benchmarks a comparison judges. A filter that selects
//! nothing is a mistake (a typo would otherwise judge nothing and pass), so each one
//! must match at least one benchmark, or the comparison stops naming it and the
//! nearest ids.

use crate::gate::error::GateError;

/// Benchmark ids, or prefixes of them (`warm/`, `cold/first_forward/kernel_cold`);
/// empty: every benchmark.
///
/// ```
/// use mlx_profiler::gate::filter::Only;
/// let only = Only(vec!["warm/".into()]);
/// assert!(only.selects("warm/forward_tiny") && !only.selects("cold/process_ready"));
/// let known = ["warm/forward_tiny".to_string(), "cold/process_ready".to_string()];
/// assert!(only.check(&known).is_ok());
/// let typo = Only(vec!["wram/forward_tiny".into()]);
/// let e = typo.check(&known).unwrap_err().to_string();
/// assert!(e.contains("wram/forward_tiny") && e.contains("warm/forward_tiny"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Only(pub Vec<String>);

impl Only {
    /// Whether `id` is judged.
    pub fn selects(&self, id: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|o| Self::matches(o, id))
    }

    fn matches(filter: &str, id: &str) -> bool {
        id == filter || id.starts_with(filter)
    }

    /// Fails (an input error, exit 2) when a filter matches none of `known`.
    pub fn check(&self, known: &[String]) -> Result<(), GateError> {
        for f in &self.0 {
            if known.iter().any(|id| Self::matches(f, id)) {
                continue;
            }
            let mut near: Vec<(f64, &String)> = known
                .iter()
                .map(|id| (strsim::jaro_winkler(f, id), id))
                .collect();
            near.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            let near: Vec<&str> = near.iter().take(3).map(|(_, id)| id.as_str()).collect();
            return Err(GateError::Usage {
                problem: format!(
                    "--only {f} matches no benchmark (of {}); nearest: {}",
                    known.len(),
                    if near.is_empty() {
                        "none, the run has no benchmark".into()
                    } else {
                        near.join(", ")
                    }
                ),
                fix: "give a benchmark id or a prefix of one (`warm/`, \
                      `cold/first_forward/kernel_cold`)"
                    .into(),
            });
        }
        Ok(())
    }
}
