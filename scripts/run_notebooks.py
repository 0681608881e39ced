#!/usr/bin/env python3
"""Executes notebooks (default: every notebooks/*.ipynb) top to bottom in
a fresh kernel of this Python, from notebooks/, each within --timeout
seconds, and writes the executed copies, figures included, into --output
(make notebooks: build/notebooks). Exits 1 when a notebook fails; the
outputs are never written back into notebooks/.

usage: .venv/bin/python scripts/run_notebooks.py [--output DIR]
       [--timeout SECONDS] [NOTEBOOK ...]
"""

import argparse
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--output", type=pathlib.Path,
                        default=ROOT / "build" / "notebooks")
    parser.add_argument("--timeout", type=int, default=300,
                        help="seconds for the whole notebook")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    args.output.mkdir(parents=True, exist_ok=True)
    # Figures without a display; the kernel finds the package through
    # .venv's .pth (or PYTHONPATH when set).
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    failed = []
    for path in notebooks:
        book = nbformat.read(path, as_version=4)
        client = NotebookClient(
            book, timeout=args.timeout, kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "notebooks")}})
        start = time.monotonic()
        status = "ok"
        try:
            # --timeout bounds each cell and, checked after, the whole.
            client.execute()
            if time.monotonic() - start > args.timeout:
                status = f"over its budget of {args.timeout} s"
                failed.append(path.name)
        except (CellExecutionError, CellTimeoutError) as error:
            status = f"FAILED: {str(error).strip().splitlines()[-1]}"
            failed.append(path.name)
        nbformat.write(book, args.output / path.name)
        print(f"{path.name}: {status} ({time.monotonic() - start:.1f} s)",
              flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
