"""attn.attention: an attn.attention op built from the arrays' shapes and
the options, compiled once per signature and run."""

import math
import warnings

import numpy as np

from . import _arrays
from ._attn import InvalidArgument
from ._module import compile
from .masks import Mask, resolve_lengths
from .score_mods import ScoreMod


class _Cache:
    """The compiled attentions, keyed by what their code depends on: the
    static parts of the shapes (heads, head widths), the element type, the
    mask, the scale, the lse, key lengths or not, the target and options.
    B, N and S stay dynamic: other lengths reuse the code."""

    def __init__(self):
        self._functions = {}
        self.hits = 0
        self.misses = 0

    def get(self, key, build):
        function = self._functions.get(key)
        if function is None:
            self.misses += 1
            function = self._functions[key] = build()
        else:
            self.hits += 1
        return function

    def clear(self):
        self._functions.clear()
        self.hits = self.misses = 0

    def __len__(self):
        return len(self._functions)

    def __repr__(self):
        return (f"<attn.cache: {len(self)} compiled, {self.hits} hits, "
                f"{self.misses} misses>")


cache = _Cache()


def _shape(x, arg):
    shape = tuple(int(d) for d in x.shape)
    if len(shape) != 4:
        raise InvalidArgument(f"argument '{arg}' must be (B, H, L, D), not "
                              f"of shape {list(shape)}")
    return shape


