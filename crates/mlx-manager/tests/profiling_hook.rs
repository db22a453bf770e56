//! COLDSTART_PROFILING=1 writes every build into a JSON profile. One test function:
//! it sets process environment variables.

use std::sync::Arc;

use mlx_manager::Manager;
use mlx_manager::config::Preset;
use mlx_manager::profiling::{MANAGER_PROFILE_SCHEMA_VERSION, ManagerProfile, profile_path};
use mlx_manager::runtime::MockRuntime;

#[test]
fn builds_are_recorded_in_the_report_directory() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: this binary's only test; no other thread reads the environment.
    unsafe {
        std::env::set_var("COLDSTART_PROFILING", "1");
        std::env::set_var("COLDSTART_REPORT_DIR", dir.path());
    }
    let rt = Arc::new(MockRuntime::default());
    rt.set_active(4096);
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let m = Manager::builder(move || {
        if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Err(std::io::Error::other("first build fails"))
        } else {
            Ok(1u8)
        }
    })
    .preset(Preset::Balanced)
    .runtime(rt)
    .build();
    assert!(m.get().is_err());
    assert_eq!(*m.get().unwrap(), 1);

    let path = profile_path();
    assert!(path.starts_with(dir.path()), "{}", path.display());
    let doc: ManagerProfile =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc.schema_version, MANAGER_PROFILE_SCHEMA_VERSION);
    assert_eq!(doc.pid, std::process::id());
    assert_eq!(doc.builds.len(), 2);
    assert_eq!(
        doc.builds[0].error.as_deref(),
        Some("building the instance failed: first build fails")
    );
    assert_eq!(doc.builds[1].error, None);
    assert_eq!(
        (
            doc.builds[1].runtime.as_str(),
            doc.builds[1].mlx_active_bytes
        ),
        ("mock", 4096)
    );
    assert!(
        doc.builds
            .iter()
            .all(|b| b.factory_ms >= 0.0 && b.warm_up_ms >= 0.0)
    );
}
