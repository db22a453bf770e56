//! `cargo xtask bench-save` and `cargo xtask bench-compare`: run the gate's bench
//! groups, then store the run as this environment's baseline or compare it with that
//! baseline through `mlx-bench` (from mlx-profiler, which links MLX; this crate does
//! not). `bench-compare` measures every regression a second time and reports only
//! those both runs agree on, and exits with `mlx-bench`'s own code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cargo_with_env;
use crate::error::{Result, TaskError};

/// The Criterion groups the gate covers (`benches/<name>.rs`).
pub const GATE_GROUPS: [&str; 4] = ["cold", "warm", "shared", "pooled"];

/// How the benches run.
#[derive(Debug, Clone, Default)]
pub struct BenchRun {
    /// `COLDSTART_BENCH_MODE=quick`.
    pub quick: bool,
    /// Only these benchmark ids (exact), or every benchmark.
    pub only: Vec<String>,
    /// The test-only slowdown knob (`COLDSTART_INJECT_SLOWDOWN`) for the benches.
    pub slowdown: Option<f64>,
}

impl BenchRun {
    /// Every benchmark, in quick or full mode.
    pub fn mode(quick: bool) -> Self {
        BenchRun {
            quick,
            only: Vec::new(),
            slowdown: None,
        }
    }
}

fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from)
}

/// Builds the probe and `mlx-bench` in release mode.
pub fn build_tools(workspace: &Path) -> Result<()> {
    super::build_release_bins(
        workspace,
        "building the probe and mlx-bench",
        &[("mlx-fixtures", "mlx-probe"), ("mlx-profiler", "mlx-bench")],
    )
}

/// Removes the side files of every gate group but `keep`, so that the next
/// comparison sees only what runs next.
pub fn forget_records_except(workspace: &Path, keep: &str) {
    let records = target_dir(workspace).join("criterion").join("coldstart");
    for g in GATE_GROUPS.into_iter().filter(|g| *g != keep) {
        let _ = std::fs::remove_file(records.join(format!("{g}.json")));
    }
}

/// Runs the gate's groups (only those holding a requested id, when `only` is set).
pub fn run_benches(workspace: &Path, run: &BenchRun) -> Result<()> {
    let records = target_dir(workspace).join("criterion").join("coldstart");
    let groups: Vec<&str> = GATE_GROUPS
        .into_iter()
        .filter(|g| {
            run.only.is_empty() || run.only.iter().any(|id| id.split('/').next() == Some(*g))
        })
        .collect();
    // Side files of groups that run again are stale; a group that does not run keeps
    // its record only when only a few benchmarks are measured again.
    for g in GATE_GROUPS {
        if run.only.is_empty() || groups.contains(&g) {
            let _ = std::fs::remove_file(records.join(format!("{g}.json")));
        }
    }
    let mut args = vec!["bench", "--package", "mlx-coldstart"];
    for g in &groups {
        args.extend(["--bench", g]);
    }
    let filter;
    if !run.only.is_empty() {
        let escaped: Vec<String> = run.only.iter().map(|id| regex_escape(id)).collect();
        filter = format!("^({})$", escaped.join("|"));
        args.extend(["--", filter.as_str()]);
    }
    let mode = if run.quick { "quick" } else { "full" };
    let slowdown = run.slowdown.unwrap_or(0.0).to_string();
    cargo_with_env(
        workspace,
        "benchmarks",
        &args,
        &[
            ("COLDSTART_BENCH_MODE", mode),
            ("COLDSTART_INJECT_SLOWDOWN", slowdown.as_str()),
        ],
        "see the benchmark output above",
    )
}

/// Escapes a benchmark id for Criterion's regular-expression filter.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn mlx_bench_exe(workspace: &Path) -> PathBuf {
    target_dir(workspace).join("release").join("mlx-bench")
}

fn missing_mlx_bench(exe: &Path, e: std::io::Error) -> TaskError {
    TaskError::MissingTool {
        what: format!("could not run {}: {e}", exe.display()),
        remedy: "build it with `cargo build --release -p mlx-profiler --bin mlx-bench`".into(),
    }
}

/// Runs `mlx-bench` with `args`; returns its exit code.
pub fn mlx_bench(workspace: &Path, args: &[String]) -> Result<i32> {
    let exe = mlx_bench_exe(workspace);
    eprintln!("==> mlx-bench {}", args.join(" "));
    let status = Command::new(&exe)
        .args(args)
        .current_dir(workspace)
        .status()
        .map_err(|e| missing_mlx_bench(&exe, e))?;
    Ok(status.code().unwrap_or(2))
}

/// `bench-save`: measure (unless `no_run`), then store the baseline.
pub fn save(workspace: &Path, run: &BenchRun, no_run: bool) -> Result<()> {
    build_tools(workspace)?;
    if !no_run {
        run_benches(workspace, run)?;
    }
    gate_result(mlx_bench(workspace, &["save".to_string()])?)
}

