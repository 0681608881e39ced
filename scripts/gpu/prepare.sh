#!/usr/bin/env bash
# Builds, on this machine, everything a GPU machine needs to check and time
# attn's CUDA target without a compiler there:
#
#   OUT/lib/libattn_runtime.so         the runtime (dlopens the CUDA driver)
#   OUT/cases/NN/module.so             each case of test/Integration/GPU/
#   OUT/cases/NN/{inputs,reference}/   cases.txt compiled for the GPU, its
#   OUT/cases/NN/case.txt              inputs and float64 reference (.npy)
#   OUT/bench/*.so                     the modules scripts/gpu/run.py times
#                                      (prefill shapes, decode steps)
#
# usage: scripts/gpu/prepare.sh [BUILD_DIR] [OUT_DIR]
# then, on the GPU machine: python3 OUT/run.py OUT (run.py is copied there).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/gpu-bundle}
translate=$build/tools/attn-translate/attn-translate
run=$build/tools/attn-run/attn-run
chip=${ATTN_GPU_CHIP:-sm_90}

rm -rf "$out"
mkdir -p "$out/lib" "$out/cases" "$out/bench"
cp -L "$build/runtime/libattn_runtime.so" "$out/lib/"
cp "$root/scripts/gpu/run.py" "$out/"

# Every case: the whole file compiled for the GPU (once per file), and the
# CPU run of the same function on the same inputs saving those inputs and
# the float64 reference.
n=0
declare -A compiled
while read -r file entry args; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  dir=$(printf '%s/cases/%02d' "$out" "$n")
  mkdir -p "$dir"
  if [[ -z "${compiled[$file]:-}" ]]; then
    lib="$out/cases/$(basename "$file" .mlir).so"
    "$translate" "$root/$file" --target cuda --gpu-chip "$chip" -o "$lib"
    compiled[$file]=$lib
  fi
  # shellcheck disable=SC2086
  "$run" "$root/$file" --entry "$entry" $args --check \
      --save-inputs "$dir/inputs" --save-reference "$dir/reference" >/dev/null
  printf '%s %s %s\n' "$(basename "${compiled[$file]}")" "$entry" "$file" >"$dir/case.txt"
  n=$((n + 1))
done <"$root/test/Integration/GPU/cases.txt"

# The timed shapes: bf16, B*N = 16384 tokens, hidden 2048 (H = 2048 / D).
for d in 64 128; do
  h=$((2048 / d))
  for causal in 0 1; do
    mask=""
    name=bench_d${d}
    if [[ $causal == 1 ]]; then
      mask=" mask(#attn.causal<top_left>)"
      name=${name}_causal
    fi
    t="tensor<?x${h}x?x${d}xbf16>"
    cat >"$out/bench/$name.mlir" <<MLIR
func.func @attention(%q: $t, %k: $t, %v: $t) -> $t {
  %o = attn.attention %q, %k, %v$mask : ($t, $t, $t) -> $t
  return %o : $t
}
MLIR
    "$translate" "$out/bench/$name.mlir" --target cuda --gpu-chip "$chip" \
        -o "$out/bench/$name.so"
  done
done
# The decode steps: one f32 token of 32 query heads (D = 128) against a
# cache, for MHA, GQA-4 and MQA (32, 8 and 1 K/V heads).
for kv in 32 8 1; do
  q="tensor<?x32x1x128xf32>"
  c="tensor<?x${kv}x?x128xf32>"
  cat >"$out/bench/decode_kv${kv}.mlir" <<MLIR
func.func @step(%q: $q, %k: $c, %v: $c, %len: tensor<?xi32>) -> $q {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) : ($q, $c, $c, tensor<?xi32>) -> $q
  return %o : $q
}
MLIR
  "$translate" "$out/bench/decode_kv${kv}.mlir" --target cuda \
      --gpu-chip "$chip" -o "$out/bench/decode_kv${kv}.so"
done
echo "prepared $n cases and $(ls "$out"/bench/*.so | wc -l) benchmark modules in $out"
