//! `SuiteInstance` under each COLDSTART_TEST_MODE, COLDSTART_PRESET and
//! COLDSTART_STRATEGIES. The manager reads its variables once per process, so each
//! case runs in a process of its own: this binary starts itself again with the
//! case's environment, and the `case` test checks what that process sees.

use std::process::Command;

use mlx_manager::ManagerError;
use mlx_manager::config::{Preset, Sharing};
use mlx_manager::mode::RuntimeKind;
use mlx_manager::suite::SuiteInstance;

fn build(kind: RuntimeKind) -> Result<&'static str, mlx_manager::BoxError> {
    Ok(match kind {
        RuntimeKind::Mock => "mock model",
        RuntimeKind::Real => "real model",
    })
}

static MODEL: SuiteInstance<&'static str> = SuiteInstance::new(build);
static POOLED: SuiteInstance<&'static str> =
    SuiteInstance::new(build).with_preset(Preset::Aggressive);

/// The variable that tells a child process which case it checks.
const CASE: &str = "SUITE_MODES_CASE";

/// The checks of one case, in a process whose environment the parent set.
#[test]
fn case() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    match case.as_str() {
        "unit" => {
            assert_eq!(*MODEL.get().unwrap(), "mock model");
            assert_eq!(
                MODEL.get_real().err().unwrap(),
                ManagerError::RealRuntimeDisabled
            );
        }
        "mixed" => {
            assert_eq!(*MODEL.get().unwrap(), "mock model");
            assert_eq!(*MODEL.get_real().unwrap(), "real model");
            assert!(MODEL.summary().starts_with("mlx-manager: mock: built 1"));
            assert!(MODEL.summary().contains("mlx: built 1"));
        }
        "integration" => {
            assert_eq!(*MODEL.get().unwrap(), "real model");
            // Read once: changing the variable later changes nothing.
            // SAFETY: no other thread of this child process reads the environment.
            unsafe { std::env::set_var("COLDSTART_TEST_MODE", "unit") };
            assert_eq!(*MODEL.get().unwrap(), "real model");
        }
        "bad mode" => {
            let err = MODEL.get().err().unwrap().to_string();
            assert!(
                err.contains("COLDSTART_TEST_MODE=\"sometimes\"")
                    && err.contains("unit, integration, mixed"),
                "{err}"
            );
        }
        "bad preset" => {
            let err = MODEL.get().err().unwrap().to_string();
            assert!(
                err.contains("COLDSTART_PRESET=\"turbo\"")
                    && err.contains("aggressive, balanced, conservative"),
                "{err}"
            );
        }
        "presets" => {
            // The default is Balanced (shared); a preset set in code holds, unless
            // COLDSTART_PRESET overrides it (not set in this case).
            drop(MODEL.get().unwrap());
            drop(POOLED.get().unwrap());
            assert!(MODEL.summary().contains("built 1"), "{}", MODEL.summary());
            let (a, b) = (POOLED.get().unwrap(), POOLED.get().unwrap());
            drop((a, b));
            assert!(POOLED.summary().contains("built 2"), "{}", POOLED.summary());
            assert!(!MODEL.summary().contains("nextest"));
        }
        "override" => {
            // COLDSTART_PRESET=conservative overrides the code's Aggressive.
            drop(POOLED.get().unwrap());
            drop(POOLED.get().unwrap());
            assert!(POOLED.summary().contains("built 2"), "{}", POOLED.summary());
        }
        "strategies" => {
            // COLDSTART_STRATEGIES=pooled wins over COLDSTART_PRESET=conservative.
            let config = MODEL.config().unwrap();
            assert!(matches!(config.sharing, Sharing::Pooled { size: 2, .. }));
            assert!(!config.lazy && !config.prewarm);
            let (a, b) = (MODEL.get().unwrap(), MODEL.get().unwrap());
            drop((a, b));
            drop(MODEL.get().unwrap());
            assert!(MODEL.summary().contains("built 2"), "{}", MODEL.summary());
        }
        "bad strategies" => {
            let err = MODEL.get().err().unwrap().to_string();
            assert!(
                err.contains("COLDSTART_STRATEGIES=\"lazy,eager\"")
                    && err.contains("lazy, shared, pooled, prewarm"),
                "{err}"
            );
            assert_eq!(MODEL.config().err().unwrap().to_string(), err);
        }
        "nextest" => assert!(MODEL.summary().contains("cargo-nextest")),
        other => panic!("no case {other}"),
    }
}

#[test]
fn every_mode_and_preset_in_a_process_of_its_own() {
    let cases: [(&str, &[(&str, &str)]); 10] = [
        ("unit", &[("COLDSTART_TEST_MODE", "unit")]),
        ("mixed", &[("COLDSTART_TEST_MODE", "mixed")]),
        ("integration", &[("COLDSTART_TEST_MODE", "integration")]),
        ("bad mode", &[("COLDSTART_TEST_MODE", "sometimes")]),
        ("bad preset", &[("COLDSTART_PRESET", "turbo")]),
        ("presets", &[("COLDSTART_TEST_MODE", "unit")]),
        (
            "override",
            &[
                ("COLDSTART_TEST_MODE", "unit"),
                ("COLDSTART_PRESET", "conservative"),
            ],
        ),
        (
            "strategies",
            &[
                ("COLDSTART_TEST_MODE", "unit"),
                ("COLDSTART_PRESET", "conservative"),
                ("COLDSTART_STRATEGIES", "pooled"),
            ],
        ),
        ("bad strategies", &[("COLDSTART_STRATEGIES", "lazy,eager")]),
        (
            "nextest",
            &[("NEXTEST_RUN_ID", "00000000-0000-0000-0000-000000000000")],
        ),
    ];
    for (case, env) in cases {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "case", "--nocapture", "--test-threads", "1"])
            .env_remove("COLDSTART_TEST_MODE")
            .env_remove("COLDSTART_PRESET")
            .env_remove("COLDSTART_STRATEGIES")
            .env_remove("NEXTEST_RUN_ID")
            .env_remove("NEXTEST")
            .env(CASE, case)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "case {case}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
