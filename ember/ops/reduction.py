"""Reductions and scans: sum, mean, prod, max/min, norms, variance, logsumexp, softmax, cumsum.

Conventions (all torch's):
- `dim` is an int or a sequence; for sum/mean/var/amax/logsumexp an empty sequence or None
  means every dim. Omitting `dim` records `SumBackward0` (`MeanBackward0`, `ProdBackward0`);
  passing one, even `dim=None`, records `SumBackward1`; max/min are the other way round
  (`MaxBackward1` full, `MaxBackward0` with a dim).
- Bool and integer tensors sum, prod and cumsum to int64 unless `dtype=` says otherwise; mean,
  var, std and norm refuse them; logsumexp computes them in the default float dtype.
- Subgradients: ties share the gradient evenly (full max/min, amax/amin, inf-norms); max/min
  along a dim send it to the returned index; norms at the zero vector have gradient 0.
- Rules are written with ember ops, so they differentiate again. `_unreduce` puts the reduced
  dims back into a gradient; masks of ties and zeros are constants (their derivative is 0).
"""

from __future__ import annotations

import builtins
import collections
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _dtype
from .._tensor import Tensor
from ._inplace import _scalar_name
from ._registry import defop
from ._util import refuse_complex, wrap_dim, wrap_dims
from .pointwise import abs, exp, maximum, minimum, sgn, sign, where
from .shape import expand, reshape, unsqueeze

__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "cumprod",
    "cumsum",
    "log_softmax",
    "logsumexp",
    "max",
    "mean",
    "min",
    "norm",
    "prod",
    "softmax",
    "std",
    "std_mean",
    "sum",
    "var",
    "var_mean",
]
TENSOR_METHODS = [
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "norm",
    "var",
    "std",
    "logsumexp",
    "cumsum",
    "cumprod",
    "all",
    "any",
    "softmax",
    "log_softmax",
]

Dim = int | Sequence[int] | None
# Matches torch: `x.sum()` records SumBackward0 but `x.sum(dim=None)` SumBackward1, so the
# public functions need to tell an omitted dim from an explicit None.
_OMITTED: Any = type("_Omitted", (), {"__repr__": lambda self: "<all dims>"})()


# ---- helpers ----------------------------------------------------------------------------------
def _axes(x: Tensor, dim: Dim) -> tuple:
    """`dim` as NumPy axes; None, an omitted dim and () mean every dim. A 0-d tensor accepts
    dim 0 or -1 and has nothing to reduce."""
    dims = wrap_dims(None if dim is _OMITTED else dim, x.ndim)
    if x.ndim == 0:
        return ()
    return dims if dims else tuple(range(x.ndim))


def _every(dim: Dim) -> bool:
    """Does `dim` name every dim (None or an empty sequence)?"""
    return dim is None or dim is _OMITTED or (not isinstance(dim, int) and len(dim) == 0)


def _reduced_shape(shape: tuple, axes: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _unreduce(g: Tensor, shape: tuple, axes: tuple, keepdim: bool) -> Tensor:
    """The gradient of a reduction over `axes` broadcast back to the input's `shape`."""
    if not keepdim and g.ndim:
        g = reshape(g, _reduced_shape(shape, axes, True))
    return g if g.shape == shape else expand(g, shape)


def _unreduce_np(g: np.ndarray, shape: tuple, axes: tuple, keepdim: bool) -> np.ndarray:
    """`_unreduce` on arrays (a read-only broadcast view: the engine copies before keeping it)."""
    if not keepdim:
        g = g.reshape(_reduced_shape(shape, axes, True))
    return np.broadcast_to(g, shape)


def _const(arr: np.ndarray, like: Tensor) -> Tensor:
    """A mask or count as a constant tensor of like's dtype (no graph: its derivative is 0)."""
    return Tensor._make(np.asarray(arr, dtype=like.dtype.np))


def _masked_div(a: Tensor, b: Tensor) -> Tensor:
    """a / b, and 0 where b == 0: torch's `(a / b).masked_fill_(b == 0, 0)`, whose derivative
    is NaN there in double backward (0 / 0 in the division's rule), as torch's is."""
    zero = b._data == 0
    return where(Tensor._make(zero), 0.0, a / b) if zero.any() else a / b


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b


def _count(shape: tuple, axes: tuple) -> int:
    return math.prod(shape[a] for a in axes)


def _int_to_long(x: Tensor, dtype: _dtype.dtype | None) -> _dtype.dtype:
    # Matches torch: bool and integer tensors sum, prod and cumsum to int64.
    return dtype if dtype is not None else _dtype.int64 if x.dtype._cat < 2 else x.dtype


def _check_extent(name: str, x: Tensor, axes: tuple, full: bool) -> None:
    """torch refuses max-like reductions over empty extents: they have no identity."""
    if full and x.numel() == 0:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument."
        )
    for a in axes:
        if x.shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")


