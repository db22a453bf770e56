//! Plots for the Markdown report, as SVG and PNG: the phase waterfall of the cold
//! start, cold versus warm per cache state, and the memory at each phase.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::reference_state;
use crate::error::ProfileError;
use crate::report::Profile;

const SIZE: (u32, u32) = (900, 420);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The plots of a profile, by file stem.
pub const PLOTS: [&str; 3] = ["waterfall", "states", "memory"];

/// Draws every plot as `<stem>-<name>.svg` and `.png` in `dir`; returns the SVG and
/// PNG paths.
pub fn write_plots(dir: &Path, stem: &str, p: &Profile) -> Result<Vec<PathBuf>, ProfileError> {
    let mut out = Vec::new();
    for name in PLOTS {
        for ext in ["svg", "png"] {
            let path = dir.join(format!("{stem}-{name}.{ext}"));
            // Drawn under a temporary name, then renamed: never a half-drawn plot.
            let tmp = dir.join(format!(".{stem}-{name}.tmp.{ext}"));
            let drawn = if ext == "svg" {
                draw(name, p, SVGBackend::new(&tmp, SIZE).into_drawing_area())
            } else {
                draw(name, p, BitMapBackend::new(&tmp, SIZE).into_drawing_area())
            };
            if let Err(e) = drawn {
                let _ = std::fs::remove_file(&tmp);
                return Err(plot_error(&path, e));
            }
            std::fs::rename(&tmp, &path).map_err(|e| ProfileError::io("write", &path, e))?;
            out.push(path);
        }
    }
    Ok(out)
}

fn plot_error(path: &Path, e: Box<dyn std::error::Error>) -> ProfileError {
    ProfileError::io("draw", path, std::io::Error::other(e.to_string()))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw<DB: DrawingBackend>(name: &str, p: &Profile, area: DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    match name {
        "waterfall" => waterfall(p, &area)?,
        "states" => states(p, &area)?,
        _ => memory(p, &area)?,
    }
    area.present()?;
    Ok(())
}

/// Each phase of the reference state as a bar from its start to its end.
fn waterfall<DB: DrawingBackend>(p: &Profile, area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Some(s) = reference_state(&p.states) else {
        return Ok(());
    };
    let n = s.phases.len();
    let total = s.total.median_ms.max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Cold start phases ({}, median ms)", s.state),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..total * 1.05, (0..n.saturating_sub(1)).into_segmented())?;
    let names: Vec<String> = s.phases.iter().map(|ph| ph.name.clone()).collect();
    chart
        .configure_mesh()
        .x_desc("ms since spawn")
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names
                .get(n.saturating_sub(1 + *i))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .disable_y_mesh()
        .draw()?;
    let mut start = 0.0;
    for (i, ph) in s.phases.iter().enumerate() {
        let end = start + ph.duration.median_ms;
        let row = n - 1 - i;
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (start, SegmentValue::Exact(row)),
                (end.max(start + total * 0.002), SegmentValue::Exact(row + 1)),
            ],
            PALETTE[i % 8].filled(),
        )))?;
        start = end;
    }
    Ok(())
}

/// One stacked bar per cache state: where each state's start-up goes.
fn states<DB: DrawingBackend>(p: &Profile, area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = p.states.len();
    let top = p
        .states
        .iter()
        .map(|s| s.total.median_ms)
        .fold(1e-3, f64::max);
    let labels: Vec<String> = p.states.iter().map(|s| s.state.to_string()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Start-up per cache state (median ms, stacked by phase)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("ms")
        .draw()?;
    for (si, s) in p.states.iter().enumerate() {
        let mut base = 0.0;
        for (pi, ph) in s.phases.iter().enumerate() {
            let h = ph.duration.median_ms;
            let series = chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (SegmentValue::Exact(si), base),
                    (SegmentValue::Exact(si + 1), base + h),
                ],
                PALETTE[pi % 8].filled(),
            )))?;
            if si == 0 {
                series.label(ph.name.clone()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], PALETTE[pi % 8].filled())
                });
            }
            base += h;
        }
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    Ok(())
}

/// The sampled RSS timeline of the reference state's median sample, with RSS and
/// MLX active memory marked at each phase end.
fn memory<DB: DrawingBackend>(p: &Profile, area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Some(s) = reference_state(&p.states) else {
        return Ok(());
    };
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let mut t = 0.0;
    let ends: Vec<(f64, f64, f64)> = s
        .phases
        .iter()
        .map(|ph| {
            t += ph.duration.median_ms;
            (t, mib(ph.rss_bytes), mib(ph.mlx_active_bytes))
        })
        .collect();
    let line: Vec<(f64, f64)> = s
        .timeline
        .iter()
        .map(|x| (x.ms, mib(x.rss_bytes)))
        .collect();
    let right = line.iter().map(|x| x.0).fold(t, f64::max).max(1e-3);
    let top = ends
        .iter()
        .map(|p| p.1.max(p.2))
        .chain(line.iter().map(|x| x.1))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Memory during the cold start ({}, MiB)", s.state),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right * 1.05, 0.0..top * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("ms since spawn")
        .y_desc("MiB")
        .draw()?;
    chart
        .draw_series(LineSeries::new(line, PALETTE[0].stroke_width(2)))?
        .label("RSS (sampled every ms)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], PALETTE[0]));
    chart
        .draw_series(
            ends.iter()
                .map(|p| Circle::new((p.0, p.1), 4, PALETTE[2].filled())),
        )?
        .label("RSS at phase ends (median)")
        .legend(|(x, y)| Circle::new((x + 7, y), 4, PALETTE[2].filled()));
    chart
        .draw_series(
            LineSeries::new(ends.iter().map(|p| (p.0, p.2)), PALETTE[1].stroke_width(2))
                .point_size(3),
        )?
        .label("MLX active at phase ends")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], PALETTE[1]));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    Ok(())
}