def _array(x):
    """A list or scalar as a float32 array; arrays as they are."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    return np.asarray(x, dtype=np.float32)


def _signature(q, k, v, mask, packed=False):
    """The static parts of an attention's types, checked; batch size 1 when
    `packed` (sequences in one row)."""
    (batch, heads, _, head_dim) = _shape(q, "q")
    (kv_batch, kv_heads, keys, key_dim) = _shape(k, "k")
    (v_batch, value_heads, value_keys, value_dim) = _shape(v, "v")
    if not batch == kv_batch == v_batch:
        raise InvalidArgument(f"q, k and v must share B: {batch}, {kv_batch} "
                              f"and {v_batch}")
    if key_dim != head_dim:
        raise InvalidArgument(f"q and k must share D: {head_dim} and "
                              f"{key_dim}")
    if value_heads != kv_heads or value_keys != keys:
        raise InvalidArgument(
            f"k (B, Hkv, S, D) and v (B, Hkv, S, Dv) must share Hkv and S: "
            f"k is {list(k.shape)}, v is {list(v.shape)}")
    if kv_heads == 0 or heads % kv_heads:
        raise InvalidArgument(f"the query heads ({heads}) must be a multiple "
                              f"of the key/value heads ({kv_heads})")
    dtype = _arrays.dtype_name(q)
    for x, arg in ((k, "k"), (v, "v")):
        if _arrays.dtype_name(x) != dtype:
            raise InvalidArgument(
                f"q, k and v must share one element type: q is {dtype}, "
                f"{arg} is {_arrays.dtype_name(x)}")
    if dtype not in ("f32", "f16", "bf16"):
        raise InvalidArgument(f"attention takes f32, f16 or bf16, not {dtype}")
    if mask is not None and not isinstance(mask, Mask):
        raise InvalidArgument("mask must be one of attn.masks' (causal(), "
                              f"window(...), ...), not {mask!r}")
    if packed and batch != 1:
        raise InvalidArgument(f"sequences pack into one batch row: q, k and "
                              f"v must have B = 1, not {batch}")
    b = "1" if packed else "?"
    t = lambda h, d: f"tensor<{b}x{h}x?x{d}x{dtype}>"  # noqa: E731
    return {"q": t(heads, head_dim), "k": t(kv_heads, key_dim),
            "v": t(value_heads, value_dim), "out": t(heads, value_dim),
            "lse": f"tensor<{b}x{heads}x?xf32>"}


def _clauses(key_lengths, mask, scale, score_mod=None, sinks=None,
             sequences=None):
    clauses = ""
    if key_lengths is not None:
        clauses += " key_lengths(%key_lengths)"
    if sinks is not None:
        clauses += " sinks(%sinks)"
    if sequences is not None:
        clauses += " sequences(%query_offsets, %key_offsets)"
    if mask is not None:
        clauses += f" mask({mask.mlir})"
    if scale is not None:
        clauses += f" scale({_float_literal(scale)})"
    if score_mod is not None:
        if not isinstance(score_mod, ScoreMod):
            raise InvalidArgument("score_mod must be one of attn.score_mods' "
                                  f"(softcap(...), alibi(...)), not "
                                  f"{score_mod!r}")
        clauses += f" score_mod({score_mod.mlir})"
    return clauses


def _float_literal(x):
    """A float as MLIR writes one: a decimal point always (1.0e-05, not
    Python's 1e-05)."""
    x = float(x)
    if not math.isfinite(x):
        raise InvalidArgument(f"scale must be finite, not {x}")
    text = repr(x)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + ("e" + exponent if exponent else "")


def attention_source(q, k, v, *, mask=None, key_lengths=None, scale=None,
                     lse=False, score_mod=None, sinks=None, sequences=None):
    """The MLIR module attn.attention compiles for these arguments: one
    function @attention with dynamic B, N and S (B = 1 with sequences)."""
    q, k, v, mask = _prepare(q, k, v, mask, key_lengths)
    return _forward_source(q, k, v, mask, key_lengths, scale, lse, score_mod,
                           _sinks(sinks, q), _sequences(sequences))


def attention_backward_source(q, k, v, *, mask=None, key_lengths=None,
                              scale=None, sinks=None, score_mod=None):
    """The MLIR module attention_backward compiles: @attention_backward(q,
    k, v, out, dout, lse[, key_lengths][, sinks]) -> (dq, dk, dv[, dsinks]),
    one attn.attention_grad (docs/Training.md)."""
    q, k, v, mask = _prepare(q, k, v, mask, key_lengths)
    return _backward_source(q, k, v, mask, key_lengths, scale,
                            _sinks(sinks, q), score_mod)


def _prepare(q, k, v, mask, key_lengths):
    """The arrays (lists become float32 arrays) and the mask with its
    default lengths resolved for S (a strided or fixed pattern without a
    length takes ceil(sqrt(S)))."""
    q, k, v = (_array(x) for x in (q, k, v))
    if any(getattr(x, "requires_grad", False) for x in (q, k, v)):
        warnings.warn("attn.attention records no gradients; use "
                      "attn.torch.attention for autograd", stacklevel=3)
    if mask is not None and not isinstance(mask, Mask):
        raise InvalidArgument("mask must be one of attn.masks' (causal(), "
                              f"window(...), ...), not {mask!r}")
    if mask is not None:
        mask = resolve_lengths(mask, int(k.shape[2]) if len(k.shape) == 4
                               else 0)
    return q, k, v, mask


def _sinks(sinks, q):
    """The sinks as float32, one per query head of q, or None."""
    if sinks is None:
        return None
    if isinstance(sinks, (list, tuple)):
        sinks = np.asarray(sinks, dtype=np.float32)
    heads = int(q.shape[1]) if len(q.shape) == 4 else None
    if tuple(sinks.shape) != (heads,) or "float32" not in str(sinks.dtype):
        raise InvalidArgument(
            f"sinks must be one float32 logit per query head, shape ({heads},)"
            f", not {getattr(sinks, 'dtype', type(sinks))} of shape "
            f"{tuple(sinks.shape)}")
    return sinks


def _sequences(sequences):
    """(query offsets, key offsets) as int32 arrays from one array (both)
    or a pair, or None."""
    if sequences is None:
        return None
    if isinstance(sequences, tuple) and len(sequences) == 2:
        query, key = sequences
    else:
        query = key = sequences
    offsets = []
    for x in (query, key):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x, dtype=np.int32)
        if len(getattr(x, "shape", ())) != 1 or "int32" not in str(x.dtype):
            raise InvalidArgument(
                "sequences are int32 offsets, one more than the sequences "
                "(cu_seqlens), or a pair of them (queries, keys), not "
                f"{x!r}")
        offsets.append(x)
    return tuple(offsets)


def _forward_source(q, k, v, mask, key_lengths, scale, lse, score_mod,
                    sinks=None, sequences=None):
    types = _signature(q, k, v, mask, packed=sequences is not None)
    args = [f"%q: {types['q']}", f"%k: {types['k']}", f"%v: {types['v']}"]
    operand_types = [types["q"], types["k"], types["v"]]
    if key_lengths is not None:
        args.append("%key_lengths: tensor<?xi32>")
        operand_types.append("tensor<?xi32>")
    if sinks is not None:
        sinks_type = f"tensor<{sinks.shape[0]}xf32>"
        args.append(f"%sinks: {sinks_type}")
        operand_types.append(sinks_type)
    if sequences is not None:
        args += ["%query_offsets: tensor<?xi32>", "%key_offsets: tensor<?xi32>"]
        operand_types += ["tensor<?xi32>", "tensor<?xi32>"]
    clauses = _clauses(key_lengths, mask, scale, score_mod, sinks, sequences)
    results = [types["out"]] + ([types["lse"]] if lse else [])
    names = "%o, %lse" if lse else "%o"
    return (
        f"func.func @attention({', '.join(args)})\n"
        f"    -> ({', '.join(results)}) {{\n"
        f"  {names} = attn.attention %q, %k, %v{clauses}\n"
        f"      : ({', '.join(operand_types)}) -> ({', '.join(results)})\n"
        f"  return {names} : {', '.join(results)}\n"
        "}\n")