def _return_type(name: str) -> type:
    """A (values, indices) tuple that prints as torch's `torch.return_types.max(...)`."""

    def __repr__(self) -> str:
        return f"ember.return_types.{name}(\nvalues={self[0]!r},\nindices={self[1]!r})"

    base = collections.namedtuple(name, ("values", "indices"))
    attrs = {"__slots__": (), "__repr__": __repr__, "__module__": "ember.return_types"}
    return type(name, (base,), attrs)


_max_result = _return_type("max")
_min_result = _return_type("min")


# ---- sum, mean --------------------------------------------------------------------------------
@defop("Sum")
def _sum_all(x, dtype):
    return np.add.reduce(x, axis=None, dtype=dtype)


@defop("SumBackward1")
def _sum_dim(x, axes, keepdim, dtype):
    return np.add.reduce(x, axis=axes, keepdims=keepdim, dtype=dtype)


_sum_all.defvjp(lambda g, out, x, dtype: expand(g, x.shape))
_sum_all.defvjp_np(lambda g, out, x, dtype: np.broadcast_to(g, x.shape))
_sum_all.defjvp_linear()
_sum_dim.defvjp(lambda g, out, x, axes, keepdim, dtype: _unreduce(g, x.shape, axes, keepdim))
_sum_dim.defvjp_np(lambda g, out, x, axes, keepdim, dtype: _unreduce_np(g, x.shape, axes, keepdim))
_sum_dim.defjvp_linear()


