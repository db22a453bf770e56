//! COLDSTART_PROFILING=1 profiles a suite: every build, every get(), the test impact
//! and its grade, as JSON and Markdown, the last version written when the process
//! exits. The profile of a process is read after it ended, so each case runs this
//! binary again as a child.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mlx_manager::Manager;
use mlx_manager::config::Preset;
use mlx_manager::profiling::{ImpactGrade, MANAGER_PROFILE_SCHEMA_VERSION, ManagerProfile};
use mlx_manager::runtime::MockRuntime;

/// The child: a first build that fails, then one that takes 50 ms, then nine cheap
/// gets of the shared instance; the process then exits.
#[test]
fn child() {
    if std::env::var_os("PROFILING_HOOK_CHILD").is_none() {
        return;
    }
    let rt = Arc::new(MockRuntime::default());
    rt.set_active(4096);
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let m = Manager::builder(move || {
        if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Err(std::io::Error::other("first build fails"))
        } else {
            std::thread::sleep(Duration::from_millis(50));
            Ok(1u8)
        }
    })
    .preset(Preset::Balanced)
    .runtime(rt)
    .build();
    assert!(m.get().is_err());
    for _ in 0..10 {
        assert_eq!(*m.get().unwrap(), 1);
    }
}

#[test]
fn builds_gets_and_test_impact_are_written_when_the_process_ends() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads", "1"])
        .env("PROFILING_HOOK_CHILD", "1")
        .env("COLDSTART_PROFILING", "1")
        .env("COLDSTART_REPORT_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the profile");
    let doc: ManagerProfile =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc.schema_version, MANAGER_PROFILE_SCHEMA_VERSION);
    assert_eq!(doc.builds.len(), 2);
    assert_eq!(
        doc.builds[0].error.as_deref(),
        Some("building the instance failed: first build fails")
    );
    assert_eq!(
        (
            doc.builds[1].runtime.as_str(),
            doc.builds[1].mlx_active_bytes
        ),
        ("mock", 4096)
    );
    // Written by the exit handler: every get() is in, the last ones after the builds.
    assert_eq!(doc.gets.calls, 11);
    assert_eq!(doc.gets.threads, 1);
    assert!(doc.gets.longest_ms >= 50.0, "{:?}", doc.gets);
    assert!(doc.gets.blocked_ms <= doc.span_ms * 1.01 + 0.1, "{doc:?}");
    // The suite did nothing but wait for its model: the impact is nearly all of it.
    assert!(doc.test_impact > 0.5, "{}", doc.test_impact);
    assert_eq!(doc.grade, ImpactGrade::Poor);
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    assert!(md.contains("Test impact:") && md.contains("(Poor)"), "{md}");
}
