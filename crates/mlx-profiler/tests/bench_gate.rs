//! `mlx-bench save` and `compare --stored` on synthetic Criterion output: verdicts,
//! exit codes, output formats, and every kind of bad input (exit 2, nothing
//! overwritten).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use mlx_profiler::bench::protocol::Unit;
use mlx_profiler::gate::environment::Fingerprint;
use mlx_profiler::gate::run_record::GroupRecord;
use predicates::prelude::*;

fn env(cpu: &str) -> Fingerprint {
    Fingerprint {
        os: "linux".into(),
        arch: "x86_64".into(),
        backend: "cpu".into(),
        cpu: cpu.into(),
        cores: 2,
        mlx: "0.32.2".into(),
        mlx_rs: "0.33.0".into(),
        blas: "OpenBLAS".into(),
        fixture_weights: "00ff".into(),
        mode: "quick".into(),
    }
}

/// Writes a Criterion directory with benchmarks `ids` (group `warm`), each with ten
/// samples around `base_ns` scaled by `scale`, and a metric.
fn criterion_run(dir: &Path, ids: &[&str], scale: f64, cpu: &str, metric: f64) {
    let _ = std::fs::remove_dir_all(dir);
    let mut rec = GroupRecord::start("warm", env(cpu));
    rec.started_unix_ms -= 5_000;
    for (k, id) in ids.iter().enumerate() {
        let new = dir.join(id.replace('/', "_")).join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            format!(
                r#"{{"group_id":"warm","function_id":"x","full_id":"{id}","directory_name":"d"}}"#
            ),
        )
        .unwrap();
        let iters: Vec<f64> = (1..=10).map(|i| i as f64).collect();
        let base = 1_000_000.0 * (k + 1) as f64;
        let times: Vec<f64> = iters
            .iter()
            .map(|n| n * scale * (base + (n * 37.0) % 11.0 * 1_000.0))
            .collect();
        std::fs::write(
            new.join("sample.json"),
            serde_json::json!({"sampling_mode": "Linear", "iters": iters, "times": times})
                .to_string(),
        )
        .unwrap();
        rec.ran(id, Unit::Nanoseconds);
        rec.metric(id, "mlx_peak_bytes", metric);
    }
    rec.write(dir).unwrap();
}

struct Case {
    _tmp: tempfile::TempDir,
    criterion: PathBuf,
    baselines: PathBuf,
}

impl Case {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Case {
            criterion: tmp.path().join("criterion"),
            baselines: tmp.path().join("baselines"),
            _tmp: tmp,
        }
    }

    fn bench(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut c = Command::cargo_bin("mlx-bench").unwrap();
        c.arg(args[0])
            .arg("--criterion-dir")
            .arg(&self.criterion)
            .arg("--baselines")
            .arg(&self.baselines);
        if args[0] == "compare" {
            c.args(["--stored", "--thresholds", "/dev/null"]);
        }
        c.args(&args[1..]).env_remove("COLDSTART_GATE_THRESHOLDS");
        assert_cmd::assert::Assert::new(c.output().unwrap())
    }

    fn baseline_file(&self) -> PathBuf {
        std::fs::read_dir(&self.baselines)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a baseline file")
    }
}

const IDS: [&str; 2] = ["warm/a", "warm/b"];

