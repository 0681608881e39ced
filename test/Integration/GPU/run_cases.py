"""Runs every case of cases.txt with attn-run --target cuda --check.

A case's trailing #sdpa=... (a comparison that scripts/gpu/run.py makes
with PyTorch) is not an attn-run argument and is dropped here."""
import shlex
import subprocess
import sys

root, cases = sys.argv[1], sys.argv[2]
failed = 0
with open(cases) as f:
    for line in f:
        if not line.strip() or line.startswith("#"):
            continue
        file, entry, *args = shlex.split(line.split("#sdpa=")[0])
        command = ["attn-run", f"{root}/{file}", "--entry", entry, "--target",
                   "cuda", "--check", *args]
        print("$", " ".join(command), flush=True)
        failed += subprocess.call(command) != 0
sys.exit(1 if failed else 0)
