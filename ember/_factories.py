"""Tensor factories with torch's signatures: tensor, zeros, ones, full, arange, ...

Data given as Python numbers infers torch's dtypes: floats -> the default dtype, ints ->
int64, bools -> bool; NumPy arrays keep their dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtype
from ._device import check_device
from ._tensor import Tensor
from .ops._util import shape_args

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "zeros_like", "ones_like", "arange"]


def _infer(data: Any) -> np.ndarray:
    """An array of torch's inferred dtype for nested Python data / tensors / arrays."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, np.ndarray):
        _dtype.from_numpy_dtype(data.dtype)
        return data
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        return np.stack([_infer(d) for d in data]) if data else np.zeros(0)
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(_dtype.get_default_dtype().np)
    if kind in "iu":
        return arr.astype(np.int64)
    if kind == "b":
        return arr
    if kind == "c":
        return arr.astype(_dtype.category_default(3).np)
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _finish(arr: np.ndarray, dtype, requires_grad: bool) -> Tensor:
    if dtype is not None:
        arr = arr.astype(_dtype.to_dtype(dtype).np, copy=False)
    t = Tensor._make(arr)
    if requires_grad:
        if t.dtype._cat < 2:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t._requires_grad = True
    return t


def tensor(data: Any, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data`."""
    check_device(device)
    return _finish(np.array(_infer(data), copy=True), dtype, requires_grad)


def as_tensor(data: Any, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a tensor or array when the dtype allows."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype is data.dtype else data.to(dtype)
    return _finish(_infer(data), dtype, False)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with `ndarray`."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return Tensor._make(ndarray)


def _filled(value, size, dtype, requires_grad, device) -> Tensor:
    check_device(device)
    d = _dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
    return _finish(np.full(shape_args(size), value, dtype=d.np), None, requires_grad)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    return _filled(0, size, dtype, requires_grad, device)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, size, dtype, requires_grad, device)


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return _filled(0, input.shape, dtype or input.dtype, requires_grad, device)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return _filled(1, input.shape, dtype or input.dtype, requires_grad, device)


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    is_float = any(isinstance(v, float) for v in vals)
    d = _dtype.to_dtype(dtype) if dtype is not None else (_dtype.get_default_dtype() if is_float else _dtype.int64)
    return _finish(np.arange(*vals).astype(d.np), None, requires_grad)
