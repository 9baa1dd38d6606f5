"""Elementwise ops: arithmetic, unary math, comparisons, logical/bitwise ops, in-place forms.

Binary ops are declared `promote=True` (inputs are cast to torch's common dtype before the
NumPy forward); unary math ops are `float_op=True` (integer tensors compute in the default
float dtype, as torch does). Rules are written with ember ops so they differentiate again, and
follow torch's derivatives.yaml formulas, including its subgradients at kinks (relu'(0) = 0,
abs'(0) = 0, clamp passes the gradient at its bounds, maximum splits ties half/half).
NumPy's floating-point warnings are silenced for ember's modules (ops/__init__.py), as torch
returns inf/nan silently. Where torch picks a different overload (and grad_fn name) for a
Python-scalar operand than for a tensor, the function form dispatches to one op per overload.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from .. import _dtype, _factories
from .._dtype import _FROM_NP
from .._tensor import Tensor
from ._inplace import _scalar_name as _name
from ._inplace import apply_inplace
from ._registry import Op, defop
from ._util import refuse_complex

# Also exported: in-place forms torch has as functions (torch.relu_, torch.exp_, ...) and those
# Tensor's augmented assignments (`x += y`, ...) call as `ops.add_`, ...
__all__ = [
    "abs",
    "abs_",
    "absolute",
    "acos",
    "acos_",
    "add",
    "add_",
    "allclose",
    "arccos",
    "arccos_",
    "arcsin",
    "arcsin_",
    "arctan",
    "arctan2",
    "arctan_",
    "asin",
    "asin_",
    "atan",
    "atan2",
    "atan_",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "ceil",
    "ceil_",
    "clamp",
    "clamp_",
    "clamp_max",
    "clamp_max_",
    "clamp_min",
    "clamp_min_",
    "clip",
    "clip_",
    "clone",
    "cos",
    "cos_",
    "cosh",
    "cosh_",
    "div",
    "div_",
    "divide",
    "eq",
    "equal",
    "erf",
    "erf_",
    "exp",
    "exp_",
    "expm1",
    "expm1_",
    "fill_",
    "fix",
    "fix_",
    "floor",
    "floor_",
    "floor_divide",
    "floor_divide_",
    "frac",
    "frac_",
    "ge",
    "greater",
    "greater_equal",
    "gt",
    "imag",
    "conj",
    "conj_physical",
    "resolve_conj",
    "resolve_neg",
    "sgn",
    "angle",
    "complex",
    "polar",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log1p_",
    "log2",
    "log2_",
    "log10",
    "log10_",
    "log_",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "lt",
    "maximum",
    "minimum",
    "mul",
    "mul_",
    "multiply",
    "ne",
    "neg",
    "neg_",
    "negative",
    "negative_",
    "not_equal",
    "pow",
    "pow_",
    "real",
    "reciprocal",
    "reciprocal_",
    "relu",
    "relu_",
    "remainder",
    "remainder_",
    "round",
    "round_",
    "rsqrt",
    "rsqrt_",
    "rsub",
    "sigmoid",
    "sigmoid_",
    "sign",
    "sin",
    "sin_",
    "sinh",
    "sinh_",
    "sqrt",
    "sqrt_",
    "square",
    "square_",
    "sub",
    "sub_",
    "subtract",
    "tan",
    "tan_",
    "tanh",
    "tanh_",
    "to_dtype",
    "true_divide",
    "trunc",
    "trunc_",
    "where",
    "zero_",
]
# fmt: off
TENSOR_METHODS = [
    name
    for name in __all__
    if name
    not in ("to_dtype", "real", "imag", "where", "equal", "allclose", "isclose", "complex", "polar")
] + [
    "to_dtype", "equal", "allclose", "isclose",
    "add_", "sub_", "subtract_", "mul_", "multiply_", "div_", "divide_", "true_divide_",
    "floor_divide_", "remainder_", "pow_", "sign_", "atan2_", "arctan2_", "copy_",
    "logical_and_", "logical_or_", "logical_xor_", "logical_not_",
    "bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_not_", "absolute_",
]
# fmt: on


# ---- shared helpers ----
def _pointwise(node: str | None = None, **kw) -> Callable[[Callable], Op]:
    """`defop` for an elementwise forward."""
    return defop(node, **kw)


def _unary(
    name: str, fn: Callable, rule: Callable, doc: str, node: str = "", float_op: bool = True
) -> Op:
    """Declare a unary op `name` computing the NumPy function `fn`, with one vjp `rule` (its jvp
    is that rule applied to the tangent); integer inputs compute in the default float dtype
    unless `float_op=False`."""

    def fwd(x):
        return fn(x)

    fwd.__name__ = fwd.__qualname__ = name
    fwd.__doc__ = doc
    op = _pointwise(node or name.capitalize(), float_op=float_op)(fwd)
    return op.defvjp(rule).defjvp_elementwise()


def _kernel_error(kernel: str, dt: np.dtype) -> NotImplementedError:
    """torch's error for a dtype a kernel has no implementation for."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{_name(_FROM_NP[dt])}'")


def _zeros_like(g: Tensor) -> Tensor:
    """Zeros for ops whose derivative is zero almost everywhere (floor, sign, ...), as torch's
    zeros_like: a constant, never `g * 0` (which is nan where g is inf)."""
    return _factories.zeros_const(g._data.shape, g._data.dtype)


def _no_derivative(name: str) -> Callable:
    """A rule that raises torch's error for an op without a derivative formula."""

    def rule(*args, **kwargs):
        raise RuntimeError(f"derivative for aten::{name} is not implemented")

    return rule


_NO_BOOL_SUB = (
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
    "`logical_xor()` operator instead."
)
_NO_BOOL_SUB_ONE = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
    "invert a mask, use the `~` or `logical_not()` operator instead."
)
_NO_BOOL_NEG = (
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert "
    "a mask, use the `~` or `logical_not()` operator instead."
)


def _check_sub(input, other) -> None:
    """torch's errors for subtraction involving bools (a Python bool counts as one)."""
    a, b = (
        isinstance(v, bool) or getattr(v, "dtype", None) is _dtype.bool_ for v in (input, other)
    )
    if a and b:
        raise RuntimeError(_NO_BOOL_SUB)
    if a or b:
        raise RuntimeError(_NO_BOOL_SUB_ONE)