#[test]
fn an_unchanged_run_passes_and_a_slower_one_fails_with_every_format() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"])
        .success()
        .stdout(predicate::str::contains("saved 2 benchmarks"));
    let text = std::fs::read_to_string(c.baseline_file()).unwrap();
    // Sorted keys, schema and environment on record.
    let b = text.find("\"benchmarks\"").unwrap();
    let e = text.find("\"environment\"").unwrap();
    let s = text.find("\"schema_version\": 2").unwrap();
    assert!(b < e && e < s, "{text}");

    c.bench(&["compare"])
        .code(0)
        .stdout(predicate::str::contains("2 unchanged"));

    criterion_run(&c.criterion, &IDS, 1.3, "cpu", 100.0);
    let out = c.baselines.parent().unwrap();
    let (md, js, bmf, gha) = (
        out.join("v.md"),
        out.join("v.json"),
        out.join("v.bmf.json"),
        out.join("v.gha.json"),
    );
    c.bench(&[
        "compare",
        "--markdown",
        md.to_str().unwrap(),
        "--json",
        js.to_str().unwrap(),
        "--bmf",
        bmf.to_str().unwrap(),
        "--github-action",
        gha.to_str().unwrap(),
    ])
    .code(1)
    .stdout(predicate::str::contains("2 regressed"));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("Performance regression") && md.contains("| `warm/a` "),
        "{md}"
    );
    let js: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(js).unwrap()).unwrap();
    assert_eq!(js["benchmarks"][0]["verdict"], "regressed");
    let change = js["benchmarks"][0]["shift"]["change"].as_f64().unwrap();
    assert!((change - 0.3).abs() < 0.02, "{change}");
    let bmf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bmf).unwrap()).unwrap();
    assert!(bmf["warm/a"]["latency"]["value"].as_f64().unwrap() > 1.2e6);
    assert_eq!(bmf["warm/a"]["mlx_peak_bytes"]["value"], 100.0);
    let gha: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gha).unwrap()).unwrap();
    assert_eq!(gha[0]["name"], "warm/a");
    assert_eq!(gha[0]["unit"], "ns");
}

#[test]
fn a_grown_metric_regresses_even_when_time_is_unchanged() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 101.0);
    c.bench(&["compare"])
        .code(1)
        .stdout(predicate::str::contains("mlx_peak_bytes 100 → 101"));
}

#[test]
fn another_environment_exits_3_unless_allowed_and_then_says_so_everywhere() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    criterion_run(&c.criterion, &IDS, 1.0, "other cpu", 100.0);
    c.bench(&["compare"]).code(3).stderr(
        predicate::str::contains("no baseline")
            .and(predicate::str::contains("cpu: other cpu vs cpu")),
    );
    let a = c.bench(&["compare", "--allow-env-mismatch"]).code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    for id in IDS {
        let line = out.lines().find(|l| l.contains(id)).unwrap();
        assert!(line.contains("env mismatch"), "{line}");
    }
}

#[test]
fn different_benchmark_sets_are_an_input_error_unless_partial_is_allowed() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    criterion_run(&c.criterion, &["warm/a", "warm/c"], 1.0, "cpu", 100.0);
    c.bench(&["compare"]).code(2).stderr(
        predicate::str::contains("warm/b").and(predicate::str::contains("--allow-partial")),
    );
    c.bench(&["compare", "--allow-partial"])
        .code(0)
        .stdout(predicate::str::contains("1 new").and(predicate::str::contains("1 skipped")));
}

/// Saves a good baseline, damages it with `damage`, and checks exit 2 with `message`
/// and that the damaged file is left as it was.
fn bad_baseline(damage: impl Fn(&str) -> String, message: &str) {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    let f = c.baseline_file();
    let damaged = damage(&std::fs::read_to_string(&f).unwrap());
    std::fs::write(&f, &damaged).unwrap();
    c.bench(&["compare"]).code(2).stderr(
        predicate::str::contains(f.display().to_string()).and(predicate::str::contains(message)),
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), damaged);
}

#[test]
fn truncated_baseline() {
    bad_baseline(|t| t[..t.len() / 2].to_string(), "truncated");
}

#[test]
fn future_schema_version() {
    bad_baseline(
        |t| t.replace("\"schema_version\": 2", "\"schema_version\": 9"),
        "newer than this tool",
    );
}

#[test]
fn negative_and_non_numeric_samples() {
    bad_baseline(
        |t| {
            t.replacen(
                "\"samples_ns\": [\n        ",
                "\"samples_ns\": [\n        -5.0, ",
                1,
            )
        },
        "impossible sample",
    );
    bad_baseline(
        |t| {
            t.replacen(
                "\"samples_ns\": [\n        ",
                "\"samples_ns\": [\n        NaN, ",
                1,
            )
        },
        "not valid JSON",
    );
}

