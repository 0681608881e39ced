#!/usr/bin/env python3
"""Replaces a case's random inputs by what regenerates them.

usage: slim_inputs.py INPUTS_DIR

`attn-run --random SEED` draws input i (in the function's argument order)
from splitmix64 seeded with SEED * 1000003 + i, one number in [-1, 1) per
element, rounded to the input's type. scripts/gpu/run.py draws the same
numbers again on the GPU machine, so the bundle need not carry them (they
are most of its size): each NAME.npy of a floating-point type becomes
NAME.json with its shape, its .npy type and the SHA-256 of its data, which
run.py checks before it uses the regenerated tensor. Integer inputs (key
lengths, given with --values) stay as they are. Standard library only.
"""
import ast
import hashlib
import json
import os
import sys


def read_npy(path):
    """(header dict, data bytes) of a version 1/2/3 .npy file."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    major = blob[6]
    size_bytes = 2 if major == 1 else 4
    length = int.from_bytes(blob[8:8 + size_bytes], "little")
    start = 8 + size_bytes
    header = ast.literal_eval(blob[start:start + length].decode("latin1"))
    return header, blob[start + length:]


def main():
    folder = sys.argv[1]
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".npy"):
            continue
        path = os.path.join(folder, name)
        header, data = read_npy(path)
        if header["descr"] not in ("<f4", "<f2", "<f8"):
            continue
        if header.get("fortran_order"):
            sys.exit(f"{path}: Fortran order is not expected")
        with open(path[:-4] + ".json", "w") as f:
            json.dump({"shape": list(header["shape"]),
                       "descr": header["descr"],
                       "sha256": hashlib.sha256(data).hexdigest()}, f)
        os.remove(path)


if __name__ == "__main__":
    main()