def _check_tensor(fname: str, other) -> None:
    """torch's TypeError for a Python number where its signature takes only a Tensor."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"{fname}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )


# ---- arithmetic ----
@_pointwise("Add", promote=True)
def _add(x, y, alpha=1):
    return x + y if alpha == 1 else x + alpha * y


_add.defvjp(
    lambda g, out, x, y, alpha=1: g,
    lambda g, out, x, y, alpha=1: g if alpha == 1 else g * alpha,
).defvjp_np(*_add.vjps)  # (the same lambdas serve arrays and tensors)
_add.defjvp_linear()


def _check_alpha(input, other, alpha) -> None:
    # Matches torch: alpha must not be of a higher category than the result.
    dt = _dtype.result_type(input, other)
    if isinstance(alpha, bool) and dt is not _dtype.bool_:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if isinstance(alpha, float) and dt._cat < 2:
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )


def add(input: Tensor, other: Tensor | float, *, alpha: float = 1) -> Tensor:
    """input + alpha * other, broadcasting."""
    if alpha == 1 and not isinstance(alpha, bool):
        return _add(input, other)
    _check_alpha(input, other, alpha)
    return _add(input, other, alpha=alpha)


@_pointwise("Sub", promote=True)
def _sub(x, y, alpha=1):
    return x - y if alpha == 1 else x - alpha * y


_sub.defvjp(
    lambda g, out, x, y, alpha=1: g,
    lambda g, out, x, y, alpha=1: -g if alpha == 1 else g * -alpha,
).defvjp_np(*_sub.vjps)
_sub.defjvp_linear()


def sub(input: Tensor, other: Tensor | float, *, alpha: float = 1) -> Tensor:
    """input - alpha * other, broadcasting."""
    _check_sub(input, other)
    if alpha == 1 and not isinstance(alpha, bool):
        return _sub(input, other)
    _check_alpha(input, other, alpha)
    return _sub(input, other, alpha=alpha)


subtract = sub


def _rsub_fwd(x, y, alpha=1):
    return _sub.fwd(y, x, alpha=alpha)


# Matches torch: rsub with a tensor is RsubBackward0, with a Python scalar RsubBackward1.
_rsub_t = _pointwise("RsubBackward0", promote=True)(_rsub_fwd).defvjp(
    lambda g, out, x, y, alpha=1: -g if alpha == 1 else g * -alpha,
    lambda g, out, x, y, alpha=1: g,
)
_rsub_t.defvjp_np(*_rsub_t.vjps).defjvp_linear()
_rsub_s = _pointwise("RsubBackward1", promote=True)(_rsub_fwd).defvjp(_rsub_t.vjps[0])
_rsub_s.defvjp_np(*_rsub_s.vjps).defjvp_linear()


def rsub(input: Tensor, other: Tensor | float, *, alpha: float = 1) -> Tensor:
    """other - alpha * input: the reflected subtraction behind `2 - x`."""
    _check_sub(input, other)
    op = _rsub_t if isinstance(other, Tensor) else _rsub_s
    return op(input, other) if alpha == 1 else op(input, other, alpha=alpha)


@_pointwise("Mul", promote=True)
def mul(x, y):
    """input * other, broadcasting (bool * bool is logical and, as in torch)."""
    return x * y


mul.defvjp(
    lambda g, out, x, y: g * y,
    lambda g, out, x, y: g * x,
).defvjp_np(*mul.vjps)
mul.defjvp_multilinear()
multiply = mul


@_pointwise("Div", promote=True, float_op=True)
def _div(x, y):
    return x / y


_div.defvjp(
    lambda g, out, x, y: g / y,
    lambda g, out, x, y: -g * ((x / y) / y),
).defvjp_np(*_div.vjps)
_div.defjvp_elementwise()


def _check_int_div(kernel: str, x, y) -> np.dtype:
    """The dtype `x op y` computes in; torch's errors for bool and integer division by 0."""
    dt = np.result_type(x, y)
    if dt == np.bool_:
        raise _kernel_error(kernel, dt)
    if dt.kind in "iu" and np.any(np.equal(y, 0)):
        raise RuntimeError("ZeroDivisionError")
    return dt


def _floor_div_fwd(x, y):
    refuse_complex("div_floor_cpu", x, y)
    _check_int_div("div_floor_cpu", x, y)
    return np.floor_divide(x, y)  # NumPy's float floor division is torch's div_floor_floating


@_pointwise("DivBackward2", promote=True)
def _div_mode(x, y, rounding_mode):
    if rounding_mode == "floor":
        return _floor_div_fwd(x, y)
    refuse_complex("div_trunc_cpu", x, y)
    if _check_int_div("div_trunc_cpu", x, y).kind in "iu":
        q = np.floor_divide(x, y)
        return q + ((q < 0) & (q * y != x))  # C's truncating division from floor division
    return np.trunc(x / y)


# Matches torch: rounded division has zero gradient everywhere (DivBackward2).
_div_mode.defvjp(
    lambda g, out, x, y, rounding_mode: _zeros_like(g),
    lambda g, out, x, y, rounding_mode: _zeros_like(g),
)
_div_mode.defjvp_elementwise().mark_frees_all()


def div(input: Tensor, other: Tensor | float, *, rounding_mode: str | None = None) -> Tensor:
    """input / other: true division (integers divide in floating point), or rounded towards
    zero (`rounding_mode='trunc'`) or down (`'floor'`) in the inputs' common dtype."""
    if rounding_mode is None:
        return _div(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"'{rounding_mode}'"
        )
    return _div_mode(input, other, rounding_mode=rounding_mode)


divide = div


def true_divide(input: Tensor, other: Tensor | float) -> Tensor:
    """input / other in floating point (torch's alias of div)."""
    return _div(input, other)


def _not_implemented(name: str, fwd: Callable, **kw) -> Op:
    """An op torch gives no derivative formula: grad_fn `NotImplemented`, backward raises."""
    op = _pointwise("NotImplemented", **kw)(fwd)
    op.__name__ = op.__qualname__ = name
    return op.defvjp(_no_derivative(name), _no_derivative(name))


floor_divide = _not_implemented("floor_divide", _floor_div_fwd, promote=True)
floor_divide.__doc__ = "input // other, rounding down (Python's floor division)."


