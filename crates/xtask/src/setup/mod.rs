//! `cargo xtask setup`: makes upstream mlx-rs build and run on Linux from MLX's
//! official binary wheels, without patching or vendoring upstream code.
//!
//! The steps, each cached in the per-user cache and skipped when already done:
//! choose the BLAS (fetching OpenBLAS's wheel when that is the choice) → fetch +
//! verify + unpack the MLX wheel → build mlx-c against it (CMake, with our
//! compatibility header) → generate bindings (bindgen) → build the
//! `mach_approximate_time` shim → lay out the runtime with the chosen BLAS → write
//! the Cargo configuration that overrides mlx-sys's build script.

pub mod bindings;
pub mod blas;
pub mod blas_check;
pub mod blas_forward;
pub mod cache;
pub mod cargo_config;
pub mod mlx_c;
pub mod pins;
pub mod platform;
pub mod registry;
pub mod shim;
pub mod tools;
pub mod wheel;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::atomic;
use crate::error::{Result, TaskError};
use crate::process;
use cache::{Cache, Outcome};
use pins::Pins;
use platform::{Backend, BlasChoice, Host};
use wheel::{Pip, WheelSource};

/// The compatibility header, compiled in so the cache key follows its content.
const COMPAT_HEADER: &str = include_str!("../../native/coldstart_compat.h");

/// What the user asked set-up for.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// MLX backend.
    pub backend: Backend,
    /// MLX version (a pinned one; `None`: the pinned default).
    pub mlx_version: Option<String>,
    /// BLAS for the CPU backend.
    pub blas: BlasChoice,
    /// Cache root (default: [`Cache::default_root`]).
    pub cache_dir: Option<PathBuf>,
    /// Where wheels come from.
    pub source: WheelSource,
    /// The workspace whose `.cargo/` receives the generated configuration.
    pub workspace: PathBuf,
    /// Whether to write that copy (false: only the cache's, e.g. to build for
    /// another backend without switching this workspace).
    pub write_workspace_config: bool,
    /// Root of the system libraries searched for OpenBLAS (`/usr/lib`, or
    /// `$COLDSTART_SYSTEM_LIB_ROOT`).
    pub system_lib_root: PathBuf,
}

/// What set-up produced.
#[derive(Debug, Clone)]
pub struct SetupReport {
    /// The generated configuration in the cache (usable by other projects).
    pub config: PathBuf,
    /// Its copy included by this workspace's `.cargo/config.toml`.
    pub workspace_config: PathBuf,
    /// The BLAS MLX will load (its short name: `bundled`, `openblas-pthread`,
    /// `openblas-wheel-<version>`).
    pub blas: String,
    /// The unpacked MLX wheel, untouched (`dist/<package>-<version>-<arch>`).
    pub dist: PathBuf,
    /// The cache root set-up used.
    pub cache_root: PathBuf,
    /// Whether any step did work (false: everything was already in place).
    pub changed: bool,
}