#[test]
fn missing_schema_and_wrong_shape() {
    bad_baseline(|_| "{}".into(), "no schema_version");
    bad_baseline(|_| r#"{"schema_version": 2}"#.into(), "not a baseline");
}

#[test]
fn empty_or_missing_criterion_directory() {
    let c = Case::new();
    c.bench(&["save"])
        .code(2)
        .stderr(predicate::str::contains(c.criterion.display().to_string()));
    std::fs::create_dir_all(&c.criterion).unwrap();
    c.bench(&["save"])
        .code(2)
        .stderr(predicate::str::contains("no bench side files"));
}

#[test]
fn impossible_or_stale_criterion_samples() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    let sample = c.criterion.join("warm_a/new/sample.json");
    std::fs::write(&sample, r#"{"iters":[1.0,2.0],"times":[5.0,-1.0]}"#).unwrap();
    c.bench(&["save"]).code(2).stderr(
        predicate::str::contains("warm_a/new/sample.json")
            .and(predicate::str::contains("impossible sample")),
    );
    // Left over from a run before the one the side file describes.
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&sample)
        .unwrap()
        .set_modified(old)
        .unwrap();
    c.bench(&["save"])
        .code(2)
        .stderr(predicate::str::contains("left over"));
    assert!(!c.baselines.exists());
}

#[test]
fn an_unwritable_baseline_directory_exits_5() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    // A regular file where the directory should be: unwritable even for root.
    std::fs::write(&c.baselines, "not a directory").unwrap();
    c.bench(&["save"])
        .code(5)
        .stderr(predicate::str::contains(c.baselines.display().to_string()));
    assert_eq!(
        std::fs::read_to_string(&c.baselines).unwrap(),
        "not a directory"
    );
}

#[test]
fn a_save_killed_midway_leaves_the_old_baseline_intact() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    let f = c.baseline_file();
    let old = std::fs::read_to_string(&f).unwrap();
    // A run big enough that saving it takes a while: 40 benchmarks of 20,000 samples.
    let ids: Vec<String> = (0..40).map(|i| format!("warm/big{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    criterion_run(&c.criterion, &refs, 1.0, "cpu", 100.0);
    for id in &refs {
        let new = c.criterion.join(id.replace('/', "_")).join("new");
        let n = 20_000;
        let iters: Vec<f64> = (0..n).map(|_| 1.0).collect();
        let times: Vec<f64> = (0..n).map(|i| 1e6 + i as f64).collect();
        std::fs::write(
            new.join("sample.json"),
            serde_json::json!({"iters": iters, "times": times}).to_string(),
        )
        .unwrap();
    }
    // Kill it at a range of moments; whatever the moment, the file is the old baseline
    // or the complete new one.
    let mut saw_old = false;
    for delay_ms in [0u64, 5, 20, 50, 100, 200, 400, 800] {
        std::fs::write(&f, &old).unwrap();
        let mut child = Command::cargo_bin("mlx-bench")
            .unwrap()
            .arg("save")
            .arg("--criterion-dir")
            .arg(&c.criterion)
            .arg("--baselines")
            .arg(&c.baselines)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read_to_string(&f).unwrap();
        if now == old {
            saw_old = true;
        } else {
            let v: serde_json::Value = serde_json::from_str(&now).expect("complete JSON");
            assert_eq!(v["benchmarks"].as_object().unwrap().len(), 40);
        }
    }
    assert!(
        saw_old,
        "no kill landed before the rename: the test proved nothing"
    );
}

#[test]
fn an_advisory_benchmark_reports_a_regression_without_failing_unless_a_metric_grew() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    let t = c.baselines.parent().unwrap().join("t.toml");
    std::fs::write(
        &t,
        "[benchmarks.\"warm/a\"]\nthreshold = 0.1\nadvisory = true\n\
         [benchmarks.\"warm/b\"]\nthreshold = 0.1\nadvisory = true\n",
    )
    .unwrap();
    let compare = |c: &Case| {
        let mut cmd = Command::cargo_bin("mlx-bench").unwrap();
        cmd.arg("compare")
            .arg("--criterion-dir")
            .arg(&c.criterion)
            .arg("--baselines")
            .arg(&c.baselines)
            .arg("--stored")
            .arg("--thresholds")
            .arg(&t);
        assert_cmd::assert::Assert::new(cmd.output().unwrap())
    };
    criterion_run(&c.criterion, &IDS, 1.3, "cpu", 100.0);
    compare(&c)
        .code(0)
        .stdout(predicate::str::contains("regressed (advisory)"));
    criterion_run(&c.criterion, &IDS, 1.3, "cpu", 120.0);
    compare(&c)
        .code(1)
        .stdout(predicate::str::contains("mlx_peak_bytes 100 → 120"));
}

