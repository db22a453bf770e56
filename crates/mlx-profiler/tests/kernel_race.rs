//! The hazard `mlx-profile cache run` removes, checked without MLX: a shell program
//! stands in for MLX's CPU JIT. It loads `$TMPDIR/mlx/0.32.2/cpu/libk.so` when the
//! file exists (and fails, as MLX does with "file too short", when it is not whole),
//! else writes it in two pieces, as the compiler does. With `ON_BAD` it stands in for
//! a program that rewrites a kernel it cannot load: as a linker does (`relink`:
//! remove, then write anew) or with a truncating open (`truncate`).
//!
//! No timing luck: the first process stops half-way until the test lets it go
//! (`HOLD`, `READY`, `GO` files), so the second one always starts while the first
//! one's kernel is half-written.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const STAND_IN: &str = r##"#!/bin/sh
k="$TMPDIR/mlx/0.32.2/cpu/libk.so"
if [ -e "$k" ]; then
  if cmp -s "$k" "$WHOLE"; then exit 0; fi
  case "$ON_BAD" in
    relink) rm -f "$k" ;;
    truncate) cat "$WHOLE" > "$k"; exit 0 ;;
    *) echo "Could not load C++ shared library $k: file too short" >&2; exit 3 ;;
  esac
fi
mkdir -p "$(dirname "$k")"
cat "$FIRST_HALF" > "$k"
if [ -n "$HOLD" ]; then
  touch "$READY"
  while [ ! -e "$GO" ]; do sleep 0.01; done
fi
cat "$SECOND_HALF" >> "$k"
"##;

/// A whole ELF library as the stand-in writes it (one section header, at its end:
/// the publisher leaves out a library whose section headers are not there yet).
fn whole_library() -> Vec<u8> {
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(128, 0);
    elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
    elf[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3c..0x3e].copy_from_slice(&1u16.to_le_bytes());
    elf
}

struct Setup {
    dir: tempfile::TempDir,
    program: PathBuf,
}

impl Setup {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("fake-mlx.sh");
        std::fs::write(&program, STAND_IN).unwrap();
        let whole = whole_library();
        std::fs::write(dir.path().join("whole"), &whole).unwrap();
        std::fs::write(dir.path().join("first-half"), &whole[..64]).unwrap();
        std::fs::write(dir.path().join("second-half"), &whole[64..]).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Setup { dir, program }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The stand-in, directly on the shared cache or through `mlx-profile cache run`.
    fn command(&self, wrapped: bool, hold: bool) -> Command {
        let shared = self.path("shared");
        let mut c = if wrapped {
            let mut c = Command::new(env!("CARGO_BIN_EXE_mlx-profile"));
            c.args(["cache", "run", "--dir"])
                .arg(&shared)
                .arg("--")
                .arg(&self.program);
            c
        } else {
            std::fs::create_dir_all(&shared).unwrap();
            let mut c = Command::new(&self.program);
            c.env("TMPDIR", &shared);
            c
        };
        c.env("READY", self.path("ready"))
            .env("GO", self.path("go"))
            .env("WHOLE", self.path("whole"))
            .env("FIRST_HALF", self.path("first-half"))
            .env("SECOND_HALF", self.path("second-half"));
        if hold {
            c.env("HOLD", "1");
        }
        c
    }

