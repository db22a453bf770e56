//! `mlx-profile run -- COMMAND` on programs that are not ours: a Python script that
//! marks its phases in the marks format (any language can), one that marks nothing,
//! and every kind of bad input a program can give.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

/// A Python script that writes the marks header and `marks` (name, sleep before it
/// in ms) with CLOCK_MONOTONIC timestamps, as mlx_manager::marks does.
fn marking_script(marks: &[(&str, u64)]) -> String {
    let mut s = String::from(
        "import json, os, time\n\
         path = os.environ.get('COLDSTART_MARKS')\n\
         f = open(path, 'a') if path else None\n\
         def w(d):\n\
         \x20   if f: f.write(json.dumps(d) + '\\n'); f.flush()\n\
         w({'protocol': 'mlx-coldstart-marks', 'version': 1, 'pid': os.getpid()})\n",
    );
    for (name, ms) in marks {
        s.push_str(&format!(
            "time.sleep({ms} / 1000)\n\
             w({{'name': '{name}', 'end_ns': time.clock_gettime_ns(time.CLOCK_MONOTONIC), 'start_ns': None, 'rss_bytes': 1, 'pid': os.getpid(), 'thread': 'main'}})\n"
        ));
    }
    s
}

fn run(out: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("mlx-profile")
        .unwrap()
        .args([
            "run",
            "--samples",
            "1",
            "--states",
            "kernel-cold,warm",
            "--out",
        ])
        .arg(out)
        .args(args)
        .assert()
}

fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn a_programs_own_phases_flow_through_analysis_and_every_export() {
    let out = tempfile::tempdir().unwrap();
    let script = marking_script(&[("load_tokenizer", 30), ("load_weights", 60)]);
    run(
        out.path(),
        &["--name", "my app", "--", "python3", "-c", &script],
    )
    .success()
    .stdout(
        predicate::str::contains("load_tokenizer").and(predicate::str::contains("load_weights")),
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("latest-my-app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["fixture"], "my-app");
    assert_eq!(json["command"][0], "python3");
    let phases: Vec<&str> = json["states"][0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["load_tokenizer", "load_weights"]);
    // Spawn to the first mark (Python's own start included) is the largest phase:
    // the top bottleneck, reported as the program's own, never as teardown.
    let top = &json["bottlenecks"][0];
    assert_eq!(top["phase"], "load_tokenizer");
    assert_eq!(top["cause"], "program");
    let ms = json["states"][1]["phases"][1]["duration"]["median_ms"]
        .as_f64()
        .unwrap();
    assert!(ms >= 55.0, "{ms}");
    let md = std::fs::read_to_string(out.path().join("latest-my-app.md")).unwrap();
    // Table cells are padded to the column width: compare them with runs of
    // spaces squeezed.
    let squeezed = md
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(squeezed.contains("| load_weights |"), "{md}");
    assert!(md.contains("Command: `python3 -c"));
    assert!(files(out.path()) >= 8, "plots, JSON and Markdown");
}

#[test]
fn a_program_that_marks_nothing_still_gets_its_time_and_memory() {
    let out = tempfile::tempdir().unwrap();
    run(
        out.path(),
        &["--", "python3", "-c", "x = bytearray(30 << 20)"],
    )
    .success()
    .stdout(predicate::str::contains("nothing marked"));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("latest-python3.json")).unwrap(),
    )
    .unwrap();
    let st = &json["states"][0];
    assert!(st["phases"].as_array().unwrap().is_empty());
    assert!(st["total"]["median_ms"].as_f64().unwrap() > 0.0);
    // Sampled by the profiler from /proc: the 30 MiB buffer shows.
    assert!(st["memory_overhead_bytes"].as_u64().unwrap() > 20 << 20);
    assert!(!st["timeline"].as_array().unwrap().is_empty());
}

