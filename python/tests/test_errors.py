"""Bad input raises a Python exception that names the argument and the
shapes; bad IR raises attn.CompileError with the line; nothing crashes."""

import numpy as np
import pytest

import attn
from conftest import ROOT

CAUSAL = ROOT / "examples/04_causal_attention.mlir"


@pytest.fixture(scope="module")
def causal():
    return attn.compile(CAUSAL).causal


def arrays(rng, *shapes, dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def test_shape_mismatch_names_argument_and_shapes(causal, rng):
    q, k, v = arrays(rng, (1, 8, 4, 64), (1, 4, 4, 64), (1, 8, 4, 64))
    with pytest.raises(attn.InvalidArgument) as error:
        causal(q, k, v)
    message = str(error.value)
    assert "argument 'k'" in message and "[1,4,4,64]" in message
    assert "dimension 1 must be 8" in message


def test_symbol_mismatch(causal, rng):
    q, k, v = arrays(rng, (1, 8, 4, 64), (1, 8, 5, 64), (1, 8, 6, 64))
    with pytest.raises(attn.InvalidArgument, match="argument 'v'"):
        causal(q, k, v)


def test_dtype_mismatch(causal, rng):
    q, k = arrays(rng, (1, 8, 4, 64), (1, 8, 4, 64))
    v = k.astype(np.float64)
    with pytest.raises(attn.InvalidArgument, match="argument 'v'.*f64"):
        causal(q, k, v)


def test_unsupported_dtype(causal, rng):
    q = np.zeros((1, 8, 4, 64), dtype=np.complex64)
    with pytest.raises(attn.InvalidArgument, match="argument 'q'"):
        causal(q, q, q)


def test_wrong_arguments(causal, rng):
    q, = arrays(rng, (1, 8, 4, 64))
    with pytest.raises(attn.InvalidArgument, match="missing v"):
        causal(q, q)
    with pytest.raises(attn.InvalidArgument, match="takes 3 arguments"):
        causal(q, q, q, q)
    with pytest.raises(attn.InvalidArgument, match="no argument 'x'"):
        causal(q, q, q, x=q)


def test_strided_input_is_refused_or_copied(causal, rng):
    q, = arrays(rng, (1, 8, 8, 64))
    strided = q[:, :, ::2]
    with pytest.raises(attn.InvalidArgument, match="argument 'q': not "
                       "contiguous.*copy=True"):
        causal(strided, strided, strided)
    copied = causal(strided, strided, strided, copy=True)
    contiguous = np.ascontiguousarray(strided)
    assert np.array_equal(copied, causal(contiguous, contiguous, contiguous))


def test_key_lengths_out_of_bound(rng):
    module = attn.compile(ROOT / "examples/10_sliding_window_attention.mlir")
    function = next(iter(module.functions.values()))
    names = [a.name for a in function.inputs]
    assert "key_lengths" in names
    shapes = {"q": (2, 8, 6, 64), "k": (2, 8, 6, 64), "v": (2, 8, 6, 64)}
    inputs = [rng.standard_normal(shapes[n]).astype(np.float32)
              if n != "key_lengths" else np.array([6, 7], dtype=np.int32)
              for n in names]
    with pytest.raises(attn.InvalidArgument, match="key_lengths"):
        function(*inputs)


def test_bad_ir_reports_the_line():
    source = ("func.func @f(%x: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {\n"
              "  %o = attn.attention %x, %x, %x mask(#attn.casual<top_left>)\n"
              "      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>,\n"
              "         tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>\n"
              "  return %o : tensor<1x1x4x8xf32>\n}\n")
    with pytest.raises(attn.CompileError, match=r"<source>:2:\d+: error:.*"
                       "causal"):
        attn.compile(source)


def test_invalid_op_reports_the_verifier():
    source = ("func.func @f(%q: tensor<1x2x4x8xf32>, %k: tensor<1x3x4x8xf32>)"
              " -> tensor<1x2x4x8xf32> {\n"
              "  %o = attn.attention %q, %k, %k\n"
              "      : (tensor<1x2x4x8xf32>, tensor<1x3x4x8xf32>,\n"
              "         tensor<1x3x4x8xf32>) -> tensor<1x2x4x8xf32>\n"
              "  return %o : tensor<1x2x4x8xf32>\n}\n")
    with pytest.raises(attn.CompileError, match=r"<source>:2:\d+: error:"):
        attn.compile(source)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        attn.compile("no/such/file.mlir")


def test_exceptions_are_attn_errors():
    assert issubclass(attn.InvalidArgument, ValueError)
    assert issubclass(attn.CompileError, RuntimeError)
    assert attn.InvalidArgument.__module__ == "attn"


def test_reference_checks_its_inputs(causal, rng):
    q, k, v = arrays(rng, (1, 8, 4, 64), (1, 8, 4, 64), (1, 8, 4, 64))
    np.testing.assert_allclose(causal.reference(q, k, v), causal(q, k, v),
                               atol=1e-5)
    with pytest.raises(attn.InvalidArgument, match="argument 'k'"):
        causal.reference(q, k[:, :4].copy(), v)
    with pytest.raises(attn.InvalidArgument, match="argument 'v'"):
        causal.reference(q, k, v[:, :, :3].copy())
    with pytest.raises(attn.InvalidArgument, match="argument 'q'"):
        causal.reference(q[0], k, v)
    with pytest.raises(attn.InvalidArgument, match="missing"):
        causal.reference(q, k)


def test_options_of_the_wrong_type():
    for options, message in (({"query_tile": "32"}, "must be an int"),
                             ({"query_tile": 32.0}, "must be an int"),
                             ({"parallel": 1}, "True or False"),
                             ({"opt_level": -1}, "0, 1, 2 or 3")):
        with pytest.raises(attn.InvalidArgument, match=message):
            attn.compile(CAUSAL, **options)


def test_empty_source():
    with pytest.raises(attn.CompileError, match="holds no function"):
        attn.compile("")


def test_integer_arguments(rng):
    module = attn.compile(ROOT / "examples/10_sliding_window_attention.mlir")
    function = next(iter(module.functions.values()))
    x = rng.standard_normal((2, 8, 6, 64)).astype(np.float32)
    expected = function(x, x, x, np.array([6, 3], dtype=np.int32))
    np.testing.assert_array_equal(function(x, x, x, [6, 3]), expected)
    np.testing.assert_array_equal(function(x, x, x, np.array([6, 3])),
                                  expected)
    with pytest.raises(attn.InvalidArgument, match="takes integers"):
        function(x, x, x, np.array([6.0, 3.0]))


def test_big_endian_arrays_are_refused(causal, rng):
    q, = arrays(rng, (1, 8, 4, 64))
    swapped = q.astype(q.dtype.newbyteorder(">"))
    with pytest.raises(attn.InvalidArgument, match="big-endian"):
        causal(swapped, q, q)


def test_error_hierarchy():
    assert issubclass(attn.InvalidArgument, attn.Error)
    assert issubclass(attn.CompileError, attn.Error)
    assert issubclass(attn.Error, RuntimeError)
    assert attn.__version__
