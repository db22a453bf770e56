//! The exit codes of every binary of the workspace (`mlx-profile`, `mlx-bench`,
//! `mlx-probe`, `cargo xtask`): one table, so that a code means the same thing
//! wherever a CI script meets it. The README states it once.

/// Success.
pub const OK: u8 = 0;
/// The verdict failed: a regression, a grade below the floor, a failing step.
pub const FAILED: u8 = 1;
/// Usage or input error: a bad argument or variable, a missing or malformed file.
pub const INPUT: u8 = 2;
/// No stored baseline for this environment (the stored gate only).
pub const NO_BASELINE: u8 = 3;
/// A program the run depends on failed: the probe, a bench executable or the
/// user's command was missing, crashed, hung or printed malformed output.
pub const PROGRAM: u8 = 4;
/// An output file or directory could not be written.
pub const WRITE: u8 = 5;
/// An integrity check failed: a hash mismatch, a damaged archive or cache entry.
pub const INTEGRITY: u8 = 6;
/// The baseline revision is not available: not in this clone, or it does not build.
pub const REVISION: u8 = 7;
/// This platform (OS, architecture, backend) is not supported by the command.
pub const UNSUPPORTED: u8 = 8;
/// A tool the command needs (cargo, git, python3, pip, a compiler) is missing.
pub const MISSING_TOOL: u8 = 9;
/// A download failed.
pub const FETCH: u8 = 10;
/// A set-up build step (CMake, bindgen, a C shim) failed.
pub const BUILD: u8 = 11;
/// An artifact was made for another machine: a kernel archive whose architecture,
/// backend, MLX version, compiler, CPU extensions or GPU compute capability differ.
pub const MISMATCH: u8 = 12;

/// Interrupted (Ctrl-C, SIGTERM, SIGHUP): the programs it had started were stopped
/// (128 + SIGINT, as shells report a command that a Ctrl-C ended).
pub const INTERRUPTED: u8 = 130;

/// The table, code and meaning, for documentation and the tidy test.
pub const TABLE: [(u8, &str); 14] = [
    (OK, "success"),
    (
        FAILED,
        "the verdict failed: a regression, a grade below the floor, a failing step",
    ),
    (
        INPUT,
        "usage or input error: bad argument or variable, missing or malformed file",
    ),
    (
        NO_BASELINE,
        "no stored baseline for this environment (stored gate)",
    ),
    (
        PROGRAM,
        "a program failed: probe, bench executable or your command missing, crashed, hung or malformed",
    ),
    (WRITE, "an output could not be written"),
    (
        INTEGRITY,
        "integrity check failed: hash mismatch, damaged archive or cache entry",
    ),
    (
        REVISION,
        "the baseline revision is not available: not in this clone, or it does not build",
    ),
    (UNSUPPORTED, "unsupported platform"),
    (
        MISSING_TOOL,
        "a required tool is missing (cargo, git, python3, pip, a compiler)",
    ),
    (FETCH, "a download failed"),
    (BUILD, "a set-up build step failed"),
    (
        MISMATCH,
        "an artifact was made for another machine (kernel archive: arch, backend, MLX version, compiler, CPU extensions, compute capability)",
    ),
    (
        INTERRUPTED,
        "interrupted (Ctrl-C, SIGTERM, SIGHUP); the programs it had started were stopped",
    ),
];
