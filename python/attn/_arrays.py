"""Arrays in and out of the runtime: numpy (bfloat16 from ml_dtypes) and
PyTorch tensors, read in place; the framework of the inputs decides the
framework of the outputs."""

import numpy as np

from ._attn import InvalidArgument

try:
    import ml_dtypes

    _BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # numpy users without ml_dtypes have no bfloat16
    ml_dtypes = None
    _BFLOAT16 = None


def is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def framework_of(arrays):
    """'torch' when any input is a PyTorch tensor, else 'numpy'."""
    return "torch" if any(is_torch(x) for x in arrays) else "numpy"


def dtype_name(x):
    """attn's name for the element type of an array ('f32', 'bf16', ...)."""
    if is_torch(x):
        name = str(x.dtype).replace("torch.", "")
    else:
        dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype
        if _BFLOAT16 is not None and dtype == _BFLOAT16:
            return "bf16"
        name = np.dtype(dtype).name
    names = {"float32": "f32", "float16": "f16", "bfloat16": "bf16",
             "float64": "f64", "int32": "i32", "int64": "i64"}
    if name not in names:
        raise InvalidArgument(
            f"unsupported element type {name} (attn takes float32, float16, "
            "bfloat16, float64, int32, int64)")
    return names[name]


_INTEGERS = ("i32", "i64")


def to_runtime(x, arg, dtype, copy):
    """`x` as the extension takes it: the same memory (a view), with the
    element type to read it as when the extension cannot tell (numpy's
    bfloat16). A Python list or scalar becomes an array of the signature's
    `dtype`; integers for an integer argument (key lengths) are converted to
    its width, a small copy; a non-contiguous array is an error unless
    `copy`."""
    if is_torch(x):
        import torch

        if x.device.type != "cpu":
            raise InvalidArgument(
                f"argument '{arg}': a tensor on {x.device}; this module runs "
                "on the CPU")
        x = x.detach()
        if dtype in _INTEGERS:
            if x.is_floating_point() or x.is_complex():
                raise InvalidArgument(
                    f"argument '{arg}' takes integers ({dtype}), not "
                    f"{x.dtype}")
            x = x.to(torch.int32 if dtype == "i32" else torch.int64)
        if not x.is_contiguous():
            if not copy:
                raise InvalidArgument(
                    f"argument '{arg}': not contiguous (shape "
                    f"{list(x.shape)}, strides {list(x.stride())}); pass "
                    "x.contiguous() or call with copy=True")
            x = x.contiguous()
        return x, None
    if not isinstance(x, np.ndarray):
        numpy_types = {"f32": np.float32, "f16": np.float16, "f64": np.float64,
                       "bf16": _BFLOAT16}
        x = np.asarray(x, dtype=numpy_types.get(dtype))
    if dtype in _INTEGERS:
        if x.dtype.kind not in "iu":
            raise InvalidArgument(
                f"argument '{arg}' takes integers ({dtype}), not {x.dtype}")
        x = x.astype(np.int32 if dtype == "i32" else np.int64, copy=False)
    if x.dtype.byteorder == ">":
        raise InvalidArgument(
            f"argument '{arg}': big-endian {x.dtype}; convert it with "
            "x.astype(x.dtype.newbyteorder('='))")
    if not x.flags.c_contiguous:
        if not copy:
            raise InvalidArgument(
                f"argument '{arg}': not contiguous (shape {list(x.shape)}, "
                f"strides in bytes {list(x.strides)}); pass "
                "np.ascontiguousarray(x) or call with copy=True")
        x = np.ascontiguousarray(x)
    if _BFLOAT16 is not None and x.dtype == _BFLOAT16:
        return x.view(np.uint16), "bf16"
    return x, None


def from_runtime(x, dtype):
    """An output array: numpy's bfloat16 arrives as its uint16 bits."""
    if dtype == "bf16" and isinstance(x, np.ndarray):
        if _BFLOAT16 is None:
            raise InvalidArgument(
                "a bfloat16 result for numpy needs ml_dtypes (pip install "
                "ml_dtypes)")
        return x.view(_BFLOAT16)
    return x
