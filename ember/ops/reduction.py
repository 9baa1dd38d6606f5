"""Reductions: sum, mean, prod, max/min, norms, variance, softmax, cumulative ops."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ._registry import defop
from ._util import wrap_dims

__all__ = ["sum", "mean"]
TENSOR_METHODS = ["sum", "mean"]


@defop("Sum")
def _sum_all(x):
    return np.sum(x)


_sum_all.defvjp(lambda g, out, x: g.expand(x.shape))


def sum(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    """Sum of all elements, or over `dim` (int or tuple)."""
    if dim is None:
        return _sum_all(input)
    raise NotImplementedError


@defop("Mean", float_op=True)
def _mean_all(x):
    return np.mean(x)


_mean_all.defvjp(lambda g, out, x: (g / x.numel()).expand(x.shape))


def mean(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    if dim is None:
        return _mean_all(input)
    raise NotImplementedError
