"""Shared pieces of the Python tests: where the repository is, random
inputs for a signature, and a float64 attention written here from the
formulas (independent of the compiler and of its C++ reference)."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(os.environ.get(
    "ATTN_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def reference_attention(q, k, v, visible=None, key_lengths=None, scale=None):
    """softmax(scale q k^T) v in float64 over the keys `visible(i, j)` (a
    boolean (N, S) array, or a function of the head giving one) and the key
    lengths allow; grouped heads share K/V head h // (H / Hkv). A row that
    sees no key gives zeros."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    b, h, n, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    scale = 1 / np.sqrt(d) if scale is None else scale
    out = np.zeros((b, h, n, v.shape[3]))
    lse = np.full((b, h, n), -np.inf)
    for bi in range(b):
        for hi in range(h):
            g = hi // (h // hkv)
            scores = scale * q[bi, hi] @ k[bi, g].T
            allowed = np.ones((n, s), dtype=bool)
            if visible is not None:
                allowed &= visible(hi) if callable(visible) else visible
            if key_lengths is not None:
                allowed[:, int(key_lengths[bi]):] = False
            scores = np.where(allowed, scores, -np.inf)
            m = scores.max(axis=1, keepdims=True)
            seen = np.isfinite(m[:, 0])
            p = np.where(allowed, np.exp(scores - np.where(np.isfinite(m), m, 0)), 0)
            total = p.sum(axis=1, keepdims=True)
            out[bi, hi] = np.where(seen[:, None],
                                   (p @ v[bi, g]) / np.where(total > 0, total, 1), 0)
            lse[bi, hi] = np.where(seen, np.log(np.where(seen, total[:, 0], 1)) + m[:, 0], -np.inf)
    return out, lse


def causal_visible(n, s, alignment="top_left"):
    i = np.arange(n)[:, None]
    j = np.arange(s)[None, :]
    offset = 0 if alignment == "top_left" else s - n
    return j <= i + offset


def window_visible(n, s, left, right, alignment="top_left", dilation=1):
    i = np.arange(n)[:, None]
    j = np.arange(s)[None, :]
    centre = i + (0 if alignment == "top_left" else s - n)
    delta = j - centre
    inside = (delta >= -left) & (delta <= right)
    return inside & (delta % dilation == 0)


def random_inputs(function, rng, sizes):
    """Random arrays for `function`'s inputs (uniform in [-1, 1)): symbols
    from `sizes` (19 when absent), key lengths within their bound."""
    arrays = []
    for arg in function.inputs:
        shape = [d if isinstance(d, int) else sizes.get(d, 19)
                 for d in arg.dims]
        if arg.dtype == "i32":
            bound = sizes.get(arg.bound, 19) if arg.bound else 19
            if arg.bound and arg.bound.isdigit():
                bound = int(arg.bound)
            arrays.append(rng.integers(0, bound + 1, size=shape,
                                       dtype=np.int32))
            continue
        # Uniform in [-1, 1), as attn-run --random draws them.
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        if arg.dtype == "f16":
            x = x.astype(np.float16)
        elif arg.dtype == "bf16":
            import ml_dtypes
            x = x.astype(ml_dtypes.bfloat16)
        arrays.append(x)
    return arrays
