"""Score modifiers for attn.attention (docs/ScoreModifiers.md): a function
applied to each score s = scale q.k before the mask and the softmax.

    attn.attention(q, k, v, mask=attn.masks.causal(),
                   score_mod=attn.score_mods.softcap(50.0))
    attn.attention(q, k, v, mask=attn.masks.causal("bottom_right"),
                   score_mod=attn.score_mods.alibi("bottom_right"))
"""

import math

from ._attn import InvalidArgument
from .masks import _alignment


class ScoreMod:
    """A score modifier attribute; `mlir` is its text in the dialect."""

    def __init__(self, mlir):
        self.mlir = mlir

    def __eq__(self, other):
        return isinstance(other, ScoreMod) and self.mlir == other.mlir

    def __hash__(self):
        return hash(self.mlir)

    def __repr__(self):
        return f"attn.score_mods.ScoreMod({self.mlir!r})"


def softcap(cap):
    """Logit soft-capping (Gemma 2): s <- cap * tanh(s / cap)."""
    cap = float(cap)
    if not math.isfinite(cap) or cap <= 0:
        raise InvalidArgument(f"the cap must be positive and finite, not {cap}")
    return ScoreMod(f"#attn.softcap<cap = {cap!r}>")


def alibi(alignment="top_left", max_bias=8.0):
    """ALiBi (Press et al. 2022): s <- s - m_h * |pos(i) - j|, pos(i) the
    query's position as for attn.masks.causal(alignment) (bottom_right for
    a cache); the paper's slopes m_h from the number of query heads and the
    largest bias (8 in the paper)."""
    max_bias = float(max_bias)
    if not math.isfinite(max_bias) or max_bias <= 0:
        raise InvalidArgument(
            f"the largest bias must be positive and finite, not {max_bias}")
    bias = "" if max_bias == 8.0 else f", max_bias = {max_bias!r}"
    return ScoreMod(f"#attn.alibi<{_alignment(alignment)}{bias}>")
