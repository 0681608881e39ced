#!/usr/bin/env python3
"""Compiles modules in bf16 for the tensor cores and reports each kernel.

For every module given, its f32 tensors of two or more dimensions are
made bf16 (so that each
attention takes the tensor-core kernel; a module that already holds f16 or
bf16 tensors is taken as it is), the module is compiled with
`attn-translate --target cuda --gpu-tensor-cores`, and its PTX assembled by
ptxas -v; one line per kernel says whether it runs mma.sync, its registers
and its spilled bytes, and, with --cuobjdump, the HMMA instructions of its
SASS:

  07_flash_attention flash_kernel mma registers=209 spilled=0 hmma=128

Modules without attn.attention (linear attention) and those with score
modifiers (which the SIMT kernel computes) are skipped.
"""

import argparse
import os
import re
import subprocess
import sys


def run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout + result.stderr


def kernels_of(ptx):
    """Kernel name -> its PTX text."""
    starts = [(m.start(), m.group(1))
              for m in re.finditer(r"\.visible \.entry (\w+)\(", ptx)]
    return {name: ptx[begin:(starts[i + 1][0] if i + 1 < len(starts)
                             else len(ptx))]
            for i, (begin, name) in enumerate(starts)}


def resources(ptxas_output):
    """Kernel name -> (registers, spilled bytes) from ptxas -v."""
    found = {}
    kernel = None
    spilled = 0
    for line in ptxas_output.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            kernel = m.group(1)
        elif m := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill "
                            r"loads", line):
            spilled = int(m.group(1)) + int(m.group(2))
        elif (m := re.search(r"Used (\d+) registers", line)) and kernel:
            found[kernel] = (int(m.group(1)), spilled)
            kernel, spilled = None, 0
    return found


def hmma_counts(cuobjdump, cubin):
    """Kernel name -> HMMA instructions in its SASS."""
    counts, kernel = {}, None
    # cuobjdump runs nvdisasm, which PyPI's packages put beside it.
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(cuobjdump) + os.pathsep + env.get("PATH", "")
    for line in run([cuobjdump, "-sass", cubin], env).splitlines():
        if m := re.match(r"\s*Function : (\w+)", line):
            kernel = m.group(1)
            counts[kernel] = 0
        elif kernel and "HMMA" in line:
            counts[kernel] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attn-translate", required=True)
    parser.add_argument("--ptxas", required=True)
    parser.add_argument("--cuobjdump")
    parser.add_argument("--chip", required=True)
    parser.add_argument("--out", required=True, help="folder for the files")
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for path in args.modules:
        source = open(path).read()
        if "attn.attention" not in source and "attn.multi_head" not in source:
            continue
        # The tensor-core kernel leaves score modifiers to the SIMT kernel
        # (docs/ScoreModifiers.md): not its kernels to report.
        if "score_mod(" in source:
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        bf16 = os.path.join(args.out, name + ".mlir")
        if "xbf16>" not in source and "xf16>" not in source:
            # Tensors of two or more dimensions; a vector of per-head
            # parameters (sinks) stays f32.
            source = re.sub(r"(tensor<(?:[0-9?]+x){2,})f32>", r"\1bf16>",
                            source)
        with open(bf16, "w") as file:
            file.write(source)
        ptx = os.path.join(args.out, name + ".ptx")
        cubin = os.path.join(args.out, name + ".cubin")
        run([args.attn_translate, bf16, "--target", "cuda",
             "--gpu-tensor-cores", "--gpu-chip", args.chip, "-o", ptx])
        used = resources(run([args.ptxas, f"-arch={args.chip}", "-v", ptx,
                              "-o", cubin]))
        hmma = hmma_counts(args.cuobjdump, cubin) if args.cuobjdump else {}
        for kernel, text in kernels_of(open(ptx).read()).items():
            registers, spilled = used[kernel]
            kind = "mma" if "mma.sync" in text else "simt"
            line = f"{name} {kernel} {kind} registers={registers} " \
                   f"spilled={spilled}"
            if args.cuobjdump:
                line += f" hmma={hmma.get(kernel, 0)}"
            print(line)


if __name__ == "__main__":
    main()
