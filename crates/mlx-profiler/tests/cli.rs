//! `mlx-profile` end to end with the real probe and MLX, and its failure paths.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

/// The mlx-probe binary, built on demand (it belongs to the root package, so Cargo
/// does not build it for this package's tests by itself).
fn probe() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_mlx-profile"))
        .parent()
        .unwrap()
        .to_path_buf();
    let exe = dir.join("mlx-probe");
    if !exe.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--package",
                "mlx-coldstart",
                "--bin",
                "mlx-probe",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building mlx-probe failed");
    }
    exe
}

/// An executable shell script standing in for the probe.
fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn profile() -> Command {
    let mut c = Command::cargo_bin("mlx-profile").unwrap();
    c.env_remove("COLDSTART_PROBE");
    c
}

#[test]
fn quick_profile_writes_json_and_markdown_reports() {
    let out = tempfile::tempdir().unwrap();
    profile()
        .args([
            "quick",
            "--samples",
            "1",
            "--states",
            "kernel-cold,warm",
            "--probe",
        ])
        .arg(probe())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("first_forward"))
        .stdout(predicate::str::contains("kernel-cold"));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("latest-tiny.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["states"].as_array().unwrap().len(), 2);
    // The compiled activation JIT-compiles one kernel into the fresh cache directory.
    assert!(json["states"][0]["kernels_compiled"].as_u64().unwrap() >= 1);
    let md = std::fs::read_to_string(out.path().join("latest-tiny.md")).unwrap();
    assert!(md.contains("## Bottlenecks"));
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let stamped = |suffix: &str| {
        names
            .iter()
            .filter(|n| n.starts_with("mlx-profile-") && n.ends_with(suffix))
            .count()
    };
    assert_eq!((stamped(".json"), stamped(".md")), (1, 1), "{names:?}");
    for plot in ["waterfall", "states", "memory"] {
        for ext in ["svg", "png"] {
            let suffix = format!("-{plot}.{ext}");
            assert_eq!(stamped(&suffix), 1, "{suffix} in {names:?}");
        }
        assert!(
            md.contains(&format!("-{plot}.svg)")),
            "the report links its {plot} plot"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains(".tmp.")),
        "temporary files left: {names:?}"
    );
}

#[test]
fn ci_mode_fails_below_the_grade_floor() {
    let out = tempfile::tempdir().unwrap();
    let strict = out.path().join("strict.toml");
    std::fs::write(
        &strict,
        "[cold_start_seconds]\nexcellent = 0.000001\ngood = 0.000002\nacceptable = 0.000003\n\
         [memory_overhead_mib]\nexcellent = 100.0\ngood = 150.0\nacceptable = 300.0\n\
         [test_impact_percent]\nexcellent = 15.0\ngood = 25.0\nacceptable = 50.0\n",
    )
    .unwrap();
    profile()
        .args(["ci", "--samples", "1", "--states", "warm", "--probe"])
        .arg(probe())
        .arg("--thresholds")
        .arg(&strict)
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"overall\": \"poor\""))
        .stderr(predicate::str::contains("below the floor"));
}

#[test]
fn missing_probe_exits_4_and_names_it() {
    let out = tempfile::tempdir().unwrap();
    profile()
        .args([
            "quick",
            "--samples",
            "1",
            "--states",
            "warm",
            "--probe",
            "/nonexistent/mlx-probe",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(4)
        .stderr(predicate::str::contains("/nonexistent/mlx-probe"));
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "no partial report"
    );
}

#[test]
fn malformed_probe_output_exits_4() {
    let out = tempfile::tempdir().unwrap();
    // `echo` prints its arguments: not a probe document.
    profile()
        .args([
            "quick",
            "--samples",
            "1",
            "--states",
            "warm",
            "--probe",
            "/bin/echo",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(4)
        .stderr(predicate::str::contains("malformed output"));
}

#[test]
fn hanging_probe_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path(), "hang.sh", "#!/bin/sh\nexec sleep 30\n");
    profile()
        .args([
            "quick",
            "--samples",
            "1",
            "--states",
            "warm",
            "--timeout",
            "1",
            "--probe",
        ])
        .arg(&script)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("killed"));
}

#[test]
fn bad_thresholds_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "nonsense = [").unwrap();
    profile()
        .args(["quick", "--thresholds"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml"));
}

#[test]
fn unknown_mode_or_fixture_is_a_usage_error() {
    profile().arg("fast").assert().code(2);
    profile()
        .args(["quick", "--fixture", "huge"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("huge"));
}

#[test]
fn a_probe_document_larger_than_a_pipe_buffer_is_read_while_the_probe_runs() {
    // Before stdout was drained concurrently, a probe blocked on a full pipe until
    // the timeout killed it.
    let dir = tempfile::tempdir().unwrap();
    let script = script(
        dir.path(),
        "big.sh",
        "#!/bin/sh\nprintf '{\"schema_version\":1,\"outcome\":\"error\",\"phase\":\"weights_load\",\"message\":\"'\nhead -c 300000 /dev/zero | tr '\\0' x\nprintf '\"}\\n'\nexit 3\n",
    );
    profile()
        .args([
            "quick",
            "--samples",
            "1",
            "--states",
            "warm",
            "--timeout",
            "30",
            "--probe",
        ])
        .arg(&script)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("MLX failed in weights_load"))
        .stderr(predicate::str::contains("more bytes"))
        .stderr(predicate::str::contains("killed").not());
}
