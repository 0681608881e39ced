"""bf16 .npy files as numpy users write and read them.

NumPy has no bf16; its users hold bf16 as ml_dtypes.bfloat16, which np.save
writes as 2-byte opaque elements ('<V2') and np.load gives back as such
(`.view(ml_dtypes.bfloat16)`). attn-run must read those files as bf16 inputs
and write its bf16 outputs the same way; a float32 file for a bf16 input is
an error unless --convert-inputs asks for the conversion.

Usage: bf16_npy.py FOLDER MODULE  (attn-run on PATH)
"""
import pathlib
import subprocess
import sys

import ml_dtypes
import numpy as np

folder, module = pathlib.Path(sys.argv[1]), sys.argv[2]
folder.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)


def attn_run(*args):
    return subprocess.run(["attn-run", module, "--entry", "mha", *args],
                          capture_output=True, text=True)


def load_bf16(path):
    raw = np.load(path)
    assert raw.dtype == np.dtype("V2"), f"{path}: {raw.dtype}"
    return raw.view(ml_dtypes.bfloat16)


# Inputs written by numpy with ml_dtypes, the output read back likewise,
# against the float64 reference attn-run writes beside it.
for name, keys in (("q", 9), ("k", 11), ("v", 11)):
    values = rng.standard_normal((1, 4, keys, 64)).astype(ml_dtypes.bfloat16)
    np.save(folder / f"{name}.npy", values)
run = attn_run(*(f"--input={n}={folder / n}.npy" for n in "qkv"),
               f"--output={folder / 'out.npy'}",
               f"--save-reference={folder / 'ref'}")
assert run.returncode == 0, run.stderr
out = load_bf16(folder / "out.npy").astype(np.float64)
ref = np.load(folder / "ref" / "out.npy")
assert out.shape == (1, 4, 9, 64), out.shape
error = np.abs(out - ref).max() / max(1.0, np.abs(ref).max())
assert error < 5e-2, error
print(f"bf16 .npy in and out: max error {error:.3g}")

# --save-inputs writes bf16 as numpy would, and they read back exactly.
run = attn_run("--random=3", "--shape=q=1x4x5x64", "--shape=k=1x4x6x64",
               f"--save-inputs={folder / 'saved'}")
assert run.returncode == 0, run.stderr
saved = load_bf16(folder / "saved" / "q.npy")
assert saved.shape == (1, 4, 5, 64) and np.isfinite(
    saved.astype(np.float32)).all()
run = attn_run(*(f"--input={n}={folder / 'saved' / n}.npy" for n in "qkv"),
               "--check")
assert run.returncode == 0, run.stderr
print("bf16 inputs saved and read back")

# float32 for a bf16 input: an error that names the way out, and converted
# (to nearest even) with --convert-inputs.
np.save(folder / "q32.npy", rng.standard_normal((1, 4, 9, 64), np.float32))
inputs = [f"--input=q={folder / 'q32.npy'}",
          f"--input=k={folder / 'k.npy'}", f"--input=v={folder / 'v.npy'}"]
run = attn_run(*inputs)
assert run.returncode == 2, run
assert "holds f32 elements, but 'q' takes bf16 (--convert-inputs" in \
    run.stderr, run.stderr
run = attn_run(*inputs, "--convert-inputs", "--check")
assert run.returncode == 0, run.stderr
print("f32 input converted with --convert-inputs")
