//! Tidy: Linux-only APIs stay behind `cfg(target_os = "linux")`, so the workspace keeps
//! compiling on macOS (mlx-rs's home platform), where libc 0.2 lacks `posix_fadvise`
//! and glibc's `mallopt`, gives `mincore` another pointer type, and there is no
//! `/proc`.
//!
//! The rule, checked on the tokens of every `.rs` file under `crates/`, `benches/`,
//! `src/` and `tests/` (comments and doc comments do not count): a Linux-only libc
//! name ([`LINUX_ONLY`]) or a string literal naming a `/proc/` path may appear only
//!
//! 1. in a file that starts with the inner attribute `#![cfg(target_os = "linux")]`
//!    (a module file; the cfg on its `mod` declaration is not looked at, so the file
//!    says it of itself), or
//! 2. inside an item or statement that carries `#[cfg(target_os = "linux")]` (or
//!    `cfg(all(..., target_os = "linux", ...))`): a function, an impl, an inline
//!    module, a `const`, a `let`, an `unsafe { ... }` block statement. The attribute
//!    covers the tokens up to the end of the first `{ ... }` group or the first `;`
//!    at its own level, whichever comes first.
//!
//! Anything else needs a portable fallback under `cfg(not(target_os = "linux"))`.
//! There is no allow-list: a file that breaks the rule is fixed, not listed.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// libc names that Apple's targets lack or declare differently.
const LINUX_ONLY: [&str; 24] = [
    "posix_fadvise",
    "POSIX_FADV_DONTNEED",
    "POSIX_FADV_WILLNEED",
    "POSIX_FADV_SEQUENTIAL",
    "POSIX_FADV_RANDOM",
    "mincore",
    "mallopt",
    "malloc_trim",
    "M_MMAP_THRESHOLD",
    "M_TRIM_THRESHOLD",
    "M_ARENA_MAX",
    "sched_setaffinity",
    "sched_getaffinity",
    "cpu_set_t",
    "CPU_SET",
    "CPU_ZERO",
    "prctl",
    "epoll_create1",
    "eventfd",
    "memfd_create",
    "fallocate",
    "sync_file_range",
    "gettid",
    "CLOCK_BOOTTIME",
];

/// The directories the rule covers, relative to the workspace root.
const ROOTS: [&str; 4] = ["crates", "benches", "src", "tests"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask lies two levels below the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether an attribute's bracketed content (`cfg(target_os = "linux")`) limits the
/// item to Linux.
fn is_linux_cfg(attr: &TokenStream) -> bool {
    let text: String = attr.to_string().split_whitespace().collect();
    text.starts_with("cfg(")
        && text.contains("target_os=\"linux\"")
        && !text.contains("not(")
        && !text.contains("any(")
}

/// The offending tokens in `stream`, outside Linux-only items.
fn violations(stream: TokenStream) -> Vec<String> {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // An attribute: `#` (`!`) `[...]`.
        if let TokenTree::Punct(p) = &tokens[i]
            && p.as_char() == '#'
        {
            let inner =
                matches!(tokens.get(i + 1), Some(TokenTree::Punct(b)) if b.as_char() == '!');
            let at = if inner { i + 2 } else { i + 1 };
            if let Some(TokenTree::Group(g)) = tokens.get(at)
                && g.delimiter() == Delimiter::Bracket
            {
                if is_linux_cfg(&g.stream()) {
                    if inner {
                        // Covers the whole enclosing file or block.
                        return found;
                    }
                    i = end_of_item(&tokens, at + 1);
                } else {
                    // Other attributes (doc comments among them) are not code.
                    i = at + 1;
                }
                continue;
            }
        }
        match &tokens[i] {
            TokenTree::Ident(id) if LINUX_ONLY.contains(&id.to_string().as_str()) => {
                found.push(format!("`{id}`"));
            }
            TokenTree::Literal(lit) => {
                let text = lit.to_string();
                if text.contains("/proc/") || text.ends_with("/proc\"") {
                    found.push(text);
                }
            }
            TokenTree::Group(g) => found.extend(violations(g.stream())),
            _ => {}
        }
        i += 1;
    }
    found
}

/// The index after the item that starts at `from`: past the first brace group or
/// `;` at this level.
fn end_of_item(tokens: &[TokenTree], from: usize) -> usize {
    for (k, t) in tokens.iter().enumerate().skip(from) {
        match t {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return k + 1,
            TokenTree::Punct(p) if p.as_char() == ';' => return k + 1,
            _ => {}
        }
    }
    tokens.len()
}

fn violations_in(source: &str) -> Result<Vec<String>, String> {
    TokenStream::from_str(source)
        .map(violations)
        .map_err(|e| e.to_string())
}

#[test]
fn linux_only_apis_stay_behind_cfg_target_os_linux() {
    let root = workspace_root();
    let this_file = root.join(file!().trim_start_matches("./"));
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under {root:?}",
        files.len()
    );
    let mut report = Vec::new();
    for file in files.iter().filter(|f| **f != this_file) {
        let source = fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(&root).unwrap().display();
        match violations_in(&source) {
            Ok(v) if v.is_empty() => {}
            Ok(v) => report.push(format!("{rel}: {}", v.join(", "))),
            Err(e) => report.push(format!("{rel}: does not tokenize ({e})")),
        }
    }
    assert!(
        report.is_empty(),
        "Linux-only APIs outside `#[cfg(target_os = \"linux\")]` (they break the macOS build; \
         put them in an item with that attribute, with a fallback for other systems; see \
         crates/xtask/tests/tidy.rs):\n  {}",
        report.join("\n  ")
    );
}

#[test]
fn the_rule_allows_cfg_items_and_linux_files_only() {
    let bad = r#"
        /// Reads /proc/self/maps (a doc comment: not code).
        fn f() { unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1) }; }
        fn g() -> String { std::fs::read_to_string("/proc/self/maps").unwrap() }
    "#;
    assert_eq!(
        violations_in(bad).unwrap(),
        ["`mallopt`", "`M_MMAP_THRESHOLD`", "\"/proc/self/maps\""]
    );
    let good = r#"
        #[cfg(target_os = "linux")]
        fn f() { unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1) }; }
        fn g() {
            #[cfg(all(test, target_os = "linux"))]
            unsafe { libc::posix_fadvise(0, 0, 0, libc::POSIX_FADV_DONTNEED) };
            #[cfg(target_os = "linux")]
            let maps = std::fs::read_to_string("/proc/self/maps");
        }
        #[cfg(target_os = "linux")]
        mod linux { pub fn h() { unsafe { libc::mincore(p, 1, v) }; } }
    "#;
    assert_eq!(violations_in(good).unwrap(), Vec::<String>::new());
    // The attribute covers one item, not what follows it.
    let next = r#"
        #[cfg(target_os = "linux")]
        fn f() {}
        fn g() { unsafe { libc::mincore(p, 1, v) }; }
    "#;
    assert_eq!(violations_in(next).unwrap(), ["`mincore`"]);
    // `not(...)` and `any(...)` do not make code Linux-only.
    let not = r#"#[cfg(not(target_os = "linux"))] fn f() { unsafe { libc::mallopt(1, 1) }; }"#;
    assert_eq!(violations_in(not).unwrap(), ["`mallopt`"]);
    let file = "#![cfg(target_os = \"linux\")]\nfn f() { unsafe { libc::mincore(p, 1, v) }; }";
    assert_eq!(violations_in(file).unwrap(), Vec::<String>::new());
}
