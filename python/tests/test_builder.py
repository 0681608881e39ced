"""attn.attention: the builder's masks, key lengths, grouped heads, scale
and lse against a float64 attention written in the test (conftest.py), and
the compile cache."""

import numpy as np
import pytest

import attn
from conftest import causal_visible, reference_attention, window_visible

B, H, HKV, D = 2, 4, 2, 16


def qkv(rng, n, s, dtype=np.float32, heads=H, kv_heads=HKV, d=D, dv=D):
    q = rng.standard_normal((B, heads, n, d)).astype(dtype)
    k = rng.standard_normal((B, kv_heads, s, d)).astype(dtype)
    v = rng.standard_normal((B, kv_heads, s, dv)).astype(dtype)
    return q, k, v


def close(out, expected, tolerance=1e-4):
    out = np.asarray(out, dtype=np.float64)
    assert out.shape == expected.shape
    assert np.isfinite(out).all()
    assert np.abs(out - expected).max() <= tolerance * max(
        1.0, np.abs(expected).max())


@pytest.mark.parametrize("n,s", [(1, 1), (37, 37), (70, 131), (129, 65)])
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
def test_causal(rng, n, s, alignment):
    q, k, v = qkv(rng, n, s)
    out = attn.attention(q, k, v, mask=attn.masks.causal(alignment))
    close(out, reference_attention(
        q, k, v, causal_visible(n, s, alignment))[0])


def test_window_with_dilation_and_global_tokens(rng):
    n = s = 97
    q, k, v = qkv(rng, n, s)
    mask = attn.masks.window(9, 4, dilation=2) | attn.masks.global_tokens(
        [0, 5])
    visible = window_visible(n, s, 9, 4, dilation=2)
    visible[[0, 5], :] = True
    visible[:, [0, 5]] = True
    close(attn.attention(q, k, v, mask=mask),
          reference_attention(q, k, v, visible)[0])


def test_combined_masks_are_one_mask_in_any_order():
    a, b, c = attn.masks.causal(), attn.masks.window(4), attn.masks.global_tokens([0])
    assert (a | b) == (b | a) and (a & b) == (b & a)
    assert ((a | b) | c) == (c | (b | a))
    assert (a | b) != (a & b)


def test_intersection(rng):
    n = s = 50
    q, k, v = qkv(rng, n, s)
    mask = attn.masks.causal() & attn.masks.window(7, 7)
    visible = causal_visible(n, s) & window_visible(n, s, 7, 7)
    close(attn.attention(q, k, v, mask=mask),
          reference_attention(q, k, v, visible)[0])


def test_key_lengths_with_an_empty_row_give_zeros(rng):
    q, k, v = qkv(rng, 19, 40)
    lengths = np.array([0, 23], dtype=np.int32)
    out, lse = attn.attention(q, k, v, key_lengths=lengths, lse=True)
    expected, expected_lse = reference_attention(q, k, v,
                                                 key_lengths=lengths)
    close(out, expected)
    assert (np.asarray(out)[0] == 0).all()
    assert np.isneginf(lse[0]).all()
    close(lse[1], expected_lse[1])


def test_multi_query_and_scale(rng):
    q, k, v = qkv(rng, 33, 45, kv_heads=1, dv=24)
    out = attn.attention(q, k, v, scale=0.3)
    close(out, reference_attention(q, k, v, scale=0.3)[0])


@pytest.mark.parametrize("dtype,tolerance", [("float16", 1e-2),
                                             ("bfloat16", 5e-2)])
def test_half_precision(rng, dtype, tolerance):
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        numpy_dtype = ml_dtypes.bfloat16
    else:
        numpy_dtype = np.float16
    q, k, v = qkv(rng, 41, 41, dtype=numpy_dtype)
    out = attn.attention(q, k, v, mask=attn.masks.causal())
    assert out.dtype == np.dtype(numpy_dtype)
    close(out, reference_attention(q, k, v, causal_visible(41, 41))[0],
          tolerance)


