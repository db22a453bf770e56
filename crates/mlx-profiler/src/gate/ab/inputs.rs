//! Whether the baseline may run the candidate's own binaries: only when it is proven
//! that nothing the benches are built from differs between the baseline commit and the
//! working tree. Anything that cannot be shown unchanged counts as changed (fail
//! closed): a local crate whose dependency file is missing, a package with a build
//! script, a file the proof does not recognise.
//!
//! The proof covers every *local* unit Cargo built for the benches (each workspace
//! member or path dependency they link, its build scripts, the bench executables and
//! the binaries they spawn), read from Cargo's own messages: a bench executable's
//! dependency file lists only its own crate's files, so the candidate's libraries
//! are looked up one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::gate::error::GateError;

/// One unit Cargo compiled from a local (path) package, as its JSON message told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUnit {
    /// The package's directory (where its `Cargo.toml` is).
    pub package_root: PathBuf,
    /// The target's name (`mlx-manager`, `cold`, `build-script-build`).
    pub target: String,
    /// The target's kinds (`lib`, `bin`, `bench`, `custom-build`, `proc-macro`).
    pub kinds: Vec<String>,
    /// The crate's root source file.
    pub src_path: PathBuf,
    /// Files Cargo wrote for it (where its dependency file is looked for).
    pub artifacts: Vec<PathBuf>,
}

impl LocalUnit {
    /// Reads a `compiler-artifact` message; `None` for another message or a unit of
    /// a registry or git package (those change only through `Cargo.lock`).
    pub fn from_message(v: &serde_json::Value) -> Option<Self> {
        if v["reason"] != "compiler-artifact" {
            return None;
        }
        // `path+file:///…#name@1.0` (Cargo ≥ 1.77) or `name 1.0 (path+file:///…)`.
        if !v["package_id"].as_str()?.contains("path+file://") {
            return None;
        }
        let strings = |x: &serde_json::Value| -> Vec<String> {
            x.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        };
        Some(LocalUnit {
            package_root: Path::new(v["manifest_path"].as_str()?)
                .parent()?
                .to_path_buf(),
            target: v["target"]["name"].as_str()?.to_string(),
            kinds: strings(&v["target"]["kind"]),
            src_path: PathBuf::from(v["target"]["src_path"].as_str()?),
            artifacts: strings(&v["filenames"])
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        })
    }

    fn is_build_script(&self) -> bool {
        self.kinds.iter().any(|k| k == "custom-build")
    }

    /// The prefix of its dependency files' names: rustc names them after the crate
    /// (`-` becomes `_`), plus Cargo's hash.
    fn dep_file_prefix(&self) -> String {
        format!("{}-", self.target.replace('-', "_"))
    }
}

/// The verdict on reusing the candidate's binaries as the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// Proven: no input changed. The line says what was compared.
    Proven(String),
    /// The baseline must be built; the line says why.
    Rebuild(String),
}

/// Files the gate reads itself (its thresholds, its baseline store): the same for
/// both sides, so a change there is no difference between the binaries. An entry
/// that holds a package's root (`--baselines .`) exempts nothing.
#[derive(Debug, Clone, Default)]
pub struct GateFiles(pub Vec<PathBuf>);

/// What git tracks in the working tree: path → `git ls-files -v` tag (`H` tracked,
/// `S` skip-worktree, a lower-case tag assume-unchanged). A source file git does not
/// track, or tracks without looking at it, cannot be shown unchanged by `git diff`.
#[derive(Debug, Clone, Default)]
pub struct Tracked {
    /// The repository's root.
    pub root: PathBuf,
    /// Tag of every tracked path (normalised).
    pub tags: BTreeMap<PathBuf, char>,
}

impl Tracked {
    /// Reads `git ls-files -v` of the repository holding `workspace`.
    pub fn read(workspace: &Path) -> Result<Self, GateError> {
        let root = normal(Path::new(&super::revision::git_text(
            workspace,
            &["rev-parse", "--show-toplevel"],
        )?));
        let listing = super::revision::git_text(workspace, &["ls-files", "-v", "-z"])?;
        let tags = listing
            .split('\0')
            .filter_map(|e| {
                let (tag, path) = e.split_once(' ')?;
                Some((root.join(path), tag.chars().next()?))
            })
            .collect();
        Ok(Tracked { root, tags })
    }

    /// Why `input` (a source file of the benches) cannot be shown unchanged by git,
    /// or `None`: outside the repository (a registry crate, the toolchain) or under
    /// Cargo's target directory (generated) it is not git's to show.
    fn unseen(&self, input: &Path, target: Option<&Path>) -> Option<&'static str> {
        if !input.starts_with(&self.root) || target.is_some_and(|t| input.starts_with(t)) {
            return None;
        }
        match self.tags.get(input) {
            None => Some("git does not track it (untracked or ignored)"),
            Some('S') => Some("git skips it (skip-worktree)"),
            Some(t) if t.is_ascii_lowercase() => Some("git assumes it unchanged"),
            Some(_) => None,
        }
    }
}

