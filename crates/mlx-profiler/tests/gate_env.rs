//! `CompareArgs::from_env` with a bad variable: an error the caller handles, not a
//! process exit from library code. Alone in its test binary, since it writes the
//! environment.

use mlx_profiler::exit;
use mlx_profiler::gate::command::CompareArgs;

#[test]
fn a_bad_gate_variable_is_an_error_not_an_exit() {
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::set_var("COLDSTART_GATE_STORED", "maybe") };
    let e = CompareArgs::from_env().unwrap_err();
    assert_eq!(e.exit_code(), exit::INPUT);
    assert!(
        e.to_string().contains("maybe") && e.to_string().contains("COLDSTART_"),
        "{e}"
    );
    unsafe { std::env::remove_var("COLDSTART_GATE_STORED") };
    assert!(CompareArgs::from_env().is_ok());
}