def sum(input: Tensor, dim: Dim = _OMITTED, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum of all elements, or over `dim` (int or sequence); `dtype=` casts before summing."""
    dt = _int_to_long(input, dtype).np
    if dim is _OMITTED and not keepdim:
        return _sum_all(input, dtype=dt)
    return _sum_dim(input, axes=_axes(input, dim), keepdim=keepdim, dtype=dt)


@defop("Mean")
def _mean_all(x, dtype):
    return (
        np.add.reduce(x, axis=None, dtype=dtype) / x.size if x.size else np.full((), np.nan, dtype)
    )


@defop("MeanBackward1")
def _mean_dim(x, axes, keepdim, dtype):
    n = _count(x.shape, axes)
    s = np.add.reduce(x, axis=axes, keepdims=keepdim, dtype=dtype)
    return s / n if n else np.full_like(s, np.nan)


def _mean_grad(g: Tensor | None, x: Tensor, axes: tuple, keepdim: bool) -> Tensor | None:
    return None if g is None else _unreduce(g / _count(x.shape, axes), x.shape, axes, keepdim)


_mean_all.defvjp(lambda g, out, x, dtype: _mean_grad(g, x, tuple(range(x.ndim)), False))
_mean_all.defvjp_np(lambda g, out, x, dtype: np.broadcast_to(g / x.size, x.shape))
_mean_all.defjvp_linear()
_mean_dim.defvjp(lambda g, out, x, axes, keepdim, dtype: _mean_grad(g, x, axes, keepdim))
_mean_dim.defvjp_np(
    lambda g, out, x, axes, keepdim, dtype: _unreduce_np(
        g / _count(x.shape, axes), x.shape, axes, keepdim
    )
)
_mean_dim.defjvp_linear()


def mean(input: Tensor, dim: Dim = _OMITTED, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Arithmetic mean of all elements, or over `dim`; floating (or complex) tensors only."""
    # Matches torch: no silent promotion of integer tensors; dtype= must be floating too.
    dt = input.dtype if dtype is None else dtype
    if dt._cat < 2:
        which = "Input" if dtype is None else "Optional"
        raise RuntimeError(
            f"mean(): could not infer output dtype. {which} dtype must be either a floating "
            f"point or complex dtype. Got: {_scalar_name(dt)}"
        )
    if dim is _OMITTED and not keepdim:
        return _mean_all(input, dtype=dt.np)
    return _mean_dim(input, axes=_axes(input, dim), keepdim=keepdim, dtype=dt.np)


# ---- prod -------------------------------------------------------------------------------------
@defop("Prod")
def _prod_all(x, dtype):
    return np.multiply.reduce(x, axis=None, dtype=dtype)


@defop("ProdBackward1")
def _prod_dim(x, axes, keepdim, dtype):
    return np.multiply.reduce(x, axis=axes, keepdims=keepdim, dtype=dtype)


def _prod_grad(g: Tensor, out: Tensor, x: Tensor, axes: tuple, keepdim: bool) -> Tensor:
    """torch's prod_backward: g * out / x, or where x holds zeros, g times the product of the
    other elements (exclusive cumulative products from both ends, exact for any zero count)."""
    if not axes:
        return g
    g, out = _unreduce(g, x.shape, axes, keepdim), _unreduce(out, x.shape, axes, keepdim)
    if not (x._data == 0).any():
        return g * (out / x)
    flat = len(axes) > 1
    v, d = (reshape(x, -1), 0) if flat else (x, axes[0])
    others = _cumprod(v, dim=d, exclusive=True) * _cumprod(v, dim=d, reverse=True, exclusive=True)
    return g * (reshape(others, x.shape) if flat else others)


_prod_all.defvjp(lambda g, out, x, dtype: _prod_grad(g, out, x, tuple(range(x.ndim)), False))
_prod_dim.defvjp(lambda g, out, x, axes, keepdim, dtype: _prod_grad(g, out, x, axes, keepdim))


def prod(input: Tensor, dim: int = _OMITTED, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of all elements, or along one `dim`."""
    dt = _int_to_long(input, dtype).np
    if dim is _OMITTED:
        return _prod_all(input, dtype=dt)
    axes = _axes(input, wrap_dim(dim, input.ndim))
    return _prod_dim(input, axes=axes, keepdim=keepdim, dtype=dt)


# ---- max, min, amax, amin, argmax, argmin ------------------------------------------------------
def _ties(g: Tensor, out: Tensor, x: Tensor, axes: tuple, keepdim: bool, nan: bool = False):
    """Matches torch: elements tied for the extreme share its gradient evenly. With `nan`, a NaN
    result sends the gradient to the NaN inputs (torch's full max/min; amax has no such rule)."""
    o = out._data if keepdim or not axes else np.expand_dims(out._data, axes)
    hit = x._data == o
    if nan:
        hit |= np.isnan(x._data) & np.isnan(o)
    count = np.add.reduce(hit, axis=axes, keepdims=True)
    return _unreduce(g, x.shape, axes, keepdim) / _const(count, x) * _const(hit, x)


def _select(arg, x: np.ndarray, dim: int, keepdim: bool) -> tuple:
    """(values, indices) along dim; NumPy's argmax/argmin return the first tied index, as
    torch's CPU kernels do (and the index of a NaN, which wins)."""
    a = x.reshape(x.shape or (1,))
    idx = arg(a, axis=dim, keepdims=True)
    shape = _reduced_shape(x.shape, (dim,), keepdim)
    return np.take_along_axis(a, idx, dim).reshape(shape), idx.reshape(shape).astype(np.int64)


def _at_index(g: Tensor | None, indices: Tensor, x: Tensor, dim: int, keepdim: bool):
    """Matches torch: max/min along a dim send the gradient to the returned index only."""
    if g is None or x.ndim == 0:
        return g
    idx = indices._data if keepdim else np.expand_dims(indices._data, dim)
    hit = np.arange(x.shape[dim]).reshape((-1,) + (1,) * (x.ndim - dim - 1)) == idx
    return _unreduce(g, x.shape, (dim,), keepdim) * _const(hit, x)


@defop("MaxBackward1")
def _max_all(x):
    return np.maximum.reduce(x, axis=None)


@defop("MinBackward1")
def _min_all(x):
    return np.minimum.reduce(x, axis=None)


@defop("MaxBackward0", nout=0)
def _max_dim(x, dim, keepdim):
    return _select(np.argmax, x, dim, keepdim)


@defop("MinBackward0", nout=0)
def _min_dim(x, dim, keepdim):
    return _select(np.argmin, x, dim, keepdim)


_max_all.defvjp(lambda g, out, x: _ties(g, out, x, tuple(range(x.ndim)), False, nan=True))
_min_all.defvjp(lambda g, out, x: _ties(g, out, x, tuple(range(x.ndim)), False, nan=True))
_max_dim.defvjp(lambda g, out, x, dim, keepdim: _at_index(g[0], out[1], x, dim, keepdim))
_min_dim.defvjp(lambda g, out, x, dim, keepdim: _at_index(g[0], out[1], x, dim, keepdim))


def _extreme(name: str, input: Tensor, dim, keepdim: bool, other, ops: tuple):
    """torch's three overloads of max/min: full, along a dim (a namedtuple), or elementwise
    against a second tensor (given in `dim`'s position or as `other=`)."""
    full_op, dim_op, pair, result = ops
    if other is not None or isinstance(dim, Tensor):
        return pair(input, dim if other is None else other)
    if dim is None:
        refuse_complex(f"{name}_all", input)
        _check_extent(name, input, (), True)
        return full_op(input)
    refuse_complex((RuntimeError, f"{name}(): does not support complex input"), input)
    d = wrap_dim(dim, input.ndim)
    _check_extent(name, input, (d,) if input.ndim else (), False)
    return result(*dim_op(input, dim=d, keepdim=keepdim))


def max(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, other=None
) -> Tensor | tuple:
    """Largest element; with `dim`, a namedtuple (values, indices); with a tensor, maximum."""
    return _extreme("max", input, dim, keepdim, other, (_max_all, _max_dim, maximum, _max_result))


def min(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, other=None
) -> Tensor | tuple:
    """Smallest element; with `dim`, a namedtuple (values, indices); with a tensor, minimum."""
    return _extreme("min", input, dim, keepdim, other, (_min_all, _min_dim, minimum, _min_result))


@defop("Amax")
def _amax(x, axes, keepdim):
    return np.maximum.reduce(x, axis=axes, keepdims=keepdim)


@defop("Amin")
def _amin(x, axes, keepdim):
    return np.minimum.reduce(x, axis=axes, keepdims=keepdim)


_amax.defvjp(lambda g, out, x, axes, keepdim: _ties(g, out, x, axes, keepdim))
_amin.defvjp(lambda g, out, x, axes, keepdim: _ties(g, out, x, axes, keepdim))


def amax(input: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    """Largest values over `dim` (every dim by default); ties share the gradient evenly."""
    refuse_complex("max_values_cpu", input)
    axes = _axes(input, dim)
    _check_extent("amax", input, axes, _every(dim))
    return _amax(input, axes=axes, keepdim=keepdim)


def amin(input: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    """Smallest values over `dim` (every dim by default); ties share the gradient evenly."""
    refuse_complex("min_values_cpu", input)
    axes = _axes(input, dim)
    _check_extent("amin", input, axes, _every(dim))
    return _amin(input, axes=axes, keepdim=keepdim)


def _arg(name: str, fn, input: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    if input.dtype._cat == 0:
        raise RuntimeError(f"{name}(): does not support bool input")
    refuse_complex((RuntimeError, f"{name}(): does not support complex input"), input)
    if dim is None:
        if input.numel() == 0:
            raise IndexError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        return fn(input, dim=None, keepdim=keepdim)
    d = wrap_dim(dim, input.ndim)
    _check_extent(name, input, (d,) if input.ndim else (), False)
    return fn(input, dim=d, keepdim=keepdim)


@defop(None)
def _argmax(x, dim, keepdim):
    return _index_of(np.argmax, x, dim, keepdim)


@defop(None)
def _argmin(x, dim, keepdim):
    return _index_of(np.argmin, x, dim, keepdim)


def _index_of(arg, x: np.ndarray, dim: int | None, keepdim: bool) -> np.ndarray:
    if dim is None:
        return np.asarray(arg(x, keepdims=keepdim), dtype=np.int64)
    return _select(arg, x, dim, keepdim)[1]


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) largest element, flat when `dim` is None."""
    return _arg("argmax", _argmax, input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) smallest element, flat when `dim` is None."""
    return _arg("argmin", _argmin, input, dim, keepdim)


# ---- norm -------------------------------------------------------------------------------------
@defop("LinalgVectorNorm")
def _vector_norm(x, ord, axes, keepdim, dtype):
    a = np.abs(x.astype(dtype, copy=False))
    if math.isinf(ord):
        return (np.max if ord > 0 else np.min)(a, axis=axes, keepdims=keepdim)
    if ord == 0:
        return np.add.reduce(a != 0, axis=axes, keepdims=keepdim, dtype=a.dtype)
    if ord == 2:
        return np.sqrt(np.add.reduce(a * a, axis=axes, keepdims=keepdim))
    if ord == 1:
        return np.add.reduce(a, axis=axes, keepdims=keepdim)
    # A negative ord maps zeros to inf, as in torch (ops/__init__.py silences NumPy's warning).
    return np.add.reduce(a**ord, axis=axes, keepdims=keepdim) ** (1 / ord)


def _norm_grad(g, out, x, ord, axes, keepdim):
    """torch's norm_backward: the gradient is 0 at the zero vector for every ord."""
    if ord == 0:
        return None
    if math.isinf(ord):
        return sgn(x) * _ties(g, out, Tensor._make(np.abs(x._data)), axes, keepdim, nan=True)
    g, out = _unreduce(g, x.shape, axes, keepdim), _unreduce(out, x.shape, axes, keepdim)
    if ord == 1:
        return sgn(x) * g
    if ord == 2:
        return g * _masked_div(x, out)
    if ord < 1:
        zero = Tensor._make(x._data == 0)  # |x| ** (ord - 1) is infinite there: torch masks it
        return sgn(x) * where(zero, 0.0, abs(x) ** (ord - 1)) * g * out ** (1 - ord)
    scaled = sgn(x) * abs(x) ** (ord - 1) if ord < 2 else x * abs(x) ** (ord - 2)
    return scaled * _masked_div(g, out ** (ord - 1))


_vector_norm.defvjp(
    lambda g, out, x, ord, axes, keepdim, dtype: _norm_grad(g, out, x, ord, axes, keepdim)
).complex_rules()  # (|z| is not holomorphic: sgn(z) = z / |z| is its gradient)
_vector_norm.defjvp(
    lambda t, out, x, ord, axes, keepdim, dtype: _norm_jvp(t, out, x, ord, axes, keepdim)
)


def _norm_jvp(t, out, x, ord, axes, keepdim):
    """torch's norm_jvp: like the backward, 0 at the zero vector for every ord."""
    if ord == 0:
        return out * 0.0
    if math.isinf(ord):
        peak = abs(x) == _unreduce(out, x.shape, axes, keepdim)
        return _sum_dim(sign(x) * t * peak, axes=axes, keepdim=keepdim, dtype=None) / _sum_dim(
            peak.to(out.dtype), axes=axes, keepdim=keepdim, dtype=None
        )
    if ord == 1:
        return _sum_dim(sign(x) * t, axes=axes, keepdim=keepdim, dtype=None)
    # |x| ** (ord - 1) is infinite at 0 for ord < 1: masked there, as torch does.
    scaled = x if ord == 2 else sign(x) * where(x == 0, 0.0, abs(x) ** (ord - 1))
    dot = _sum_dim(scaled * t, axes=axes, keepdim=keepdim, dtype=None)
    return where(out == 0, 0.0, dot / (out if ord == 2 else out ** (ord - 1)))


def norm(
    input: Tensor, p: float | str | None = "fro", dim: Dim = None, keepdim: bool = False, dtype=None
) -> Tensor:
    """Vector p-norm over `dim` (every dim by default): 'fro' and None mean 2, p may be any
    real number or ±inf (max/min of |x|), 0 counts the nonzero elements."""
    if isinstance(p, str) and not (
        p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2)
    ):
        _matrix_norm_error(input, p, dim)
    if input.dtype._cat < 2:
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            + _scalar_name(input.dtype)
        )
    ord = 2.0 if p in ("fro", None) else float(p)
    dt = input.dtype if dtype is None else dtype
    if _dtype.promote_types(input.dtype, dt) is not dt:
        raise RuntimeError(
            f"linalg.vector_norm: the dtype of the input ({_scalar_name(input.dtype)}) should be "
            f"convertible without narrowing to the specified dtype ({_scalar_name(dt)})"
        )
    axes = _axes(input, dim)
    if math.isinf(ord):
        _check_norm_extent(input, ord, dim)
    return _vector_norm(input, ord=ord, axes=axes, keepdim=keepdim, dtype=dt.np)


def _matrix_norm_error(x: Tensor, p: str, dim: Dim) -> None:
    # Matches torch.norm: a string p other than 'fro' over <= 2 dims goes to linalg.matrix_norm.
    dims = range(x.ndim) if dim is None else [dim] if isinstance(dim, int) else dim
    if len(dims) != 2:
        raise RuntimeError(
            f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}"
        )
    if p != "nuc":
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    raise NotImplementedError("norm(p='nuc') needs singular values: not in ember yet")


def _check_norm_extent(x: Tensor, ord: float, dim: Dim) -> None:
    # Matches torch, including the missing space after the dim in its message.
    name = "inf" if ord > 0 else "-inf"
    if dim is None and x.numel() == 0:
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {name} norm on an empty tensor because the "
            "operation does not have an identity"
        )
    for d in [dim] if isinstance(dim, int) else dim or ():
        if x.shape[wrap_dim(d, x.ndim)] == 0:
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {name} norm on the dimension {d}because "
                "this dimension is empty and the operation does not have an identity"
            )


