"""Argument normalisation shared by the ops modules: dims, shapes, scalars, with torch's errors;
and the constant arrays the hot rules reuse (`kept`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tensor import Tensor


def wrap_dim(dim: int, ndim: int) -> int:
    """A possibly negative dim as a non-negative one; torch's IndexError when out of range."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        )
    return dim % ndim if ndim else 0


def wrap_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple | None:
    """Normalise `dim` (int, tuple or None for all) to a sorted tuple of non-negative dims."""
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        return (wrap_dim(int(dim), ndim),)
    out = tuple(wrap_dim(int(d), ndim) for d in dim)
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {out[0]} appears multiple times in the list of dims")
    return tuple(sorted(out))


def shape_args(args: Sequence[Any]) -> tuple:
    """`f(2, 3)`, `f((2, 3))`, `f([2, 3])` and `f(ember.Size(...))` all mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(a) for a in args)


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """A Python scalar as a 0-d tensor of torch's result dtype for `value op like`."""
    if isinstance(value, Tensor):
        return value
    from .. import _dtype

    return Tensor._make(np.asarray(value, dtype=_dtype.result_type(value, like).np))


def refuse_complex(error: str | tuple[type, str], *xs: Any) -> None:
    """Raise torch's error if any of `xs` (arrays or tensors) is complex: ops torch leaves
    real-only (comparisons, clamp, pooling, softmax, ...) must refuse complex input, not order
    complex numbers by NumPy's rules. `error` is the name of torch's kernel (giving its
    '"kernel" not implemented for 'ComplexDouble'') or the (exception type, message) torch
    raises instead; either is built only when raised."""
    for x in xs:
        d = x._data if isinstance(x, Tensor) else x
        dt = getattr(d, "dtype", None)
        if dt is not None and dt.kind == "c":
            if isinstance(error, tuple):
                raise error[0](error[1])
            name = "ComplexFloat" if dt == np.complex64 else "ComplexDouble"
            raise NotImplementedError(f"\"{error}\" not implemented for '{name}'")


def refuse_complex_grad(name: str, *xs: Any) -> None:
    """torch's error for ops without complex derivative formulas (silu, embedding, bilinear):
    a graph that would need one is refused when it is recorded, never differentiated wrong."""
    from ..autograd.grad_mode import STATE

    if STATE.enabled and any(
        isinstance(x, Tensor) and x._requires_grad and x.dtype.is_complex for x in xs
    ):
        raise RuntimeError(
            f"{name} does not support automatic differentiation for outputs with complex dtype."
        )


def kept(make: Callable[..., np.ndarray], *args: Any) -> np.ndarray:
    """`make(*args)` (`np.ones(rows, dtype)`, `np.arange(n)`), made once and kept read-only for
    the next call with the same arguments. Made again every step, right after a large matmul,
    a vector of ones cost as much as the product that used it."""
    key = (make, *args)
    a = _KEPT.get(key)
    if a is None:
        if len(_KEPT) >= 32:
            _KEPT.clear()
        a = _KEPT[key] = make(*args)
        a.flags.writeable = False
    return a


_KEPT: dict[tuple, np.ndarray] = {}
