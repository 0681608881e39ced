"""attn for PyTorch: attention with autograd, and a MultiheadAttention
module with torch.nn.MultiheadAttention's constructor, parameters and call.

    import attn.torch
    out = attn.torch.attention(q, k, v, mask=attn.masks.causal())
    out.sum().backward()          # attn's deterministic flash backward

CPU tensors are read in place (a non-contiguous one is first made
contiguous, a copy, as PyTorch's own kernels do). Importing this module
needs PyTorch; `import attn` does not.
"""

import torch

from . import _builder, masks
from ._attn import InvalidArgument


class _Attention(torch.autograd.Function):
    """attn.attention forward (keeping out and lse), attn.attention_grad
    backward: the log-sum-exp lets the backward recompute the softmax
    weights instead of storing them (FlashAttention)."""

    @staticmethod
    def forward(ctx, q, k, v, sinks, key_lengths, mask, scale, score_mod,
                options):
        q, k, v = q.detach(), k.detach(), v.detach()  # views, not copies
        if sinks is not None:
            sinks = sinks.detach()
        out, lse = _builder.attention(q, k, v, mask=mask,
                                      key_lengths=key_lengths, scale=scale,
                                      sinks=sinks, score_mod=score_mod,
                                      lse=True, **options)
        ctx.save_for_backward(q, k, v, out, lse, sinks)
        ctx.key_lengths, ctx.mask, ctx.scale = key_lengths, mask, scale
        ctx.score_mod = score_mod
        ctx.options = options
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse, sinks = (
            x.detach() if x is not None else None for x in ctx.saved_tensors)
        grads = _builder.attention_backward(
            q, k, v, out, dout.detach().contiguous(), lse, mask=ctx.mask,
            key_lengths=ctx.key_lengths, scale=ctx.scale, sinks=sinks,
            score_mod=ctx.score_mod, **ctx.options)
        dsinks = grads[3] if sinks is not None else None
        return (grads[0], grads[1], grads[2], dsinks, None, None, None, None,
                None)


def attention(q, k, v, *, mask=None, key_lengths=None, scale=None,
              sinks=None, score_mod=None, **options):
    """softmax(scale q k^T) v for q (B, H, N, D), k (B, Hkv, S, D),
    v (B, Hkv, S, Dv) over the keys the mask (attn.masks) and the key
    lengths (int32, B) let each query see; with `sinks` (H, float32), a
    logit per head with no value in every row's denominator (attention
    sinks); `score_mod` (attn.score_mods) modifies each score.
    Differentiable in q, k, v and the sinks. `options` are attn.compile's
    (strategy, query_tile, ...)."""
    for x, name in ((q, "q"), (k, "k"), (v, "v")):
        if not isinstance(x, torch.Tensor):
            raise InvalidArgument(f"argument '{name}' must be a torch.Tensor")
    if sinks is not None and not isinstance(sinks, torch.Tensor):
        raise InvalidArgument("argument 'sinks' must be a torch.Tensor")
    if key_lengths is not None:
        key_lengths = torch.as_tensor(key_lengths, dtype=torch.int32)
    return _Attention.apply(q.contiguous(), k.contiguous(), v.contiguous(),
                            sinks, key_lengths, mask, scale, score_mod,
                            options)


def _key_lengths(key_padding_mask, batch, keys):
    """The key lengths that a padding mask (B, S) states, when it pads each
    row at its end (True or -inf past the length) as padded batches do."""
    padding = key_padding_mask
    if padding.dtype != torch.bool:
        padding = padding == float("-inf")
    if padding.shape != (batch, keys):
        raise InvalidArgument(
            f"key_padding_mask must be (B, S) = ({batch}, {keys}), not "
            f"{tuple(key_padding_mask.shape)}")
    lengths = (~padding).sum(dim=1).to(torch.int32)
    positions = torch.arange(keys, device=padding.device)
    if not torch.equal(padding, positions[None, :] >= lengths[:, None]):
        raise InvalidArgument(
            "key_padding_mask must pad each row at its end (the keys past a "
            "length); attn takes key lengths, not arbitrary patterns")
    return lengths