#[test]
fn bad_programs_exit_4_name_the_command_and_write_no_report() {
    let dup = marking_script(&[("load", 1), ("load", 1)]);
    let many = "import os, json, time\n\
                f = open(os.environ['COLDSTART_MARKS'], 'a')\n\
                f.write(json.dumps({'protocol': 'mlx-coldstart-marks', 'version': 1, 'pid': os.getpid()}) + '\\n')\n\
                for i in range(1001):\n\
                \x20   f.write(json.dumps({'name': 'p%d' % i, 'end_ns': time.clock_gettime_ns(time.CLOCK_MONOTONIC), 'pid': os.getpid()}) + '\\n')\n";
    let garbage = "import os; open(os.environ['COLDSTART_MARKS'], 'w').write('garbage\\n')";
    let version = "import os; open(os.environ['COLDSTART_MARKS'], 'w').write('{\"protocol\": \"mlx-coldstart-marks\", \"version\": 7, \"pid\": 1}\\n')";
    // Marks differently in its second run: phases cannot be compared.
    // Runs: the discovery run, the warm state's priming run (both discarded), then
    // rounds of kernel-cold and warm: the marks change between the two measured ones.
    let flaky = "import os, sys, json, time\n\
                 c = os.path.join(os.environ['TMPDIR'], '..', 'count')\n\
                 n = int(open(c).read()) if os.path.exists(c) else 0\n\
                 open(c, 'w').write(str(n + 1))\n\
                 f = open(os.environ['COLDSTART_MARKS'], 'a')\n\
                 f.write(json.dumps({'protocol': 'mlx-coldstart-marks', 'version': 1, 'pid': os.getpid()}) + '\\n')\n\
                 f.write(json.dumps({'name': 'a' if n < 3 else 'b', 'end_ns': time.clock_gettime_ns(time.CLOCK_MONOTONIC), 'pid': os.getpid()}) + '\\n')\n";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["/nonexistent/program"],
            "could not start `/nonexistent/program`",
        ),
        (
            vec!["python3", "-c", "import sys; sys.exit(3)"],
            "exited with code 3",
        ),
        (
            vec![
                "python3",
                "-c",
                "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            ],
            "killed by signal 9",
        ),
        (vec!["python3", "-c", &dup], "marked twice"),
        (vec!["python3", "-c", many], "more than 1000 phases"),
        (
            vec!["python3", "-c", garbage],
            "line 1 of the marks: not JSON",
        ),
        (vec!["python3", "-c", version], "marks version 7"),
        (vec!["python3", "-c", flaky], "the first run marked"),
    ];
    for (cmd, needle) in cases {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["--"];
        args.extend(cmd.iter().copied());
        run(out.path(), &args)
            .code(4)
            .stderr(predicate::str::contains(needle).and(predicate::str::contains(cmd[0])));
        assert_eq!(
            files(out.path()),
            0,
            "{needle}: a partial report was written"
        );
    }
    // A program that hangs is killed at the timeout.
    let out = tempfile::tempdir().unwrap();
    run(out.path(), &["--timeout", "1", "--", "sleep", "30"])
        .code(4)
        .stderr(predicate::str::contains("still running after 1 s"));
    // No program at all is a usage error.
    Command::cargo_bin("mlx-profile")
        .unwrap()
        .args(["run"])
        .assert()
        .code(2);
}

