#!/usr/bin/env bash
# Builds, on this machine, everything a GPU machine needs to check and time
# attn's CUDA target without a compiler there:
#
#   OUT/lib/libattn_runtime.so         the runtime (dlopens the CUDA driver)
#   OUT/cases/NN/module.so             each case of test/Integration/GPU/
#   OUT/cases/NN/{inputs,reference}/   cases.txt compiled for the GPU, its
#   OUT/cases/NN/case.txt              inputs (random ones as their seed and
#                                      SHA-256: slim_inputs.py) and float64
#                                      reference (.npy)
#   OUT/bench/*.so                     the modules scripts/gpu/run.py times
#                                      (prefill shapes on the tensor cores,
#                                      a window, decode steps)
#
# usage: scripts/gpu/prepare.sh [BUILD_DIR] [OUT_DIR]
# then, on the GPU machine: python3 OUT/run.py OUT (run.py is copied there).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/gpu-bundle}
translate=$build/bin/attn-translate
run=$build/bin/attn-run
chip=${ATTN_GPU_CHIP:-sm_90}

rm -rf "$out"
mkdir -p "$out/lib" "$out/cases" "$out/bench"
cp -L "$build/runtime/libattn_runtime.so" "$out/lib/"
cp "$root/scripts/gpu/run.py" "$out/"

# Every case: the whole file compiled for the GPU (once per file, and once
# more with --gpu-tensor-cores when a case asks for that kernel), and the
# CPU run of the same function on the same inputs saving those inputs and
# the float64 reference. A trailing #sdpa=KIND goes to case.txt for run.py.
n=0
declare -A compiled
while read -r file entry args; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  dir=$(printf '%s/cases/%02d' "$out" "$n")
  mkdir -p "$dir"
  sdpa=""
  if [[ "$args" == *"#sdpa="* ]]; then
    sdpa="sdpa=${args##*#sdpa=}"
    args="${args%%#sdpa=*}"
  fi
  flags="" key=$file suffix=""
  if [[ " $args " == *" --gpu-tensor-cores "* ]]; then
    flags="--gpu-tensor-cores" key="$file tc" suffix="_tc"
    args="${args//--gpu-tensor-cores/}"
  fi
  if [[ -z "${compiled[$key]:-}" ]]; then
    lib="$out/cases/$(basename "$file" .mlir)$suffix.so"
    # shellcheck disable=SC2086
    "$translate" "$root/$file" --target cuda --gpu-chip "$chip" $flags -o "$lib"
    compiled[$key]=$lib
  fi
  # shellcheck disable=SC2086
  "$run" "$root/$file" --entry "$entry" $args --check \
      --save-inputs "$dir/inputs" --save-reference "$dir/reference" >/dev/null
  # The random inputs are drawn again on the GPU machine from the seed
  # (checked there against their SHA-256): they are most of the bundle.
  seed=$(sed -n 's/.*--random \([0-9]*\).*/\1/p' <<<"$args")
  python3 "$root/scripts/gpu/slim_inputs.py" "$dir/inputs"
  printf '%s %s %s seed=%s %s\n' "$(basename "${compiled[$key]}")" "$entry" \
      "$file" "$seed" "$sdpa" >"$dir/case.txt"
  n=$((n + 1))
done <"$root/test/Integration/GPU/cases.txt"

# The timed shapes: bf16, B*N = 16384 tokens, hidden 2048 (H = 2048 / D),
# on the tensor cores (and with ATTN_BENCH_SIMT=1 also on the SIMT kernel,
# which takes about 2 s a call at N = 16k); a causal window of 1024 keys at
# D = 128.
bench() { # NAME D MASK FLAGS
  local h=$((2048 / $2))
  local t="tensor<?x${h}x?x${2}xbf16>"
  cat >"$out/bench/$1.mlir" <<MLIR
func.func @attention(%q: $t, %k: $t, %v: $t) -> $t {
  %o = attn.attention %q, %k, %v$3 : ($t, $t, $t) -> $t
  return %o : $t
}
MLIR
  # shellcheck disable=SC2086
  "$translate" "$out/bench/$1.mlir" --target cuda --gpu-chip "$chip" $4 \
      -o "$out/bench/$1.so"
}
causal=" mask(#attn.causal<top_left>)"
window=" mask(#attn.window<left = 1023, right = 0, alignment = top_left>)"
for d in 64 128; do
  bench "bench_d${d}_tc" "$d" "" --gpu-tensor-cores
  bench "bench_d${d}_causal_tc" "$d" "$causal" --gpu-tensor-cores
  if [[ "${ATTN_BENCH_SIMT:-0}" == 1 ]]; then
    bench "bench_d${d}" "$d" ""
    bench "bench_d${d}_causal" "$d" "$causal"
  fi
done
bench bench_d128_window_tc 128 "$window" --gpu-tensor-cores
# The decode steps: one f32 token of 32 query heads (D = 128) against a
# cache, for MHA, GQA-4 and MQA (32, 8 and 1 K/V heads), on the SIMT kernel;
# and one bf16 GQA-4 token on the tensor cores.
step() { # NAME KV DTYPE FLAGS
  local q="tensor<?x32x1x128x$3>" c="tensor<?x${2}x?x128x$3>"
  cat >"$out/bench/$1.mlir" <<MLIR
func.func @step(%q: $q, %k: $c, %v: $c, %len: tensor<?xi32>) -> $q {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) : ($q, $c, $c, tensor<?xi32>) -> $q
  return %o : $q
}
MLIR
  # shellcheck disable=SC2086
  "$translate" "$out/bench/$1.mlir" --target cuda --gpu-chip "$chip" $4 \
      -o "$out/bench/$1.so"
}
for kv in 32 8 1; do
  step "decode_kv$kv" "$kv" f32 ""
done
step decode_kv8_bf16_tc 8 bf16 --gpu-tensor-cores
echo "prepared $n cases and $(ls "$out"/bench/*.so | wc -l) benchmark modules in $out"