def _is_causal_mask(attn_mask, queries, keys):
    causal = torch.ones(queries, keys, dtype=torch.bool).triu(1)
    if attn_mask.dtype == torch.bool:
        return torch.equal(attn_mask.cpu(), causal)
    hidden = torch.isneginf(attn_mask.cpu())
    return torch.equal(hidden, causal) and bool((attn_mask.cpu()[~hidden] ==
                                                 0).all())


class MultiheadAttention(torch.nn.Module):
    """torch.nn.MultiheadAttention's constructor, parameters (and so its
    state_dict) and call, with attn computing the attention between its
    projections (which PyTorch computes). Masks: is_causal (or an attn_mask
    that is the causal one), a key_padding_mask that pads rows at their end
    (key lengths), or `mask=`, any of attn.masks. Returns (output, None):
    attn never forms the attention weights. A row whose keys are all padding
    gives zeros (PyTorch gives NaN). Not supported: dropout > 0,
    add_bias_kv, add_zero_attn, arbitrary attn_mask tensors."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True,
                 add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None,
                 batch_first=False, device=None, dtype=None, mask=None,
                 **options):
        super().__init__()
        if dropout != 0.0:
            raise InvalidArgument("attn's MultiheadAttention has no dropout")
        if add_bias_kv or add_zero_attn:
            raise InvalidArgument("add_bias_kv and add_zero_attn are not "
                                  "supported")
        if embed_dim % num_heads:
            raise InvalidArgument(f"embed_dim {embed_dim} is not a multiple "
                                  f"of num_heads {num_heads}")
        factory = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim == self.vdim
        self.batch_first, self.dropout = batch_first, dropout
        self.mask, self.options = mask, options
        Parameter = torch.nn.Parameter
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(
                torch.empty(3 * embed_dim, embed_dim, **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(
                torch.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = Parameter(
                torch.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = Parameter(
                torch.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(torch.empty(3 * embed_dim,
                                                      **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = torch.nn.Linear(embed_dim, embed_dim, bias=bias,
                                        **factory)
        self._reset_parameters()

    def _reset_parameters(self):
        # As torch.nn.MultiheadAttention initializes them.
        if self._qkv_same_embed_dim:
            torch.nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight,
                      self.v_proj_weight):
                torch.nn.init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            torch.nn.init.constant_(self.in_proj_bias, 0.0)
            torch.nn.init.constant_(self.out_proj.bias, 0.0)

    def _projections(self):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight,
                       self.v_proj_weight)
        b = self.in_proj_bias
        biases = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        return weights, biases

    def forward(self, query, key, value, key_padding_mask=None,
                need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        unbatched = query.dim() == 2
        if unbatched:  # (L, E), as torch.nn.MultiheadAttention takes
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if not self.batch_first or unbatched:
            query, key, value = (x.transpose(0, 1)
                                 for x in (query, key, value))
        batch, queries, _ = query.shape
        keys = key.shape[1]
        mask = self.mask
        if attn_mask is not None and not is_causal:
            if not _is_causal_mask(attn_mask, queries, keys):
                raise InvalidArgument(
                    "attn_mask must be the causal mask (or pass "
                    "is_causal=True); other patterns are attn.masks, given "
                    "to the constructor as mask=")
            is_causal = True
        if is_causal:
            causal = masks.causal()
            mask = causal if mask is None else mask & causal
        lengths = None
        if key_padding_mask is not None:
            lengths = _key_lengths(key_padding_mask, batch, keys)
        (wq, wk, wv), (bq, bk, bv) = self._projections()
        h, d = self.num_heads, self.head_dim

        def heads(x, w, b):
            y = torch.nn.functional.linear(x, w, b)
            return y.view(batch, x.shape[1], h, d).transpose(1, 2)

        out = attention(heads(query, wq, bq), heads(key, wk, bk),
                        heads(value, wv, bv), mask=mask, key_lengths=lengths,
                        **self.options)
        out = out.transpose(1, 2).reshape(batch, queries, self.embed_dim)
        out = self.out_proj(out)
        if unbatched:
            return out[0], None
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, None
