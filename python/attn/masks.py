"""Masks for attn.attention, as the dialect's mask attributes (see
docs/mechanisms/): combine them with | (union: a key is visible when either
mask shows it) and & (intersection).

    attn.masks.causal("bottom_right") | attn.masks.window(256)
"""

from ._attn import InvalidArgument

_ALIGNMENTS = ("top_left", "bottom_right")


class Mask:
    """A mask attribute; `mlir` is its text in the dialect."""

    def __init__(self, mlir):
        self.mlir = mlir

    def __or__(self, other):
        return _combine("union", self, other)

    def __and__(self, other):
        return _combine("intersection", self, other)

    def elements(self, queries, keys=None, valid=None, head=0):
        """The mask as a boolean (queries, keys) array: True where query i
        may see key j (of the first `valid` keys), evaluated from the same
        index arithmetic the lowerings build."""
        return elements(self, queries, keys, valid, head)

    def __eq__(self, other):
        return isinstance(other, Mask) and self.mlir == other.mlir

    def __hash__(self):
        return hash(self.mlir)

    def __repr__(self):
        return f"attn.masks.Mask({self.mlir!r})"


def _combine(kind, a, b):
    if not isinstance(b, Mask):
        return NotImplemented
    members = []
    for m in (a, b):
        members.extend(m._members if getattr(m, "_kind", None) == kind
                       else [m])
    combined = Mask(f"#attn.{kind}<[{', '.join(m.mlir for m in members)}]>")
    combined._kind, combined._members = kind, members
    return combined


def _alignment(alignment):
    if alignment not in _ALIGNMENTS:
        raise InvalidArgument(f"alignment must be one of {_ALIGNMENTS}, not "
                              f"{alignment!r}")
    return alignment


def _fields(**fields):
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{key} = {value}")
    return ", ".join(parts)


def causal(alignment="top_left"):
    """Query i sees the keys up to its position (Vaswani et al. 2017):
    top_left aligns query 0 with key 0, bottom_right the last query with the
    last key (decoding with a cache)."""
    return Mask(f"#attn.causal<{_alignment(alignment)}>")


def window(left, right=0, alignment="top_left", dilation=1):
    """Keys within `left` before and `right` after the query's position
    (Beltagy et al. 2020), every `dilation`-th one."""
    return Mask("#attn.window<" + _fields(
        left=int(left), right=int(right), alignment=_alignment(alignment),
        dilation=int(dilation) if dilation != 1 else None) + ">")


def global_tokens(tokens):
    """The listed positions see every key and are seen by every query
    (Longformer's global attention)."""
    listed = ", ".join(str(int(t)) for t in tokens)
    return Mask(f"#attn.global<tokens = [{listed}]>")


def strided(stride=None, bidirectional=False, split_heads=False):
    """The Sparse Transformer's strided pattern (Child et al. 2019): the
    previous `stride` keys and every stride-th key before (default
    ceil(sqrt(S)))."""
    return Mask("#attn.strided<" + _fields(
        stride=stride, bidirectional=bidirectional or None,
        split_heads=split_heads or None) + ">")


def fixed(block=None, summary=1, bidirectional=False, split_heads=False):
    """The Sparse Transformer's fixed pattern: the query's block and the
    last `summary` keys of every block before it."""
    return Mask("#attn.fixed<" + _fields(
        block=block, summary=summary, bidirectional=bidirectional or None,
        split_heads=split_heads or None) + ">")


def blockwise(query_block, key_block, relation):
    """Query block qb sees key block kb when `qb relation kb` (eq, ne, lt,
    le, gt, ge)."""
    return Mask("#attn.blockwise<" + _fields(
        query_block=int(query_block), key_block=int(key_block),
        relation=relation) + ">")


def _text(mask):
    if mask is None:
        return ""
    if not isinstance(mask, Mask):
        raise InvalidArgument(f"not an attn.masks mask: {mask!r}")
    return mask.mlir


def elements(mask, queries, keys=None, valid=None, head=0):
    """`mask` (None: no mask) as a boolean (queries, keys) array."""
    from . import _attn

    keys = queries if keys is None else keys
    valid = keys if valid is None else valid
    return _attn.mask_elements(_text(mask), queries, keys, valid,
                               head).astype(bool)
