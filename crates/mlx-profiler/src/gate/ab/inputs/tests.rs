use super::*;

/// A workspace on disk: a root package owning a bench, a member crate `core` it links,
/// an example crate it does not, and Cargo's dependency files for the units.
struct Ws {
    dir: tempfile::TempDir,
    /// What git tracks, as `git ls-files -v` would list it.
    tracked: std::cell::RefCell<Tracked>,
}

impl Ws {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ws = Ws {
            tracked: std::cell::RefCell::new(Tracked {
                root: std::fs::canonicalize(dir.path()).unwrap(),
                tags: BTreeMap::new(),
            }),
            dir,
        };
        for f in [
            "Cargo.toml",
            "README.md",
            "benches/b.rs",
            "benches/thresholds.toml",
            "crates/core/Cargo.toml",
            "crates/core/src/lib.rs",
            "crates/core/src/pool.rs",
            "crates/core/data/table.bin",
            "examples/ex/Cargo.toml",
            "examples/ex/src/main.rs",
        ] {
            ws.write(f, "x");
            ws.track(f, 'H');
        }
        ws.write(
            "target/CACHEDIR.TAG",
            "Signature: 8a477f597d28d172789f06886806bc55",
        );
        ws.write(
            "target/release/deps/core-1a2b.d",
            &format!(
                "{d}/target/release/deps/libcore-1a2b.rlib: crates/core/src/lib.rs crates/core/src/pool.rs\n\n\
                 crates/core/src/lib.rs:\n# env-dep:CARGO_PKG_NAME=core\n",
                d = ws.root().display()
            ),
        );
        ws.write(
            "target/release/deps/b-3c4d.d",
            &format!(
                "{d}/target/release/deps/b-3c4d: {d}/benches/b.rs\n",
                d = ws.root().display()
            ),
        );
        ws
    }

    fn track(&self, rel: &str, tag: char) {
        let p = self.root().join(rel);
        self.tracked.borrow_mut().tags.insert(p, tag);
    }

    fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn unit(&self, pkg: &str, target: &str, kind: &str, src: &str, artifact: &str) -> LocalUnit {
        LocalUnit {
            package_root: self.root().join(pkg),
            target: target.into(),
            kinds: vec![kind.into()],
            src_path: self.root().join(src),
            artifacts: vec![self.root().join(artifact)],
        }
    }

    fn units(&self) -> Vec<LocalUnit> {
        vec![
            self.unit(
                "crates/core",
                "core",
                "lib",
                "crates/core/src/lib.rs",
                "target/release/deps/libcore-1a2b.rlib",
            ),
            self.unit(
                "",
                "b",
                "bench",
                "benches/b.rs",
                "target/release/deps/b-3c4d",
            ),
        ]
    }

    fn decide(&self, changed: &[&str], units: &[LocalUnit]) -> Reuse {
        let changed: BTreeSet<PathBuf> = changed.iter().map(|c| self.root().join(c)).collect();
        let gate = GateFiles(vec![self.root().join("benches/thresholds.toml")]);
        decide(
            "0123456789abcdef",
            &changed,
            units,
            &self.root(),
            &gate,
            &self.tracked.borrow(),
        )
    }
}

fn rebuild(r: Reuse) -> String {
    match r {
        Reuse::Rebuild(why) => why,
        Reuse::Proven(line) => panic!("reused: {line}"),
    }
}

fn proven(r: Reuse) -> String {
    match r {
        Reuse::Proven(line) => line,
        Reuse::Rebuild(why) => panic!("rebuilt: {why}"),
    }
}

#[test]
fn a_change_in_a_linked_crate_builds_the_baseline() {
    // A bench executable's own dependency file lists only benches/b.rs: the proof must
    // read the library's too.
    let ws = Ws::new();
    let why = rebuild(ws.decide(&["crates/core/src/pool.rs"], &ws.units()));
    assert!(
        why.contains("crates/core/src/pool.rs") && why.contains("0123456789ab"),
        "{why}"
    );
}

