# Recipes mirroring `cargo xtask`; `just --list` shows them. Each one calls the xtask,
# which does the work (and needs no `just` at all: the README uses cargo directly).

# Set up MLX for this machine (Linux): fetch, build, write the Cargo config.
setup *ARGS:
    cargo xtask setup {{ARGS}}

# Set-up if needed, then the benchmarks (the main job).
bench *ARGS:
    cargo xtask bench {{ARGS}}

# Set-up if needed, then fmt check, clippy -D warnings, docs and every test.
test *ARGS:
    cargo xtask test {{ARGS}}

# Compare a bench run against the stored baseline: not built yet.
bench-compare *ARGS:
    @echo "bench-compare does not exist yet: the baseline store and regression gate are an open issue" >&2
    @exit 1

# Profile MLX start-up (MODE: quick, comprehensive, ci); reports land in reports/.
profile MODE *ARGS:
    cargo xtask profile {{MODE}} {{ARGS}}
