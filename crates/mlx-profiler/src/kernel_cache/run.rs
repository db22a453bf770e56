//! Filling a shared kernel cache from programs, safely: every program compiles into a
//! private directory of its own, and what it compiled is published into the cache
//! afterwards, file by file, atomically ([`publish`]). No program
//! ever sees another's half-written kernel, which is what breaks when several
//! processes point MLX at one directory (MLX writes its kernels in place, unlocked).
//!
//! - [`warm`]: the program starts with an empty private cache; on success what it
//!   compiled is published.
//! - [`run`]: the program starts with a private view of the cache (links to the
//!   shared kernels where MLX only reads, copies where it or the driver may write in
//!   place: [`share::View`](mlx_manager::kernel_cache::share::View) says why that is
//!   safe; `--copy` copies everything), and what it added is published after it exits
//!   normally; its exit status is returned. Afterwards every linked file is checked
//!   for a write in place. Many of these may run at once on one cache (parallel CI
//!   jobs; cargo-nextest with this as Cargo's target runner, so that each test process
//!   is wrapped: a program that starts parallel MLX processes itself shares its one
//!   private view among them).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus};

use mlx_manager::kernel_cache::share::{View, ViewKind};
use mlx_manager::kernel_cache::{KERNEL_CACHE_ENV, variables_for};

use super::CacheError;
use super::publish::{self, Published};

/// The command line, for messages.
fn command_line(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a process ended, in words.
fn ended(status: ExitStatus) -> String {
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return format!("was killed by signal {sig}");
    }
    format!("exited with code {}", status.code().unwrap_or(-1))
}

/// A private cache directory for one program.
fn private_dir() -> Result<tempfile::TempDir, CacheError> {
    tempfile::Builder::new()
        .prefix("mlx-kernels-")
        .tempdir()
        .map_err(|e| CacheError::io("create a private directory in", &std::env::temp_dir(), e))
}

/// Runs `argv` with every kernel cache (and `TMPDIR`) confined to `private`, its
/// standard streams inherited, and waits for it.
fn run_confined(argv: &[OsString], private: &Path) -> Result<ExitStatus, CacheError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(CacheError::Input {
            what: "the command".into(),
            detail:
                "no program given: put it after `--`, e.g. `mlx-profile cache warm -- ./my-app`"
                    .into(),
        });
    };
    let mut cmd = Command::new(program);
    crate::child::spawn_by_fork(&mut cmd);
    let mut child = cmd
        .args(args)
        .envs(variables_for(private))
        // The wrapper decides where kernels go; a manager inside must not move them.
        .env_remove(KERNEL_CACHE_ENV)
        .spawn()
        .map_err(|source| CacheError::CommandMissing {
            command: command_line(argv),
            source,
        })?;
    // In the terminal's group, a Ctrl-C reaches it directly; a SIGTERM or SIGHUP sent
    // to this process alone reaches it through the handler.
    let registered = crate::interrupt::started(child.id(), false);
    let waited = child.wait().map_err(|e| {
        // Not left running: stop it before reporting.
        crate::interrupt::kill_and_reap(&mut child, false);
        CacheError::io("wait for", Path::new(program), e)
    });
    // Reaped (or killed): forgotten, since its pid may be another process's now.
    drop(registered);
    let status = waited?;
    if crate::interrupt::interrupted() {
        // Stopped by a signal, not failed on its own: nothing of it is published.
        return Err(CacheError::Interrupted {
            command: command_line(argv),
        });
    }
    Ok(status)
}

/// Runs `argv` once with an empty private kernel cache and, if it succeeds,
/// publishes what it compiled into `dir`.
pub fn warm(dir: &Path, argv: &[OsString]) -> Result<Published, CacheError> {
    let private = private_dir()?;
    let status = run_confined(argv, private.path())?;
    if !status.success() {
        return Err(CacheError::CommandFailed {
            command: command_line(argv),
            detail: ended(status),
        });
    }
    Ok(publish::publish_dir(private.path(), dir)?)
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// How the program ended.
    pub status: ExitStatus,
    /// What was published (`None` when the program was killed by a signal: a
    /// kernel it was writing may be incomplete, so nothing is).
    pub published: Option<Published>,
    /// Files of the shared cache the view linked to and the program wrote in place
    /// (MLX does not; a program that does may have corrupted them).
    pub written_through: Vec<std::path::PathBuf>,
}

impl RunOutcome {
    /// The exit code to pass on: the program's, or 128 + the signal that killed it.
    pub fn exit_code(&self) -> u8 {
        #[cfg(unix)]
        if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&self.status) {
            return u8::try_from(128 + sig).unwrap_or(u8::MAX);
        }
        self.status
            .code()
            .map_or(u8::MAX, |c| u8::try_from(c).unwrap_or(u8::MAX))
    }
}

/// Runs `argv` with a private view of the kernel cache `dir` (`kind`: links where
/// that is safe, or copies of everything) and publishes what it added when it exits
/// normally, whatever its exit code (a failing test leaves whole kernels: MLX waits
/// for the compiler before it loads one, and a library still being written is not
/// published).
pub fn run(dir: &Path, argv: &[OsString], kind: ViewKind) -> Result<RunOutcome, CacheError> {
    let private = mlx_manager::kernel_cache::share::view_dir(dir)?;
    let view = View::open(dir, private.path(), kind)?;
    let status = run_confined(argv, private.path())?;
    let published = if status.code().is_some() {
        Some(publish::publish_new(private.path(), dir, &view)?)
    } else {
        None
    };
    let written_through = view.written_through();
    remove_behind(private);
    Ok(RunOutcome {
        status,
        published,
        written_through,
    })
}

/// Removes the private view in a process of its own, so that the wrapped program's
/// caller does not wait for it (a view of a few hundred files takes milliseconds to
/// unlink). Should that process not finish, the next view of the cache removes the
/// directory as one whose process is gone; should it not start, it is removed here.
fn remove_behind(private: tempfile::TempDir) {
    let path = private.keep();
    let started = Command::new("rm")
        .arg("-rf")
        .arg("--")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if started.is_err() {
        let _ = std::fs::remove_dir_all(&path);
    }
}
