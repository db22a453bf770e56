//! `SuiteInstance` under each COLDSTART_TEST_MODE. One test function on purpose: it
//! changes process environment variables, which no other test may see mid-change.

use mlx_manager::ManagerError;
use mlx_manager::mode::RuntimeKind;
use mlx_manager::suite::SuiteInstance;

fn build(kind: RuntimeKind) -> Result<&'static str, mlx_manager::BoxError> {
    Ok(match kind {
        RuntimeKind::Mock => "mock model",
        RuntimeKind::Real => "real model",
    })
}

static MODEL: SuiteInstance<&'static str> = SuiteInstance::new(build);

fn set(var: &str, value: &str) {
    // SAFETY: this binary's only test; no other thread reads the environment.
    unsafe { std::env::set_var(var, value) };
}

#[test]
fn modes_presets_and_summary() {
    set("COLDSTART_TEST_MODE", "unit");
    assert_eq!(*MODEL.get().unwrap(), "mock model");
    assert_eq!(
        MODEL.get_real().err().unwrap(),
        ManagerError::RealRuntimeDisabled
    );

    set("COLDSTART_TEST_MODE", "mixed");
    assert_eq!(*MODEL.get().unwrap(), "mock model");
    assert_eq!(*MODEL.get_real().unwrap(), "real model");

    set("COLDSTART_TEST_MODE", "integration");
    assert_eq!(*MODEL.get().unwrap(), "real model");

    set("COLDSTART_TEST_MODE", "sometimes");
    let err = MODEL.get().err().unwrap().to_string();
    assert!(
        err.contains("\"sometimes\"") && err.contains("unit, integration or mixed"),
        "{err}"
    );
    set("COLDSTART_TEST_MODE", "integration");

    set("COLDSTART_PRESET", "turbo");
    let err = SuiteInstance::new(build).get().err().unwrap().to_string();
    assert!(
        err.contains("aggressive, balanced or conservative"),
        "{err}"
    );
    unsafe { std::env::remove_var("COLDSTART_PRESET") };

    let summary = MODEL.summary();
    assert!(
        summary.starts_with("mlx-manager: mock: built 1"),
        "{summary}"
    );
    assert!(summary.contains("mlx: built 1"), "{summary}");
    assert!(!summary.contains("nextest"));
    set("NEXTEST_RUN_ID", "00000000-0000-0000-0000-000000000000");
    assert!(MODEL.summary().contains("cargo-nextest"));
}