#[test]
fn a_duplicated_key_zero_samples_and_too_few_samples_are_input_errors() {
    bad_baseline(
        |t| {
            t.replacen(
                "\"schema_version\": 2",
                "\"schema_version\": 2,\n  \"schema_version\": 2",
                1,
            )
        },
        "appears twice",
    );
    bad_baseline(
        |t| {
            t.replacen(
                "\"samples_ns\": [\n        ",
                "\"samples_ns\": [\n        0.0, ",
                1,
            )
        },
        "impossible sample (0 ns)",
    );
    // A zero time in Criterion's samples is refused the same way.
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    let sample = c.criterion.join("warm_a/new/sample.json");
    std::fs::write(
        &sample,
        r#"{"iters":[1,1,1,1,1],"times":[5.0,5.0,0.0,5.0,5.0]}"#,
    )
    .unwrap();
    c.bench(&["save"])
        .code(2)
        .stderr(predicate::str::contains("impossible sample"));
    // Fewer than five samples on a side.
    std::fs::write(&sample, r#"{"iters":[1,2,3],"times":[5.0,10.0,15.0]}"#).unwrap();
    c.bench(&["save"])
        .code(2)
        .stderr(predicate::str::contains("3 samples").and(predicate::str::contains("at least 5")));
}

#[test]
fn a_threshold_for_a_benchmark_no_group_has_is_an_input_error() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    let t = c.baselines.parent().unwrap().join("t.toml");
    std::fs::write(&t, "[benchmarks.\"warm/aa\"]\nthreshold = 0.1\n").unwrap();
    let mut cmd = Command::cargo_bin("mlx-bench").unwrap();
    cmd.args(["compare", "--stored", "--criterion-dir"])
        .arg(&c.criterion)
        .arg("--baselines")
        .arg(&c.baselines)
        .arg("--thresholds")
        .arg(&t);
    assert_cmd::assert::Assert::new(cmd.output().unwrap())
        .code(2)
        .stderr(predicate::str::contains("warm/aa").and(predicate::str::contains("t.toml")));
}

#[test]
fn bmf_bounds_contain_the_value_and_the_unit_follows_the_benchmark() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    c.bench(&["save"]).success();
    criterion_run(&c.criterion, &IDS, 1.3, "cpu", 100.0);
    let out = c.baselines.parent().unwrap();
    let bmf = out.join("b.json");
    c.bench(&["compare", "--bmf", bmf.to_str().unwrap()])
        .code(1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bmf).unwrap()).unwrap();
    for id in IDS {
        let l = &v[id]["latency"];
        let (lo, val, hi) = (
            l["lower_value"].as_f64().unwrap(),
            l["value"].as_f64().unwrap(),
            l["upper_value"].as_f64().unwrap(),
        );
        assert!(lo <= val && val <= hi, "{id}: {lo} {val} {hi}");
    }
}

#[test]
fn another_packages_side_file_is_left_out_when_the_groups_are_named() {
    let c = Case::new();
    criterion_run(&c.criterion, &IDS, 1.0, "cpu", 100.0);
    // An example project's benches shared the target directory: its group ran
    // earlier, with other fixtures.
    GroupRecord::start("classifier", env("another cpu"))
        .write(&c.criterion)
        .unwrap();
    c.bench(&["save"])
        .failure()
        .stderr(predicate::str::contains("different environments"));
    c.bench(&["save", "--group", "warm"])
        .success()
        .stdout(predicate::str::contains("saved 2 benchmarks"));
}