/// `bench-compare`: measure (unless `no_run`), compare, and measure the regressions
/// again before believing them (unless `no_confirm`). `extra` goes to `mlx-bench compare`.
///
/// The first comparison runs quietly into a JSON file of our own; the one the user
/// sees (with the outputs `extra` asks for) is the last, after any re-measurement.
pub fn compare(
    workspace: &Path,
    run: &BenchRun,
    no_run: bool,
    no_confirm: bool,
    extra: &[String],
) -> Result<()> {
    build_tools(workspace)?;
    if !no_run {
        run_benches(workspace, run)?;
    }
    let first_json = target_dir(workspace)
        .join("criterion")
        .join("coldstart-first-comparison.json");
    let mut first = vec!["compare".to_string()];
    first.extend(without_outputs(extra));
    first.extend(["--json".into(), first_json.display().to_string()]);
    let exe = mlx_bench_exe(workspace);
    let out = Command::new(&exe)
        .args(&first)
        .current_dir(workspace)
        .output()
        .map_err(|e| missing_mlx_bench(&exe, e))?;
    let code = out.status.code().unwrap_or(2);
    let mut last = vec!["compare".to_string()];
    last.extend(extra.iter().cloned());
    match code {
        0 => {}
        1 if !no_run && !no_confirm => {
            let regressed = regressed_ids(&first_json)?;
            eprintln!(
                "==> {} benchmark(s) regressed; measuring them again before believing it: {}",
                regressed.len(),
                regressed.join(", ")
            );
            run_benches(
                workspace,
                &BenchRun {
                    only: regressed,
                    ..run.clone()
                },
            )?;
            // The second run holds only those benchmarks.
            if !last.iter().any(|a| a == "--allow-partial") {
                last.push("--allow-partial".into());
            }
        }
        1 => {}
        _ => {
            // Bad input or no baseline: the first comparison's message is the answer.
            std::io::stderr().write_all(&out.stderr).ok();
            return gate_result(code);
        }
    }
    gate_result(mlx_bench(workspace, &last)?)
}

/// `extra` without the output options (and their values).
fn without_outputs(extra: &[String]) -> Vec<String> {
    let outputs = ["--markdown", "--json", "--bmf", "--github-action"];
    let mut out = Vec::new();
    let mut skip = false;
    for a in extra {
        if skip {
            skip = false;
        } else if outputs.contains(&a.as_str()) {
            skip = true;
        } else if !outputs.iter().any(|o| a.starts_with(&format!("{o}="))) {
            out.push(a.clone());
        }
    }
    out
}

/// The ids a comparison document marks as regressed.
pub fn regressed_ids(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| TaskError::io("read", path, e))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| TaskError::Integrity {
        what: format!("{} is not a comparison document: {e}", path.display()),
        remedy: "run the comparison again".into(),
    })?;
    Ok(doc["benchmarks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["verdict"] == "regressed")
        // Advisory benchmarks fail nothing (unless a metric grew): nothing to confirm.
        .filter(|b| {
            b["advisory"] != true
                || b["metrics"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["regressed"] == true))
        })
        .filter_map(|b| b["id"].as_str().map(String::from))
        .collect())
}

/// Maps `mlx-bench`'s exit code to the task's result (the same code leaves `cargo xtask`).
fn gate_result(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(TaskError::Gate {
            code: u8::try_from(code).unwrap_or(2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_escaped_for_criterions_filter() {
        assert_eq!(
            regex_escape("cold/first_forward/kernel_cold"),
            "cold/first_forward/kernel_cold"
        );
        assert_eq!(regex_escape("a.b(c)"), "a\\.b\\(c\\)");
    }

    #[test]
    fn regressed_ids_come_from_the_comparison_document() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(
            &p,
            r#"{"benchmarks":[{"id":"warm/a","verdict":"regressed"},{"id":"warm/b","verdict":"unchanged"},{"id":"warm/c","verdict":"regressed","advisory":true,"metrics":[]}]}"#,
        )
        .unwrap();
        assert_eq!(regressed_ids(&p).unwrap(), vec!["warm/a".to_string()]);
        std::fs::write(&p, "{").unwrap();
        assert!(regressed_ids(&p).is_err());
    }

    #[test]
    fn output_options_are_left_out_of_the_first_comparison() {
        let args: Vec<String> = [
            "--json",
            "a.json",
            "--allow-partial",
            "--markdown=b.md",
            "--bmf",
            "c",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(without_outputs(&args), vec!["--allow-partial".to_string()]);
    }

    #[test]
    fn exit_codes_pass_through() {
        assert!(gate_result(0).is_ok());
        for code in [1, 2, 3] {
            assert_eq!(gate_result(code).unwrap_err().exit_code(), code as u8);
        }
    }
}
