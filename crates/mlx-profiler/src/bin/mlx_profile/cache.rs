//! `mlx-profile cache`: kernel-cache artifacts (`mlx_profiler::kernel_cache`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mlx_manager::kernel_cache::share::ViewKind;
use mlx_profiler::exit;
use mlx_profiler::kernel_cache::machine::Machine;
use mlx_profiler::kernel_cache::{CacheError, archive, resolve_dir, run, status};

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

/// The cache directory option every subcommand shares.
#[derive(Debug, Args)]
struct DirArg {
    /// Kernel cache directory (default: $COLDSTART_KERNEL_CACHE when it names a
    /// directory, else this machine's directory under the per-user cache:
    /// $COLDSTART_CACHE_DIR or ~/.cache/mlx-coldstart, then kernels/MACHINE-KEY).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Run a program once with an empty private kernel cache, then publish what it
    /// compiled into the cache (file by file, atomically, never replacing a file):
    /// `mlx-profile cache warm [--dir D] -- COMMAND [ARGS...]`.
    Warm {
        #[command(flatten)]
        dir: DirArg,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Run a program on a private view of the cache (hard links to the kernels MLX
    /// only reads, copies of the driver's cache and cubins) and publish what it added
    /// when it exits: the safe way for parallel processes (CI jobs; cargo-nextest's processes
    /// with `CARGO_TARGET_<TRIPLE>_RUNNER="mlx-profile cache run --"`) to share one
    /// cache. Exits with the program's code (6 when it exited 0 but wrote into the
    /// shared cache through a link).
    Run {
        #[command(flatten)]
        dir: DirArg,
        /// Give the program a copy of every file instead of links (costs a copy of the
        /// cache per process; for programs other than MLX that may write cache files in
        /// place).
        #[arg(long)]
        copy: bool,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Pack the cache into one archive (tar.gz, manifest first), written atomically.
    Export {
        #[command(flatten)]
        dir: DirArg,
        /// The archive to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Import an archive after checking it against this machine (exit 12 on a
    /// mismatch) and every file against its manifest (exit 6); nothing is written
    /// unless everything checks. A CPU kernel is native code: import only archives
    /// you would run as binaries.
    Import {
        /// The archive.
        file: PathBuf,
        #[command(flatten)]
        dir: DirArg,
        /// Refuse an archive whose files add up to more bytes than this (default
        /// 256 MiB: about a hundred times the largest caches measured).
        #[arg(long, value_name = "BYTES", env = "COLDSTART_IMPORT_MAX_BYTES")]
        max_bytes: Option<u64>,
        /// Refuse an archive of more files than this (default 4096).
        #[arg(long, value_name = "N", env = "COLDSTART_IMPORT_MAX_FILES")]
        max_files: Option<usize>,
    },
    /// What the cache (or an archive) holds and whether it fits this machine
    /// (exit 12 when it does not).
    Status {
        #[command(flatten)]
        dir: DirArg,
        /// An archive to describe instead of the directory.
        file: Option<PathBuf>,
        /// Print only this machine's cache key (for CI cache keys).
        #[arg(long, conflicts_with = "file")]
        key: bool,
    },
}

/// Runs a cache subcommand; returns the exit code.
pub fn run(a: CacheArgs) -> Result<u8, CacheError> {
    // Detected only where needed: `g++ --version` costs a process, which `cache run`
    // with a directory (a wrapper around every test process) should not pay.
    let here = || Machine::detect().map_err(mlx_manager::kernel_cache::KernelCacheError::from);
    let dir = |d: &DirArg| resolve_dir(d.dir.as_deref());
    match a.command {
        CacheCommand::Warm { dir: d, command } => {
            let d = dir(&d)?;
            let p = run::warm(&d, &command)?;
            eprintln!("mlx-profile cache: warm: {p} in {}", d.display());
            Ok(exit::OK)
        }
        CacheCommand::Run {
            dir: d,
            copy,
            command,
        } => {
            let d = dir(&d)?;
            let kind = if copy {
                ViewKind::Copies
            } else {
                ViewKind::Links
            };
            let outcome = run::run(&d, &command, kind)?;
            match &outcome.published {
                Some(p) if p.new > 0 || !p.repaired.is_empty() => {
                    eprintln!("mlx-profile cache: run: published {p} into {}", d.display());
                }
                Some(_) => {}
                None => eprintln!(
                    "mlx-profile cache: run: the program was killed by a signal; nothing published"
                ),
            }
            if let Some(p) = &outcome.published
                && !p.incomplete.is_empty()
            {
                eprintln!("mlx-profile cache: run: not published: {p}");
            }
            if !outcome.written_through.is_empty() {
                eprintln!(
                    "error: mlx-profile cache: run: the program wrote into the shared cache in \
                     place, through the links of its private view: {}; those files may be \
                     corrupt: delete them (they are compiled again), and run this program \
                     with `cache run --copy`",
                    outcome
                        .written_through
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if outcome.exit_code() == exit::OK {
                    return Ok(exit::INTEGRITY);
                }
            }
            Ok(outcome.exit_code())
        }
        CacheCommand::Export { dir: d, out } => {
            let d = dir(&d)?;
            let here = here()?;
            let e = archive::export(&d, &out, &here)?;
            if !e.left_out.is_empty() {
                eprintln!(
                    "mlx-profile cache: left out {} files of other MLX versions (this MLX is {})",
                    e.left_out.len(),
                    here.mlx_version
                );
            }
            println!(
                "exported {} files ({}) from {} to {} ({:.1} KiB), key {}",
                e.manifest.files.len(),
                e.manifest.contents(),
                d.display(),
                out.display(),
                e.archive_bytes as f64 / 1024.0,
                e.manifest.key
            );
            Ok(exit::OK)
        }
        CacheCommand::Import {
            file,
            dir: d,
            max_bytes,
            max_files,
        } => {
            let d = dir(&d)?;
            let defaults = archive::ImportLimits::default();
            let limits = archive::ImportLimits {
                max_bytes: max_bytes.unwrap_or(defaults.max_bytes),
                max_files: max_files.unwrap_or(defaults.max_files),
            };
            let i = archive::import_with(&file, &d, &here()?, limits, None)?;
            if !i.published.repaired.is_empty() {
                eprintln!(
                    "mlx-profile cache: import: {} file(s) in {} differed from the archive's \
                     manifest and were replaced: {}",
                    i.published.repaired.len(),
                    d.display(),
                    i.published.repaired.join(", ")
                );
            }
            println!(
                "imported {} into {}: {} in {:.1} ms",
                file.display(),
                d.display(),
                i.published,
                i.elapsed.as_secs_f64() * 1e3
            );
            Ok(exit::OK)
        }
        CacheCommand::Status { dir: d, file, key } => {
            let here = here()?;
            if key {
                println!("{}", here.key());
                return Ok(exit::OK);
            }
            let s = match &file {
                Some(f) => status::of_archive(f, &here)?,
                None => status::of_dir(&dir(&d)?, &here)?,
            };
            print!("{s}");
            Ok(if s.fit.is_ok() {
                exit::OK
            } else {
                exit::MISMATCH
            })
        }
    }
}