    /// Starts a holding process and waits until its kernel is half-written.
    fn start_holding(&self, wrapped: bool) -> Child {
        let child = self.command(wrapped, true).spawn().unwrap();
        let ready = self.path("ready");
        let started = Instant::now();
        while !ready.exists() {
            // An upper bound for a stuck machine, not a timing assumption.
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "never got ready"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    }

    fn release(&self, mut holding: Child) -> bool {
        std::fs::write(self.path("go"), "").unwrap();
        holding.wait().unwrap().success()
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn direct_processes_on_one_cache_load_half_written_kernels() {
    let s = Setup::new();
    let first = s.start_holding(false);
    let second = s.command(false, false).output().unwrap();
    assert_eq!(second.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&second.stderr).contains("file too short"));
    assert!(s.release(first));
}

#[test]
fn wrapped_processes_never_see_half_written_kernels() {
    let s = Setup::new();
    let first = s.start_holding(true);
    // Started while the first one's kernel is half-written (in its private copy).
    let second = s.command(true, false).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(s.release(first), "the held process failed");
    let shared = s.path("shared");
    assert_eq!(
        std::fs::read(shared.join("mlx/0.32.2/cpu/libk.so")).unwrap(),
        whole_library()
    );
    // A third process finds the published kernel (through its view's link) and loads it.
    assert!(s.command(true, false).status().unwrap().success());
    // The views are removed by a process of their own after each wrapper returns.
    let started = Instant::now();
    while !files_under(&shared.join(".coldstart-views")).is_empty() {
        // An upper bound for a stuck machine, not a timing assumption.
        assert!(started.elapsed() < Duration::from_secs(120), "views left");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Nothing but the kernel and the lock: no temporaries, no program files.
    assert_eq!(
        files_under(&shared),
        [".coldstart-lock", "mlx/0.32.2/cpu/libk.so"]
    );
}

#[test]
fn the_wrapped_programs_exit_code_is_passed_on() {
    let s = Setup::new();
    let failing = s.path("fail.sh");
    std::fs::write(&failing, "#!/bin/sh\nexit 7\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_mlx-profile"))
        .args(["cache", "run", "--dir"])
        .arg(s.path("shared"))
        .arg("--")
        .arg(&failing)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
}

/// SIGTERM to `cache run` alone (a CI runner cancelling the job): the wrapped
/// program shares the terminal's group, so only the handler can reach it. It is asked
/// to stop (it ends as it would on the terminal's Ctrl-C), what it compiled is not
/// published, and the run exits 130.
#[test]
fn a_signal_to_cache_run_stops_the_program_and_publishes_nothing() {
    let s = Setup::new();
    let program = s.path("slow.sh");
    let ready = s.path("ready");
    let stopped = s.path("stopped");
    let script = r#"#!/bin/sh
trap 'touch STOPPED; exit 0' TERM
mkdir -p "$TMPDIR/mlx/0.32.2/cpu"
cat "$WHOLE" > "$TMPDIR/mlx/0.32.2/cpu/libk.so"
touch READY
i=0
while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
"#
    .replace("STOPPED", &stopped.display().to_string())
    .replace("READY", &ready.display().to_string());
    std::fs::write(&program, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut wrapper = Command::new(env!("CARGO_BIN_EXE_mlx-profile"))
        .args(["cache", "run", "--dir"])
        .arg(s.path("shared"))
        .arg("--")
        .arg(&program)
        .env("WHOLE", s.path("whole"))
        .spawn()
        .unwrap();
    // A handshake: the kernel is written and the program waits.
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            wrapper.try_wait().unwrap().is_none(),
            "cache run ended early"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to the child this test spawned.
    unsafe {
        libc::kill(wrapper.id() as i32, libc::SIGTERM);
    }
    assert_eq!(wrapper.wait().unwrap().code(), Some(130));
    assert!(stopped.exists(), "the program was not asked to stop");
    assert!(
        files_under(&s.path("shared"))
            .iter()
            .all(|f| !f.ends_with("libk.so")),
        "an interrupted run published {:?}",
        files_under(&s.path("shared"))
    );
}

/// Another whole library than the stand-in's own: a kernel it "cannot load".
fn other_library() -> Vec<u8> {
    let mut other = whole_library();
    other[100] = 1;
    other
}

/// A shared cache holding a whole kernel the stand-in does not accept, and the
/// stand-in told what to do about it.
fn with_a_bad_kernel(on_bad: &str) -> (Setup, PathBuf, Vec<u8>, std::process::Output) {
    let s = Setup::new();
    let kernel = s.path("shared").join("mlx/0.32.2/cpu/libk.so");
    std::fs::create_dir_all(kernel.parent().unwrap()).unwrap();
    let bad = other_library();
    std::fs::write(&kernel, &bad).unwrap();
    let out = s
        .command(true, false)
        .env("ON_BAD", on_bad)
        .output()
        .unwrap();
    (s, kernel, bad, out)
}

#[test]
fn a_cut_kernel_is_kept_from_the_program_and_replaced_by_its_whole_one() {
    let s = Setup::new();
    let kernel = s.path("shared").join("mlx/0.32.2/cpu/libk.so");
    std::fs::create_dir_all(kernel.parent().unwrap()).unwrap();
    std::fs::write(&kernel, &whole_library()[..64]).unwrap();
    // Without the view's check the stand-in would fail on it ("file too short").
    let out = s.command(true, false).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 corrupt and replaced"), "{stderr}");
    assert_eq!(std::fs::read(&kernel).unwrap(), whole_library());
}

#[test]
fn a_program_relinking_a_kernel_it_cannot_load_leaves_the_shared_one_alone() {
    let (_s, kernel, bad, out) = with_a_bad_kernel("relink");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The linker removed the view's link and wrote a file of its own; the shared
    // file is as it was (never replaced by a publish either).
    assert_eq!(std::fs::read(&kernel).unwrap(), bad);
}

#[test]
fn a_program_writing_through_a_link_is_caught_and_named() {
    let (_s, kernel, _bad, out) = with_a_bad_kernel("truncate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("wrote into the shared cache in place")
            && stderr.contains(&kernel.display().to_string())
            && stderr.contains("--copy"),
        "{stderr}"
    );
}

#[test]
fn with_copies_the_program_cannot_reach_the_shared_cache() {
    let s = Setup::new();
    let kernel = s.path("shared").join("mlx/0.32.2/cpu/libk.so");
    std::fs::create_dir_all(kernel.parent().unwrap()).unwrap();
    let bad = other_library();
    std::fs::write(&kernel, &bad).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_mlx-profile"))
        .args(["cache", "run", "--copy", "--dir"])
        .arg(s.path("shared"))
        .arg("--")
        .arg(&s.program)
        .env("ON_BAD", "truncate")
        .env("WHOLE", s.path("whole"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(&kernel).unwrap(), bad);
}
