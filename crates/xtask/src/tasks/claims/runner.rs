//! Runs the suite once under a variant and a condition and reads what it did: the
//! wall time of its process(es), and from the suite's log each test's wait for the
//! model, the time it ended and its process's peak RSS so far.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::plan::{self, CLEARED, Fixture, Layout, Variant};
use crate::error::{Result, TaskError};

/// What one run of the suite measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunFigures {
    /// From the first spawn to the last exit.
    pub wall: Duration,
    /// From the first spawn to the end of the first test to finish.
    pub first_result: Duration,
    /// The tests' waits for the model, summed (the suite's overhead).
    pub waited: Duration,
    /// Tests that ran.
    pub tests: usize,
    /// The largest peak RSS a test of the run logged for its process, in KiB.
    pub peak_rss_kib: u64,
}

impl RunFigures {
    /// The mean wait for the model per test.
    pub fn per_test_overhead(&self) -> Duration {
        self.waited / self.tests.max(1) as u32
    }
}

/// One line of the suite's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The test.
    pub name: String,
    /// Whether it ran the model (`model`) or not (`plain`).
    pub uses_model: bool,
    /// How long it waited for the model.
    pub waited: Duration,
    /// How long it took in all.
    pub took: Duration,
    /// When it ended, in nanoseconds since the Unix epoch.
    pub ended_unix_ns: u128,
    /// Its process's peak RSS when it ended, in KiB (the process's own, without
    /// the g++ that MLX runs for a cold kernel).
    pub peak_rss_kib: u64,
}

