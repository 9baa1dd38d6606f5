"""Shape ops: views (reshape, transpose, expand, ...) and joins/splits (cat, stack, split, ...).

Views share memory and the version counter with their base (`_base`), as torch's do.
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ._registry import defop

__all__ = ["sum_to_size", "expand", "broadcast_to", "unbind"]
TENSOR_METHODS = ["sum_to_size", "expand", "unbind"]


def _view(out: Tensor, base: Tensor) -> Tensor:
    """Mark `out` as a view of `base` (or of base's own base): shared version counter."""
    root = base._base if base._base is not None else base
    out._base = root
    out._base_fn = root._grad_fn
    out._vc = root._vc
    return out


@defop("SumBackward1")
def _sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1
    )
    out = np.sum(x, axis=axes, keepdims=True) if axes else x
    return out.reshape(shape)


_sum_to.defvjp(lambda g, out, x, shape: expand(g, x.shape))


def sum_to_size(input, *size) -> Tensor:
    """Sum input down to `size` (the inverse of broadcasting)."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if tuple(input.shape) == tuple(shape):
        return input
    return _sum_to(input, shape=tuple(shape))


@defop("Expand")
def _expand(x, shape):
    return np.broadcast_to(x, shape)


_expand.defvjp(lambda g, out, x, shape: sum_to_size(g, x.shape))


def expand(input, *sizes) -> Tensor:
    """A broadcast view of input with the given sizes (-1 keeps a size)."""
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    lead = len(shape) - input.ndim
    shape = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return _view(_expand(input, shape=shape), input)


def broadcast_to(input, size) -> Tensor:
    return expand(input, tuple(size))


@defop("Unbind", nout=0)
def _unbind(x, dim):
    return tuple(np.moveaxis(x, dim, 0))


def unbind(input, dim=0) -> tuple:
    return _unbind(input, dim=dim)