def _remainder_fwd(x, y):
    refuse_complex("remainder_cpu", x, y)
    _check_int_div("remainder_cpu", x, y)
    # Matches torch: fmod, then shifted by y when the signs differ. np.remainder gives -0.0
    # for remainder(4., -2.), torch +0.0.
    mod = np.fmod(x, y)
    return np.where((mod != 0) & ((y < 0) != (mod < 0)), mod + y, mod)


_remainder_s = _pointwise("RemainderBackward0", promote=True)(_remainder_fwd).defvjp(
    lambda g, out, x, y: g,
)
_remainder_s.defjvp_elementwise()
_remainder_t = _pointwise("RemainderBackward1", promote=True)(_remainder_fwd).defvjp(
    lambda g, out, x, y: g,
    lambda g, out, x, y: -g * div(x, y, rounding_mode="floor"),
)
_remainder_t.defjvp_elementwise()
_remainder_base = _not_implemented("remainder", _remainder_fwd, promote=True)


def remainder(input: Tensor | float, other: Tensor | float) -> Tensor:
    """Python's modulus: the result has the sign of `other` (torch.fmod's has input's)."""
    if not isinstance(input, Tensor):
        return _remainder_base(input, other)
    return (_remainder_t if isinstance(other, Tensor) else _remainder_s)(input, other)


def _int_pow(x, y):
    """Integer power; torch's convention for negative exponents: 1 ** -n = 1,
    (-1) ** -n = +-1, any other base 0."""
    pos = np.power(x, np.maximum(y, 0))
    neg = np.where(x == 1, 1, np.where(x == -1, 1 - 2 * (y & 1), 0))
    return np.where(y < 0, neg, pos)


def _pow_fwd(x, y):
    dt = np.result_type(x, y)
    if dt == np.bool_:
        raise _kernel_error("pow", dt)
    if dt.kind in "iu":
        return _int_pow(np.asarray(x), np.asarray(y))
    return np.power(x, y)


@_pointwise("PowBackward0", promote=True)
def _pow_scalar(x, y):
    if x.dtype.kind in "iu" and y < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if x.dtype == np.bool_:  # Matches torch: pow(bool, True) is a copy, pow(bool, False) ones
        return x.copy() if y else np.ones_like(x)
    return _pow_fwd(x, y)


# Matches torch (pow_backward): exponent 0 gives exact zeros, not g * 0 * x ** -1.
_pow_scalar.defvjp(
    lambda g, out, x, y: _zeros_like(g) if y == 0 else g * (y * x ** (y - 1)),
)
_pow_scalar.defvjp_np(
    lambda g, out, x, y: np.zeros_like(g) if y == 0 else g * (y * x ** (y - 1)),
)
_pow_scalar.defjvp_elementwise()


def _nonneg(y: Tensor) -> Tensor:
    """y >= 0; for complex y, a real y >= 0 (torch's pow_backward_exponent condition)."""
    if y.dtype.is_complex:
        return logical_and(imag(y) == 0, real(y) >= 0)
    return y >= 0


_pow_tensor = _pointwise("PowBackward1", promote=True)(_pow_fwd).defvjp(
    lambda g, out, x, y: where(y == 0, 0.0, g * (y * x ** (y - 1))),
    lambda g, out, x, y: g * where((x == 0) & _nonneg(y), 0.0, out * log(x.to(out.dtype))),
)
_pow_tensor.defjvp_elementwise()


def _log_scalar(b: float) -> float:
    """log of a Python number as torch's Scalar.log(): -inf at 0, nan below."""
    return math.log(b) if b > 0 else (-math.inf if b == 0 else math.nan)


_pow_base = _pointwise("PowBackward2", promote=True)(_pow_fwd).defvjp(
    None,
    lambda g, out, x, y: (
        g * (where(_nonneg(y), 0.0, out * -math.inf) if x == 0 else out * _log_scalar(x))
    ),
)
_pow_base.defjvp_elementwise()


def pow(input: Tensor | float, exponent: Tensor | float) -> Tensor:
    """input ** exponent; either may be a Python number (torch: PowBackward0 for a scalar
    exponent, PowBackward1 for tensors, PowBackward2 for a scalar base)."""
    if not isinstance(input, Tensor):
        return _pow_base(input, exponent)
    return (_pow_tensor if isinstance(exponent, Tensor) else _pow_scalar)(input, exponent)


def square(input: Tensor) -> Tensor:
    """input ** 2 (torch computes it as pow, so bool squares to int64 and grad_fn is Pow)."""
    return _pow_scalar(input, 2)


@_pointwise("Neg")
def neg(x):
    """-input."""
    if x.dtype == np.bool_:
        raise RuntimeError(_NO_BOOL_NEG)
    return -x


neg.defvjp(lambda g, out, x: -g).defvjp_np(*neg.vjps)
neg.defjvp_linear()
negative = neg


@_pointwise("Abs")
def abs(x):
    """|input| (integers wrap as in torch: abs(int8(-128)) == -128)."""
    if x.dtype == np.bool_:
        raise _kernel_error("abs_cpu", x.dtype)
    return np.abs(x)


# Matches torch: grad * sgn(x) (x / |x| for complex x), so the subgradient at 0 is 0.
abs.defvjp(lambda g, out, x: g * sgn(x)).complex_rules(jvp=True)
# d|z| = Re(conj(sgn z) dz); t * sign(x) for real x.
abs.defjvp(lambda t, out, x: real(conj(sgn(x)) * t) if x.dtype.is_complex else t * sgn(x))
absolute = abs


_SIGN_COMPLEX = (
    NotImplementedError,
    "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use "
    "torch.sgn instead.",
)
CLAMP_COMPLEX = (NotImplementedError, "clamp is not supported for complex types")


@_pointwise("Sign")
def sign(x):
    """-1, 0 or 1 by the sign of input (bool stays bool)."""
    if x.dtype == np.bool_:
        return x.copy()
    refuse_complex(_SIGN_COMPLEX, x)
    # Matches torch: sign(nan) == 0 (np.sign gives nan) and sign(-0.) == 0.
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


sign.defvjp(lambda g, out, x: _zeros_like(g))
sign.defjvp_elementwise()

reciprocal = _unary(
    "reciprocal",
    lambda x: 1 / x,
    lambda g, out, x: -g * (out * out),
    "1 / input (integers in the default float dtype).",
)

# ---- unary math ----
_LN2 = 0.6931471805599453
_LN10 = 2.3025850929940456

