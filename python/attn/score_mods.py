"""Score modifiers for attn.attention (docs/ScoreModifiers.md): a function
applied to each score s = scale q.k before the mask and the softmax.

    attn.attention(q, k, v, mask=attn.masks.causal(),
                   score_mod=attn.score_mods.softcap(50.0))
"""

import math

from ._attn import InvalidArgument


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
