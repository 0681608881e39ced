"""Inputs are read in place: the runtime is handed the array's own data
pointer; outputs are fresh arrays that alias no input, owned by the caller's
framework."""

import numpy as np
import pytest

import attn
from conftest import ROOT


@pytest.fixture(scope="module")
def causal():
    return attn.compile(ROOT / "examples/04_causal_attention.mlir").causal


def test_the_runtime_sees_the_arrays_own_memory(causal, rng):
    q, k, v = (rng.standard_normal((1, 8, 16, 64)).astype(np.float32)
               for _ in range(3))
    views = causal.views(q, k, v)
    for view, array in zip(views, (q, k, v)):
        assert view["data"] == array.ctypes.data
        assert view["shape"] == array.shape
        assert view["strides"] == tuple(s // array.itemsize
                                        for s in array.strides)
        assert view["dtype"] == "f32"


def test_outputs_alias_no_input(causal, rng):
    q, k, v = (rng.standard_normal((1, 8, 16, 64)).astype(np.float32)
               for _ in range(3))
    out = causal(q, k, v)
    assert isinstance(out, np.ndarray) and out.flags.owndata is False
    assert out.flags.c_contiguous and out.ctypes.data % 64 == 0
    for x in (q, k, v):
        assert not np.shares_memory(out, x)
    # The output outlives the call and owns its memory through its base.
    del q, k, v
    assert np.isfinite(out).all()


def test_strided_view_is_copied_only_when_asked(causal, rng):
    base = rng.standard_normal((1, 8, 32, 64)).astype(np.float32)
    strided = base[:, :, ::2]
    views = causal.views(strided, strided, strided, copy=True)
    assert views[0]["data"] != strided.ctypes.data


def test_bfloat16_numpy_arrays_travel_as_their_bits(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    module = attn.compile(ROOT / "test/Integration/CPU/attention.mlir")
    function = module.functions["bfloat"]
    shapes = {"q": (1, 2, 33, 8), "k": (1, 2, 33, 8), "v": (1, 2, 33, 8)}
    inputs = [rng.standard_normal(shapes[a.name]).astype(ml_dtypes.bfloat16)
              for a in function.inputs]
    views = function.views(*inputs)
    assert views[0]["dtype"] == "bf16"
    assert views[0]["data"] == inputs[0].ctypes.data
    out = function(*inputs)
    assert out.dtype == ml_dtypes.bfloat16
    expected = attn.reference(ROOT / "test/Integration/CPU/attention.mlir",
                              "bfloat", *inputs)
    assert np.abs(out.astype(np.float64) - expected).max() < 5e-2
