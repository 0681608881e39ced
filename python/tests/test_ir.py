"""attn.ir and attn.stages: the IR after any pass of a pipeline, as
attn-opt shows it."""

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