exp = _unary("exp", np.exp, lambda g, out, x: g * out, "e ** input.")
exp.defvjp_np(*exp.vjps)
log = _unary("log", np.log, lambda g, out, x: g / x, "Natural log: -inf at 0, nan below.")
log.defvjp_np(*log.vjps)
log1p = _unary(
    "log1p", np.log1p, lambda g, out, x: g / (x + 1), "log(1 + input), exact near 0.", "Log1P"
)
expm1 = _unary("expm1", np.expm1, lambda g, out, x: g * (out + 1), "e ** input - 1, exact near 0.")
log2 = _unary("log2", np.log2, lambda g, out, x: g / (x * _LN2), "Base-2 logarithm.")
log10 = _unary("log10", np.log10, lambda g, out, x: g / (x * _LN10), "Base-10 logarithm.")
sqrt = _unary("sqrt", np.sqrt, lambda g, out, x: g / (2 * out), "Square root (nan below 0).")
sqrt.defvjp_np(*sqrt.vjps)
rsqrt = _unary(
    "rsqrt", lambda x: 1 / np.sqrt(x), lambda g, out, x: -0.5 * g * out**3, "1 / sqrt(input)."
)
sin = _unary("sin", np.sin, lambda g, out, x: g * cos(x), "Sine.")
sin.defvjp_np(lambda g, out, x: g * np.cos(x))
cos = _unary("cos", np.cos, lambda g, out, x: g * -sin(x), "Cosine.")
cos.defvjp_np(lambda g, out, x: g * -np.sin(x))
tan = _unary("tan", np.tan, lambda g, out, x: g * (1 + out**2), "Tangent.")
asin = _unary("asin", np.arcsin, lambda g, out, x: g * rsqrt(-x * x + 1), "Arcsine.")
acos = _unary("acos", np.arccos, lambda g, out, x: g * -rsqrt(-x * x + 1), "Arccosine.")
atan = _unary("atan", np.arctan, lambda g, out, x: g / (x * x + 1), "Arctangent.")
sinh = _unary("sinh", np.sinh, lambda g, out, x: g * cosh(x), "Hyperbolic sine.")
cosh = _unary("cosh", np.cosh, lambda g, out, x: g * sinh(x), "Hyperbolic cosine.")
tanh = _unary("tanh", np.tanh, lambda g, out, x: _tanh_backward(g, out), "Hyperbolic tangent.")
# Matches torch: 1 / (1 + exp(-x)), the formula of its CPU kernel; the backward is
# sigmoid_backward's grad * (1 - out) * out.
sigmoid = _unary(
    "sigmoid",
    lambda x: 1 / (1 + np.exp(-x)),
    lambda g, out, x: _sigmoid_backward(g, out),
    "Logistic.",
)


# Matches torch: tanh and sigmoid backpropagate through one op each (tanh_backward,
# sigmoid_backward), whose own backward is TanhBackwardBackward0 / SigmoidBackwardBackward0; one
# op instead of three also keeps the backward of tanh/sigmoid networks cheap.
@_pointwise("TanhBackward")
def _tanh_backward(g, out):
    return g * (1 - out * out)


_tanh_backward.defvjp(
    lambda gg, _, g, out: _tanh_backward(gg, out),
    lambda gg, _, g, out: -2 * gg * g * out,
)
_tanh_backward.defjvp_elementwise()
tanh.defvjp_np(lambda g, out, x: _tanh_backward.fwd(g, out))


@_pointwise("SigmoidBackward")
def _sigmoid_backward(g, out):
    return g * (1 - out) * out


_sigmoid_backward.defvjp(
    lambda gg, _, g, out: _sigmoid_backward(gg, out),
    lambda gg, _, g, out: gg * g * (1 - 2 * out),
)
_sigmoid_backward.defjvp_elementwise()
sigmoid.defvjp_np(lambda g, out, x: _sigmoid_backward.fwd(g, out))
arcsin, arccos, arctan = asin, acos, atan

# math.erf is the platform libm's (correctly rounded to ~1 ulp, as torch's Sleef erf); NumPy
# has no erf ufunc.
_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def _erf(x):
    refuse_complex("erf_vml_cpu", x)
    return np.asarray(_erf_scalar(x), dtype=x.dtype)


erf = _unary(
    "erf",
    _erf,
    lambda g, out, x: 1.1283791670955126 * exp(-(x**2)) * g,  # 2 / sqrt(pi)
    "The Gauss error function.",
)


@_pointwise("Atan2", promote=True, float_op=True)
def _atan2(x, y):
    refuse_complex("atan2_cpu", x, y)
    return np.arctan2(x, y)


def _atan2_recip(x, y):
    # Matches torch: 1 / (x^2 + y^2), but 0 at the origin, so the gradient there is 0, not nan.
    d = x * x + y * y
    return where(d == 0, 0.0, reciprocal(d))