#[test]
fn prose_and_unlinked_crates_may_reuse_and_the_line_names_what_was_compared() {
    let ws = Ws::new();
    let line = proven(ws.decide(
        &[
            "README.md",
            "examples/ex/src/main.rs",
            "benches/thresholds.toml",
        ],
        &ws.units(),
    ));
    assert!(
        line.contains("README.md") && line.contains("3 changed files"),
        "{line}"
    );
    assert!(
        line.contains("2 local packages") && line.contains("3 source files"),
        "{line}"
    );
    let line = proven(ws.decide(&[], &ws.units()));
    assert!(line.contains("no file differs"), "{line}");
}

#[test]
fn other_files_inside_a_crate_of_the_benches_count_as_inputs() {
    let ws = Ws::new();
    // Read at run time, not compiled in.
    let why = rebuild(ws.decide(&["crates/core/data/table.bin"], &ws.units()));
    assert!(why.contains("inside a package"), "{why}");
    // Deleted: listed nowhere any more, still a difference.
    let why = rebuild(ws.decide(&["crates/core/src/gone.rs"], &ws.units()));
    assert!(why.contains("crates/core/src/gone.rs"), "{why}");
    // The gate's own thresholds, once compiled into a bench, are a source file.
    ws.write(
        "target/release/deps/b-3c4d.d",
        &format!(
            "x: {d}/benches/b.rs {d}/benches/thresholds.toml\n",
            d = ws.root().display()
        ),
    );
    let why = rebuild(ws.decide(&["benches/thresholds.toml"], &ws.units()));
    assert!(why.contains("a source file of the benches"), "{why}");
}

#[test]
fn manifests_lock_files_and_cargo_configuration_are_inputs() {
    let ws = Ws::new();
    for f in [
        "examples/ex/Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "rust-toolchain.toml",
    ] {
        let why = rebuild(ws.decide(&[f], &ws.units()));
        assert!(why.contains("manifest, lock file"), "{f}: {why}");
    }
    for p in ["/w/README.md", "/w/baselines/a.json", "/w/docs/cargo.md"] {
        assert!(!is_build_config(Path::new(p)), "{p}");
    }
}

#[test]
fn a_missing_dependency_file_or_no_units_is_no_proof() {
    let ws = Ws::new();
    std::fs::remove_file(ws.root().join("target/release/deps/core-1a2b.d")).unwrap();
    let why = rebuild(ws.decide(&["README.md"], &ws.units()));
    assert!(
        why.contains("no dependency file") && why.contains("crates/core/src/lib.rs"),
        "{why}"
    );
    let why = rebuild(ws.decide(&["README.md"], &[]));
    assert!(why.contains("no local unit"), "{why}");
}

#[test]
fn a_build_script_makes_every_file_but_prose_an_input() {
    let ws = Ws::new();
    ws.write("crates/core/build.rs", "fn main() {}");
    ws.track("crates/core/build.rs", 'H');
    ws.write(
        "target/release/build/core-9f/build_script_build-9f.d",
        &format!("x: {}/crates/core/build.rs\n", ws.root().display()),
    );
    let mut units = ws.units();
    units.push(ws.unit(
        "crates/core",
        "build-script-build",
        "custom-build",
        "crates/core/build.rs",
        "target/release/build/core-9f/build_script_build-9f",
    ));
    let why = rebuild(ws.decide(&["examples/ex/src/main.rs"], &units));
    assert!(why.contains("build script could read"), "{why}");
    proven(ws.decide(&["README.md"], &units));
}

#[test]
fn a_path_spelled_through_a_symbolic_link_is_the_same_file() {
    let ws = Ws::new();
    let link = tempfile::tempdir().unwrap();
    let alias = link.path().join("alias");
    std::os::unix::fs::symlink(ws.root(), &alias).unwrap();
    let changed = BTreeSet::from([alias.join("crates/core/src/pool.rs")]);
    let r = decide(
        "0123456789ab",
        &changed,
        &ws.units(),
        &alias,
        &GateFiles::default(),
        &ws.tracked.borrow(),
    );
    assert!(matches!(r, Reuse::Rebuild(_)), "{r:?}");
}

