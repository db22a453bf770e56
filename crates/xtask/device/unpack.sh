#!/usr/bin/env bash
# Reassembles the device bundle (cargo xtask device-bundle) on the GPU machine, from
# the repository root: part 1 parked earlier in $COLDSTART_PARK, part 2 carried in
# target/device-bundle/part2. Checks every piece against SHA256SUMS, then lays MLX out
# as its wheel does ($MLXROOT/mlx/lib/libmlx.so, mlx/include, mlx_cuda_13.libs) with
# $MLXROOT/nvidia pointing at the CUDA 13 wheels of the machine's Python, which is
# where libmlx.so's RPATH looks for cuBLAS, cuDNN, NVRTC, cuFFT and NCCL.
# Exit codes: 0 ready; 6 a checksum differs; 4 something the bundle needs is missing.
set -euo pipefail
park=${COLDSTART_PARK:-/root/coldstart-park}
root=${MLXROOT:-/tmp/mlxroot}
part2=target/device-bundle/part2

for f in "$park/libmlx.so.xz.00" "$part2/libmlx.so.xz.01" "$part2/SHA256SUMS"; do
    [ -f "$f" ] || { echo "unpack: $f is missing (park part 1 first; carry part 2)" >&2; exit 4; }
done
mkdir -p "$root/mlx/lib"
cat "$park/libmlx.so.xz.00" "$part2/libmlx.so.xz.01" > "$root/libmlx.so.xz"
cp "$part2/runtime.tar.xz" "$part2/bin.tar.xz" "$part2/sys.tar.xz" "$root/"
(cd "$root" && sha256sum --check --quiet "$OLDPWD/$part2/SHA256SUMS") || {
    echo "unpack: checksum mismatch: transfer the bundle again" >&2
    exit 6
}
xz -dc "$root/libmlx.so.xz" > "$root/mlx/lib/libmlx.so"
tar -C "$root" -xJf "$root/runtime.tar.xz"
tar -C "$root" -xJf "$root/bin.tar.xz"
tar -C "$root" -xJf "$root/sys.tar.xz"
# fontconfig for the PNG plots, confined to the carried font.
mkdir -p "$root/sys/fontcache"
cat > "$root/sys/fonts.conf" <<CONF
<?xml version="1.0"?>
<fontconfig><dir>$root/sys/fonts</dir><cachedir>$root/sys/fontcache</cachedir></fontconfig>
CONF
rm -f "$root"/*.xz

nvidia=$(python3 - <<'PY'
import os
try:
    import nvidia
except ImportError:
    raise SystemExit("")
for p in nvidia.__path__:
    if any(os.path.isdir(os.path.join(p, d)) for d in ("cu13", "cublas")):
        print(p)
        break
PY
)
[ -n "$nvidia" ] || { echo "unpack: no CUDA 13 wheels (python3 -c 'import nvidia') on this machine" >&2; exit 4; }
ln -sfn "$nvidia" "$root/nvidia"
cat > "$root/env.sh" <<ENV
export LD_LIBRARY_PATH=$root/mlx/lib:$root/sys/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export FONTCONFIG_FILE=$root/sys/fonts.conf
export PATH=$root/bin:\$PATH
export COLDSTART_PROBE=$root/bin/mlx-probe
ENV
echo "unpack: MLX CUDA in $root ($(du -sh "$root" | cut -f1)); source $root/env.sh"