/// Runs set-up. On macOS it only explains that nothing is needed and returns `None`.
pub fn run(opts: &SetupOptions) -> Result<Option<SetupReport>> {
    let host = Host::current();
    if host.os == "macos" {
        eprintln!(
            "macOS: upstream mlx-rs builds as published (Metal, Accelerate); no set-up needed."
        );
        return Ok(None);
    }
    let triple = host.target_triple()?;
    let pins = Pins::bundled();
    let mlx_pin = pins
        .mlx(opts.backend, &host.arch, opts.mlx_version.as_deref())?
        .clone();
    let root = match &opts.cache_dir {
        Some(dir) => dir.clone(),
        None => Cache::default_root()?,
    };
    let cache = Cache::open(root)?;
    let pip = || Pip::find();
    let mut changed = false;

    // 0. The BLAS choices, first: one that cannot be had fails before the long steps.
    let fetch_wheel = || -> Result<blas::OpenBlas> {
        let pin = pins.tool("openblas", &host.arch)?;
        let library = tools::wheel_tool(&cache, pin, &pip, &opts.source)?;
        Ok(blas::OpenBlas::from_wheel(
            library,
            &pin.wheel.version,
            pin.symbol_prefix.clone(),
        ))
    };
    let choices = blas::plan(
        opts.blas,
        blas::find_openblas(&opts.system_lib_root, &host.arch),
        &fetch_wheel,
    )?;
    if let Some(blas::Pending::Ready(c)) = choices.first() {
        eprintln!(
            "  BLAS: first choice {}, because {} (self-tested once MLX is unpacked)",
            c.blas.describe(),
            c.why
        );
    }

    // 1. MLX binary distribution.
    let w = &mlx_pin.wheel;
    let dist_key = format!("{}-{}-{}", w.package, w.version, w.arch);
    let (dist, outcome) = cache.ensure("dist", &dist_key, |out, scratch| {
        eprintln!(
            "  fetching {}=={} ({}) with pip",
            w.package, w.version, w.file
        );
        let whl = pip()?.fetch(
            w,
            &opts.source,
            scratch,
            &cache.log(&format!("pip-{}", w.package)),
        )?;
        wheel::unpack(&whl, out)
    })?;
    report_step(
        &format!("MLX {} ({} backend)", w.version, opts.backend),
        &dist,
        outcome,
        &mut changed,
    );
    let mlx_prefix = dist.join("mlx");

    // 1b. The runtime with the first BLAS choice that passes its self-test.
    let (blas, runtime) = runtime_with_tested_blas(
        &cache,
        choices,
        opts.blas != BlasChoice::Auto,
        &dist,
        &dist_key,
        &host.arch,
        &fetch_wheel,
        &mut changed,
    )?;
    if blas == blas::Blas::Bundled && opts.backend == Backend::Cpu {
        eprintln!(
            "  note: MLX uses the wheel's slow reference BLAS (a few GFLOP/s for a 1024x1024 matmul); \
             --blas openblas-wheel (or auto, online) brings OpenBLAS from the Python package index \
             for tens of times more"
        );
    }

    // 2-4. mlx-c, bindings and shim, keyed by everything that shapes them.
    let sources = mlx_c::locate(&opts.workspace)?;
    let build_key = format!(
        "mlx-c-{}+{}-{}",
        mlx_c::MLX_SYS_VERSION,
        dist_key,
        native_fingerprint(&pins, &host.arch)
    );
    let (native, outcome) = cache.ensure("native", &build_key, |out, scratch| {
        let compilers = tools::system_compilers(scratch)?;
        let tools = compilers.complete(&cache, &pins, &host.arch, &pip, &opts.source)?;
        let header = scratch.join("coldstart_compat.h");
        fs::write(&header, COMPAT_HEADER).map_err(|e| TaskError::io("write", &header, e))?;
        let lib = out.join("lib");
        eprintln!(
            "  building mlx-c {} with CMake (about a minute on 2 cores)",
            mlx_c::MLX_SYS_VERSION
        );
        mlx_c::build(
            &sources,
            &mlx_prefix,
            &header,
            opts.backend == Backend::Cuda,
            &tools,
            &cache,
            &scratch.join("build"),
            &lib,
        )?;
        shim::build(&tools, &cache, scratch, &lib)?;
        eprintln!(
            "  generating bindings with bindgen {}",
            bindings::BINDGEN_VERSION
        );
        let bindings_dir = out.join("bindings");
        fs::create_dir_all(&bindings_dir).map_err(|e| TaskError::io("create", &bindings_dir, e))?;
        bindings::generate(&sources, &tools, &header, &bindings_dir)
    })?;
    report_step(
        &format!("mlx-c {}, bindings, shim", mlx_c::MLX_SYS_VERSION),
        &native,
        outcome,
        &mut changed,
    );

    // 6. Cargo configuration, in the cache and in this workspace.
    let paths = cargo_config::PlatformPaths {
        triple,
        static_lib_dir: native.join("lib"),
        bindings_dir: native.join("bindings"),
        runtime_lib_dir: runtime.join("mlx").join("lib"),
        include_dirs: vec![mlx_prefix.join("include"), sources.root.clone()],
        mlx_version: w.version.clone(),
        description: format!(
            "MLX {} {} backend, {} BLAS",
            w.version,
            opts.backend,
            blas.name()
        ),
    };
    let text = cargo_config::render(&paths);
    let config = cache.root().join("config").join(format!(
        "{}-mlx{}-{}.toml",
        opts.backend,
        w.version,
        blas.name()
    ));
    changed |= atomic::write_if_changed(&config, &text)?;
    let workspace_config = cargo_config::workspace_copy(&opts.workspace);
    if opts.write_workspace_config {
        changed |= atomic::write_if_changed(&workspace_config, &text)?;
    }
    Ok(Some(SetupReport {
        config,
        workspace_config,
        blas: blas.name(),
        dist: dist.clone(),
        cache_root: cache.root().to_path_buf(),
        changed,
    }))
}