_atan2.defvjp(
    lambda g, out, x, y: g * y * _atan2_recip(x, y),
    lambda g, out, x, y: g * -x * _atan2_recip(x, y),
)
# Matches torch: its forward formula divides by x^2 + y^2 unmasked (nan at the origin).
_atan2.defjvp(
    lambda t, out, x, y: t * y / (x * x + y * y),
    lambda t, out, x, y: t * -x / (x * x + y * y),
)


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point (other, input): arctan(input / other) in the right quadrant."""
    _check_tensor("atan2", other)
    return _atan2(input, other)


arctan2 = atan2


@_pointwise("Relu")
def relu(x):
    """max(input, 0), keeping integer dtypes."""
    if x.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    refuse_complex(CLAMP_COMPLEX, x)  # (torch's relu is a clamp)
    return np.maximum(x, x.dtype.type(0))


@_pointwise("ThresholdBackwardBackward0")
def _threshold_backward(g, out):
    # Matches torch (threshold_backward on the result): relu'(0) = 0, nan passes the gradient.
    # `out` is relu's result, 0 (or -0.0) or above or NaN, so torch's `out <= 0` mask is
    # `out == 0` and its complement `out != 0` (NaN != 0): one comparison, no inversion.
    # A branchless multiply by the mask is ~3x faster than np.where on random masks; only an
    # inf/nan gradient (inf * 0 = nan) needs the exact select. For BLAS's float32/float64, r.r
    # is finite exactly when r is (or the sum overflows: the select is right then too), and is
    # cheaper than isnan(r).any(); float16's r.r would overflow on ordinary gradients.
    r = np.multiply(g, out != 0, dtype=g.dtype)
    if r.dtype.char in "fd":
        flat = r.reshape(-1)
        exact = np.isfinite(np.dot(flat, flat))
    else:
        exact = not np.isnan(r).any()
    return r if exact else np.where(out <= 0, 0, g)


# As in torch, the backward is an op of its own, so that relu's double backward reaches the
# input (with zeros) instead of leaving it unconnected.
_threshold_backward.defvjp(
    lambda gg, _, g, out: _threshold_backward(gg, out),
    lambda gg, _, g, out: _zeros_like(gg),
)
_threshold_backward.defvjp_np(
    lambda gg, _, g, out: _threshold_backward.fwd(gg, out),
    lambda gg, _, g, out: np.zeros_like(gg),
)
_threshold_backward.defjvp_elementwise()
relu.defvjp(lambda g, out, x: _threshold_backward(g, out))
relu.defvjp_np(lambda g, out, x: _threshold_backward.fwd(g, out))
relu.defjvp_elementwise()


def _rounding(name: str, fn: Callable, doc: str) -> Op:
    """floor/ceil/trunc/round: integers pass through unchanged; the gradient is zero."""

    def fwd(x):
        if x.dtype == np.bool_:
            raise _kernel_error(f"{name}_vml_cpu", x.dtype)
        if x.dtype.kind == "c":
            if name == "round":
                raise _kernel_error("round_vml_cpu", x.dtype)
            raise NotImplementedError(f"{name} is not supported for complex inputs")
        return fn(x) if x.dtype.kind == "f" else x.copy()

    return _unary(name, fwd, lambda g, out, x: _zeros_like(g), doc, float_op=False)


floor = _rounding("floor", np.floor, "The largest integer <= input.")
ceil = _rounding("ceil", np.ceil, "The smallest integer >= input.")
trunc = _rounding("trunc", np.trunc, "input rounded towards zero.")
fix = trunc
_round = _rounding("round", np.rint, "input rounded half to even.")


@_pointwise("RoundBackward1")
def _round_decimals(x, decimals):
    if x.dtype.kind != "f":
        raise _kernel_error("round_cpu", x.dtype)
    return np.round(x, decimals)


_round_decimals.defvjp(lambda g, out, x, decimals: _zeros_like(g))
_round_decimals.defjvp_elementwise()


def round(input: Tensor, *, decimals: int | None = None) -> Tensor:
    """Round half to even, to `decimals` places if given (negative: to tens, hundreds...)."""
    return _round(input) if decimals is None else _round_decimals(input, decimals=decimals)


@_pointwise("Frac")
def frac(x):
    """input - trunc(input), keeping the sign of input."""
    if x.dtype.kind != "f":
        raise _kernel_error("frac_cpu", x.dtype)
    return x - np.trunc(x)


frac.defvjp(lambda g, out, x: g)
frac.defjvp_elementwise()


# ---- selection: clamp, maximum, minimum, where ----
def _clamp_fwd(x, lo, hi):
    refuse_complex(CLAMP_COMPLEX, x, lo, hi)
    # Matches torch: min(max(x, lo), hi), so nan propagates and lo > hi gives hi everywhere.
    if lo is not None:
        x = np.maximum(x, lo)
    return x if hi is None else np.minimum(x, hi)


def _clamp_grad(g, out, x, lo, hi):
    """The gradient passes where lo <= x <= hi, bounds included (torch's clamp_backward)."""
    if lo is None:
        return where(x <= hi, g, 0.0)
    if hi is None:
        return where(x >= lo, g, 0.0)
    return where(logical_and(x >= lo, x <= hi), g, 0.0)


def _clamp_lo_grad(g, out, x, lo, hi):
    below = x < lo if hi is None else logical_and(x < lo, lo < hi)
    return where(below, g, 0.0)


def _clamp_hi_grad(g, out, x, lo, hi):
    # Matches torch: when lo > hi the result is hi, so hi gets the whole gradient.
    above = x > hi if lo is None else logical_or(x > hi, hi < lo)
    return where(above, g, 0.0)


def _clamp_op(node: str) -> Op:
    op = _pointwise(node)(_clamp_fwd)
    return op.defvjp(_clamp_grad, _clamp_lo_grad, _clamp_hi_grad).defjvp_elementwise()


def _clamp_call(op: Op, input: Tensor, lo, hi) -> Tensor:
    """Call a clamp op in the common dtype of input and the bounds, as torch computes it
    (clamp(int tensor, 0.5) is float). Missing bounds are None, which the registry's
    promotion does not accept, so tensors are converted here."""
    dt = _dtype.result_type(*(v for v in (input, lo, hi) if v is not None))
    lo, hi, input = (
        to_dtype(v, dt) if isinstance(v, Tensor) and v.dtype is not dt else v
        for v in (lo, hi, input)
    )
    return op(input, lo, hi)


# torch's grad_fn names: ClampBackward1 for number bounds, ClampBackward0 for tensor bounds;
# clamp_min/clamp_max: Backward0 for a number, Backward1 for a tensor.
_clamp_s, _clamp_t = _clamp_op("ClampBackward1"), _clamp_op("ClampBackward0")
_clamp_min_s, _clamp_min_t = _clamp_op("ClampMinBackward0"), _clamp_op("ClampMinBackward1")
_clamp_max_s, _clamp_max_t = _clamp_op("ClampMaxBackward0"), _clamp_op("ClampMaxBackward1")


def clamp(input: Tensor, min: Tensor | float | None = None, max: Tensor | float | None = None):
    """Limit input to [min, max]; either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [b for b in (min, max) if b is not None]
    if all(isinstance(b, Tensor) for b in bounds):
        return _clamp_call(_clamp_t, input, min, max)
    # Matches torch: a tensor bound next to a number bound is read as a number.
    lo, hi = (b.item() if isinstance(b, Tensor) else b for b in (min, max))
    return _clamp_call(_clamp_s, input, lo, hi)


clip = clamp


def clamp_min(input: Tensor, min: Tensor | float) -> Tensor:
    """max(input, min)."""
    if isinstance(min, Tensor):
        refuse_complex("maximum_cpu", input, min)
    return _clamp_call(_clamp_min_t if isinstance(min, Tensor) else _clamp_min_s, input, min, None)


def clamp_max(input: Tensor, max: Tensor | float) -> Tensor:
    """min(input, max)."""
    if isinstance(max, Tensor):
        refuse_complex("minimum_cpu", input, max)
    return _clamp_call(_clamp_max_t if isinstance(max, Tensor) else _clamp_max_s, input, None, max)


def _extremum_grad(g, x, y, loses):
    """torch's maximum/minimum backward: ties split the gradient half/half."""
    return where(loses, 0.0, where(x == y, g / 2, g))


def _extremum_fwd(name: str, fn: Callable) -> Callable:
    error = (RuntimeError, f"{name} not implemented for complex tensors.")

    def fwd(x, y):
        refuse_complex(error, x, y)
        return fn(x, y)

    fwd.__name__ = fwd.__qualname__ = f"_{name}"
    return fwd


_maximum = _pointwise("Maximum", promote=True)(_extremum_fwd("maximum", np.maximum)).defvjp(
    lambda g, out, x, y: _extremum_grad(g, x, y, x < y),
    lambda g, out, x, y: _extremum_grad(g, x, y, x > y),
)
_maximum.defjvp_elementwise()


_minimum = _pointwise("Minimum", promote=True)(_extremum_fwd("minimum", np.minimum)).defvjp(
    lambda g, out, x, y: _extremum_grad(g, x, y, x > y),
    lambda g, out, x, y: _extremum_grad(g, x, y, x < y),
)
_minimum.defjvp_elementwise()


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise max of two tensors (nan propagates)."""
    _check_tensor("maximum", other)
    return _maximum(input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise min of two tensors (nan propagates)."""
    _check_tensor("minimum", other)
    return _minimum(input, other)


# The condition is a parameter, not an input: it is not differentiable and takes no part in
# type promotion.
@_pointwise("Where", promote=True)
def _where(x, y, condition):
    return np.where(condition._data, x, y)


_where.defvjp(
    lambda g, out, x, y, condition: where(condition, g, 0.0),
    lambda g, out, x, y, condition: where(condition, 0.0, g),
)
_where.defjvp_linear()


def where(
    condition: Tensor, input: Tensor | float | None = None, other: Tensor | float | None = None
) -> Tensor | tuple:
    """input where condition holds, else other (broadcasting all three); with the condition
    alone, the indices of its true elements, one int64 tensor per dim."""
    if condition.dtype is not _dtype.bool_:
        raise RuntimeError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{_name(condition.dtype)}"
        )
    if input is None and other is None:
        return tuple(Tensor._make(i.astype(np.int64)) for i in np.nonzero(condition._data))
    return _where(input, other, condition=condition)


