//! The `mlx-probe` binary: its document, its arguments and its error document.

use std::process::Command;

use mlx_fixtures::probe::{PHASES, ProbeDocument, ProbeOutcome};

fn probe(args: &[&str], fixture_dir: &std::path::Path) -> (i32, ProbeDocument) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlx-probe"))
        .args(args)
        .env("COLDSTART_FIXTURE_DIR", fixture_dir)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), doc)
}

#[test]
fn full_run_marks_every_phase_in_order_with_rising_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let jit = dir.path().join("jit");
    std::fs::create_dir_all(&jit).unwrap();
    let (code, doc) = probe(
        &["--fixture", "tiny", "--jit-dir", jit.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0);
    assert_eq!(doc.schema_version, 1);
    let ProbeOutcome::Ok(r) = doc.outcome else {
        panic!("{:?}", doc.outcome)
    };
    let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PHASES);
    assert!(r.phases.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    assert!(r.phases.iter().all(|p| p.rss_bytes > 0));
    assert!(!r.timeline.is_empty());
    // The compiled activation's kernel went into the directory we named.
    let compiled = walk(&jit)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .count();
    assert!(compiled >= 1, "no JIT kernel under {}", jit.display());
}

#[test]
fn until_stops_after_the_named_phase() {
    let dir = tempfile::tempdir().unwrap();
    let (code, doc) = probe(&["--fixture", "mlp", "--until", "first_eval"], dir.path());
    assert_eq!(code, 0);
    let ProbeOutcome::Ok(r) = doc.outcome else {
        panic!()
    };
    assert_eq!(
        r.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["main", "runtime_init", "first_eval"]
    );
}

#[test]
fn a_torn_weights_file_is_written_again_before_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_weights(dir.path());
    // Torn as a crash after a rename without fsync could leave it.
    std::fs::write(&file, b"not safetensors").unwrap();
    let (code, _) = probe(
        &["--fixture", "tiny", "--until", "weights_load"],
        dir.path(),
    );
    assert_eq!(code, 0);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 1000, "written again: {} bytes", bytes.len());
}

#[test]
fn weights_that_cannot_be_written_give_an_error_document_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_weights(dir.path());
    // Something that is no weights file and cannot be replaced by one.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir_all(file.join("in-the-way")).unwrap();
    let (code, doc) = probe(&["--fixture", "tiny"], dir.path());
    assert_eq!(code, 1);
    match doc.outcome {
        ProbeOutcome::Error { phase, message } => {
            assert_eq!(phase, "weights_load");
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Lets the probe write the tiny weights into `dir`; returns the file.
fn write_weights(dir: &std::path::Path) -> std::path::PathBuf {
    let (code, _) = probe(&["--fixture", "tiny", "--until", "weights_load"], dir);
    assert_eq!(code, 0);
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("encoder-tiny-") && name.ends_with(".safetensors")
        })
        .unwrap()
        .path()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}