/// Parses the suite's log: `name model|plain waited_ns took_ns ended_unix_ns
/// peak_rss_kib` a line.
pub fn parse_log(text: &str, path: &Path) -> Result<Vec<LogLine>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l).ok_or_else(|| TaskError::Integrity {
                what: format!("line {} of the suite log {} is {l:?}", i + 1, path.display()),
                remedy: "the suite (tests/encoder_suite.rs) and this task must agree on the log's format".into(),
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Option<LogLine> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [name, kind, waited, took, ended, rss] = f.as_slice() else {
        return None;
    };
    let uses_model = match *kind {
        "model" => true,
        "plain" => false,
        _ => return None,
    };
    Some(LogLine {
        name: (*name).to_string(),
        uses_model,
        waited: Duration::from_nanos(waited.parse().ok()?),
        took: Duration::from_nanos(took.parse().ok()?),
        ended_unix_ns: ended.parse().ok()?,
        peak_rss_kib: rss.parse().ok()?,
    })
}

/// The figures of a run from its wall time and its log. `started_unix_ns` is when
/// the first process was spawned; every test of `expected` must appear once.
pub fn figures(
    exits_wall: Duration,
    started_unix_ns: u128,
    log: &[LogLine],
    expected: &[&str],
) -> std::result::Result<RunFigures, String> {
    let mut names: Vec<&str> = log.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    if names != want {
        return Err(format!("the suite logged {names:?}, not {want:?}"));
    }
    let first_end = log.iter().map(|l| l.ended_unix_ns).min().unwrap_or(0);
    let first_result = first_end.saturating_sub(started_unix_ns);
    Ok(RunFigures {
        wall: exits_wall,
        first_result: Duration::from_nanos(u64::try_from(first_result).unwrap_or(u64::MAX)),
        waited: log.iter().map(|l| l.waited).sum(),
        tests: log.len(),
        peak_rss_kib: log.iter().map(|l| l.peak_rss_kib).max().unwrap_or(0),
    })
}

/// Runs the suite once: `exe` with the variant's variables, `TMPDIR=tmpdir`, as
/// `layout` says.
pub fn run(
    exe: &Path,
    fixture: Fixture,
    variant: &Variant,
    layout: Layout,
    tmpdir: &Path,
) -> Result<RunFigures> {
    let scratch = tempfile::tempdir()
        .map_err(|e| TaskError::io("create a directory in", &std::env::temp_dir(), e))?;
    let log = scratch.path().join("suite.log");
    let env = plan::run_env(variant, fixture, &log, tmpdir);
    let tests = fixture.tests();
    let argvs: Vec<Vec<String>> = match layout {
        Layout::InProcess(threads) => vec![plan::in_process_args(threads, tests)],
        Layout::ProcessPerTest => tests.iter().map(|t| plan::per_test_args(t)).collect(),
    };
    let started_unix_ns = unix_now_ns();
    let started = Instant::now();
    for args in &argvs {
        run_process(exe, args, &env, scratch.path(), variant)?;
    }
    let wall = started.elapsed();
    let text = std::fs::read_to_string(&log).map_err(|e| TaskError::io("read", &log, e))?;
    let lines = parse_log(&text, &log)?;
    figures(wall, started_unix_ns, &lines, tests).map_err(|what| TaskError::Integrity {
        what: format!("{what} (variant {})", variant.label),
        remedy: "check tests/encoder_suite.rs against this task's test list".into(),
    })
}

fn unix_now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Runs one process of the suite, its output into a file shown only on failure.
fn run_process(
    exe: &Path,
    args: &[String],
    env: &[(String, OsString)],
    scratch: &Path,
    variant: &Variant,
) -> Result<()> {
    let out_path = scratch.join("output.txt");
    let out =
        std::fs::File::create(&out_path).map_err(|e| TaskError::io("create", &out_path, e))?;
    let err = out
        .try_clone()
        .map_err(|e| TaskError::io("open", &out_path, e))?;
    let mut cmd = Command::new(exe);
    for k in CLEARED {
        cmd.env_remove(k);
    }
    let status = cmd
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| TaskError::io("run", exe, e))?;
    if !status.success() {
        let output = std::fs::read_to_string(&out_path).unwrap_or_default();
        eprintln!("{output}");
        let vars: Vec<String> = variant
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        return Err(TaskError::Step {
            what: format!(
                "the claims suite ({} {} {})",
                vars.join(" "),
                exe.display(),
                args.join(" ")
            ),
            status: status.code().unwrap_or(-1),
            remedy: "its output is above; run it by hand with those variables to see more".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, model: bool, waited_ms: u64, ended: u128, rss_kib: u64) -> LogLine {
        LogLine {
            name: name.into(),
            uses_model: model,
            waited: Duration::from_millis(waited_ms),
            took: Duration::from_millis(waited_ms + 5),
            ended_unix_ns: ended,
            peak_rss_kib: rss_kib,
        }
    }

    #[test]
    fn the_log_parses_line_by_line_and_a_bad_line_is_named() {
        let text = "t01 model 1500 2000 1700000000000000000 20480\n\nt02 plain 0 42 1700000000000000001 20500\n";
        let lines = parse_log(text, Path::new("s.log")).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            LogLine {
                name: "t01".into(),
                uses_model: true,
                waited: Duration::from_nanos(1500),
                took: Duration::from_nanos(2000),
                ended_unix_ns: 1_700_000_000_000_000_000,
                peak_rss_kib: 20_480,
            }
        );
        assert!(!lines[1].uses_model);
        for bad in [
            "t01 model 1 2 3",
            "t01 maybe 1 2 3 4",
            "t01 model x 2 3 4",
            "t01 model 1 2 3 -4",
            "t01 model 1 2 3 4 5",
        ] {
            let err = parse_log(bad, Path::new("s.log")).unwrap_err().to_string();
            assert!(err.contains("line 1 of the suite log s.log"), "{err}");
        }
    }

    #[test]
    fn figures_sum_the_waits_and_take_the_first_test_to_end_and_the_largest_rss() {
        let log = [
            line("t02", false, 0, 1_300_000_000, 204_800),
            line("t01", true, 900, 1_250_000_000, 102_400),
        ];
        let f = figures(Duration::from_secs(2), 1_000_000_000, &log, &["t01", "t02"]).unwrap();
        assert_eq!(f.first_result, Duration::from_millis(250));
        assert_eq!(f.waited, Duration::from_millis(900));
        assert_eq!(f.per_test_overhead(), Duration::from_millis(450));
        assert_eq!((f.tests, f.peak_rss_kib), (2, 204_800));
        assert_eq!(f.wall, Duration::from_secs(2));
    }

    #[test]
    fn a_missing_or_repeated_test_is_refused() {
        let log = [line("t01", true, 1, 2, 9), line("t01", true, 1, 3, 9)];
        let err = figures(Duration::ZERO, 0, &log, &["t01", "t02"]).unwrap_err();
        assert!(err.contains("not [\"t01\", \"t02\"]"), "{err}");
        assert!(figures(Duration::ZERO, 0, &log[..1], &["t01", "t02"]).is_err());
    }
}
