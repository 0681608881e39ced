#!/usr/bin/env python3
"""Compile every example to CPU code, run it on random inputs through the
runtime, check it against the float64 reference and print a table.

Each example names the sizes of its dynamic dimensions on a `// demo:` line.
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build")
ATTN_RUN = BUILD / "bin" / "attn-run"
REPEAT = 5


def demo_arguments(example):
    for line in example.read_text().splitlines():
        match = re.match(r"//\s*demo:\s*(.*)", line)
        if match:
            return match.group(1).split()
    raise SystemExit(f"{example}: no '// demo:' line")


def main():
    rows, failed = [], []
    for example in sorted((ROOT / "examples").glob("*.mlir")):
        args = demo_arguments(example)
        command = [str(ATTN_RUN), str(example), "--random", "0", "--check",
                   "--repeat", str(REPEAT), "--stats", *args]
        result = subprocess.run(command, capture_output=True, text=True)
        stats = [json.loads(line) for line in result.stdout.splitlines()
                 if line.startswith("{")]
        if result.returncode != 0 or not stats:
            failed.append(example.name)
            print(result.stdout + result.stderr, file=sys.stderr)
            continue
        # The sizes given on the demo line (--shape and --values).
        shapes = " ".join(value for option, value in zip(args, args[1:])
                          if option in ("--shape", "--values"))
        rows.append((example.stem, shapes, stats[0]))

    header = ("mechanism", "shape", "strategy", "max error", "time ms",
              "GFLOP/s", "peak MiB")
    table = [header] + [
        (name, shapes, s["strategy"], f"{s['max_error']:.1e}",
         f"{s['time_ms']:.2f}",
         f"{s['gflops']:.2f}", f"{s['peak_bytes'] / 2**20:.1f}")
        for name, shapes, s in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{len(rows)} examples checked against the float64 reference "
          f"(median of {REPEAT} runs; GFLOP/s count the attended pairs and "
          "the projections).")
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
