//! The one-screen summary that ends a benchmark run (`cargo xtask bench`): each
//! benchmark's median and spread by group, the change against a stored baseline of
//! the same environment when there is one, and where Criterion's HTML report is.

use std::path::Path;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{change, figure, verdict_label};
use crate::gate::run::BenchRun;
use crate::gate::statistics::median;
use crate::gate::verdict::Comparison;

/// The summary of `run`; `against` is its comparison with a stored baseline, or the
/// reason there is none; `criterion_dir` is where Criterion wrote.
pub fn render(run: &BenchRun, against: Result<&Comparison, &str>, criterion_dir: &Path) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["group", "benchmark", "median", "range", "samples"];
    if against.is_ok() {
        header.extend(["vs baseline [CI]", "verdict"]);
    }
    t.set_header(header);
    let mut last_group = "";
    for (id, m) in &run.benchmarks {
        let (group, name) = id.split_once('/').unwrap_or((id.as_str(), ""));
        let shown_group = if group == last_group { "" } else { group };
        last_group = group;
        let values: Vec<f64> = m.samples_ns.iter().map(|&ns| m.unit.value(ns)).collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut row = vec![
            shown_group.to_string(),
            name.to_string(),
            figure(Some(median(&values)), m.unit),
            format!(
                "{} – {}",
                figure(Some(lo), m.unit),
                figure(Some(hi), m.unit)
            ),
            values.len().to_string(),
        ];
        if let Ok(c) = against {
            match c.benchmarks.iter().find(|b| &b.id == id) {
                Some(b) => row.extend([change(b), verdict_label(b)]),
                None => row.extend(["—".to_string(), "—".to_string()]),
            }
        }
        t.add_row(row);
    }
    let mut out = format!("{t}\n");
    match against {
        Ok(c) => out.push_str(&format!(
            "against the samples stored in {}: measured at another time, so a change of the \
             machine reads as a change of the code; `cargo xtask bench-compare` measures both \
             sides side by side\n",
            c.baseline.file.as_deref().unwrap_or("?")
        )),
        Err(why) => out.push_str(&format!("no comparison: {why}\n")),
    }
    out.push_str(&format!(
        "Criterion's HTML report: {}\n",
        criterion_dir.join("report").join("index.html").display()
    ));
    out
}