# ---- var, std, var_mean, std_mean --------------------------------------------------------------
def _moments(x: np.ndarray, axes: tuple, correction: float, keepdim: bool) -> tuple:
    """(variance, mean) over axes with `correction` subtracted from the count (floored at 0)."""
    n = _count(x.shape, axes)
    dof = n - correction
    m = np.add.reduce(x, axis=axes, keepdims=True) / n
    dev = x - m
    sq = dev.real * dev.real + dev.imag * dev.imag if dev.dtype.kind == "c" else dev * dev
    v = np.add.reduce(sq, axis=axes, keepdims=keepdim) / builtins.max(dof, 0)  # (real)
    return v, m if keepdim else m.reshape(v.shape)


def _var_grad(g: Tensor | None, x: Tensor, axes: tuple, correction: float, keepdim: bool):
    """torch's var_backward: 2 / (n - correction) * g * (x - mean), for complex x too (the
    variance sums |x - mean|^2, whose gradient is 2 (x - mean): the rules read x as it is)."""
    if g is None:
        return None
    dof = _count(x.shape, axes) - correction
    if dof <= 0 and len(axes) == x.ndim:
        # Matches torch: a full reduction without degrees of freedom has gradient inf, or NaN
        # where x equals its mean, with no further derivative.
        inf_nan = np.where(x._data == np.mean(x._data), np.nan, np.inf)
        return _unreduce(g, x.shape, axes, keepdim) * _const(inf_nan, x)
    # Matches torch's order: scale g before broadcasting it, so that inf * 0 stays out of sums.
    scale = 2 / dof if dof else math.inf
    return _unreduce(scale * g, x.shape, axes, keepdim) * (x - mean(x, axes, keepdim=True))


