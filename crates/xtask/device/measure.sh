#!/usr/bin/env bash
# The CUDA measurements of issue 6, after unpack.sh, from the repository root.
# Usage: measure.sh profile|kernel-cache|first-result|upstream ; results go to $OUT (or
# ./device-out).
# Every step's output is also kept in $OUT/<step>.log.
set -uo pipefail
root=${MLXROOT:-/tmp/mlxroot}
out=${OUT:-device-out}
mkdir -p "$out"
# shellcheck disable=SC1091
source "$root/env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.csv" 2>&1

case "${1:-}" in
profile)
    # CUDA against CPU on fresh inputs, with MLX's default TF32 products and without.
    mlx-device-check --fixtures tiny,small,base --inputs 3 --json "$out/check-tf32-default.json" 2>&1 | tee "$out/check.log"
    MLX_ENABLE_TF32=0 mlx-device-check --fixtures tiny,small,base --inputs 3 --json "$out/check-fp32.json" 2>&1 | tee -a "$out/check.log"
    reports=$(mktemp -d)
    for f in small base; do
        mlx-profile quick --fixture "$f" --device gpu --samples 5 \
            --states kernel-cold,kernel-warm,warm --probe "$root/bin/mlx-probe" \
            --out "$reports" 2>&1 | tee -a "$out/profile.log"
    done
    # What a kernel-cold first forward leaves in the kernel caches.
    jit=$(mktemp -d)
    mlx-probe --fixture small --device gpu --until first_forward --jit-dir "$jit" > /dev/null
    (cd "$jit" && find . -type f -printf '%s\t%p\n' | sort -k2) > "$out/jit-cache-files.txt"
    rm -f "$reports"/latest-*
    tar -C "$reports" -czf "$out/reports.tgz" .
    ;;
kernel-cache)
    # Issue 12 on the GPU: fill a cache with `cache warm`, export it, import it into
    # fresh directories, and profile kernel-cold against kernel-imported and warm.
    kc=$(mktemp -d)
    reports=$(mktemp -d)
    log="$out/cache.log"
    run() { echo "\$ $*" >> "$log"; "$@" >> "$log" 2>&1; }
    for f in small base; do
        run mlx-profile cache warm --dir "$kc/$f" -- "$root/bin/mlx-probe" --fixture "$f" --device gpu
        run mlx-profile cache export --dir "$kc/$f" --out "$kc/$f.tar.gz"
        ls -l "$kc/$f.tar.gz" >> "$log"
        for i in 1 2 3; do
            run mlx-profile cache import "$kc/$f.tar.gz" --dir "$kc/imported-$f-$i"
        done
        run mlx-profile cache status "$kc/$f.tar.gz"
        mlx-profile quick --fixture "$f" --device gpu --samples 5 \
            --states kernel-cold,kernel-imported,kernel-warm --import "$kc/$f.tar.gz" \
            --probe "$root/bin/mlx-probe" --out "$reports" 2>&1 | tee -a "$out/kernel-cache.log"
    done
    rm -f "$reports"/latest-* "$reports"/*.png
    tar -C "$reports" -czf "$out/kernel-cache-reports.tgz" .
    ;;
first-result)
    mlx-first-result bench --fixture small --device gpu --runs 3 --other-setup-ms 0,1000 \
        --json "$out/first-result.json" 2>&1 | tee "$out/first-result.log"
    ;;
upstream)
    for t in "$root"/bin/upstream-*; do
        echo "== $(basename "$t")"
        timeout 400 "$t" 2>&1 | tail -n 400
    done > "$out/upstream.log" 2>&1
    grep -E "^test result|^== |FAILED|panicked" "$out/upstream.log" | head -80
    ;;
*)
    echo "usage: measure.sh profile|kernel-cache|first-result|upstream" >&2
    exit 2
    ;;
esac
