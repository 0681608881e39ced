"""Masks for attn.attention, as the dialect's mask attributes (see
docs/mechanisms/): combine them with | (union: a key is visible when either
mask shows it) and & (intersection).

    attn.masks.causal("bottom_right") | attn.masks.window(256)
"""

import math

from ._attn import InvalidArgument

_ALIGNMENTS = ("top_left", "bottom_right")


class Mask:
    """A mask attribute; `mlir` is its text in the dialect. A strided or
    fixed pattern made without its length keeps `for_length`, which makes
    it with ceil(sqrt(S)) once S is known (attn.attention does)."""

    def __init__(self, mlir, for_length=None):
        self.mlir = mlir
        self.for_length = for_length

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
    # Both are commutative: one text for a | b and b | a (one compiled
    # module in attn.cache).
    members.sort(key=lambda m: m.mlir)
    combined = Mask(f"#attn.{kind}<[{', '.join(m.mlir for m in members)}]>")
    combined._kind, combined._members = kind, members
    return combined


def resolve_lengths(mask, keys):
    """`mask` with the default lengths of its strided and fixed members
    (ceil(sqrt(S))) written out for S = `keys`, so that it compiles for a
    dynamic S."""
    length = max(1, math.isqrt(max(keys, 1) - 1) + 1)  # ceil(sqrt(S))
    if getattr(mask, "_kind", None):
        members = [resolve_lengths(m, keys) for m in mask._members]
        if all(a is b for a, b in zip(members, mask._members)):
            return mask
        combined = members[0]
        for member in members[1:]:
            combined = _combine(mask._kind, combined, member)
        return combined
    if mask.for_length is not None:
        return mask.for_length(length)
    return mask


def _integer(name, value, least=0):
    """`value` as an int when it is one (3 or 3.0), an error otherwise."""
    if isinstance(value, bool) or int(value) != value or value < least:
        raise InvalidArgument(f"{name} must be an integer >= {least}, not "
                              f"{value!r}")
    return int(value)


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
    dilation = _integer("dilation", dilation, 1)
    return Mask("#attn.window<" + _fields(
        left=_integer("left", left), right=_integer("right", right),
        alignment=_alignment(alignment),
        dilation=dilation if dilation != 1 else None) + ">")


def global_tokens(tokens):
    """The listed positions see every key and are seen by every query
    (Longformer's global attention)."""
    listed = ", ".join(str(_integer("a token", t)) for t in tokens)
    return Mask(f"#attn.global<tokens = [{listed}]>")


def strided(stride=None, bidirectional=False, split_heads=False):
    """The Sparse Transformer's strided pattern (Child et al. 2019): the
    previous `stride` keys and every stride-th key before (default
    ceil(sqrt(S)))."""
    if stride is None:
        text = "#attn.strided<" + _fields(
            bidirectional=bidirectional or None,
            split_heads=split_heads or None) + ">"
        return Mask(text, lambda length: strided(length, bidirectional,
                                                  split_heads))
    return Mask("#attn.strided<" + _fields(
        stride=_integer("stride", stride, 1),
        bidirectional=bidirectional or None,
        split_heads=split_heads or None) + ">")


def fixed(block=None, summary=1, bidirectional=False, split_heads=False):
    """The Sparse Transformer's fixed pattern: the query's block and the
    last `summary` keys of every block before it."""
    summary = _integer("summary", summary, 1)
    fields = dict(summary=summary, bidirectional=bidirectional or None,
                  split_heads=split_heads or None)
    if block is None:
        return Mask("#attn.fixed<" + _fields(**fields) + ">",
                    lambda length: fixed(length, summary, bidirectional,
                                         split_heads))
    return Mask("#attn.fixed<" + _fields(block=_integer("block", block, 1),
                                         **fields) + ">")


def blockwise(query_block, key_block, relation):
    """Query block qb sees key block kb when `qb relation kb` (eq, ne, lt,
    le, gt, ge)."""
    relations = ("eq", "ne", "lt", "le", "gt", "ge")
    if relation not in relations:
        raise InvalidArgument(f"relation must be one of {relations}, not "
                              f"{relation!r}")
    return Mask("#attn.blockwise<" + _fields(
        query_block=_integer("query_block", query_block, 1),
        key_block=_integer("key_block", key_block, 1),
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

    queries = _integer("queries", queries)
    keys = queries if keys is None else _integer("keys", keys)
    valid = keys if valid is None else _integer("valid", valid)
    return _attn.mask_elements(_text(mask), queries, keys, valid,
                               _integer("head", head)).astype(bool)
