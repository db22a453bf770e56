//! Tidy: the repository keeps its promises to itself. Every relative link in the
//! Markdown resolves; every `cargo xtask` task has a `just` recipe; every document
//! the tools write carries a `schema_version`; no version is defined twice (and the
//! one that mirrors Cargo.toml agrees with it); no manifest declares a dependency its
//! crate does not use.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask lies two levels below the workspace root")
        .to_path_buf()
}

/// Files under `dir` (skipping target directories and hidden ones) whose name ends
/// with `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    todo.push(p);
                }
            } else if name.ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_relative_link_in_the_markdown_resolves() {
    let root = root();
    let mut broken = Vec::new();
    for md in files(&root, ".md") {
        let text = read(&md);
        // [text](target): targets that are not URLs or pure anchors.
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.is_empty()
                || target.contains("://")
                || target.starts_with('#')
                || target.starts_with("mailto:")
                || target.contains(' ')
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            let resolved = md.parent().unwrap_or(&root).join(path);
            if !resolved.exists() {
                broken.push(format!(
                    "{}: {target}",
                    md.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that do not resolve:\n{}",
        broken.join("\n")
    );
}

/// The kebab-case names of `enum Task`'s variants in crates/xtask/src/cli.rs.
fn xtask_tasks() -> Vec<String> {
    let cli = read(&root().join("crates/xtask/src/cli.rs"));
    let start = cli.find("pub enum Task {").expect("enum Task");
    let body = &cli[start..];
    let body = &body[..body.find("\n}\n").expect("the end of enum Task")];
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            // A variant starts a line at the enum's indentation with a capital.
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (!name.is_empty()
                && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && (l[name.len()..].starts_with(" {") || l[name.len()..].starts_with(',')))
            .then_some(name)
        })
        .map(|n| {
            let mut kebab = String::new();
            for (i, c) in n.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            kebab
        })
        .collect()
}

/// `just` is not on a fresh machine, so CI does not run the recipes: instead every
/// recipe's command must be a `cargo xtask` task that exists (a renamed task would
/// otherwise leave a recipe that fails only for the users who run it).
#[test]
fn every_just_recipe_runs_an_existing_xtask_task() {
    let justfile = read(&root().join("justfile"));
    let tasks = xtask_tasks();
    let mut commands = 0;
    for line in justfile.lines().filter(|l| l.starts_with("    ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            words.starts_with(&["cargo", "xtask"]),
            "a recipe runs something other than cargo xtask: {line:?}"
        );
        let task = words.get(2).copied().unwrap_or_default();
        assert!(
            tasks.iter().any(|t| t == task),
            "a recipe runs `cargo xtask {task}`, which is no task (tasks: {tasks:?})"
        );
        commands += 1;
    }
    assert!(commands >= 10, "read {commands} recipe commands");
}

#[test]
fn every_xtask_task_has_a_just_recipe() {
    let justfile = read(&root().join("justfile"));
    let recipes: BTreeSet<String> = justfile
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains(':'))
        .filter_map(|l| l.split([' ', ':']).next().map(String::from))
        .collect();
    let tasks = xtask_tasks();
    assert!(tasks.len() >= 10, "parsed {tasks:?}");
    let missing: Vec<&String> = tasks.iter().filter(|t| !recipes.contains(*t)).collect();
    assert!(
        missing.is_empty(),
        "tasks without a just recipe: {missing:?} (recipes: {recipes:?})"
    );
}