# ---- comparison and logic (never differentiable) ----
def _predicate(
    name: str, fn: Callable, doc: str, tensors_only: bool = False, ordered: bool = False
) -> Callable:
    """A non-differentiable op with a bool result. Matches torch: operands, Python scalars
    included, are converted to their common dtype first (the registry's `promote`), so
    uint8 < -1 compares with 255. `ordered` comparisons refuse complex operands, as torch's."""

    kernel = f"{name}_cpu" if ordered else None

    def fwd(*xs):
        if kernel is not None:
            refuse_complex(kernel, *xs)
        return fn(*xs)

    fwd.__name__ = fwd.__qualname__ = name
    fwd.__doc__ = doc
    op = _pointwise(None, promote=True)(fwd)
    if not tensors_only:
        return op

    @functools.wraps(fwd)
    def call(*inputs):
        _check_tensor(name, inputs[-1])
        return op(*inputs)

    return call


eq = _predicate("eq", np.equal, "input == other, elementwise (bool).")
ne = _predicate("ne", np.not_equal, "input != other, elementwise (bool).")
lt = _predicate("lt", np.less, "input < other, elementwise (bool).", ordered=True)
le = _predicate("le", np.less_equal, "input <= other, elementwise (bool).", ordered=True)
gt = _predicate("gt", np.greater, "input > other, elementwise (bool).", ordered=True)
ge = _predicate("ge", np.greater_equal, "input >= other, elementwise (bool).", ordered=True)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

logical_and = _predicate("logical_and", np.logical_and, "Elementwise AND of truth values.", True)
logical_or = _predicate("logical_or", np.logical_or, "Elementwise OR of truth values.", True)
logical_xor = _predicate("logical_xor", np.logical_xor, "Elementwise XOR of truth values.", True)
logical_not = _predicate("logical_not", np.logical_not, "Elementwise NOT of truth values.")
isnan = _predicate("isnan", np.isnan, "Where input is nan.")
isinf = _predicate("isinf", np.isinf, "Where input is +-inf.")
isfinite = _predicate("isfinite", np.isfinite, "Where input is neither inf nor nan.")


def _bitwise(name: str, fn: Callable) -> Op:
    def fwd(*xs):
        if xs[0].dtype.kind in "fc":
            raise _kernel_error(f"{name}_cpu", xs[0].dtype)
        return fn(*xs)

    fwd.__name__ = fwd.__qualname__ = name
    fwd.__doc__ = f"{name} of bool or integer tensors (torch raises for floating dtypes)."
    return _pointwise(None, promote=True)(fwd)