def _backward_source(q, k, v, mask, key_lengths, scale, sinks=None,
                     score_mod=None):
    types = _signature(q, k, v, mask)
    names = ["q", "k", "v", "out", "dout", "lse"]
    kinds = ["q", "k", "v", "out", "out", "lse"]
    args = [f"%{n}: {types[t]}" for n, t in zip(names, kinds)]
    operand_types = [types[t] for t in kinds]
    if key_lengths is not None:
        args.append("%key_lengths: tensor<?xi32>")
        operand_types.append("tensor<?xi32>")
    results = [types["q"], types["k"], types["v"]]
    grads = "%dq, %dk, %dv"
    if sinks is not None:
        sinks_type = f"tensor<{sinks.shape[0]}xf32>"
        args.append(f"%sinks: {sinks_type}")
        operand_types.append(sinks_type)
        results.append(sinks_type)
        grads += ", %dsinks"
    return (
        f"func.func @attention_backward({', '.join(args)})\n"
        f"    -> ({', '.join(results)}) {{\n"
        f"  {grads} = attn.attention_grad %q, %k, %v, %out, %dout, %lse"
        f"{_clauses(key_lengths, mask, scale, score_mod, sinks)}\n"
        f"      : ({', '.join(operand_types)}) -> ({', '.join(results)})\n"
        f"  return {grads} : {', '.join(results)}\n"
        "}\n")


def _run(source, entry, inputs, optional, target, copy, options):
    """Function `entry` of `source`, compiled once per source, target and
    options (attn.cache), called on `inputs` and those of the `optional`
    inputs (key lengths, sinks) that are given."""
    key = (source, target, tuple(sorted(options.items())))
    function = cache.get(
        key, lambda: compile(source, target, **options).functions[entry])
    inputs = inputs + [x for x in optional if x is not None]
    return function(*inputs, copy=copy)


def attention(q, k, v, *, mask=None, key_lengths=None, scale=None, lse=False,
              score_mod=None, sinks=None, sequences=None, target="cpu",
              copy=False, **options):
    """Scaled dot-product attention of q (B, H, N, D), k (B, Hkv, S, D) and
    v (B, Hkv, S, Dv): softmax(scale q k^T) v over the keys the mask and the
    key lengths (integers, one per batch row) let each query see;
    grouped-query when Hkv < H. Returns out (B, H, N, Dv), and the
    log-sum-exp (B, H, N) too when lse=True. `score_mod` (attn.score_mods)
    modifies each score before the mask; `sinks` (H float32 logits) join
    each row's softmax denominator with no value; `sequences` (int32
    offsets, cu_seqlens, or a pair for queries and keys) packs
    variable-length sequences into one batch row (B = 1), each attended
    alone (docs/PackedSequences.md). The module is compiled on the
    first call with these static shapes, dtype and options, and reused
    (attn.cache); copy=True copies non-contiguous inputs instead of refusing
    them."""
    q, k, v, mask = _prepare(q, k, v, mask, key_lengths)
    sinks = _sinks(sinks, q)
    sequences = _sequences(sequences)
    source = _forward_source(q, k, v, mask, key_lengths, scale, lse,
                             score_mod, sinks, sequences)
    return _run(source, "attention", [q, k, v],
                [key_lengths, sinks] + list(sequences or (None, None)),
                target, copy, options)


def attention_backward(q, k, v, out, dout, lse, *, mask=None,
                       key_lengths=None, scale=None, sinks=None,
                       score_mod=None, target="cpu", copy=False, **options):
    """The gradients (dq, dk, dv) of attention(q, k, v, ...) whose output
    was `out` and log-sum-exp `lse` (attention(..., lse=True)), for the
    output's gradient `dout`: FlashAttention-2's backward, deterministic
    (docs/Training.md); with the forward's `sinks`, (dq, dk, dv, dsinks);
    with its `score_mod`, through the modifier. Compiled once per signature
    (attn.cache)."""
    q, k, v, mask = _prepare(q, k, v, mask, key_lengths)
    sinks = _sinks(sinks, q)
    source = _backward_source(q, k, v, mask, key_lengths, scale, sinks,
                              score_mod)
    return _run(source, "attention_backward", [q, k, v, out, dout, lse],
                [key_lengths, sinks], target, copy, options)