def test_the_cache_compiles_once_per_signature(rng):
    attn.cache.clear()
    mask = attn.masks.causal()
    for n in (5, 17, 33):  # N and S are dynamic: one compilation
        q, k, v = qkv(rng, n, n)
        attn.attention(q, k, v, mask=mask)
    assert (attn.cache.misses, attn.cache.hits) == (1, 2)
    q, k, v = qkv(rng, 5, 5, d=8, dv=8)  # another head width
    attn.attention(q, k, v, mask=mask)
    attn.attention(q, k, v, mask=attn.masks.window(2))  # another mask
    attn.attention(q, k, v, mask=mask, strategy="materialized")  # options
    assert (attn.cache.misses, attn.cache.hits) == (4, 2)
    assert len(attn.cache) == 4


def test_builder_errors(rng):
    q, k, v = qkv(rng, 5, 5)
    with pytest.raises(attn.InvalidArgument, match="must be \\(B, H, L, D\\)"):
        attn.attention(q[0], k, v)
    with pytest.raises(attn.InvalidArgument, match="mask must be"):
        attn.attention(q, k, v, mask="causal")
    with pytest.raises(attn.InvalidArgument, match="alignment"):
        attn.masks.causal("left")
    with pytest.raises(attn.InvalidArgument, match="multiple of the key"):
        attn.attention(q, k[:, :1].repeat(3, axis=1),
                       v[:, :1].repeat(3, axis=1))
    with pytest.raises(attn.InvalidArgument, match="must share Hkv and S"):
        attn.attention(q, k, v[:, :, :3].copy())
    with pytest.raises(attn.InvalidArgument, match="must share D"):
        attn.attention(q, k[..., :8].copy(), v)
    with pytest.raises(attn.InvalidArgument, match="window must|left must"):
        attn.masks.window(2.5)
    with pytest.raises(attn.InvalidArgument, match="scale must be finite"):
        attn.attention(q, k, v, scale=float("inf"))


def test_scale_of_any_magnitude(rng):
    q, k, v = qkv(rng, 9, 9)
    for scale in (1e-5, 2e3, 0.125):
        close(attn.attention(q, k, v, scale=scale),
              reference_attention(q, k, v, scale=scale)[0])


def test_lists_copies_and_integer_key_lengths(rng):
    q, k, v = qkv(rng, 6, 6)
    expected = reference_attention(q, k, v,
                                   key_lengths=[6, 2])[0]
    close(attn.attention(q.tolist(), k.tolist(), v.tolist(),
                         key_lengths=[6, 2]), expected)
    lengths = np.array([6, 2])  # int64: converted to the signature's int32
    close(attn.attention(q, k, v, key_lengths=lengths), expected)
    with pytest.raises(attn.InvalidArgument, match="takes integers"):
        attn.attention(q, k, v, key_lengths=[6.0, 2.5])
    strided = np.swapaxes(np.swapaxes(q, 1, 2).copy(), 1, 2)
    with pytest.raises(attn.InvalidArgument, match="copy=True"):
        attn.attention(strided, k, v)
    close(attn.attention(strided, k, v, copy=True),
          reference_attention(q, k, v)[0])


def test_read_only_arrays(rng):
    q, k, v = qkv(rng, 7, 7)
    for x in (q, k, v):
        x.setflags(write=False)
    close(attn.attention(q, k, v), reference_attention(q, k, v)[0])


def test_default_sparse_lengths_follow_s(rng):
    n = 50
    q, k, v = qkv(rng, n, n)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    stride = 8  # ceil(sqrt(50))
    visible = (j <= i) & ((i - j < stride) | ((i - j) % stride == 0))
    close(attn.attention(q, k, v, mask=attn.masks.strided()),
          reference_attention(q, k, v, visible)[0])
    assert "stride = 8" in attn.attention_source(q, k, v,
                                                 mask=attn.masks.strided())


def test_gradients_are_not_silently_dropped(rng):
    torch = pytest.importorskip("torch")
    q = torch.rand(1, 2, 4, 8, requires_grad=True)
    with pytest.warns(UserWarning, match="attn.torch.attention"):
        attn.attention(q, q, q)


def test_source_is_what_is_compiled(rng):
    q, k, v = qkv(rng, 5, 7)
    source = attn.attention_source(q, k, v, mask=attn.masks.causal(
        "bottom_right"), lse=True)
    assert "mask(#attn.causal<bottom_right>)" in source
    module = attn.compile(source)
    out, lse = module.attention(q, k, v)
    expected, expected_lse = reference_attention(
        q, k, v, causal_visible(5, 7, "bottom_right"))
    close(out, expected)
    close(lse, expected_lse)