bitwise_and = _bitwise("bitwise_and", np.bitwise_and)
bitwise_or = _bitwise("bitwise_or", np.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", np.bitwise_xor)
bitwise_not = _bitwise("bitwise_not", np.invert)


def equal(input: Tensor, other: Tensor) -> bool:
    """True if both tensors have the same shape and values (dtypes may differ; nan != nan)."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def isclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """|input - other| <= atol + rtol * |other| elementwise; infinities only equal themselves."""
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{_name(input.dtype)} did not match {_name(other.dtype)}")
    a, b = input._data, other._data
    # Matches torch: exact equality, then a finite difference within the tolerance.
    close = a == b
    if equal_nan:
        close |= np.isnan(a) & np.isnan(b)
    diff = np.abs(a - b)
    close |= np.isfinite(diff) & (diff <= atol + np.abs(rtol * b))
    return Tensor._make(np.asarray(close))


def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """isclose(...) holds everywhere."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


# ---- copies, conversions, fills ----
@_pointwise("Clone")
def _clone(x):
    return x.copy()


_clone.defvjp(lambda g, out, x: g)
_clone.defjvp_linear()


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy with its own memory; gradients flow through unchanged."""
    return _clone(input)


@_pointwise("ToCopy")
def _to_dtype(x, dtype):
    return x.astype(dtype.np)


_to_dtype.defvjp(lambda g, out, x, dtype: g)  # the node casts g back to the input's dtype
_to_dtype.defjvp_linear()


def to_dtype(input: Tensor, dtype: _dtype.dtype) -> Tensor:
    """A copy converted to `dtype` (floats to integers truncate towards zero)."""
    dtype = _dtype.to_dtype(dtype)
    # Matches torch: an integer or bool result is not differentiable (no grad_fn).
    return _to_dtype(input if dtype._cat >= 2 else input.detach(), dtype=dtype)


@_pointwise("SelectBackward0")  # (torch: a select of view_as_real)
def _real(x):
    return np.real(x).copy()


_real.defvjp(lambda g, out, x: g)
_real.defjvp_linear()


@_pointwise("SelectBackward0")  # (torch: a select of view_as_real)
def _imag(x):
    return np.imag(x).copy()


_imag.defvjp(lambda g, out, x: g * 1j)


def real(input: Tensor) -> Tensor:
    """The real part; on a real tensor, the tensor itself (as in torch)."""
    return _real(input) if input.dtype.is_complex else input


def imag(input: Tensor) -> Tensor:
    """The imaginary part of a complex tensor; torch raises for real tensors."""
    if not input.dtype.is_complex:
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return _imag(input)


# ---- complex numbers: the non-holomorphic ops, whose rules are written for complex z --------
# (With L real and g = dL/dRe w + i dL/dIm w for w = f(z), torch's gradient is
# g * conj(df/dz) + conj(g) * df/dconj(z).)
_real.complex_rules(jvp=True)
_imag.complex_rules(jvp=True).defjvp_linear()


@_pointwise("Conj")
def _conj(x):
    return np.conj(x)


@_pointwise("ConjPhysical")
def _conj_physical(x):
    return np.conj(x)


_conj.defvjp(lambda g, out, x: conj(g)).complex_rules(jvp=True).defjvp_linear()
_conj_physical.defvjp(lambda g, out, x: conj_physical(g)).complex_rules(jvp=True)
_conj_physical.defjvp_linear()


def conj(input: Tensor) -> Tensor:
    """The complex conjugate; a real tensor is returned as it is (as in torch). ember has no
    lazy conjugate bit: the result is computed (torch's is a view that resolves later)."""
    return _conj(input) if input.dtype.is_complex else input


def conj_physical(input: Tensor) -> Tensor:
    """The complex conjugate, computed; a real tensor is returned as it is."""
    return _conj_physical(input) if input.dtype.is_complex else input


def resolve_conj(input: Tensor) -> Tensor:
    """input itself: ember computes conjugates eagerly, so there is no bit to resolve."""
    return input


resolve_neg = resolve_conj


@_pointwise("Sgn")
def _sgn(x):
    if x.dtype.kind != "c":
        return sign.fwd(x)
    a = np.abs(x)
    return np.where(a == 0, 0, x / np.where(a == 0, 1, a)).astype(x.dtype)


def _sgn_grad(g: Tensor, out: Tensor, x: Tensor) -> Tensor:
    # s = z / |z|: (g - s Re(conj(s) g)) / |z|, and 0 where z = 0 (torch's sgn_backward).
    if not x.dtype.is_complex:
        return _zeros_like(g)
    a = abs(x)
    r = (g - out * real(conj(out) * g)) / where(a == 0, 1.0, a)
    return where(a == 0, 0.0, r)


_sgn.defvjp(_sgn_grad).complex_rules(jvp=True)
_sgn.defjvp(_sgn_grad)  # (the same map: (t - s Re(conj(s) t)) / |z| is self-adjoint)


def sgn(input: Tensor) -> Tensor:
    """z / |z| for complex input (0 at 0); sign(input) for real input."""
    return _sgn(input)


@_pointwise("Angle", float_op=True)
def _angle(x):
    if x.dtype.kind == "c":
        return np.angle(x)
    # Matches torch: pi for negative numbers, 0 otherwise, nan stays nan.
    return np.where(x < 0, np.pi, np.where(np.isnan(x), x, 0)).astype(x.dtype)


def _angle_grad(g: Tensor, out: Tensor, x: Tensor) -> Tensor:
    # angle = Im log z: i g z / |z|^2, and 0 at z = 0 (torch's angle_backward).
    if not x.dtype.is_complex:
        return _zeros_like(g)
    a2 = real(x * conj(x))
    return where(a2 == 0, 0.0, g * x / where(a2 == 0, 1.0, a2) * 1j)


def _angle_jvp(t: Tensor, out: Tensor, x: Tensor) -> Tensor:
    # d angle = Im(dz / z) = Im(conj(z) dz) / |z|^2, 0 at z = 0.
    if not x.dtype.is_complex:
        return _zeros_like(t)
    a2 = real(x * conj(x))
    return where(a2 == 0, 0.0, imag(conj(x) * t) / where(a2 == 0, 1.0, a2))


_angle.defvjp(_angle_grad).complex_rules(jvp=True).mark_frees_all()  # (torch saves self)
_angle.defjvp(_angle_jvp)


def angle(input: Tensor) -> Tensor:
    """The argument of each element in radians (0 or pi for real input)."""
    return _angle(input)


def _check_parts(name: str, a: Tensor, b: Tensor) -> None:
    _check_tensor(name, a)
    _check_tensor(name, b)
    if a.dtype._cat != 2 or b.dtype._cat != 2:
        raise RuntimeError(
            "Expected both inputs to be Half, Float or Double tensors but got "
            f"{_name(a.dtype)} and {_name(b.dtype)}"
        )
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"Expected object of scalar type {_name(a.dtype)} but got scalar type "
            f"{_name(b.dtype)} for second argument"
        )


@_pointwise("Complex")
def _complex(re, im):
    return re + 1j * im  # (a Python complex is weak: float32 parts give complex64)


_complex.defvjp(lambda g, out, re, im: real(g), lambda g, out, re, im: imag(g)).complex_rules(
    jvp=True
)
_complex.defjvp_linear()


def complex(real: Tensor, imag: Tensor) -> Tensor:
    """The complex tensor real + i imag (float32 parts give complex64, float64 complex128)."""
    _check_parts("complex", real, imag)
    return _complex(real, imag)


@_pointwise("Polar")
def _polar(r, theta):
    return r * np.cos(theta) + 1j * (r * np.sin(theta))


# z = r e^(i theta): dL/dr = Re(conj(g) e^(i theta)), dL/dtheta = Re(conj(g) i z). Matches
# torch's polar_backward, which writes e^(i theta) as sgn(z): for r <= 0 (outside polar's
# domain) that flips the sign or gives 0.
_polar.defvjp(
    lambda g, out, r, theta: real(conj(g) * sgn(out)),
    lambda g, out, r, theta: real(conj(g) * out * 1j),
).complex_rules(jvp=True)
# dz = e^(i theta) dr + i z dtheta (torch's forward formula, with cos and sin).
_polar.defjvp(
    lambda t, out, r, theta: t * complex(cos(theta), sin(theta)),
    lambda t, out, r, theta: t * out * 1j,
)


def polar(abs: Tensor, angle: Tensor) -> Tensor:
    """The complex tensor abs * (cos(angle) + i sin(angle))."""
    _check_parts("polar", abs, angle)
    return _polar(abs, angle)


@_pointwise("ZeroBackward0")
def _zero(x):
    return np.zeros_like(x)


_zero.defvjp(lambda g, out, x: _zeros_like(g))
_zero.defjvp_linear()


@_pointwise("FillBackward2")
def _fill_s(x, value):
    return np.full_like(x, value)


@_pointwise("FillBackward3")
def _fill_t(x, value):
    return np.full_like(x, value)


_fill_s.defvjp(lambda g, out, x, value: _zeros_like(g))
_fill_s.defjvp_linear()
_fill_t.defvjp(lambda g, out, x, value: _zeros_like(g), lambda g, out, x, value: g)
_fill_t.defjvp_linear()


def _copy_fwd(x, src):
    return np.broadcast_to(src, x.shape).astype(x.dtype)


# Matches torch: copy_'s node is `CopyBackwards` (no number); the old value gets no gradient.
_copy = _pointwise("CopyBackwards")(_copy_fwd).defvjp(
    lambda g, out, x, src: _zeros_like(g),
    lambda g, out, x, src: g,
)
_copy.defjvp_linear()


def zero_(input: Tensor) -> Tensor:
    """Fill input with zeros, in place."""
    return apply_inplace(_zero, input)


def fill_(input: Tensor, value: Tensor | float) -> Tensor:
    """Fill input with a number or a 0-d tensor, in place."""
    if not isinstance(value, Tensor):
        return apply_inplace(_fill_s, input, value)
    if value.ndim:
        raise RuntimeError(
            "fill_ only supports 0-dimension value tensor but got tensor with "
            f"{value.ndim} dimensions."
        )
    return apply_inplace(_fill_t, input, value)


def copy_(input: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copy src (broadcast to input's shape, cast to its dtype) into input."""
    try:
        shape = np.broadcast_shapes(input.shape, src.shape)
    except ValueError:
        shape = input.shape  # the op raises torch's size-mismatch error
    if shape != input.shape:
        raise RuntimeError(
            f"output with shape {list(input.shape)} doesn't match the broadcast shape {list(shape)}"
        )
    # Matches torch: copying into an integer tensor records no graph.
    return apply_inplace(_copy, input, src if input.dtype._cat >= 2 else src.detach())


# ---- in-place forms ----
def _inplace(fn: Callable, name: str = "") -> Callable:
    """`fn_`: compute fn(input, ...) and write it into input (torch's dtype rules apply: the
    result's category may not exceed input's)."""

    def method(input: Tensor, *args, **kwargs) -> Tensor:
        return apply_inplace(fn, input, *args, **kwargs)

    method.__name__ = method.__qualname__ = name or fn.__name__ + "_"
    method.__doc__ = f"In-place {method.__name__[:-1]}."
    return method


add_, sub_, mul_, div_ = _inplace(add), _inplace(sub), _inplace(mul), _inplace(div)
subtract_, multiply_, divide_, true_divide_ = sub_, mul_, div_, _inplace(true_divide)
floor_divide_ = _inplace(_not_implemented("floor_divide_", _floor_div_fwd, promote=True))
remainder_, pow_ = _inplace(remainder), _inplace(pow)
neg_, sign_, reciprocal_ = _inplace(neg), _inplace(sign), _inplace(reciprocal)
_abs_ = _inplace(abs, "abs_")


def abs_(input: Tensor) -> Tensor:
    """In-place abs (torch refuses it for complex tensors: |z| is real)."""
    refuse_complex((RuntimeError, "In-place abs is not supported for complex tensors."), input)
    return _abs_(input)


negative_, absolute_, square_ = neg_, abs_, _inplace(square)
exp_, log_, log1p_, expm1_ = _inplace(exp), _inplace(log), _inplace(log1p), _inplace(expm1)
log2_, log10_, sqrt_, rsqrt_ = _inplace(log2), _inplace(log10), _inplace(sqrt), _inplace(rsqrt)
sin_, cos_, tan_ = _inplace(sin), _inplace(cos), _inplace(tan)
asin_, acos_, atan_, atan2_ = _inplace(asin), _inplace(acos), _inplace(atan), _inplace(atan2)
arcsin_, arccos_, arctan_, arctan2_ = asin_, acos_, atan_, atan2_
sinh_, cosh_, tanh_ = _inplace(sinh), _inplace(cosh), _inplace(tanh)
sigmoid_, relu_, erf_ = _inplace(sigmoid), _inplace(relu), _inplace(erf)
clamp_, clamp_min_, clamp_max_ = _inplace(clamp), _inplace(clamp_min), _inplace(clamp_max)
clip_ = clamp_
floor_, ceil_, trunc_, frac_ = _inplace(floor), _inplace(ceil), _inplace(trunc), _inplace(frac)
round_, fix_ = _inplace(round), trunc_
logical_and_, logical_or_ = _inplace(logical_and), _inplace(logical_or)
logical_xor_, logical_not_ = _inplace(logical_xor), _inplace(logical_not)
bitwise_and_, bitwise_or_ = _inplace(bitwise_and), _inplace(bitwise_or)
bitwise_xor_, bitwise_not_ = _inplace(bitwise_xor), _inplace(bitwise_not)
