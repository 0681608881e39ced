"""attn.compile and the compiled module's functions."""

import os
from collections import namedtuple

import numpy as np

from . import _arrays, _attn
from ._attn import InvalidArgument

Arg = namedtuple("Arg", "name dtype dims bound")
Arg.__doc__ = """One argument or result of a function: its name, element type
('f32', ...), dimensions (an int when static, the symbol's name when not)
and, for key lengths, the symbol bounding its values."""


def _read(source):
    """(text, name) of MLIR source text or of a file holding it: a
    path-like, or a one-line string naming a file that exists or ending in
    .mlir."""
    if isinstance(source, os.PathLike) or (
            isinstance(source, str) and "\n" not in source
            and (source.endswith(".mlir") or os.path.isfile(source))):
        path = os.fspath(source)
        with open(path) as f:
            return f.read(), path
    if not isinstance(source, str):
        raise InvalidArgument("source must be MLIR text or a path to a .mlir "
                              f"file, not {type(source).__name__}")
    return source, "<source>"


def compile(source, target="cpu", **options):
    """Compiles an attn module (MLIR text, or the path of a .mlir file)
    in-process for `target` ('cpu', or 'cuda' for PTX and host code) and
    returns the Module. `options` are attn-run's: strategy, query_tile,
    key_tile, split_k, linear_form, linear_chunk, opt_level; on the CPU
    cpu, features, parallel; on CUDA gpu_chip, tensor_cores. Raises
    attn.CompileError with MLIR's diagnostics for IR that does not
    compile."""
    text, name = _read(source)
    return Module(_attn.compile(text, name, target, dict(options)), text,
                  name)


class Module:
    """A compiled module: its functions by name (module.functions, or as
    attributes: module.attention(q, k, v))."""

    def __init__(self, native, source, source_name):
        self._native = native
        self.functions = {
            name: Function(_attn.function(native, name), native.target,
                           source, source_name)
            for name in native.function_names()
        }

    @property
    def target(self):
        return self._native.target

    @property
    def signature(self):
        """The module's signature, a line per function."""
        return self._native.signature

    def __getattr__(self, name):
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(
            f"the module has no function '{name}'; it has "
            f"{', '.join(functions) or 'none'}")

    def __repr__(self):
        return f"<attn.Module ({self.target}): {', '.join(self.functions)}>"


class Function:
    """An entry function. Call it with its inputs (positionally, or by the
    names of its signature): arrays are read in place, outputs come back in
    the inputs' framework (numpy arrays, or PyTorch tensors when any input
    is one); several outputs as a tuple. A non-contiguous input is an error
    unless copy=True. `last_stats` holds the last call's peak bytes and
    allocation count."""

    def __init__(self, native, target, source, source_name):
        self._native = native
        self._target = target
        self._source, self._source_name = source, source_name
        self.inputs = [Arg(**a) for a in native.inputs]
        self.outputs = [Arg(**a) for a in native.outputs]
        self.last_stats = None

    @property
    def name(self):
        return self._native.name

    @property
    def signature(self):
        return self._native.signature

    def _arguments(self, args, kwargs, copy):
        names = [a.name for a in self.inputs]
        if len(args) > len(names):
            raise InvalidArgument(
                f"{self.signature} takes {len(names)} arguments, not "
                f"{len(args)}")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise InvalidArgument(
                    f"{self.name} has no argument '{key}'; its arguments are "
                    f"{', '.join(names)}")
            if key in values:
                raise InvalidArgument(f"argument '{key}' given twice")
            values[key] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise InvalidArgument(
                f"{self.signature}: missing {', '.join(missing)}")
        arrays, dtypes = [], []
        for arg in self.inputs:
            array, dtype = _arrays.to_runtime(values[arg.name], arg.name,
                                              arg.dtype, copy)
            arrays.append(array)
            dtypes.append(dtype)
        return arrays, dtypes

    def __call__(self, *args, copy=False, **kwargs):
        if self._target == "cuda":
            raise InvalidArgument(
                f"{self.name}: calling a CUDA module from Python is not "
                "supported yet (compile with target='cpu', or use attn-run "
                "--target cuda)")
        arrays, dtypes = self._arguments(args, kwargs, copy)
        framework = _arrays.framework_of(arrays)
        results, self.last_stats = self._native.call(arrays, dtypes,
                                                     framework)
        results = [_arrays.from_runtime(r, o.dtype)
                   for r, o in zip(results, self.outputs)]
        return results[0] if len(results) == 1 else tuple(results)

    def views(self, *args, copy=False, **kwargs):
        """What the runtime is handed for these inputs (a dict per input:
        data pointer, dtype, shape, strides in elements), to see that
        nothing is copied."""
        arrays, dtypes = self._arguments(args, kwargs, copy)
        return self._native.views(arrays, dtypes)

    def reference(self, *args, **kwargs):
        """The function evaluated on these inputs by attn's float64
        reference (the one attn-run --check compares with: written from
        the papers' formulas, not from the compiled code), after the same
        checks of the inputs as a call; float64 numpy arrays, a tuple when
        there are several."""
        arrays, dtypes = self._arguments(args, kwargs, copy=True)
        self._native.output_shapes(arrays, dtypes)  # the runtime's checks
        as_float64 = [np.ascontiguousarray(_as_numpy(x, d), dtype=np.float64)
                      for x, d in zip(arrays, dtypes)]
        results = _attn.reference(self._source, self._source_name, self.name,
                                  as_float64)
        return results[0] if len(results) == 1 else tuple(results)

    def __repr__(self):
        return f"<attn.Function {self.signature}>"


