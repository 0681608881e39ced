"""The demo's examples (scripts/demo.py's shapes) timed through the
command-line path (attn-run: its median invocation time) and through the
Python package (attn.compile, then the function called on the same inputs,
loaded from the .npy files attn-run saved; median of as many calls, each
including the output's allocation and the call's Python overhead), one
example after the other in the same session. Each side is measured in
--rounds alternating rounds and the fastest round's median kept: a
neighbour on the shared machine only ever slows a round down.

usage: .venv/bin/python benchmarks/python/python_vs_cli.py [BUILD] [--repeat 5]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import json

import numpy as np

import attn

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from demo import demo_arguments  # noqa: E402


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build", nargs="?", default=str(ROOT / "build"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    attn_run = pathlib.Path(args.build) / "bin" / "attn-run"
    rows = []
    for example in sorted((ROOT / "examples").glob("*.mlir")):
        demo = demo_arguments(example)
        with tempfile.TemporaryDirectory() as inputs:
            command = [str(attn_run), str(example), "--random", "0",
                       "--repeat", str(args.repeat), "--stats",
                       "--save-inputs", inputs, *demo]
            module = attn.compile(example)
            entry = (demo[demo.index("--entry") + 1] if "--entry" in demo
                     else next(iter(module.functions)))
            function = module.functions[entry]
            cli, python = [], []
            for _ in range(args.rounds):
                result = subprocess.run(command, capture_output=True,
                                        text=True, check=True)
                cli.append([json.loads(line) for line in
                            result.stdout.splitlines()
                            if line.startswith("{")][0]["time_ms"])
                arrays = [np.load(pathlib.Path(inputs) / f"{a.name}.npy")
                          for a in function.inputs]
                for _ in range(3):  # warm: code, caches, allocator
                    function(*arrays)
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    function(*arrays)
                    times.append(time.perf_counter() - start)
                python.append(statistics.median(times) * 1e3)
        shapes = " ".join(v for o, v in zip(demo, demo[1:])
                          if o in ("--shape", "--values"))
        cli_ms, python_ms = min(cli), min(python)
        rows.append((example.stem, shapes, f"{cli_ms:.2f}",
                     f"{python_ms:.2f}", f"{python_ms / cli_ms:.2f}"))
    header = ("mechanism", "shape", "attn-run ms", "Python ms", "ratio")
    table = [header] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"machine: {cpu_model()}; the fastest of {args.rounds} rounds' "
          f"medians of {args.repeat} calls each")
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
