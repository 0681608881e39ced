"""attn.compile: every example compiled in-process and called on numpy
arrays, checked against the float64 reference; the module's functions and
signatures."""

import numpy as np
import pytest

import attn
from conftest import ROOT, random_inputs

EXAMPLES = sorted((ROOT / "examples").glob("*.mlir"))
SIZES = {"B": 2, "N": 37, "S": 53, "T": 29, "L": 41}


def tolerance(dtype):
    return {"f32": 1e-4, "f16": 1e-2, "bf16": 5e-2}.get(dtype, 1e-4)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_matches_the_reference(path, rng):
    module = attn.compile(path)
    assert module.functions, path
    for name, function in module.functions.items():
        inputs = random_inputs(function, rng, SIZES)
        outputs = function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        expected = function.reference(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert len(outputs) == len(expected) == len(function.outputs)
        for out, ref, arg in zip(outputs, expected, function.outputs):
            assert out.shape == ref.shape, (name, arg.name)
            got = np.asarray(out, dtype=np.float64)
            error = np.abs(got - ref).max() / max(1.0, np.abs(ref).max())
            assert error <= tolerance(arg.dtype), (name, arg.name, error)


def test_module_describes_its_functions():
    module = attn.compile(ROOT / "examples/04_causal_attention.mlir")
    assert list(module.functions) == ["causal"]
    function = module.causal
    assert function.signature.startswith("causal(q: f32[B,8,N,64]")
    assert [a.name for a in function.inputs] == ["q", "k", "v"]
    assert function.inputs[0].dims == ["B", 8, "N", 64]
    assert function.outputs[0].dtype == "f32"
    assert "causal(" in module.signature
    with pytest.raises(AttributeError, match="has no function 'nope'"):
        module.nope


def test_source_text_and_keyword_arguments(rng):
    source = """
    func.func @scaled(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                      %v: tensor<?x2x?x8xf32>) -> tensor<?x2x?x8xf32> {
      %o = attn.attention %q, %k, %v scale(0.5)
          : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>)
            -> tensor<?x2x?x8xf32>
      return %o : tensor<?x2x?x8xf32>
    }"""
    module = attn.compile(source, strategy="materialized")
    q, k, v = (rng.standard_normal((1, 2, 5, 8), dtype=np.float32)
               for _ in range(3))
    positional = module.scaled(q, k, v)
    named = module.scaled(v=v, q=q, k=k)
    assert np.array_equal(positional, named)
    np.testing.assert_allclose(positional,
                               attn.reference(source, "scaled", q, k, v),
                               atol=1e-5)


def test_options_reach_the_pipeline():
    source = ROOT / "examples/07_flash_attention.mlir"
    flash = attn.ir(source, after="attn-select-strategy", strategy="flash")
    materialized = attn.ir(source, after="attn-select-strategy",
                           strategy="materialized")
    assert 'attn.strategy = "flash"' in flash
    assert 'attn.strategy = "materialized"' in materialized
    with pytest.raises(attn.InvalidArgument, match="unknown option 'tile'"):
        attn.compile(source, tile=3)
    with pytest.raises(attn.InvalidArgument, match="target must be"):
        attn.compile(source, target="tpu")


def test_cuda_modules_need_a_gpu_to_load(rng):
    """A CUDA module compiles in-process (host code and PTX) and loads only
    where the CUDA driver finds a GPU; its functions take device buffers,
    which the Python package does not hand out yet."""
    try:
        module = attn.compile(ROOT / "examples/04_causal_attention.mlir",
                              target="cuda")
    except attn.CompileError as error:
        assert "no GPU found" in str(error)
        return
    assert module.target == "cuda"
    q = rng.standard_normal((1, 8, 4, 64), dtype=np.float32)
    with pytest.raises(attn.InvalidArgument, match="CUDA module"):
        module.causal(q, q, q)