#[test]
fn dependency_files_are_parsed_with_escaped_spaces_and_without_env_lines() {
    let deps = dep_info(
        "/t/warm-123: /w/benches/warm.rs /w/a\\ b.rs src/lib.rs\n\n/w/benches/warm.rs:\n\
         # env-dep:HOME=/root\n",
        Path::new("/root"),
    );
    assert!(deps.contains(Path::new("/w/benches/warm.rs")));
    assert!(deps.contains(Path::new("/w/a b.rs")));
    assert!(
        deps.contains(Path::new("/root/src/lib.rs")),
        "relative to the workspace root"
    );
    assert_eq!(deps.len(), 3, "{deps:?}");
}

#[test]
fn only_path_packages_are_local_units() {
    let msg = |id: &str| {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": id,
            "manifest_path": "/w/crates/core/Cargo.toml",
            "target": {"name": "core", "kind": ["lib"], "src_path": "/w/crates/core/src/lib.rs"},
            "filenames": ["/w/target/release/deps/libcore-1a.rlib"],
        })
    };
    let u = LocalUnit::from_message(&msg("path+file:///w/crates/core#0.1.0")).unwrap();
    assert_eq!(u.package_root, Path::new("/w/crates/core"));
    assert_eq!(u.dep_file_prefix(), "core-");
    assert!(LocalUnit::from_message(&msg("core 0.1.0 (path+file:///w/crates/core)")).is_some());
    assert!(
        LocalUnit::from_message(&msg(
            "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0"
        ))
        .is_none()
    );
    let mut other = msg("path+file:///w#0.1.0");
    other["reason"] = "build-finished".into();
    assert!(LocalUnit::from_message(&other).is_none());
}

#[test]
fn a_source_file_git_cannot_see_is_no_proof() {
    let ws = Ws::new();
    // Ignored or untracked, yet compiled in: the baseline's worktree would not have it.
    ws.write("crates/core/src/secret.rs", "x");
    ws.write(
        "target/release/deps/core-1a2b.d",
        &format!(
            "x: {d}/crates/core/src/lib.rs {d}/crates/core/src/secret.rs\n",
            d = ws.root().display()
        ),
    );
    let why = rebuild(ws.decide(&["README.md"], &ws.units()));
    assert!(
        why.contains("secret.rs") && why.contains("does not track"),
        "{why}"
    );
    let why = rebuild(ws.decide(&[], &ws.units()));
    assert!(why.contains("does not track"), "{why}");
    ws.track("crates/core/src/secret.rs", 'S');
    assert!(rebuild(ws.decide(&[], &ws.units())).contains("skip-worktree"));
    ws.track("crates/core/src/secret.rs", 'h');
    assert!(rebuild(ws.decide(&[], &ws.units())).contains("assumes it unchanged"));
    ws.track("crates/core/src/secret.rs", 'H');
    proven(ws.decide(&[], &ws.units()));
    // Generated under the target directory: not git's to show.
    ws.write(
        "target/release/deps/core-1a2b.d",
        &format!(
            "x: {d}/crates/core/src/lib.rs {d}/target/release/build/core-9f/out/gen.rs\n",
            d = ws.root().display()
        ),
    );
    proven(ws.decide(&["README.md"], &ws.units()));
}

#[test]
fn a_changed_directory_holding_sources_counts_and_prose_is_matched_by_name() {
    let ws = Ws::new();
    // A submodule: git reports its directory.
    let why = rebuild(ws.decide(&["crates/core/src"], &ws.units()));
    assert!(why.contains("directory holding source files"), "{why}");
    for prose in [
        "LICENSE",
        "LICENSE-MIT",
        "COPYING.txt",
        "crates/core/CHANGELOG.md",
    ] {
        assert!(is_inert(Path::new(prose)), "{prose}");
    }
    for code in ["license_check.rs", "authors.json", "notice.rs"] {
        assert!(!is_inert(Path::new(code)), "{code}");
    }
    // A gate file that holds a package (`--baselines .`) exempts nothing.
    let changed = BTreeSet::from([ws.root().join("crates/core/data/table.bin")]);
    let r = decide(
        "0123456789ab",
        &changed,
        &ws.units(),
        &ws.root(),
        &GateFiles(vec![ws.root()]),
        &ws.tracked.borrow(),
    );
    assert!(matches!(r, Reuse::Rebuild(_)), "{r:?}");
}