#[test]
fn every_written_document_carries_a_schema_version() {
    let root = root();
    // (file, the struct that is the document) for everything the tools write as JSON.
    let documents = [
        ("crates/mlx-profiler/src/report.rs", "pub struct Profile {"),
        (
            "crates/mlx-profiler/src/gate/baseline.rs",
            "pub struct Baseline {",
        ),
        (
            "crates/mlx-profiler/src/gate/verdict.rs",
            "pub struct Comparison {",
        ),
        (
            "crates/mlx-profiler/src/gate/run_record.rs",
            "pub struct GroupRecord {",
        ),
        (
            "crates/mlx-profiler/src/gate/ab/revision.rs",
            "struct Manifest {",
        ),
        (
            "crates/mlx-fixtures/src/probe.rs",
            "pub struct ProbeDocument {",
        ),
        (
            "crates/mlx-manager/src/profiling.rs",
            "pub struct ManagerProfile {",
        ),
        (
            "crates/mlx-profiler/src/kernel_cache/manifest.rs",
            "pub struct Manifest {",
        ),
    ];
    for (file, decl) in documents {
        let text = read(&root.join(file));
        let start = text
            .find(decl)
            .unwrap_or_else(|| panic!("{file}: no `{decl}`"));
        let body = &text[start..];
        let body = &body[..body.find("\n}").expect("the struct's end")];
        assert!(
            body.contains("schema_version"),
            "{file}: `{decl}` has no schema_version"
        );
    }
}

#[test]
fn no_version_is_defined_twice_and_the_mirrored_one_agrees_with_cargo() {
    let root = root();
    let mut seen: Vec<(String, String)> = Vec::new();
    for f in files(&root.join("crates"), ".rs") {
        for line in read(&f).lines() {
            let l = line.trim();
            if (l.starts_with("const ") || l.starts_with("pub const "))
                && l.contains("VERSION")
                && l.contains(": &str = \"")
            {
                let name = l
                    .split(':')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .last()
                    .unwrap()
                    .to_string();
                let shown = format!("{} ({})", name, f.strip_prefix(&root).unwrap().display());
                assert!(
                    !seen.iter().any(|(n, _)| *n == name),
                    "{shown} is defined twice: {seen:?}"
                );
                seen.push((name, shown));
            }
        }
    }
    let manifest = read(&root.join("Cargo.toml"));
    let pinned = manifest
        .lines()
        .find(|l| l.starts_with("mlx-rs = "))
        .and_then(|l| l.split("\"=").nth(1))
        .and_then(|v| v.split('"').next())
        .expect("the workspace pins mlx-rs exactly");
    let env = read(&root.join("crates/mlx-profiler/src/gate/environment.rs"));
    assert!(
        env.contains(&format!("MLX_RS_VERSION: &str = \"{pinned}\"")),
        "MLX_RS_VERSION does not match the pinned mlx-rs {pinned}"
    );
}

#[test]
fn no_manifest_declares_a_dependency_its_crate_does_not_use() {
    let root = root();
    let mut unused = Vec::new();
    let mut manifests = vec![root.join("Cargo.toml")];
    manifests.extend(
        files(&root.join("crates"), "Cargo.toml")
            .into_iter()
            .chain(files(&root.join("examples"), "Cargo.toml")),
    );
    for m in manifests {
        let dir = m.parent().unwrap();
        let text = read(&m);
        let sources: String = ["src", "tests", "benches", "examples"]
            .iter()
            .flat_map(|d| {
                // The root package's own sources only: the members live in crates/.
                let here = dir.join(d);
                files(&here, ".rs")
            })
            .map(|f| read(&f))
            .collect();
        let mut section = String::new();
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                section = l.to_string();
                continue;
            }
            // The workspace's shared table declares versions, not uses.
            let deps = section.ends_with("dependencies]") && !section.starts_with("[workspace.");
            if !deps || l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some(name) = l.split(['=', '.', ' ']).next().filter(|n| !n.is_empty()) else {
                continue;
            };
            let ident = name.replace('-', "_");
            let used = sources.contains(&format!("{ident}::"))
                || sources.contains(&format!("use {ident}"))
                || sources.contains(&format!("{ident}!"));
            if !used {
                unused.push(format!(
                    "{}: {name}",
                    m.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "declared but unused:\n{}",
        unused.join("\n")
    );
}
