//! `cargo xtask cache-overhead`: what `mlx-profile cache run` costs a process on a warm
//! kernel cache, measured side by side. Each pair runs
//! `mlx-probe --fixture small --until first_forward` directly on the cache (its
//! variables set, as the wrapper sets them for its private directory) and through each
//! wrapper: the view of links (`cache run`), copies of everything (`cache run
//! --copy`), and, given `--old-profile`, another build of `mlx-profile` (the wrapper
//! before views). The ways run in a rotating order within each pair, so a machine that
//! slows down slows all of them. It does so on the warm cache as the probe leaves it
//! (about 2 MB) and on the same cache padded to about 100 MB with CUDA modules (`ptx/`
//! files of 500 KiB and their names, as a larger model's CUDA cache holds). Writes
//! docs/kernel-cache-overhead.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mlx_manager::kernel_cache::variables_for;
use mlx_profiler::gate::statistics::median;
use mlx_profiler::table::MarkdownTable;

use crate::atomic;
use crate::error::{Result, TaskError};

/// The probe's arguments: the small encoder's first forward pass loads a kernel.
const PROBE_ARGS: [&str; 4] = ["--fixture", "small", "--until", "first_forward"];

/// Bytes of padding in the large cache, and of each padding module (200 modules, each
/// a `.ptx` and its `.txt`: 400 files).
const PADDING: u64 = 98 << 20;
const MODULE: usize = 500 << 10;

/// How a run reaches the cache.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Way {
    Direct,
    Links,
    Copies,
    Old,
}

impl Way {
    fn label(&self) -> &'static str {
        match self {
            Way::Direct => "direct (the cache's variables set)",
            Way::Links => "`cache run` (a view of links)",
            Way::Copies => "`cache run --copy` (copies of everything)",
            Way::Old => "the old `cache run` (`--old-profile`: a copy per process)",
        }
    }
}

/// Builds the binaries, warms a cache, pads a copy of it, measures `pairs` pairs on
/// each, and writes the report.
pub fn run(workspace: &Path, pairs: usize, old_profile: Option<&Path>) -> Result<()> {
    super::build_release_bins(
        workspace,
        "building the probe and mlx-profile",
        &[
            ("mlx-coldstart", "mlx-probe"),
            ("mlx-profiler", "mlx-profile"),
        ],
    )?;
    let release = workspace.join("target").join("release");
    let (probe, profile) = (release.join("mlx-probe"), release.join("mlx-profile"));
    if let Some(old) = old_profile
        && !old.is_file()
    {
        return Err(TaskError::MissingTool {
            what: format!("--old-profile {} is not a file", old.display()),
            remedy: "build the other revision's mlx-profile and give its path".into(),
        });
    }
    let scratch = tempfile::Builder::new()
        .prefix("cache-overhead-")
        .tempdir()
        .map_err(|e| TaskError::io("create a directory in", &std::env::temp_dir(), e))?;
    let small = scratch.path().join("small");
    let status = Command::new(&profile)
        .args(["cache", "warm", "--dir"])
        .arg(&small)
        .arg("--")
        .arg(&probe)
        .args(PROBE_ARGS)
        .stdout(Stdio::null())
        .env_remove("COLDSTART_KERNEL_CACHE")
        .status()
        .map_err(|e| TaskError::io("run", &profile, e))?;
    if !status.success() {
        return Err(TaskError::Integrity {
            what: format!("`mlx-profile cache warm` failed ({status})"),
            remedy: "run `cargo xtask profile quick` to see whether MLX works here".into(),
        });
    }
    let large = scratch.path().join("large");
    pad(&small, &large)?;
    let mut ways = vec![Way::Direct, Way::Links, Way::Copies];
    if old_profile.is_some() {
        ways.push(Way::Old);
    }
    let mut results = Vec::new();
    for (name, cache) in [("small", &small), ("large", &large)] {
        let bytes = dir_bytes(cache);
        let mut times: BTreeMap<Way, Vec<f64>> = BTreeMap::new();
        for p in 0..pairs {
            for k in 0..ways.len() {
                let way = &ways[(p + k) % ways.len()];
                let mut cmd = match way {
                    Way::Direct => Command::new(&probe),
                    Way::Links | Way::Copies | Way::Old => {
                        let bin = match way {
                            Way::Old => old_profile.expect("only with --old-profile"),
                            _ => profile.as_path(),
                        };
                        let mut c = Command::new(bin);
                        c.args(["cache", "run"]);
                        if *way == Way::Copies {
                            c.arg("--copy");
                        }
                        c.arg("--dir").arg(cache).arg("--").arg(&probe);
                        c
                    }
                };
                // The wrappers' own temporary files go to the scratch directory; the
                // direct run's variables (TMPDIR among them) name the cache, after it.
                cmd.args(PROBE_ARGS).env("TMPDIR", scratch.path());
                if *way == Way::Direct {
                    cmd.envs(variables_for(cache));
                }
                cmd.env_remove("COLDSTART_KERNEL_CACHE")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let started = Instant::now();
                let status = cmd.status().map_err(|e| TaskError::io("run", &probe, e))?;
                let ms = started.elapsed().as_secs_f64() * 1e3;
                if !status.success() {
                    return Err(TaskError::Integrity {
                        what: format!("{} failed on the {name} cache ({status})", way.label()),
                        remedy: "run the command by hand to see why".into(),
                    });
                }
                times.entry(way.clone()).or_default().push(ms);
            }
            eprintln!("==> cache overhead: {name} cache, pair {}/{pairs}", p + 1);
        }
        results.push(Measured { name, bytes, times });
    }
    let report = render(&results, pairs);
    print!("{report}");
    let path = workspace.join("docs").join("kernel-cache-overhead.md");
    atomic::write_if_changed(&path, &report)?;
    eprintln!("written: {}", path.display());
    Ok(())
}

