//! Running child programs with their output kept in a log, so a failure can quote
//! the lines that matter instead of flooding the terminal.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Result, TaskError};

/// How many lines of a failed command's log an error message quotes.
const QUOTED_LINES: usize = 15;

/// Runs `cmd` with stdout and stderr written to `log`; on a non-zero exit returns a
/// [`TaskError::Build`] naming `step`, quoting the log's tail and giving `remedy`.
pub fn run_logged(cmd: &mut Command, step: &str, log: &Path, remedy: &str) -> Result<()> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir).map_err(|e| TaskError::io("create", dir, e))?;
    }
    let out = fs::File::create(log).map_err(|e| TaskError::io("create", log, e))?;
    let err = out.try_clone().map_err(|e| TaskError::io("open", log, e))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| TaskError::MissingTool {
            what: format!("could not start {} for {step}: {e}", program_name(cmd)),
            remedy: "install it or put it on PATH, then run set-up again".into(),
        })?;
    if status.success() {
        return Ok(());
    }
    Err(TaskError::Build {
        what: format!(
            "{step} exited with {status}; last lines of {}:\n{}",
            log.display(),
            tail(log, QUOTED_LINES)
        ),
        remedy: remedy.to_string(),
    })
}

/// Runs `cmd` and returns its trimmed stdout, or `None` when it cannot start or fails.
pub fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The program a command runs, for messages.
pub fn program_name(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

/// The last `n` lines of a text file (empty when unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Finds an executable on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_command_quotes_its_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("step.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo first; echo second >&2; exit 3"]);
        let err = run_logged(&mut cmd, "demo step", &log, "do the thing").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("demo step"), "{text}");
        assert!(text.contains("second"), "{text}");
        assert!(text.contains("do the thing"), "{text}");
        assert_eq!(err.exit_code(), mlx_profiler::exit::BUILD);
    }

    #[test]
    fn missing_program_is_a_missing_tool() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("/nonexistent/coldstart-no-such-program");
        let err = run_logged(&mut cmd, "x", &dir.path().join("l"), "r").unwrap_err();
        assert_eq!(err.exit_code(), mlx_profiler::exit::MISSING_TOOL, "{err}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        fs::write(&f, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&f, 2), "b\nc");
    }
}
