"""attn.torch: autograd through attn's forward and backward, against
central differences of a float64 forward written here and against
PyTorch's autograd of it; MultiheadAttention against
torch.nn.MultiheadAttention. Skipped when PyTorch is not installed."""

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: the attn.torch tests are "
    "skipped (pip install torch into .venv to run them)")

import attn  # noqa: E402
import attn.torch  # noqa: E402

B, H, HKV, D = 2, 4, 2, 16


def naive(q, k, v, causal=False, key_lengths=None, scale=None):
    """Softmax attention in float64 with PyTorch ops (grouped heads
    repeated), rows that see nothing give zeros."""
    q, k, v = (x.double() for x in (q, k, v))
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = scale * q @ k.transpose(-1, -2)
    n, s = scores.shape[-2:]
    allowed = torch.ones(n, s, dtype=torch.bool)
    if causal:
        allowed = torch.ones(n, s, dtype=torch.bool).tril()
    allowed = allowed.expand(q.shape[0], 1, n, s).clone()
    if key_lengths is not None:
        for b, length in enumerate(key_lengths.tolist()):
            allowed[b, :, :, length:] = False
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return weights @ v


def assert_close(grads, expected, atol=1e-4):
    """Each gradient finite and within atol of the float64 one."""
    for got, want in zip(grads, expected):
        assert torch.isfinite(got).all()
        assert torch.allclose(got.double(), want, atol=atol), (
            (got.double() - want).abs().max())


def inputs(n, s, requires_grad=True, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(B, H, n, D), (B, HKV, s, D), (B, HKV, s, D)]
    return [torch.rand(shape, generator=generator, dtype=torch.float64)
            .mul(2).sub(1).to(dtype).requires_grad_(requires_grad)
            for shape in shapes]


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_pytorch_autograd(causal):
    q, k, v = inputs(37, 37)
    lengths = torch.tensor([37, 0], dtype=torch.int32)
    mask = attn.masks.causal() if causal else None
    out = attn.torch.attention(q, k, v, mask=mask, key_lengths=lengths)
    dout = torch.rand_like(out) - 0.5
    grads = torch.autograd.grad(out, (q, k, v), dout)
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    expected_out = naive(q64, k64, v64, causal, lengths)
    expected = torch.autograd.grad(expected_out, (q64, k64, v64),
                                   dout.double())
    assert torch.allclose(out.double(), expected_out, atol=1e-5)
    assert_close(grads, expected)
    # The row that sees no key passes no gradient.
    assert (grads[0][1] == 0).all()


def test_gradients_match_central_differences():
    q, k, v = inputs(20, 29)
    mask = attn.masks.causal("bottom_right")
    out = attn.torch.attention(q, k, v, mask=mask)
    dout = torch.rand_like(out) - 0.5
    grads = torch.autograd.grad(out, (q, k, v), dout)
    directions = [torch.rand_like(x, dtype=torch.float64) - 0.5
                  for x in (q, k, v)]

    def loss(h):
        moved = [x.detach().double() + h * u for x, u in zip((q, k, v),
                                                             directions)]
        # bottom_right causal: query i sees keys up to i + S - N.
        n, s = moved[0].shape[2], moved[1].shape[2]
        g = H // HKV
        kk = moved[1].repeat_interleave(g, 1)
        vv = moved[2].repeat_interleave(g, 1)
        scores = moved[0] @ kk.transpose(-1, -2) / D ** 0.5
        allowed = torch.ones(n, s, dtype=torch.bool).tril(s - n)
        scores = scores.masked_fill(~allowed, float("-inf"))
        return (torch.softmax(scores, -1) @ vv * dout.double()).sum()

    h = 1e-5
    numeric = (loss(h) - loss(-h)) / (2 * h)
    analytic = sum((g.double() * u).sum() for g, u in zip(grads, directions))
    assert abs(analytic - numeric) <= 1e-4 * max(1.0, abs(numeric))


