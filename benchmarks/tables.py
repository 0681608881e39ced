#!/usr/bin/env python3
"""Markdown tables from attn-bench's JSON lines.

usage: tables.py RESULTS.jsonl [--summary]

Prints one table per (D, mask): for every N, each strategy's time, GFLOP/s,
fraction of the FMA peak, peak bytes and speed relative to the unfused
OpenBLAS baseline of the same run. --summary prints only the rows the README
quotes (N = 2048 and N = 16384).
"""
import json
import sys
from collections import defaultdict


def mib(b):
    return f"{b / 2**20:.1f} MiB"


def main():
    path = sys.argv[1]
    summary = "--summary" in sys.argv[2:]
    with open(path) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    header, rows = lines[0], lines[1:]
    print(f"Machine: {header['machine']}; FMA peak measured in the run: "
          f"{header['fma_peak_gflops']:.1f} GFLOP/s; compiler: {header['compiler']}.")
    print(f"Command: `{header['command']}`\n")
    groups = defaultdict(list)
    for r in rows:
        groups[(r["d"], r["causal"])].append(r)
    for (d, causal), rs in sorted(groups.items()):
        ns = sorted({r["n"] for r in rs})
        if summary:
            ns = [n for n in ns if n in (2048, 16384)]
        print(f"**D = {d}, {'causal' if causal else 'no mask'}** (B = 1, H = 8, f32)\n")
        print("| N | strategy | time | GFLOP/s | of peak | peak bytes | vs OpenBLAS unfused |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for n in ns:
            for r in sorted((r for r in rs if r["n"] == n),
                            key=lambda r: r["strategy"]):
                print(f"| {n} | {r['strategy']} | {r['time_ms']:.1f} ms | "
                      f"{r['gflops']:.1f} | {100 * r['peak_fraction']:.0f}% | "
                      f"{mib(r['peak_bytes'])} | {r['speedup_vs_baseline']:.2f}x |")
        print()


if __name__ == "__main__":
    main()