/// Copies the cache `from` to `to` and adds [`PADDING`] bytes of CUDA modules.
fn pad(from: &Path, to: &Path) -> Result<()> {
    mlx_manager::kernel_cache::share::copy_dir(from, to)
        .map_err(|e| TaskError::io("copy", from, e.source))?;
    let ptx = to.join("ptx");
    std::fs::create_dir_all(&ptx).map_err(|e| TaskError::io("create", &ptx, e))?;
    let modules = PADDING as usize / MODULE;
    for m in 0..modules {
        // Distinct contents, so that nothing deduplicates them.
        let mut body = vec![b'.'; MODULE];
        body[..8].copy_from_slice(&(m as u64).to_le_bytes());
        let path = ptx.join(format!("padding_module_{m:04}.ptx"));
        std::fs::write(&path, &body).map_err(|e| TaskError::io("write", &path, e))?;
        let names = path.with_extension("txt");
        std::fs::write(&names, format!("kernel_{m}\t_Z8kernel_{m}v\n"))
            .map_err(|e| TaskError::io("write", &names, e))?;
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    mlx_manager::kernel_cache::layout::files(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, p): &(_, PathBuf)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Median and interquartile range of `v`.
fn summary(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |f: f64| s[((s.len() - 1) as f64 * f).round() as usize];
    format!("{:.1} (IQR {:.1}–{:.1})", median(v), q(0.25), q(0.75))
}

/// One cache's measurements: its name, its bytes, each way's times.
struct Measured<'a> {
    name: &'a str,
    bytes: u64,
    times: BTreeMap<Way, Vec<f64>>,
}

fn render(results: &[Measured], pairs: usize) -> String {
    let host = mlx_profiler::provenance::Host::current();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# What `mlx-profile cache run` costs a process, measured\n"
    );
    let _ = writeln!(
        out,
        "Generated by `cargo xtask cache-overhead --pairs {pairs}` (do not edit) on {} ({} \
         cores, {} {}), {}. Each pair runs `mlx-probe {}` once each way, in a rotating order, \
         on a warm kernel cache: as the probe leaves it, and the same cache padded with 98 MiB \
         of CUDA modules (`ptx/`, 200 of 500 KiB, each with its names: 400 files). The overhead of a way is \
         the median over pairs of its time minus the direct run's time in the same pair; \
         spawn-to-exit times are medians with the interquartile range.\n",
        host.cpu,
        host.cores,
        host.os,
        host.arch,
        mlx_profiler::provenance::now_utc(),
        PROBE_ARGS.join(" ")
    );
    let mut table = MarkdownTable::new([
        "cache",
        "way",
        "spawn to exit, ms",
        "overhead against direct, ms (median of pairs, IQR)",
    ]);
    for Measured { name, bytes, times } in results {
        let direct = &times[&Way::Direct];
        for (way, t) in times {
            let overhead = if *way == Way::Direct {
                "–".to_string()
            } else {
                let diffs: Vec<f64> = t.iter().zip(direct).map(|(a, b)| a - b).collect();
                summary(&diffs)
            };
            table.row([
                format!("{name} ({:.1} MiB)", *bytes as f64 / f64::from(1 << 20)),
                way.label().to_string(),
                summary(t),
                overhead,
            ]);
        }
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "\nWhy the view is cheap: it links the kernels MLX only reads (one hard link a \
         file, whatever its size) and copies only what MLX or the NVIDIA driver may rewrite \
         in place (the driver's cache under `nv/`, cubins); MLX's sources are left out, as \
         MLX never reads them. Afterwards the wrapper looks for new regular files to publish \
         and checks that no linked file changed in place \
         (`mlx_manager::kernel_cache::share` says why links are safe with MLX 0.32)."
    );
    out
}