def test_backward_is_deterministic():
    q, k, v = inputs(70, 70)
    results = []
    for _ in range(2):
        out = attn.torch.attention(q, k, v, mask=attn.masks.causal())
        results.append(torch.autograd.grad(out.sum(), (q, k, v)))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_half_precision_forward_and_backward():
    q, k, v = inputs(33, 33, dtype=torch.bfloat16)
    out = attn.torch.attention(q, k, v, mask=attn.masks.causal())
    assert out.dtype == torch.bfloat16
    dq, dk, dv = torch.autograd.grad(out.float().sum(), (q, k, v))
    assert dq.dtype == torch.bfloat16
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    expected = torch.autograd.grad(naive(q64, k64, v64, True).sum(),
                                   (q64, k64, v64))
    for got, want in zip((dq, dk, dv), expected):
        assert (got.double() - want).abs().max() < 5e-2


def mha_pair(batch_first, bias=True, kdim=None, vdim=None, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.MultiheadAttention(32, 4, bias=bias, kdim=kdim,
                                         vdim=vdim, batch_first=batch_first)
    ours = attn.torch.MultiheadAttention(32, 4, bias=bias, kdim=kdim,
                                         vdim=vdim, batch_first=batch_first)
    with torch.no_grad():  # non-zero biases, so that they are checked
        for p in theirs.parameters():
            p.add_(torch.rand_like(p) * 0.1)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_matches_pytorch(batch_first):
    ours, theirs = mha_pair(batch_first)
    x = torch.rand(3, 11, 32) - 0.5
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    got, weights = ours(x, x, x)
    want, _ = theirs(x, x, x, need_weights=False)
    assert weights is None
    assert torch.allclose(got, want, atol=1e-5)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(11)
    got, _ = ours(x, x, x, attn_mask=causal)
    want, _ = theirs(x, x, x, attn_mask=causal, need_weights=False)
    assert torch.allclose(got, want, atol=1e-5)


def test_multihead_cross_attention_with_padding_and_gradients():
    ours, theirs = mha_pair(True, kdim=24, vdim=20)
    x = (torch.rand(2, 9, 32) - 0.5).requires_grad_()
    key = torch.rand(2, 13, 24) - 0.5
    value = torch.rand(2, 13, 20) - 0.5
    padding = torch.arange(13)[None, :] >= torch.tensor([[13], [6]])
    got, _ = ours(x, key, value, key_padding_mask=padding)
    want, _ = theirs(x, key, value, key_padding_mask=padding,
                     need_weights=False)
    assert torch.allclose(got, want, atol=1e-5)
    got.square().sum().backward()
    ours_grads = {n: p.grad for n, p in ours.named_parameters()}
    ours_dx = x.grad.clone()
    x.grad = None
    want.square().sum().backward()
    assert torch.allclose(ours_dx, x.grad, atol=1e-4)
    for name, p in theirs.named_parameters():
        assert torch.allclose(ours_grads[name], p.grad, atol=1e-4), name


def test_unbatched_multihead_attention():
    ours, theirs = mha_pair(True)
    x = torch.rand(7, 32) - 0.5
    got, _ = ours(x, x, x, is_causal=True,
                  attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(7))
    want, _ = theirs(x, x, x, need_weights=False,
                     attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(7))
    assert got.shape == (7, 32)
    assert torch.allclose(got, want, atol=1e-5)


def test_multihead_attention_refuses_what_it_cannot_do():
    with pytest.raises(attn.InvalidArgument, match="dropout"):
        attn.torch.MultiheadAttention(32, 4, dropout=0.1)
    ours, _ = mha_pair(True)
    x = torch.rand(1, 5, 32)
    with pytest.raises(attn.InvalidArgument, match="attn_mask"):
        ours(x, x, x, attn_mask=torch.eye(5, dtype=torch.bool))
    with pytest.raises(attn.InvalidArgument, match="pad each row at its end"):
        ours(x, x, x, key_padding_mask=torch.tensor([[True, False, False,
                                                      False, False]]))


def test_torch_outputs_and_zero_copy():
    module = attn.compile(attn.attention_source(
        np.zeros((1, 2, 1, 8), np.float32), np.zeros((1, 2, 1, 8), np.float32),
        np.zeros((1, 2, 1, 8), np.float32)))
    q = torch.rand(1, 2, 5, 8)
    views = module.attention.views(q, q, q)
    assert views[0]["data"] == q.data_ptr()
    out = module.attention(q, q, q)
    assert isinstance(out, torch.Tensor) and out.data_ptr() != q.data_ptr()


@pytest.mark.parametrize("modifier", ["softcap", "alibi"])
def test_score_modifier_gradients_match_pytorch_autograd(modifier):
    """Soft-capping (logits beyond the cap: f' far from 1) and ALiBi, their
    gradients against PyTorch's autograd of a float64 forward written
    here."""
    q, k, v = inputs(21, 30)
    scale = 3.0
    mask = attn.masks.causal("bottom_right")
    score_mod = (attn.score_mods.softcap(1.5) if modifier == "softcap"
                 else attn.score_mods.alibi("bottom_right"))
    out = attn.torch.attention(q, k, v, mask=mask, scale=scale,
                               score_mod=score_mod)
    dout = torch.rand_like(out) - 0.5
    grads = torch.autograd.grad(out, (q, k, v), dout)

    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    g = H // HKV
    kk, vv = k64.repeat_interleave(g, 1), v64.repeat_interleave(g, 1)
    scores = scale * q64 @ kk.transpose(-1, -2)
    n, s = scores.shape[-2:]
    i = torch.arange(n).view(n, 1) + (s - n)
    j = torch.arange(s).view(1, s)
    if modifier == "softcap":
        scores = 1.5 * torch.tanh(scores / 1.5)
    else:
        slopes = torch.tensor([2.0 ** (-8 * (h + 1) / H) for h in range(H)],
                              dtype=torch.float64).view(1, H, 1, 1)
        scores = scores - slopes * (i - j).abs()
    scores = scores.masked_fill(j > i, float("-inf"))
    expected_out = torch.softmax(scores, -1) @ vv
    expected = torch.autograd.grad(expected_out, (q64, k64, v64),
                                   dout.double())
    assert torch.allclose(out.double(), expected_out, atol=1e-5)
    assert_close(grads, expected)


def test_sinks_gradients_match_pytorch_autograd():
    """Learned sinks (gpt-oss): a logit per head with no value, in the
    denominator of every row; their gradient too, against PyTorch's
    autograd of a float64 forward written here (the sink as one more
    column of scores whose value is 0)."""
    q, k, v = inputs(23, 31)
    sinks = torch.tensor([0.5, -1.0, 2.0, 0.0], requires_grad=True)
    lengths = torch.tensor([31, 0], dtype=torch.int32)
    mask = attn.masks.causal("bottom_right")
    out = attn.torch.attention(q, k, v, mask=mask, key_lengths=lengths,
                               sinks=sinks)
    dout = torch.rand_like(out) - 0.5
    grads = torch.autograd.grad(out, (q, k, v, sinks), dout)

    q64, k64, v64, t64 = (x.detach().double().requires_grad_()
                          for x in (q, k, v, sinks))
    g = H // HKV
    kk, vv = k64.repeat_interleave(g, 1), v64.repeat_interleave(g, 1)
    scores = q64 @ kk.transpose(-1, -2) / D ** 0.5
    n, s = scores.shape[-2:]
    allowed = torch.ones(n, s, dtype=torch.bool).tril(s - n)
    allowed = allowed.expand(B, 1, n, s).clone()
    allowed[1, :, :, 0:] = False  # key length 0
    scores = scores.masked_fill(~allowed, float("-inf"))
    sink_column = t64.view(1, H, 1, 1).expand(B, H, n, 1)
    weights = torch.softmax(torch.cat([scores, sink_column], -1), -1)
    expected_out = weights[..., :s] @ vv
    expected = torch.autograd.grad(expected_out, (q64, k64, v64, t64),
                                   dout.double())
    assert torch.allclose(out.double(), expected_out, atol=1e-5)
    assert (out[1] == 0).all()
    assert_close(grads, expected)