def test_softcap(rng):
    q, k, v = qkv(rng, 30, 41)
    scale, cap = 2.0, 1.5  # logits well beyond the cap

    def capped(s):
        return cap * np.tanh(s / cap)

    i, j = np.arange(30)[:, None], np.arange(41)[None, :]
    visible = j <= i + 11  # bottom_right causal
    # The reference: scores capped before the mask, written here.
    qd, kd, vd = (x.astype(np.float64) for x in (q, k, v))
    expected = np.zeros((B, H, 30, D))
    for b in range(B):
        for h in range(H):
            g = h // (H // HKV)
            s = np.where(visible, capped(scale * qd[b, h] @ kd[b, g].T),
                         -np.inf)
            p = np.exp(s - s.max(axis=1, keepdims=True))
            expected[b, h] = (p / p.sum(axis=1, keepdims=True)) @ vd[b, g]
    out = attn.attention(q, k, v, scale=scale,
                         mask=attn.masks.causal("bottom_right"),
                         score_mod=attn.score_mods.softcap(cap))
    close(out, expected)
    with pytest.raises(attn.InvalidArgument, match="positive"):
        attn.score_mods.softcap(0)


def alibi_slopes(heads, max_bias=8.0):
    """The paper's get_slopes, restated: a geometric sequence for a power
    of two, else those of the power below and every other one of twice it."""
    def geometric(n):
        return [2.0 ** (-max_bias * (h + 1) / n) for h in range(n)]
    below = 2 ** int(np.floor(np.log2(heads)))
    return geometric(below) + geometric(2 * below)[0::2][:heads - below]


@pytest.mark.parametrize("alignment,max_bias", [("bottom_right", 8.0),
                                                ("top_left", 16.0)])
def test_alibi(rng, alignment, max_bias):
    heads, n, s = 6, 23, 41
    q, k, v = qkv(rng, n, s, heads=heads)
    slopes = alibi_slopes(heads, max_bias)
    i, j = np.arange(n)[:, None], np.arange(s)[None, :]
    pos = i + (s - n if alignment == "bottom_right" else 0)
    visible = j <= pos
    qd, kd, vd = (x.astype(np.float64) for x in (q, k, v))
    expected = np.zeros((B, heads, n, D))
    for b in range(B):
        for h in range(heads):
            g = h // (heads // HKV)
            scores = qd[b, h] @ kd[b, g].T / np.sqrt(D) - slopes[h] * np.abs(
                pos - j)
            scores = np.where(visible, scores, -np.inf)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            expected[b, h] = (p / p.sum(axis=1, keepdims=True)) @ vd[b, g]
    out = attn.attention(q, k, v, mask=attn.masks.causal(alignment),
                         score_mod=attn.score_mods.alibi(alignment, max_bias))
    close(out, expected)
    with pytest.raises(attn.InvalidArgument, match="largest bias"):
        attn.score_mods.alibi(max_bias=0)
    with pytest.raises(attn.InvalidArgument, match="score_mod must be"):
        attn.attention(q, k, v, score_mod="softcap")


def test_sinks(rng):
    """A sink per head joins each row's denominator with no value; a row
    that sees no key (key length 0) gives 0 and its lse is the sink."""
    n, s = 19, 33
    q, k, v = qkv(rng, n, s)
    sinks = np.array([0.5, -1.0, 3.0, 8.0], dtype=np.float32)
    lengths = np.array([33, 0], dtype=np.int32)
    out, lse = attn.attention(q, k, v, mask=attn.masks.causal("bottom_right"),
                              key_lengths=lengths, sinks=sinks, lse=True)
    qd, kd, vd = (x.astype(np.float64) for x in (q, k, v))
    i, j = np.arange(n)[:, None], np.arange(s)[None, :]
    for b in range(B):
        visible = (j <= i + s - n) & (j < lengths[b])
        for h in range(H):
            g = h // (H // HKV)
            scores = np.where(visible, qd[b, h] @ kd[b, g].T / np.sqrt(D),
                              -np.inf)
            top = np.maximum(scores.max(axis=1, keepdims=True), sinks[h])
            weights = np.exp(scores - top)
            denominator = weights.sum(axis=1, keepdims=True) + np.exp(
                sinks[h] - top)
            close(out[b, h], weights / denominator @ vd[b, g])
            close(lse[b, h], (top + np.log(denominator))[:, 0])
    assert (np.asarray(out)[1] == 0).all()
    assert np.allclose(np.asarray(lse)[1], sinks[None, :, None])
    with pytest.raises(attn.InvalidArgument, match="one float32 logit per"):
        attn.attention(q, k, v, sinks=np.zeros(3, np.float32))


