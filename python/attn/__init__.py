"""attn from Python: compile attention modules in-process and call them on
numpy arrays or PyTorch tensors without copying them.

    import attn
    out = attn.attention(q, k, v, mask=attn.masks.causal())     # build, compile once, run
    module = attn.compile("examples/04_causal_attention.mlir")  # any attn module
    out = module.causal(q, k, v)
    print(attn.ir(module_source, after="attn-tile-online-softmax"))

See docs/Python.md.
"""

from ._attn import CompileError, Error, InvalidArgument, runtime_version
from ._module import (Function, Module, Schedule, compile, ir, reference,
                      schedule, stages)
from . import masks, score_mods
from ._builder import (attention, attention_backward,
                       attention_backward_source, attention_source, cache)

__version__ = runtime_version()

__all__ = [
    "CompileError", "Error", "InvalidArgument", "Function", "Module",
    "compile", "ir", "reference", "schedule", "Schedule", "stages", "masks",
    "score_mods",
    "attention",
    "attention_source", "attention_backward", "attention_backward_source",
    "cache",
]

for _error in (CompileError, Error, InvalidArgument):
    _error.__module__ = "attn"
del _error
