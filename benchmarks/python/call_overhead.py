"""The cost of calling a compiled function from Python, against the same
call made from C++ in the same process on the same arrays (the runtime's
attn::Function::call: output shapes, allocation, invocation), interleaved
so that both see the same machine.

usage: .venv/bin/python benchmarks/python/call_overhead.py [--repeats 2000]

Prints the medians and their difference (issue: at most 20 us more from
Python at B = 1, H = 8, N = 128, D = 64, causal, f32)."""

import argparse
import platform
import statistics
import time

import numpy as np

import attn


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    q, k, v = (rng.uniform(-1, 1, (1, 8, 128, 64)).astype(np.float32)
               for _ in range(3))
    function = attn.compile(attn.attention_source(
        q, k, v, mask=attn.masks.causal())).attention
    arrays, dtypes = function._arguments((q, k, v), {}, False)
    for _ in range(200):  # warm: code, caches, allocator
        function(q, k, v)
    python, native = [], []
    for _ in range(args.rounds):
        for _ in range(args.repeats):
            start = time.perf_counter()
            function(q, k, v)
            python.append(time.perf_counter() - start)
        native += function._native.time_native_calls(arrays, dtypes,
                                                     args.repeats)
    py, cpp = statistics.median(python), statistics.median(native)
    print(f"machine: {cpu_model()}, "
          f"{args.rounds} x {args.repeats} calls each, interleaved")
    print(f"from Python: median {py * 1e6:8.1f} us")
    print(f"from C++:    median {cpp * 1e6:8.1f} us")
    print(f"overhead:           {(py - cpp) * 1e6:8.1f} us per call")


if __name__ == "__main__":
    main()