/// Decides whether the candidate's binaries, built from `units`, may stand for the
/// baseline at `commit`. `changed` are the files that differ (absolute paths), from
/// [`changed_files`]; `workspace_root` is where relative paths in dependency files
/// start.
pub fn decide(
    commit: &str,
    changed: &BTreeSet<PathBuf>,
    units: &[LocalUnit],
    workspace_root: &Path,
    gate_files: &GateFiles,
    tracked: &Tracked,
) -> Reuse {
    let short = &commit[..commit.len().min(12)];
    if units.is_empty() {
        return Reuse::Rebuild(format!(
            "built the baseline {short}: Cargo reported no local unit of the benches, so \
             nothing proves their inputs unchanged"
        ));
    }
    let inputs = match unit_inputs(units, workspace_root) {
        Ok(i) => i,
        Err(why) => return Reuse::Rebuild(format!("built the baseline {short}: {why}")),
    };
    let rel = |p: &Path| {
        p.strip_prefix(normal(workspace_root))
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let target = target_dir(units);
    if let Some((input, why)) = inputs
        .iter()
        .find_map(|i| tracked.unseen(i, target.as_deref()).map(|w| (i, w)))
    {
        return Reuse::Rebuild(format!(
            "built the baseline {short}: {} is a source file of the benches and {why}, so \
             git cannot show it unchanged",
            rel(input)
        ));
    }
    if changed.is_empty() {
        return Reuse::Proven(format!(
            "reused the candidate's binaries as the baseline {short}: no file differs from \
             it (git diff and untracked files), and git tracks every one of the {} of the \
             benches",
            count(inputs.len(), "source file")
        ));
    }
    let roots: BTreeSet<PathBuf> = units.iter().map(|u| normal(&u.package_root)).collect();
    let scripted: BTreeSet<PathBuf> = units
        .iter()
        .filter(|u| u.is_build_script())
        .map(|u| normal(&u.package_root))
        .collect();
    let exempt: Vec<PathBuf> = gate_files
        .0
        .iter()
        .map(|p| normal(p))
        .filter(|g| !roots.iter().any(|r| r.starts_with(g)))
        .collect();
    let mut hits: Vec<(PathBuf, &str)> = Vec::new();
    for f in changed {
        let f = normal(f);
        let why = if inputs.contains(&f) {
            Some("a source file of the benches")
        } else if f.is_dir() && inputs.iter().any(|i| i.starts_with(&f)) {
            // A submodule git reports as one path.
            Some("a directory holding source files of the benches")
        } else if is_build_config(&f) {
            Some("a manifest, lock file, build script or Cargo configuration")
        } else if !scripted.is_empty() && !is_inert(&f) && !exempt.iter().any(|e| f.starts_with(e))
        {
            // A build script may read any file; only what cannot feed a build is left.
            Some("a file a build script could read")
        } else if owner(&f).is_some_and(|o| roots.contains(&o))
            && !is_inert(&f)
            && !exempt.iter().any(|e| f.starts_with(e))
        {
            // Not in a dependency file, but inside a crate the benches are built from:
            // a data file read at run time, a module a deleted file would shadow.
            Some("a file inside a package of the benches")
        } else {
            None
        };
        if let Some(why) = why {
            hits.push((f, why));
        }
    }
    if let Some((first, why)) = hits.first() {
        let which = match hits.len() {
            1 => format!(
                "{} of the {} is",
                rel(first),
                count(changed.len(), "changed file")
            ),
            n => format!(
                "{} and {} more of the {} are",
                rel(first),
                n - 1,
                count(changed.len(), "changed file")
            ),
        };
        return Reuse::Rebuild(format!(
            "built the baseline {short}: {which} of the benches ({}: {why})",
            rel(first)
        ));
    }
    let shown: Vec<String> = changed.iter().take(3).map(|p| rel(p)).collect();
    let more = if changed.len() > 3 { ", …" } else { "" };
    Reuse::Proven(format!(
        "reused the candidate's binaries as the baseline {short}: none of the {} ({}{more}) \
         is among the {} of the {} the benches are built from (their dependency files), \
         nor a manifest, lock file, build script or Cargo configuration, nor any file but \
         prose inside those packages",
        count(changed.len(), "changed file"),
        shown.join(", "),
        count(inputs.len(), "source file"),
        count(roots.len(), "local package")
    ))
}

/// Cargo's target directory (the one holding `CACHEDIR.TAG` above the units'
/// artifacts): files under it are generated, not sources git could show.
fn target_dir(units: &[LocalUnit]) -> Option<PathBuf> {
    units
        .iter()
        .flat_map(|u| &u.artifacts)
        .find_map(|a| a.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()))
        .map(normal)
}

