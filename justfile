# Recipes mirroring `cargo xtask`; `just --list` shows them. Each one calls the xtask,
# which does the work (and needs no `just` at all: the README uses cargo directly).

# Set up MLX for this machine (Linux): fetch, build, write the Cargo config.
setup *ARGS:
    cargo xtask setup {{ARGS}}

# The BLAS self-test set-up runs before MLX gets a BLAS (--blas LIB --lapack LIB).
blas-self-test *ARGS:
    cargo xtask blas-self-test {{ARGS}}

# Set-up if needed, then the benchmarks (the main job).
bench *ARGS:
    cargo xtask bench {{ARGS}}

# Set-up if needed, then fmt check, clippy -D warnings, docs, every test and the gate.
test *ARGS:
    cargo xtask test {{ARGS}}

# The original test modes: unit (mocks only, the quick pass), integration, mixed.
test-unit *ARGS:
    cargo xtask test --mode unit {{ARGS}}

test-integration *ARGS:
    cargo xtask test --mode integration {{ARGS}}

test-mixed *ARGS:
    cargo xtask test --mode mixed {{ARGS}}

# Store a bench run as this environment's baseline under baselines/ (--quick: CI mode).
bench-save *ARGS:
    cargo xtask bench-save {{ARGS}}

# Run the benches and compare with this environment's baseline (exit 1: regression).
bench-compare *ARGS:
    cargo xtask bench-compare {{ARGS}}

# Measure the gate itself: A/A false alarms, detection of injected slowdowns.
gate-calibration *ARGS:
    cargo xtask gate-calibration {{ARGS}}

# Replay the A/B gate on recorded A/A rounds (reports/gate-aa/); writes docs/gate-replay.md.
gate-replay *ARGS:
    cargo xtask gate-replay {{ARGS}}

# Build the CUDA bundle for a GPU machine (crates/xtask/device/README.md).
device-bundle *ARGS:
    cargo xtask device-bundle {{ARGS}}

# Profile MLX start-up (MODE: quick, comprehensive, ci); reports land in reports/.
profile MODE *ARGS:
    cargo xtask profile {{MODE}} {{ARGS}}

# Upstream mlx-rs's own test suite on this machine: the proof of the platform layer.
upstream-test *ARGS:
    cargo xtask upstream-test {{ARGS}}

# Measure the manager's claims (presets, each strategy alone, mocks) on the encoder suite (docs/manager-claims.md).
manager-claims *ARGS:
    cargo xtask manager-claims {{ARGS}}

# Measure what `mlx-profile cache run` costs a process (2 MB and 100 MB caches); writes docs/kernel-cache-overhead.md.
cache-overhead *ARGS:
    cargo xtask cache-overhead {{ARGS}}

# Measure the kernel-cache race (direct, `mlx-profile cache run`, programs publishing through the manager); writes docs/kernel-cache-race.md.
cache-race *ARGS:
    cargo xtask cache-race {{ARGS}}