def _std_to_var(g: Tensor | None, std: Tensor) -> Tensor | None:
    """The gradient of var from that of std = sqrt(var); 0 where std is 0, as torch."""
    return None if g is None else _masked_div(g, std * 2)


@defop("Var")
def _var(x, axes, correction, keepdim):
    return _moments(x, axes, correction, keepdim)[0]


@defop("Std")
def _std(x, axes, correction, keepdim):
    return np.sqrt(_moments(x, axes, correction, keepdim)[0])


@defop("VarMean", nout=0)
def _var_mean(x, axes, correction, keepdim):
    return _moments(x, axes, correction, keepdim)


@defop("StdMean", nout=0)
def _std_mean(x, axes, correction, keepdim):
    v, m = _moments(x, axes, correction, keepdim)
    return np.sqrt(v), m


_var.defvjp(lambda g, out, x, axes, correction, keepdim: _var_grad(g, x, axes, correction, keepdim))
# torch's var_jvp: sum(t * (x - mean) * 2 / (n - correction)); with no degrees of freedom the
# factor is inf and the sum nan, as torch's.
_var.defjvp(
    lambda t, out, x, axes, correction, keepdim: _sum_dim(
        t
        * (x - _mean_dim(x, axes=axes, keepdim=True, dtype=None))
        * (2 / d if (d := _count(x.shape, axes) - correction) != 0 else math.inf),
        axes=axes,
        keepdim=keepdim,
        dtype=None,
    )
)
_std.defvjp(
    lambda g, out, x, axes, correction, keepdim: _var_grad(
        _std_to_var(g, out), x, axes, correction, keepdim
    )
)
_var_mean.defvjp(
    lambda g, out, x, axes, correction, keepdim: _add(
        _var_grad(g[0], x, axes, correction, keepdim), _mean_grad(g[1], x, axes, keepdim)
    )
)
_std_mean.defvjp(
    lambda g, out, x, axes, correction, keepdim: _add(
        _var_grad(_std_to_var(g[0], out[0]), x, axes, correction, keepdim),
        _mean_grad(g[1], x, axes, keepdim),
    )
)
for _op in (_var, _std, _var_mean, _std_mean):
    _op.complex_rules()


