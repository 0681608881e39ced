#!/usr/bin/env python3
"""Parses every ```mlir block of the given Markdown files with attn-opt, so
that the IR the documentation shows stays valid IR."""

import pathlib
import re
import subprocess
import sys
import tempfile

BLOCK = re.compile(r"^```mlir\n(.*?)^```", re.S | re.M)


def main(paths):
    blocks, failures = 0, []
    for path in paths:
        text = pathlib.Path(path).read_text()
        for match in BLOCK.finditer(text):
            blocks += 1
            line = text[: match.start()].count("\n") + 1
            with tempfile.NamedTemporaryFile("w", suffix=".mlir") as source:
                source.write(match.group(1))
                source.flush()
                result = subprocess.run(["attn-opt", source.name],
                                        capture_output=True, text=True)
            if result.returncode != 0:
                failures.append(f"{path}:{line}: the mlir block does not "
                                f"parse:\n{result.stderr}")
    print(f"{blocks} mlir blocks checked in {len(paths)} files")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures or blocks == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