/// Lays out the runtime for each BLAS choice in turn and self-tests it in a child
/// process (remembered per CPU); the first that passes is the one MLX gets. Under an
/// explicit choice (`explicit`) a failure is an error naming it and the fix; under
/// `auto` it is one line, and the next choice is tried.
#[allow(clippy::too_many_arguments)]
fn runtime_with_tested_blas(
    cache: &Cache,
    choices: Vec<blas::Pending>,
    explicit: bool,
    dist: &Path,
    dist_key: &str,
    arch: &str,
    fetch_wheel: &dyn Fn() -> Result<blas::OpenBlas>,
    changed: &mut bool,
) -> Result<(blas::Blas, PathBuf)> {
    let exe = std::env::current_exe().map_err(|e| TaskError::MissingTool {
        what: format!("cannot find this program to run the BLAS self-test: {e}"),
        remedy: "run set-up through `cargo xtask setup`".into(),
    })?;
    let mut failures = Vec::new();
    for pending in choices {
        let chosen = match pending {
            blas::Pending::Ready(c) => c,
            blas::Pending::Wheel(why) => match fetch_wheel() {
                Ok(o) => blas::Chosen {
                    blas: blas::Blas::OpenBlas(o),
                    why,
                },
                Err(e @ (TaskError::Fetch { .. } | TaskError::MissingTool { .. })) => {
                    eprintln!(
                        "  BLAS: OpenBLAS from the Python package index could not be had: {e}"
                    );
                    failures.push(format!("the package index's OpenBLAS: {e}"));
                    continue;
                }
                Err(other) => return Err(other),
            },
        };
        let (runtime, key) = match &chosen.blas {
            blas::Blas::Bundled => (dist.to_path_buf(), format!("{dist_key}+bundled")),
            blas::Blas::OpenBlas(o) => {
                let key = format!("{dist_key}+{}", o.runtime_key());
                let laid = cache.ensure("runtime", &key, |out, scratch| {
                    blas::link_runtime(dist, o, out, scratch, arch)
                });
                match laid {
                    Ok((dir, outcome)) => {
                        report_step(
                            &format!("runtime with {}", o.flavour),
                            &dir,
                            outcome,
                            changed,
                        );
                        (dir, key)
                    }
                    Err(e) if !explicit => {
                        eprintln!("  BLAS: {} cannot be laid out: {e}", chosen.blas.describe());
                        failures.push(format!("{}: {e}", chosen.blas.describe()));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let (lib_blas, lib_lapack) = blas::runtime_libraries(&runtime)?;
        match blas_check::verify(
            &exe,
            &blas_check::memo_dir(cache.root()),
            &key,
            &lib_blas,
            &lib_lapack,
        ) {
            Ok((passed, remembered)) => {
                eprintln!(
                    "  BLAS: {}, because {}; self-test passed{}: {}",
                    chosen.blas.describe(),
                    chosen.why,
                    if remembered {
                        " (remembered for this CPU)"
                    } else {
                        ""
                    },
                    passed.summary()
                );
                return Ok((chosen.blas, runtime));
            }
            Err(blas_check::Failed(why)) if explicit => {
                return Err(TaskError::Integrity {
                    what: format!(
                        "{} failed its self-test on this machine: {why}",
                        chosen.blas.describe()
                    ),
                    remedy: "choose another BLAS: --blas auto tries each in turn (the system's \
                             OpenBLAS, the package index's, the bundled one); \
                             OPENBLAS_CORETYPE=Haswell makes a DYNAMIC_ARCH OpenBLAS use AVX2 \
                             kernels"
                        .into(),
                });
            }
            Err(blas_check::Failed(why)) => {
                eprintln!(
                    "  BLAS: {} failed its self-test ({why}); trying the next choice",
                    chosen.blas.describe()
                );
                failures.push(format!("{}: {why}", chosen.blas.describe()));
            }
        }
    }
    Err(TaskError::Integrity {
        what: format!("no BLAS passed its self-test: {}", failures.join("; ")),
        remedy: "install the system's OpenBLAS (Debian: apt-get install libopenblas0-pthread) \
                 and run set-up again, and report this machine's CPU as a bug"
            .into(),
    })
}

fn report_step(what: &str, path: &Path, outcome: Outcome, changed: &mut bool) {
    let verb = match outcome {
        Outcome::Reused => "cached",
        Outcome::Built => "built",
        Outcome::Rebuilt => "rebuilt",
    };
    *changed |= outcome != Outcome::Reused;
    eprintln!("  {what}: {verb} ({})", path.display());
}

/// A short hash of every input that shapes the native build besides the MLX wheel:
/// our header, shim and CMake stand-ins, the bindgen and libclang versions, the C++
/// compiler.
fn native_fingerprint(pins: &Pins, arch: &str) -> String {
    let cxx = std::env::var_os("CXX")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "c++".into());
    let cxx_version = process::output_of(Command::new(cxx).arg("--version")).unwrap_or_default();
    let libclang = match std::env::var("LIBCLANG_PATH") {
        Ok(p) if !p.is_empty() => p,
        _ => pins
            .tool("libclang", arch)
            .map(|t| t.wheel.version.clone())
            .unwrap_or_default(),
    };
    let mut h = Sha256::new();
    let [(_, cuda_toolkit), (_, cudnn)] = mlx_c::CUDA_STUBS;
    for part in [
        COMPAT_HEADER,
        shim::SOURCE,
        cuda_toolkit,
        cudnn,
        bindings::BINDGEN_VERSION,
        &libclang,
        &cxx_version,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("{:x}", h.finalize())[..12].to_string()
}
