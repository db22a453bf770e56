//! Markdown export: a report a person reads (and a CI job can post).

use std::fmt::Write as _;

use super::Exporter;
use crate::report::Profile;
use crate::table::MarkdownTable;

/// The Markdown report.
pub struct Markdown;

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

impl Exporter<Profile> for Markdown {
    fn extension(&self) -> &'static str {
        "md"
    }

    fn render(&self, p: &Profile) -> String {
        let mut o = String::new();
        match &p.command {
            Some(cmd) => {
                let _ = writeln!(
                    o,
                    "# MLX start-up profile of `{}` ({} mode)\n\nCommand: `{}`; phases are the ones it marked (`mlx_manager::marks`).\n",
                    p.fixture,
                    p.mode,
                    cmd.join(" ")
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "# MLX start-up profile ({} mode, fixture `{}`)\n",
                    p.mode, p.fixture
                );
            }
        }
        let _ = writeln!(
            o,
            "{} · {} {} · {} ({} cores) · {} · git {} · mlx-profiler {}\n",
            p.provenance.created_utc,
            p.provenance.host.os,
            p.provenance.host.arch,
            p.provenance.host.cpu,
            p.provenance.host.cores,
            p.runtime,
            p.provenance.git_revision.as_deref().unwrap_or("unknown"),
            p.provenance.tool_version
        );
        let stem = super::stem(p);
        for (name, alt) in [
            ("waterfall", "Cold start phases"),
            ("states", "Start-up per cache state"),
            ("memory", "Memory at each phase"),
        ] {
            let _ = writeln!(o, "![{alt}]({stem}-{name}.svg)\n");
        }
        let _ = writeln!(
            o,
            "PNG versions: `{stem}-{{waterfall,states,memory}}.png`.\n"
        );
        let _ = writeln!(o, "## Grades\n");
        if let Some(state) = p.graded_state {
            let _ = writeln!(o, "Graded on the {state} state's medians.\n");
        }
        let mut grades = MarkdownTable::new(["metric", "value", "grade"]);
        for g in &p.grades {
            let value = g
                .value
                .map_or("not measured".to_string(), |v| format!("{v:.3} {}", g.unit));
            let grade = g.grade.map_or("—".to_string(), |g| format!("{g:?}"));
            grades.row([g.metric.clone(), value, grade]);
        }
        o.push_str(&grades.render());
        let _ = writeln!(
            o,
            "\nOverall: **{}**\n",
            p.overall
                .map_or("not graded".to_string(), |g| format!("{g:?}"))
        );

        let _ = writeln!(o, "## Cold start by phase (median ms, range in brackets)\n");
        let mut phases = MarkdownTable::new(
            std::iter::once("phase".to_string()).chain(
                p.states
                    .iter()
                    .map(|s| format!("{} (n={})", s.state, s.samples)),
            ),
        );
        if let Some(first) = p.states.first() {
            for (i, ph) in first.phases.iter().enumerate() {
                phases.row(
                    std::iter::once(ph.name.clone()).chain(p.states.iter().map(|s| {
                        let d = &s.phases[i].duration;
                        format!("{:.1} [{:.1}–{:.1}]", d.median_ms, d.min_ms, d.max_ms)
                    })),
                );
            }
            phases.row(
                std::iter::once("unattributed (last mark to exit)".to_string()).chain(
                    p.states
                        .iter()
                        .map(|s| format!("{:.1}", s.unattributed.median_ms)),
                ),
            );
            phases.row(
                std::iter::once("**total (spawn to exit)**".to_string()).chain(
                    p.states.iter().map(|s| {
                        format!(
                            "**{:.1}** [{:.1}–{:.1}]",
                            s.total.median_ms, s.total.min_ms, s.total.max_ms
                        )
                    }),
                ),
            );
        }
        o.push_str(&phases.render());

        let _ = writeln!(o, "\n## Memory (median, MiB at the end of each phase)\n");
        for s in &p.states {
            let _ = writeln!(
                o,
                "**{}**: overhead over the process baseline {} MiB; kernels compiled: {}.",
                s.state,
                mib(s.memory_overhead_bytes),
                s.kernels_compiled
            );
            for r in &s.eviction {
                let _ = writeln!(
                    o,
                    "- page cache: {} ({} MiB) {:.0} % resident after eviction{}",
                    r.path.display(),
                    mib(r.bytes),
                    100.0 * r.resident_after,
                    if r.resident_after > 0.5 {
                        " — eviction did not take (mapped by a running process, or an in-memory file system)"
                    } else {
                        ""
                    }
                );
            }
        }
        if let Some(first) = p.states.first() {
            let mut memory = MarkdownTable::new(["phase", "RSS", "MLX active", "MLX peak"]);
            // A profiled program reports its RSS at each mark; MLX's own counters are
            // read only inside our probe.
            let mlx = |b: u64| {
                if p.command.is_some() {
                    "—".to_string()
                } else {
                    mib(b)
                }
            };
            for ph in &first.phases {
                memory.row([
                    ph.name.clone(),
                    mib(ph.rss_bytes),
                    mlx(ph.mlx_active_bytes),
                    mlx(ph.mlx_peak_bytes),
                ]);
            }
            let _ = write!(o, "\n{}", memory.render());
            let _ = writeln!(o, "\n(state {})", first.state);
        }

        let _ = writeln!(o, "\n## Bottlenecks\n");
        for b in &p.bottlenecks {
            let _ = writeln!(
                o,
                "- **{}** {:.1} ms, {:.0} % of the cold start — {}: {}",
                b.phase,
                b.median_ms,
                100.0 * b.share,
                b.cause.describe(),
                b.evidence
            );
        }
        let _ = writeln!(o, "\n## Suggestions\n");
        for s in &p.suggestions {
            let gain = s.measured_gain_ms.map_or(String::new(), |g| {
                format!(" (measured here: {g:.1} ms per process)")
            });
            let _ = writeln!(o, "- {}{gain}", s.advice);
        }
        o
    }
}