/// The grade floor, on the state the caller names: a program that needs 60 MiB only
/// when its `TMPDIR` is fresh (kernel-cold) and nothing once it was primed
/// (kernel-warm) passes on kernel-warm and fails on kernel-cold (exit 1); the grade
/// says which state it was taken on; a state that is not measured is refused before
/// any process runs.
#[test]
fn the_grade_floor_is_applied_on_the_named_state() {
    let out = tempfile::tempdir().unwrap();
    let thresholds = out.path().join("thresholds.toml");
    std::fs::write(
        &thresholds,
        "[cold_start_seconds]\nexcellent = 100.0\ngood = 200.0\nacceptable = 300.0\n\
         [memory_overhead_mib]\nexcellent = 20.0\ngood = 22.0\nacceptable = 25.0\n\
         [test_impact_percent]\nexcellent = 15.0\ngood = 25.0\nacceptable = 50.0\n",
    )
    .unwrap();
    let script = "import os\n\
                  seen = os.path.join(os.environ['TMPDIR'], 'seen')\n\
                  if os.path.exists(seen):\n    x = b''\n\
                  else:\n    open(seen, 'w').write('1')\n    x = bytearray(60 << 20)\n";
    let floor = |grade_state: Option<&str>| {
        let mut c = Command::cargo_bin("mlx-profile").unwrap();
        c.args([
            "run",
            "--samples",
            "1",
            "--states",
            "kernel-cold,kernel-warm",
        ])
        .args(["--min-grade", "acceptable", "--thresholds"])
        .arg(&thresholds)
        .arg("--out")
        .arg(out.path());
        if let Some(s) = grade_state {
            c.args(["--grade-state", s]);
        }
        c.args(["--", "python3", "-c", script]);
        c.assert()
    };
    let graded = || -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(out.path().join("latest-python3.json")).unwrap(),
        )
        .unwrap()
    };
    floor(Some("kernel-warm")).success();
    assert_eq!(graded()["graded_state"], "kernel-warm");
    let md = std::fs::read_to_string(out.path().join("latest-python3.md")).unwrap();
    assert!(
        md.contains("Graded on the kernel-warm state's medians"),
        "{md}"
    );
    for kernel_cold in [Some("kernel-cold"), None] {
        floor(kernel_cold).code(1).stderr(predicate::str::contains(
            "overall grade Poor is below the floor",
        ));
        assert_eq!(graded()["graded_state"], "kernel-cold");
        assert_eq!(graded()["overall"], "poor");
    }

    let none = tempfile::tempdir().unwrap();
    Command::cargo_bin("mlx-profile")
        .unwrap()
        .args([
            "run",
            "--states",
            "kernel-cold",
            "--grade-state",
            "kernel-warm",
        ])
        .arg("--out")
        .arg(none.path())
        .args(["--", "python3", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add it to --states"));
    assert_eq!(files(none.path()), 0);
}

/// Ctrl-C on `mlx-profile run`: the program runs in a process group of its own, out
/// of the terminal's reach, so the profiler itself must stop it and whatever it
/// started, then exit 130 with its temporary files gone and no report written.
#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_run_stops_the_program_and_what_it_started() {
    use std::time::{Duration, Instant};
    let out = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = out.path().join("grandchild.pid");
    // A program that starts a grandchild, says its pid, and waits for it.
    let script = format!(
        "sleep 300 & echo $! > {p}.part && mv {p}.part {p}; wait",
        p = pidfile.display()
    );
    let report_dir = out.path().join("reports");
    let mut profiler = std::process::Command::new(env!("CARGO_BIN_EXE_mlx-profile"))
        .args(["run", "--samples", "1", "--states", "warm", "--out"])
        .arg(&report_dir)
        .args(["--", "sh", "-c", &script])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A handshake, not a timing: the grandchild's pid appears once it runs.
    let started = Instant::now();
    let grandchild: i32 = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile) {
            break text.trim().parse().unwrap();
        }
        assert!(
            profiler.try_wait().unwrap().is_none(),
            "mlx-profile ended before its program started"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: a signal to the child this test spawned.
    unsafe {
        libc::kill(profiler.id() as i32, libc::SIGINT);
    }
    let output = profiler.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The grandchild got its group's SIGKILL: gone, or a zombie until init reaps it.
    let gone = (0..2000).any(|_| {
        let dead = match std::fs::read_to_string(format!("/proc/{grandchild}/stat")) {
            Err(_) => true,
            Ok(s) => s.contains(") Z ") || !s.contains("(sleep)"),
        };
        if !dead {
            std::thread::sleep(Duration::from_millis(5));
        }
        dead
    });
    assert!(
        gone,
        "the program's child {grandchild} outlived the interrupted run"
    );
    assert_eq!(files(&report_dir), 0, "a report was written");
    assert_eq!(files(tmp.path()), 0, "temporary files were left behind");
}
