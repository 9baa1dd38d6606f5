"""Elementwise ops: arithmetic, unary math, comparisons, dtype conversion.

Binary ops are declared `promote=True` (inputs are cast to torch's common dtype before the
NumPy forward); unary math ops are `float_op=True` (integer tensors compute in the default
float dtype, as torch does). Rules are written with ember ops so they differentiate again.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype
from .._tensor import Tensor
from ._registry import apply_inplace, defop

__all__ = [
    "add", "sub", "rsub", "mul", "div", "neg", "reciprocal", "pow", "exp", "tanh",
    "clone", "eq", "ne", "lt", "le", "gt", "ge",
]
TENSOR_METHODS = [
    "add", "sub", "mul", "div", "neg", "reciprocal", "pow", "exp", "tanh", "clone",
    "eq", "ne", "lt", "le", "gt", "ge", "add_", "sub_", "mul_", "div_", "pow_",
]


@defop("Add", promote=True)
def _add(x, y, alpha=1):
    return x + y if alpha == 1 else x + alpha * y


_add.defvjp(
    lambda g, out, x, y, alpha=1: g,
    lambda g, out, x, y, alpha=1: g if alpha == 1 else g * alpha,
)


def add(input, other, *, alpha=1) -> Tensor:
    """input + alpha * other, broadcasting."""
    return _add(input, other) if alpha == 1 else _add(input, other, alpha=alpha)


@defop("Sub", promote=True)
def _sub(x, y, alpha=1):
    return x - y if alpha == 1 else x - alpha * y


_sub.defvjp(
    lambda g, out, x, y, alpha=1: g,
    lambda g, out, x, y, alpha=1: -g if alpha == 1 else g * -alpha,
)


def sub(input, other, *, alpha=1) -> Tensor:
    """input - alpha * other, broadcasting."""
    return _sub(input, other) if alpha == 1 else _sub(input, other, alpha=alpha)


@defop("RsubBackward1", promote=True)
def rsub(x, y):
    """other - input, the reflected subtraction behind `2 - x` (torch: RsubBackward1)."""
    return y - x


rsub.defvjp(lambda g, out, x, y: -g, lambda g, out, x, y: g)


@defop("Mul", promote=True)
def mul(x, y):
    """input * other, broadcasting."""
    return x * y


mul.defvjp(
    lambda g, out, x, y: g * y,
    lambda g, out, x, y: g * x,
)


@defop("Div", promote=True, float_op=True)
def div(x, y):
    """input / other, true division (integer tensors divide in floating point)."""
    return x / y


div.defvjp(
    lambda g, out, x, y: g / y,
    lambda g, out, x, y: -g * x / (y * y),
)


@defop("Neg")
def neg(x):
    """-input."""
    return -x


neg.defvjp(lambda g, out, x: -g)


@defop("Reciprocal", float_op=True)
def reciprocal(x):
    """1 / input."""
    return 1 / x


reciprocal.defvjp(lambda g, out, x: -g * out * out)


@defop("Pow", promote=True)
def _pow_scalar(x, y):
    return x**y


_pow_scalar.defvjp(
    lambda g, out, x, y: g * y * x ** (y - 1) if y != 0 else g * 0,
    None,
)


def pow(input, exponent) -> Tensor:
    """input ** exponent (scalar exponent only in this bootstrap)."""
    return _pow_scalar(input, exponent)


@defop("Exp", float_op=True)
def exp(x):
    """e ** input."""
    return np.exp(x)


exp.defvjp(lambda g, out, x: g * out)


@defop("Tanh", float_op=True)
def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(x)


tanh.defvjp(lambda g, out, x: g * (1 - out * out))


@defop("Clone")
def _clone(x):
    return x.copy()


_clone.defvjp(lambda g, out, x: g)


def clone(input, *, memory_format=None) -> Tensor:
    """A copy with its own memory; gradients flow through unchanged."""
    return _clone(input)


@defop("ToCopy")
def _to_dtype(x, dtype):
    return x.astype(dtype.np)


_to_dtype.defvjp(lambda g, out, x, dtype: g)


def to_dtype(input, dtype) -> Tensor:
    return _to_dtype(input, dtype=dtype)


def _compare(name, fn):
    @defop(None, promote=True)
    def op(x, y):
        return fn(x, y)

    op.__name__ = op.__qualname__ = name
    return op


eq = _compare("eq", np.equal)
ne = _compare("ne", np.not_equal)
lt = _compare("lt", np.less)
le = _compare("le", np.less_equal)
gt = _compare("gt", np.greater)
ge = _compare("ge", np.greater_equal)


def add_(input, other, *, alpha=1):
    return apply_inplace(_add, input, other, alpha=alpha)


def sub_(input, other, *, alpha=1):
    return apply_inplace(_sub, input, other, alpha=alpha)


def mul_(input, other):
    return apply_inplace(mul, input, other)


def div_(input, other):
    return apply_inplace(div, input, other)


def pow_(input, exponent):
    return apply_inplace(_pow_scalar, input, exponent)
