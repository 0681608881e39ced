"""attn.ir and attn.stages: the IR after any pass of a pipeline, as
attn-opt shows it."""

import numpy as np
import pytest

import attn
from conftest import ROOT

CAUSAL = ROOT / "examples/04_causal_attention.mlir"


def test_stages_list_the_pipeline():
    cpu = attn.stages()
    assert cpu[0] == "input"
    for name in ("attn-select-strategy", "attn-tile-online-softmax",
                 "attn-cpu-vectorize-tiles"):
        assert name in cpu
    assert cpu.index("attn-select-strategy") < cpu.index(
        "attn-tile-online-softmax")
    gpu = attn.stages("cuda")
    assert "attn-lower-attention-to-gpu" in gpu


def test_ir_after_each_stage():
    assert "attn.attention" in attn.ir(CAUSAL)
    marked = attn.ir(CAUSAL, after="attn-select-strategy")
    assert 'attn.strategy = "flash"' in marked
    tiled = attn.ir(CAUSAL, after="attn-tile-online-softmax")
    assert "attn.attention " not in tiled and "scf.forall" in tiled
    vector = attn.ir(CAUSAL, after="attn-cpu-vectorize-tiles")
    assert "vector.fma" in vector or "vector.contract" in vector
    kernels = attn.ir(CAUSAL, after="attn-lower-attention-to-gpu",
                      target="cuda")
    assert "gpu.launch" in kernels


def test_unknown_stage_lists_the_passes():
    with pytest.raises(attn.InvalidArgument,
                       match="no pass 'tile' in the cpu pipeline; its passes "
                       "are: input, attn-export-signature"):
        attn.ir(CAUSAL, after="tile")


def test_schedule_of_a_causal_mask():
    s = attn.schedule(attn.masks.causal(), 512)
    assert s.cells.shape == (8, 8)
    assert (s.full, s.partial, s.skipped) == (28, 8, 28)
    assert (s.cells[np.triu_indices(8, 1)] == 0).all()  # above: skipped
    assert (np.diag(s.cells) == 1).all()  # the diagonal: masked
    assert s.pairs_computed == 36 * 64 * 64


def test_schedule_of_a_decomposed_mask():
    s = attn.schedule(attn.masks.strided(64), 4096)
    assert s.full + s.partial == 2080  # every tile of the triangle
    assert len(s.pieces) == 2 and s.lowered_tiles < 2080 / 5


def test_mask_elements_follow_the_rules():
    i, j = np.arange(40)[:, None], np.arange(40)[None, :]
    assert (attn.masks.causal().elements(40) == (j <= i)).all()
    assert (attn.masks.window(3, 2, dilation=2).elements(40) ==
            ((j - i >= -3) & (j - i <= 2) & ((j - i) % 2 == 0))).all()
    padded = attn.masks.elements(None, 5, 9, valid=4)
    assert padded.shape == (5, 9) and padded[:, :4].all()
    assert not padded[:, 4:].any()
    with pytest.raises(attn.InvalidArgument, match="not a mask"):
        attn.schedule(attn.masks.Mask("#attn.nope<>"), 8)
