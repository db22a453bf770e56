//! The two sides' bench executables: the candidate's from the working tree, the
//! baseline's from a revision built in a git worktree and kept in a cache keyed by
//! commit and toolchain, so that a later run (or a CI cache restoring the folder)
//! starts measuring at once.
//!
//! When [`super::inputs`] proves that no file the benchmarks are built from
//! differs between the baseline commit and the working tree, the baseline is the
//! candidate's own binaries: the run is then an A/A run, and says so.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::inputs::{self, GateFiles, LocalUnit, Reuse};
use crate::atomic::write_atomic;
use crate::gate::error::GateError;

/// Version of a cached revision's manifest.
const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// What to build, and where.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The repository root holding the candidate (the working tree).
    pub workspace: PathBuf,
    /// The package that owns the bench targets.
    pub package: String,
    /// Its bench targets to build (`cold`, `warm`, ...).
    pub benches: Vec<String>,
    /// The cache: `<dir>/worktree`, `<dir>/target`, `<dir>/revisions/<commit>-<key>`,
    /// `<dir>/candidate` (the candidate's copy), `<dir>/scratch`.
    pub cache: PathBuf,
    /// Cargo (`$CARGO`, else `cargo`).
    pub cargo: OsString,
}

/// One side's binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `baseline 1a2b3c4d5e6f` or `candidate (working tree)`.
    pub label: String,
    /// The full commit (baseline), `None` for the working tree.
    pub commit: Option<String>,
    /// Bench target name → executable.
    pub benches: BTreeMap<String, PathBuf>,
    /// Directory holding the package's binaries of this side (`COLDSTART_BIN_DIR`).
    pub bin_dir: PathBuf,
    /// Every local unit Cargo built for this side (the candidate's; empty for a
    /// cached baseline): what the reuse proof reads the dependency files of.
    pub units: Vec<LocalUnit>,
    /// How they were obtained, for the report.
    pub origin: String,
}

/// A cached revision's manifest.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    schema_version: u32,
    commit: String,
    /// Bench target name → file name in the revision's directory.
    benches: BTreeMap<String, String>,
    /// File name → size in bytes of every file (benches and binaries).
    files: BTreeMap<String, u64>,
}

impl BuildSpec {
    /// The cargo command the spec builds with, in `dir`.
    fn cargo_in(&self, dir: &Path) -> Command {
        let mut c = Command::new(&self.cargo);
        c.current_dir(dir);
        c
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, GateError> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| GateError::program("git", format!("could not run git: {e}; install git")))
}

pub(super) fn git_text(dir: &Path, args: &[&str]) -> Result<String, GateError> {
    let out = git(dir, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(GateError::program(
            format!("git {}", args.join(" ")),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The full commit id of `rev` in the repository at `workspace`; the error says how
/// to get a commit a shallow clone lacks.
pub fn resolve(workspace: &Path, rev: &str) -> Result<String, GateError> {
    let out = git(
        workspace,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let shallow =
        git_text(workspace, &["rev-parse", "--is-shallow-repository"]).is_ok_and(|s| s == "true");
    Err(GateError::Revision {
        revision: rev.into(),
        problem: if shallow {
            "not in this clone, which is shallow".into()
        } else {
            "no such commit in this repository".into()
        },
        fix: "fetch it (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout), or \
              pass another revision with --against"
            .into(),
    })
}

/// A build's artifacts: bench target name → executable, and the binaries.
struct Built {
    benches: BTreeMap<String, PathBuf>,
    bins: Vec<PathBuf>,
    units: Vec<LocalUnit>,
}

/// `cargo bench --no-run` of the spec's benches in `dir`, with `target_dir` if given.
fn build(
    spec: &BuildSpec,
    dir: &Path,
    target_dir: Option<&Path>,
    what: &str,
) -> Result<Built, String> {
    let mut cmd = spec.cargo_in(dir);
    cmd.args([
        "bench",
        "--no-run",
        "--message-format=json-render-diagnostics",
        "--package",
        &spec.package,
    ]);
    for b in &spec.benches {
        cmd.args(["--bench", b]);
    }
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    eprintln!(
        "==> building the {what}'s benches: cargo bench --no-run -p {}",
        spec.package
    );
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo bench --no-run failed ({}); see its output above",
            out.status
        ));
    }
    let mut built = Built {
        benches: BTreeMap::new(),
        bins: Vec::new(),
        units: Vec::new(),
    };
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        built.units.extend(LocalUnit::from_message(&v));
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let kinds = v["target"]["kind"].as_array().cloned().unwrap_or_default();
        let name = v["target"]["name"].as_str().unwrap_or_default().to_string();
        if kinds.iter().any(|k| k == "bench") && spec.benches.contains(&name) {
            built.benches.insert(name, PathBuf::from(exe));
        } else if kinds.iter().any(|k| k == "bin") {
            built.bins.push(PathBuf::from(exe));
        }
    }
    let missing: Vec<&String> = spec
        .benches
        .iter()
        .filter(|b| !built.benches.contains_key(*b))
        .collect();
    if missing.is_empty() {
        Ok(built)
    } else {
        Err(format!(
            "cargo built no bench target named {missing:?} in package {}",
            spec.package
        ))
    }
}

/// The candidate: the working tree's benches, built in place and measured from a copy
/// in the cache (`<cache>/candidate`): a build into the same target directory while
/// the gate runs (another checkout sharing `CARGO_TARGET_DIR`, an editor's `cargo
/// build`) would otherwise swap the candidate's probe between rounds. The caller
/// holds [`lock_cache`].
pub fn candidate(spec: &BuildSpec) -> Result<Binaries, GateError> {
    let built = build(spec, &spec.workspace, None, "candidate")
        .map_err(|e| GateError::program("cargo (candidate)", e))?;
    let dir = spec.cache.join("candidate");
    store(&dir, "working tree", &built)?;
    let copy = cached(&dir, "candidate").ok_or_else(|| {
        GateError::program(
            "candidate",
            format!("the copy in {} is incomplete", dir.display()),
        )
    })?;
    Ok(Binaries {
        commit: None,
        units: built.units,
        origin: format!("the working tree (copied to {})", dir.display()),
        ..copy
    })
}

/// The root of the Cargo workspace at `dir`: relative paths in dependency files are
/// relative to it (rustc runs there).
fn cargo_workspace_root(spec: &BuildSpec, dir: &Path) -> PathBuf {
    spec.cargo_in(dir)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                .parent()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| dir.to_path_buf())
}