def stages(target="cpu", **options):
    """The passes of the pipeline that compiles for `target`, in order:
    the names ir(after=...) takes (and 'input')."""
    return ["input"] + list(_attn.stages(target, dict(options)))


def ir(source, after="input", target="cpu", **options):
    """The module's IR after the first run of pass `after` of the pipeline
    for `target` (what `attn-opt --attn-lower-to-llvm-cpu` prints at that
    point), as text; 'input' is the parsed module. See stages()."""
    if not isinstance(after, str):
        raise InvalidArgument("after must be a pass name (attn.stages() "
                              f"lists them), not {after!r}")
    text, name = _read(source)
    return _attn.ir_after(text, name, after, target, dict(options))


def reference(source, entry, *inputs):
    """Function `entry` of the module evaluated by attn's float64 reference
    on `inputs` (compiles the module to check the inputs against its
    signature; Function.reference does the same without compiling again)."""
    module = compile(source)
    if entry not in module.functions:
        raise InvalidArgument(
            f"no function '{entry}'; the module has "
            f"{', '.join(module.functions) or 'none'}")
    return module.functions[entry].reference(*inputs)


def _as_numpy(x, dtype):
    if _arrays.is_torch(x):
        return x.to(dtype=__import__("torch").float64).numpy()
    if dtype == "bf16":  # its bits, as the runtime reads them
        return x.view(_arrays._BFLOAT16)
    return x


Schedule = namedtuple(
    "Schedule", "cells full partial skipped pairs_computed lowered_tiles "
    "lowered_full_tiles lowered_pairs_computed pieces")
Schedule.__doc__ = """The block schedule of the tiled lowerings for one
(batch row, head): `cells` (query tiles x key tiles; 0 skipped, 1 partial:
masked element by element, 2 full), the counts, the (query, key) pairs the
visited tiles compute, and what the lowering visits once a sparse mask is
cut into pieces dense in tiles (attn-decompose-sparse-masks), with a line
per piece."""


def schedule(mask, queries, keys=None, *, query_tile=64, key_tile=64,
             valid=None, head=0, heads=1, kv_heads=1):
    """The tiles a tiled lowering visits for N = `queries`, S = `keys`
    (default N) under `mask` (attn.masks; None for none), as attn-schedule
    evaluates them: from the same index arithmetic the lowerings build."""
    from .masks import _integer, _text

    queries = _integer("queries", queries)
    keys = queries if keys is None else _integer("keys", keys)
    valid = keys if valid is None else _integer("valid", valid)
    result = _attn.schedule(
        _text(mask), queries, keys, _integer("query_tile", query_tile, 1),
        _integer("key_tile", key_tile, 1), valid, _integer("head", head),
        _integer("heads", heads, 1), _integer("kv_heads", kv_heads, 1))
    cells = result["cells"]
    return Schedule(cells=cells, full=result["full"],
                    partial=result["partial"],
                    skipped=int(cells.size) - result["full"] -
                    result["partial"],
                    pairs_computed=result["pairs_computed"],
                    lowered_tiles=result["lowered_tiles"],
                    lowered_full_tiles=result["lowered_full_tiles"],
                    lowered_pairs_computed=result["lowered_pairs_computed"],
                    pieces=list(result["pieces"]))