def _moment_op(name, op, input, dim, unbiased, keepdim, correction):
    """torch's overloads: (dim, unbiased, keepdim), (unbiased) alone, or (dim, *, correction)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(
            f"{name}() received an invalid combination of arguments: pass either "
            "unbiased or correction, not both"
        )
    if input.dtype._cat < 2:
        what = "var_mean" if name == "var_mean" else "std and var"
        raise RuntimeError(f"{what} only support floating point and complex dtypes")
    c = (1 if unbiased in (None, True) else 0) if correction is None else correction
    axes = _axes(input, dim)
    if _count(input.shape, axes) - c <= 0:
        warnings.warn(
            f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning,
            stacklevel=3,
        )
    return op(input, axes=axes, correction=c, keepdim=keepdim)


def var(
    input: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over `dim` (every dim by default), dividing by n - correction (default 1)."""
    return _moment_op("var", _var, input, dim, unbiased, keepdim, correction)


def std(
    input: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation: the square root of `var` with the same arguments."""
    return _moment_op("std", _std, input, dim, unbiased, keepdim, correction)


def var_mean(
    input: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple:
    """(var, mean) in one pass, with var's arguments."""
    return _moment_op("var_mean", _var_mean, input, dim, unbiased, keepdim, correction)


def std_mean(
    input: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple:
    """(std, mean) in one pass, with var's arguments."""
    return _moment_op("std_mean", _std_mean, input, dim, unbiased, keepdim, correction)


# ---- logsumexp, softmax, log_softmax -----------------------------------------------------------
def _along(ufunc: np.ufunc, x: np.ndarray, axes: tuple) -> np.ndarray:
    """`ufunc.reduce(x, axes, keepdims=True)` for the softmax family. The short rows of a batch
    of class scores are reduced as the columns of a transposed copy: NumPy reduces a short
    contiguous axis one row at a time, about 2x slower than combining whole columns."""
    return (  # (one expression, so that ember.compile pastes it, the test folded away)
        ufunc.reduce(x.T.copy(), axis=0)[:, None]
        if _short_rows(x, axes)
        else ufunc.reduce(x, axis=axes, keepdims=True)
    )


def _short_rows(x: np.ndarray, axes: tuple) -> bool:
    """Whether `_along` reduces `x` as the columns of its transposed copy."""
    return x.ndim == 2 and axes == (1,) and 0 < x.shape[1] <= 16 and x.shape[0] >= 32


def _max_along(x: np.ndarray, axes: tuple) -> np.ndarray:
    """The max over axes, kept as dimensions (-inf over nothing)."""
    if x.size:
        return _along(np.maximum, x, axes)
    return np.maximum.reduce(x, axis=axes, keepdims=True, initial=-np.inf)


def _shifted(x: np.ndarray, axes: tuple) -> tuple:
    """(x - m, m) for logsumexp, with m the max over axes: exp(x - m) cannot overflow. Matches
    torch: an infinite (or empty) max is replaced by 0, so that inf - inf does not turn into
    NaN (softmax keeps the NaN: a row holding inf is NaN in torch's softmax)."""
    m = _max_along(x, axes)
    if np.isinf(m).any():
        m = np.where(np.isinf(m), 0, m)
    return x - m, m


@defop("Logsumexp", float_op=True)
def _logsumexp(x, axes, keepdim):
    z, m = _shifted(x, axes)
    out = np.log(_along(np.add, np.exp(z), axes)) + m
    return out if keepdim else out.reshape(_reduced_shape(x.shape, axes, False))


_logsumexp.defvjp(
    lambda g, out, x, axes, keepdim: (
        _unreduce(g, x.shape, axes, keepdim) * exp(x - _unreduce(out, x.shape, axes, keepdim))
    )
)


def logsumexp(input: Tensor, dim: Dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(input))) over `dim`, computed without overflow."""
    return _logsumexp(input, axes=_axes(input, dim), keepdim=keepdim)


@defop("Softmax")
def _softmax(x, axes):
    e = np.exp(x - _max_along(x, axes))
    return e / _along(np.add, e, axes)


@defop("LogSoftmax")
def _log_softmax(x, axes):
    if _short_rows(x, axes):  # (as _along does, with one transposed copy in and one out)
        xt = x.T.copy()
        zt = xt - np.maximum.reduce(xt, axis=0)
        return (zt - np.log(np.add.reduce(np.exp(zt), axis=0))).T.copy()
    z = x - _max_along(x, axes)
    return z - np.log(_along(np.add, np.exp(z), axes))


_softmax.defvjp(lambda g, out, x, axes: out * (g - sum(g * out, axes, keepdim=True)))
_log_softmax.defvjp(lambda g, out, x, axes: g - exp(out) * sum(g, axes, keepdim=True))
_softmax.defvjp_np(lambda g, out, x, axes: out * (g - _along(np.add, g * out, axes)))
_log_softmax.defvjp_np(lambda g, out, x, axes: g - np.exp(out) * _along(np.add, g, axes))


def _softmax_input(name: str, input: Tensor, dim: int, dtype) -> tuple:
    if dtype is not None:
        input = input.to(dtype)  # Matches torch: cast first (ToCopyBackward0 in the graph)
    d = wrap_dim(dim, input.ndim)
    if input.dtype._cat != 2:
        kernel = f"{name}_lastdim_kernel_impl" if d == input.ndim - 1 else f"{name}_kernel_impl"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_scalar_name(input.dtype)}'")
    return input, (d,) if input.ndim else ()


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """exp(input) normalised to sum to 1 along `dim`, computed without overflow."""
    x, axes = _softmax_input("softmax", input, dim, dtype)
    return _softmax(x, axes=axes)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """log(softmax(input)) along `dim`, computed as input - logsumexp(input) for stability."""
    x, axes = _softmax_input("log_softmax", input, dim, dtype)
    return _log_softmax(x, axes=axes)


# ---- cumsum, cumprod --------------------------------------------------------------------------
def _scan(ufunc, x: np.ndarray, dim: int, reverse: bool, exclusive: bool, dtype) -> np.ndarray:
    """ufunc.accumulate along dim, optionally from the end and/or excluding each element."""
    a = np.moveaxis(x.reshape(x.shape or (1,)), dim, -1)
    if reverse:
        a = a[..., ::-1]
    if exclusive:
        pad = np.full(a.shape[:-1] + (1,), ufunc.identity, a.dtype)
        a = np.concatenate((pad, a[..., :-1]), axis=-1)
    out = ufunc.accumulate(a, axis=-1, dtype=dtype)
    if reverse:
        out = out[..., ::-1]
    return np.ascontiguousarray(np.moveaxis(out, -1, dim)).reshape(x.shape)


@defop("Cumsum")
def _cumsum(x, dim, dtype=None, reverse=False, exclusive=False):
    return _scan(np.add, x, dim, reverse, exclusive, dtype)


@defop("Cumprod")
def _cumprod(x, dim, dtype=None, reverse=False, exclusive=False):
    return _scan(np.multiply, x, dim, reverse, exclusive, dtype)


def _cumprod_grad(g, out, x, dim, reverse, exclusive):
    """Without zeros, torch's O(n) formula. With zeros, d out_i / d x_k is the scan of x with
    x_k replaced by 1 (torch's O(n^2) formula, which differentiates again)."""
    if x.ndim == 0:
        return g
    if not (x._data == 0).any():
        return _cumsum(g * out, dim=dim, reverse=not reverse, exclusive=exclusive) / x
    n, tail = x.shape[dim], (1,) * (x.ndim - dim - 1)
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    step = (k - i) if reverse else (i - k)  # > 0 where out_i depends on x_k (== 0: itself)
    eye = _const(np.eye(n).reshape((n, n) + tail), x)
    uses = _const((step > 0 if exclusive else step >= 0).reshape((n, n) + tail), x)
    xk = unsqueeze(x, dim) * (1 - eye) + eye
    gk = unsqueeze(g, dim)
    scans = _cumprod(xk, dim=dim + 1, reverse=reverse, exclusive=exclusive)
    return sum(gk * scans * uses, dim + 1)


_cumsum.defvjp(
    lambda g, out, x, dim, dtype=None, reverse=False, exclusive=False: _cumsum(
        g, dim=dim, reverse=not reverse, exclusive=exclusive
    )
)
_cumsum.defjvp_linear()
_cumprod.defvjp(
    lambda g, out, x, dim, dtype=None, reverse=False, exclusive=False: _cumprod_grad(
        g, out, x, dim, reverse, exclusive
    )
)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sums along `dim`."""
    return _cumsum(input, dim=wrap_dim(dim, input.ndim), dtype=_int_to_long(input, dtype).np)


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running products along `dim` (gradient exact when the input holds zeros)."""
    return _cumprod(input, dim=wrap_dim(dim, input.ndim), dtype=_int_to_long(input, dtype).np)


# ---- all, any ---------------------------------------------------------------------------------
@defop(None)
def _all(x, axes, keepdim):
    out = np.all(x, axis=axes, keepdims=keepdim)
    return out.astype(np.uint8) if x.dtype == np.uint8 else out  # Matches torch: uint8 stays


@defop(None)
def _any(x, axes, keepdim):
    out = np.any(x, axis=axes, keepdims=keepdim)
    return out.astype(np.uint8) if x.dtype == np.uint8 else out


def _logical_axes(input: Tensor, dim: Dim) -> tuple:
    # Matches torch: for all/any, dim=() reduces nothing (None reduces everything).
    if dim is None:
        return tuple(range(input.ndim))
    dims = wrap_dims(dim, input.ndim)
    return dims if input.ndim else ()


def all(input: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Whether every element (over `dim`) is nonzero; bool result (uint8 for uint8 input)."""
    return _all(input, axes=_logical_axes(input, dim), keepdim=keepdim)


def any(input: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Whether some element (over `dim`) is nonzero; bool result (uint8 for uint8 input)."""
    return _any(input, axes=_logical_axes(input, dim), keepdim=keepdim)