/// Whether the candidate's binaries may stand for the baseline at `commit` (see
/// [`inputs`]); `gate_files` are the files the gate reads itself.
pub fn reuse(
    spec: &BuildSpec,
    commit: &str,
    candidate: &Binaries,
    gate_files: &GateFiles,
) -> Result<Reuse, GateError> {
    let changed = inputs::changed_files(&spec.workspace, commit)?;
    let tracked = inputs::Tracked::read(&spec.workspace)?;
    let root = cargo_workspace_root(spec, &spec.workspace);
    Ok(inputs::decide(
        commit,
        &changed,
        &candidate.units,
        &root,
        gate_files,
        &tracked,
    ))
}

/// A key for everything besides the commit that makes built binaries differ: the
/// toolchain and the untracked Cargo configuration (the platform layer's paths).
fn toolchain_key(spec: &BuildSpec) -> String {
    let mut h = Sha256::new();
    if let Ok(out) = spec
        .cargo_in(&spec.workspace)
        .args(["rustc", "--version"])
        .output()
    {
        h.update(&out.stdout);
    }
    if let Ok(out) = Command::new("rustc").arg("-vV").output() {
        h.update(&out.stdout);
    }
    for f in untracked_cargo_config(&spec.workspace) {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `.cargo/*.toml` files of the working tree that git does not track (the generated
/// platform configuration): a worktree checkout lacks them, so they are copied in.
fn untracked_cargo_config(workspace: &Path) -> Vec<PathBuf> {
    let dir = workspace.join(".cargo");
    let tracked = git_text(workspace, &["ls-files", ".cargo"]).unwrap_or_default();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| {
            let rel = format!(
                ".cargo/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
            !tracked.lines().any(|t| t == rel)
        })
        .collect();
    out.sort();
    out
}

fn io_err(path: &Path, e: std::io::Error) -> GateError {
    GateError::Write {
        path: path.display().to_string(),
        source: e,
    }
}

/// Holds the cache for one gate run: the worktree, the target directory, the
/// candidate's copy and the scratch directories are shared by every gate using this
/// cache, so a second gate waits (saying so) until the first is done.
pub fn lock_cache(spec: &BuildSpec) -> Result<std::fs::File, GateError> {
    std::fs::create_dir_all(&spec.cache).map_err(|e| io_err(&spec.cache, e))?;
    let lock_path = spec.cache.join(".lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| io_err(&lock_path, e))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "waiting for another regression gate using {} to finish",
            spec.cache.display()
        );
        lock.lock().map_err(|e| io_err(&lock_path, e))?;
    }
    Ok(lock)
}

/// The baseline at `commit`: from the cache, or built in the cache's worktree. The
/// caller holds [`lock_cache`].
pub fn baseline(spec: &BuildSpec, commit: &str) -> Result<Binaries, GateError> {
    let short = &commit[..commit.len().min(12)];
    let label = format!("baseline {short}");
    let dir = spec
        .cache
        .join("revisions")
        .join(format!("{commit}-{}", toolchain_key(spec)));
    if let Some(b) = cached(&dir, &label) {
        return Ok(b);
    }
    let worktree = spec.cache.join("worktree");
    checkout(&spec.workspace, &worktree, commit)?;
    for f in untracked_cargo_config(&spec.workspace) {
        let to = worktree
            .join(".cargo")
            .join(f.file_name().unwrap_or_default());
        std::fs::create_dir_all(to.parent().unwrap_or(&worktree)).map_err(|e| io_err(&to, e))?;
        std::fs::copy(&f, &to).map_err(|e| io_err(&to, e))?;
    }
    let built = build(spec, &worktree, Some(&spec.cache.join("target")), &label).map_err(|e| {
        GateError::Revision {
            revision: commit.into(),
            problem: format!("does not build: {e}"),
            fix: "pick another revision with --against, or fix the build at that revision".into(),
        }
    })?;
    store(&dir, commit, &built)?;
    cached(&dir, &label).ok_or_else(|| {
        GateError::program(
            &label,
            format!("the cache entry {} vanished", dir.display()),
        )
    })
}

/// Checks `commit` out, detached, in the worktree at `worktree` (created on first use).
fn checkout(workspace: &Path, worktree: &Path, commit: &str) -> Result<(), GateError> {
    let registered = worktree.join(".git").exists();
    if !registered {
        let _ = git(workspace, &["worktree", "prune"]);
        if worktree.exists() {
            std::fs::remove_dir_all(worktree).map_err(|e| io_err(worktree, e))?;
        }
        let w = worktree.to_string_lossy().to_string();
        git_text(
            workspace,
            &["worktree", "add", "--detach", "--force", &w, commit],
        )
        .map_err(|e| GateError::Revision {
            revision: commit.into(),
            problem: format!("could not check it out into {w}: {e}"),
            fix: "remove that directory and run again".into(),
        })?;
        return Ok(());
    }
    git_text(worktree, &["checkout", "--detach", "--force", commit])
        .and_then(|_| git_text(worktree, &["clean", "-fdx", "--quiet"]))
        .map(|_| ())
        .map_err(|e| GateError::Revision {
            revision: commit.into(),
            problem: format!("could not check it out in {}: {e}", worktree.display()),
            fix: "remove that directory and run again".into(),
        })
}

/// Copies the built executables into `dir` (a staging directory, then a rename).
fn store(dir: &Path, commit: &str, built: &Built) -> Result<(), GateError> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
        .map_err(|e| io_err(parent, e))?;
    let mut manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        commit: commit.into(),
        benches: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    let mut copy = |from: &Path, name: String| -> Result<(), GateError> {
        let to = staging.path().join(&name);
        let size = std::fs::copy(from, &to).map_err(|e| io_err(&to, e))?;
        manifest.files.insert(name, size);
        Ok(())
    };
    for (bench, exe) in &built.benches {
        copy(exe, format!("bench-{bench}"))?;
        manifest
            .benches
            .insert(bench.clone(), format!("bench-{bench}"));
    }
    for bin in &built.bins {
        let name = bin
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        copy(bin, name)?;
    }
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    let mpath = staging.path().join("manifest.json");
    write_atomic(&mpath, text.as_bytes()).map_err(|e| io_err(&mpath, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let kept = staging.keep();
    std::fs::rename(&kept, dir).map_err(|e| io_err(dir, e))
}

/// A complete cache entry at `dir`, or `None` (missing, damaged, another schema).
fn cached(dir: &Path, label: &str) -> Option<Binaries> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let m: Manifest = serde_json::from_str(&text).ok()?;
    if m.schema_version != MANIFEST_SCHEMA_VERSION {
        return None;
    }
    let intact = m
        .files
        .iter()
        .all(|(name, size)| std::fs::metadata(dir.join(name)).is_ok_and(|md| md.len() == *size));
    intact.then(|| Binaries {
        label: label.into(),
        commit: Some(m.commit.clone()),
        benches: m
            .benches
            .iter()
            .map(|(b, f)| (b.clone(), dir.join(f)))
            .collect(),
        bin_dir: dir.to_path_buf(),
        units: Vec::new(),
        origin: format!("built from {} (cached in {})", m.commit, dir.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cache_entry_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let built = Built {
            benches: BTreeMap::from([("warm".to_string(), {
                let p = dir.path().join("warm-src");
                std::fs::write(&p, b"binary").unwrap();
                p
            })]),
            bins: vec![],
            units: vec![],
        };
        let entry = dir.path().join("revisions").join("abc-key");
        store(&entry, "abc", &built).unwrap();
        let b = cached(&entry, "baseline abc").expect("a complete entry");
        assert_eq!(b.benches["warm"], entry.join("bench-warm"));
        assert_eq!(b.commit.as_deref(), Some("abc"));
        std::fs::write(entry.join("bench-warm"), b"trunc").unwrap();
        assert!(cached(&entry, "baseline abc").is_none());
    }
}
