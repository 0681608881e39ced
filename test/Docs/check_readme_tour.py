#!/usr/bin/env python3
"""Runs every command of the README's tour ("## A short tour": its ```sh
blocks), so that the commands a new user copies still work.

Each command (continuation lines joined, comments dropped) runs from a
scratch folder where `examples` is the repository's, with the tools on PATH,
and must exit 0. The lines the README shows after an attn-run command as its
output (`# check ...`, `# schedule: ...`) are checked too: a check line by
its output, shape and verdict (the error itself varies with the CPU's vector
width), a schedule line word for word (tiles and pairs are deterministic).

Usage: check_readme_tour.py README.md
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

TOUR = re.compile(r"^## A short tour\n(.*?)^## ", re.S | re.M)
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def commands(block):
    """(command, shown output lines) of a ```sh block."""
    result, current, shown = [], "", []
    for line in block.splitlines():
        if line.startswith("#") and result and not current:
            shown.append(line[1:].strip())
            continue
        if line.startswith("#") or not line.strip():
            continue
        current += line.split("  #")[0].rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        shown = []
        result.append((current, shown))
        current = ""
    return result


def expected_lines(shown):
    """What the shown output promises: (kind, text) pairs."""
    for line in shown:
        if line.startswith("check "):
            head, _, verdict = line.partition(": max error")
            yield "check", (head, verdict.split()[-1])
        elif line.startswith("schedule: "):
            yield "schedule", line


def main(readme):
    text = pathlib.Path(readme).read_text()
    tour = TOUR.search(text)
    if not tour:
        print(f"{readme}: no '## A short tour' section", file=sys.stderr)
        return 1
    root = pathlib.Path(readme).resolve().parent
    failures, count = [], 0
    with tempfile.TemporaryDirectory() as scratch:
        os.symlink(root / "examples", pathlib.Path(scratch) / "examples")
        for block in SH_BLOCK.findall(tour.group(1)):
            for command, shown in commands(block):
                count += 1
                run = subprocess.run(shlex.split(command), cwd=scratch,
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    failures.append(f"`{command}` exited with "
                                    f"{run.returncode}:\n{run.stderr}")
                    continue
                output = run.stdout.splitlines()
                for kind, want in expected_lines(shown):
                    if kind == "schedule" and want not in output:
                        failures.append(f"`{command}` no longer prints "
                                        f"'{want}':\n{run.stdout}")
                    if kind == "check" and not any(
                            line.startswith(want[0]) and
                            line.endswith(want[1]) for line in output):
                        failures.append(f"`{command}` no longer prints "
                                        f"'{want[0]}: ... {want[1]}':\n"
                                        f"{run.stdout}")
    print(f"{count} tour commands run")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