def test_backward_through_softcap_and_sinks(rng):
    """attention_backward with a score modifier and sinks: the directional
    derivative of sum(dout * out) along a random direction of q, k, v and
    the sinks, against central differences of a float64 forward written
    here (the cap before the mask, the sink in each row's denominator)."""
    n, s, cap, scale = 13, 17, 1.5, 2.0
    q, k, v = qkv(rng, n, s)
    sinks = np.array([0.5, -1.0, 1.0, 0.0], dtype=np.float32)
    mask = attn.masks.causal("bottom_right")
    mod = attn.score_mods.softcap(cap)
    out, lse = attn.attention(q, k, v, mask=mask, scale=scale, score_mod=mod,
                              sinks=sinks, lse=True)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dq, dk, dv, dsinks = attn.attention_backward(
        q, k, v, out, dout, lse, mask=mask, scale=scale, score_mod=mod,
        sinks=sinks)

    visible = np.arange(s)[None, :] <= np.arange(n)[:, None] + s - n

    def forward(q, k, v, t):
        result = np.zeros(out.shape)
        for b in range(B):
            for h in range(H):
                g = h // (H // HKV)
                x = np.where(visible,
                             cap * np.tanh(scale * q[b, h] @ k[b, g].T / cap),
                             -np.inf)
                top = np.maximum(x.max(axis=1, keepdims=True), t[h])
                w = np.exp(x - top)
                result[b, h] = w @ v[b, g] / (w.sum(axis=1, keepdims=True)
                                              + np.exp(t[h] - top))
        return result

    args = [x.astype(np.float64) for x in (q, k, v, sinks)]
    directions = [rng.standard_normal(x.shape) for x in args]
    step = 1e-5
    loss = [np.sum(dout * forward(*[x + sign * step * u
                                    for x, u in zip(args, directions)]))
            for sign in (1, -1)]
    expected = (loss[0] - loss[1]) / (2 * step)
    got = sum(np.sum(np.asarray(grad, np.float64) * u)
              for grad, u in zip((dq, dk, dv, dsinks), directions))
    assert abs(got - expected) <= 1e-3 * max(1.0, abs(expected))


def test_packed_sequences_equal_each_sequence_alone(rng):
    """sequences=cu_seqlens: each sequence attended alone (positions from
    its start), rows of no sequence zeros; cross attention with a pair of
    offset lists."""
    lengths = [5, 0, 1, 40, 17]
    cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    total = int(cu[-1]) + 3  # three rows of no sequence
    q = rng.standard_normal((1, H, total, D)).astype(np.float32)
    k = rng.standard_normal((1, HKV, total, D)).astype(np.float32)
    v = rng.standard_normal((1, HKV, total, D)).astype(np.float32)
    mask = attn.masks.causal("bottom_right")
    out = np.asarray(attn.attention(q, k, v, mask=mask, sequences=cu))
    for s, n in enumerate(lengths):
        if n == 0:
            continue
        rows = slice(int(cu[s]), int(cu[s + 1]))
        alone = attn.attention(q[:, :, rows], k[:, :, rows], v[:, :, rows],
                               mask=mask, copy=True)
        close(out[:, :, rows], np.asarray(alone, np.float64))
    assert (out[:, :, int(cu[-1]):] == 0).all()
    # Cross: the queries of sequence s see the keys [ck[s], ck[s+1]).
    cq = np.array([0, 4, 9], dtype=np.int32)
    ck = np.array([0, 11, 30], dtype=np.int32)
    out = np.asarray(attn.attention(q[:, :, :9], k[:, :, :30], v[:, :, :30],
                                    sequences=(cq, ck), copy=True))
    for s in range(2):
        rows, keys = slice(cq[s], cq[s + 1]), slice(ck[s], ck[s + 1])
        close(out[:, :, rows], reference_attention(
            q[:, :, rows], k[:, :, keys], v[:, :, keys])[0])
    with pytest.raises(attn.InvalidArgument, match="one batch row"):
        attn.attention(np.concatenate([q, q]), np.concatenate([k, k]),
                       np.concatenate([v, v]), sequences=cu)