/// `1 changed file`, `3 changed files`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The union of the source files every local unit was compiled from, or why it cannot
/// be known (a unit no dependency file lists).
fn unit_inputs(units: &[LocalUnit], workspace_root: &Path) -> Result<BTreeSet<PathBuf>, String> {
    // Every dependency file in the directories Cargo wrote the units to, read once.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for u in units {
        for a in &u.artifacts {
            if let Some(d) = a.parent() {
                dirs.insert(d.to_path_buf());
                // Uplifted binaries sit beside `deps/`, where their dependency files are.
                dirs.insert(d.join("deps"));
            }
        }
    }
    let mut files: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let prefixes: BTreeSet<String> = units.iter().map(LocalUnit::dep_file_prefix).collect();
    for d in &dirs {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".d") && prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    return Err(format!("could not read {}", e.path().display()));
                };
                files.insert(e.path(), dep_info(&text, workspace_root));
            }
        }
    }
    let mut all = BTreeSet::new();
    for u in units {
        let src = normal(&u.src_path);
        let mut found = false;
        for deps in files.values().filter(|d| d.contains(&src)) {
            all.extend(deps.iter().cloned());
            found = true;
        }
        if !found {
            return Err(format!(
                "no dependency file of Cargo's lists {} (target {} of {}), so its inputs \
                 cannot be proven unchanged",
                u.src_path.display(),
                u.target,
                u.package_root.display()
            ));
        }
    }
    Ok(all)
}

/// The source files a Cargo dependency file lists, normalised; relative ones are taken
/// from `root` (rustc runs in the workspace root).
pub fn dep_info(text: &str, root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut add = |p: String| {
        let p = PathBuf::from(p);
        out.insert(normal(&if p.is_absolute() { p } else { root.join(p) }));
    };
    for line in text.lines() {
        // `# env-dep:` lines name environment variables, not files.
        if line.starts_with('#') {
            continue;
        }
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        // Paths are separated by spaces; a space inside a path is escaped as "\ ".
        let mut cur = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&' ') {
                cur.push(' ');
                chars.next();
            } else if c == ' ' {
                if !cur.is_empty() {
                    add(std::mem::take(&mut cur));
                }
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            add(cur);
        }
    }
    out
}

/// Whether a changed file can change what Cargo builds even when no dependency file
/// lists it: manifests, lock files, build scripts, Cargo and toolchain configuration.
pub fn is_build_config(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(
        name,
        "Cargo.toml" | "Cargo.lock" | "build.rs" | "rust-toolchain" | "rust-toolchain.toml"
    ) || path.components().any(|c| c.as_os_str() == ".cargo")
}

/// Files that cannot feed a build or a benchmark unless a dependency file lists them
/// (then they count): prose and repository metadata.
fn is_inert(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    // LICENSE, LICENSE-MIT, COPYING.txt; not license_check.rs or authors.json.
    let stem = name.split('.').next().unwrap_or("");
    let stem = stem.split('-').next().unwrap_or(stem);
    matches!(ext.as_str(), "md" | "markdown" | "rst" | "adoc")
        || (["license", "copying", "notice", "changelog", "authors"].contains(&stem)
            && matches!(ext.as_str(), "" | "txt" | "mit" | "apache"))
        || matches!(name.as_str(), ".gitignore" | ".gitattributes" | ".mailmap")
        || path.components().any(|c| c.as_os_str() == ".github")
}

/// The package a file belongs to: the nearest directory above it that holds a
/// `Cargo.toml` (in the working tree).
fn owner(file: &Path) -> Option<PathBuf> {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d.join("Cargo.toml").is_file() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// A path with symbolic links resolved where it exists (the part that exists, for a
/// deleted file), so that a dependency file's and git's spellings of one file agree.
pub fn normal(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    // Resolve the longest existing ancestor, then append the rest lexically.
    let mut rest = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n);
                cur = parent.to_path_buf();
            }
            _ => break,
        }
    }
    // Nothing of it exists: drop `.` parts at least.
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The files of the working tree at `workspace` that differ from `commit`: tracked
/// changes (committed or not) and untracked files that are not ignored, as absolute
/// paths. A lock file Cargo wrote for an untracked-lock project is no difference
/// (the worktree's build writes its own from the same manifests).
pub fn changed_files(workspace: &Path, commit: &str) -> Result<BTreeSet<PathBuf>, GateError> {
    let root = PathBuf::from(super::revision::git_text(
        workspace,
        &["rev-parse", "--show-toplevel"],
    )?);
    // NUL-separated: names with quotes, tabs or non-ASCII letters come unquoted.
    let diff = super::revision::git_text(
        workspace,
        &["diff", "--name-only", "-z", "--no-renames", commit, "--"],
    )?;
    let untracked = super::revision::git_text(
        workspace,
        &["ls-files", "-z", "--others", "--exclude-standard"],
    )?;
    // The lock file of the workspace itself, untracked: Cargo wrote it for this
    // build, and the worktree's build writes its own from the same manifests.
    let own_lock = normal(&workspace.join("Cargo.lock"));
    let untracked = untracked
        .split('\0')
        .filter(|l| normal(&root.join(l)) != own_lock);
    Ok(diff
        .split('\0')
        .chain(untracked)
        .filter(|l| !l.is_empty())
        .map(|l| root.join(l))
        .collect())
}

#[cfg(test)]
mod tests;
