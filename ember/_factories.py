"""Tensor factories with torch's signatures: tensor, as_tensor, zeros, full, arange, eye, ...

Conventions (all torch's):
- Data given as Python numbers infers dtypes: floats -> the default dtype, ints -> int64, bools
  -> bool, complex -> the default complex dtype; a list promotes its elements with
  `promote_types`; NumPy arrays and scalars, and 0-d tensors, keep their dtype.
- Sizes may be varargs, one tuple/list/`ember.Size`, or `size=`; `device=` accepts only the CPU.
- `requires_grad=True` is refused for bool and integer dtypes.
- Values that do not fit the requested integer dtype raise torch's "without overflow" errors.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _dtype
from ._device import check_device
from ._tensor import Tensor

__all__ = [
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "tensor",
    "zeros",
    "zeros_like",
]

# Bound as Tensor methods by ember/__init__.py. The in-place samplers come from _random.
TENSOR_METHODS = (
    "new_tensor",
    "new_zeros",
    "new_ones",
    "new_full",
    "new_empty",
    "uniform_",
    "normal_",
    "random_",
    "bernoulli_",
    "exponential_",
    "bernoulli",
    "multinomial",
)

_COPY_CONSTRUCT = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than {}(sourceTensor)."
)
_NDARRAY_LIST = (
    "Creating a tensor from a list of numpy.ndarrays is extremely slow. Please consider "
    "converting the list to a single numpy.ndarray with numpy.array() before converting to a "
    "tensor."
)
_NOT_WRITABLE = (
    "The given NumPy array is not writable, and ember does not support non-writable tensors. "
    "This means writing to this tensor will result in undefined behavior. You may want to copy "
    "the array to protect its data or make it writable before converting it to a tensor."
)
_PY_SCALARS = frozenset((bool, int, float, complex))
_warned: set[str] = set()  # torch issues these warnings once per process (TORCH_WARN_ONCE)
# The C++ type names torch's `full`/`full_like` use in their overflow errors.
_C_NAMES = {
    "bool": "bool",
    "uint8": "uint8_t",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int",
    "int64": "int64_t",
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
    "complex64": "c10::complex<float>",
    "complex128": "c10::complex<double>",
}


# ---- shared argument handling (also used by _random) ------------------------------------------
def _warn_once(message: str, stacklevel: int) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


def leaf(arr: np.ndarray, requires_grad: bool) -> Tensor:
    """Wrap `arr` as a new leaf; torch refuses requires_grad on bool and integer dtypes."""
    t = Tensor._make(arr)
    if requires_grad:
        if t.dtype._cat < 2:
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        t._requires_grad = True
    return t


def data_of(t: Tensor, dtype: type | None = None, copy: bool = False) -> np.ndarray:
    """`t`'s array (cast to `dtype`, without a copy when it already is one unless `copy`), to
    hand to an op as a parameter (targets, indices, class weights). A function of its own so
    that ember.compile can tell which tensor such an array comes from. An index kept for the
    backward is a copy, so that writing to the index tensor later cannot change it."""
    if dtype is None:
        return t._data.copy() if copy else t._data
    return t._data.astype(dtype, copy=copy)


def shape_const(arr: np.ndarray) -> np.ndarray:
    """`arr`, computed from shapes and parameters alone, never from a tensor's values (a
    pooling divisor, an index grid). Marked so, ember.compile binds it as a constant of the
    trace instead of refusing an array that no recorded step produced."""
    return arr


def zeros_const(shape: tuple, dtype: np.dtype) -> Tensor:
    """Zeros that depend on no input's values (a gradient that is zero by rule). Made through
    `leaf`, so that ember.compile records the array as a constant of the trace."""
    return leaf(np.zeros(shape, dtype), False)


def dtype_arg(d: Any, fname: str) -> _dtype.dtype | None:
    """A `dtype=` argument: an ember dtype or Python's float/int/bool/complex (as torch)."""
    if d is None or isinstance(d, _dtype.dtype):
        return d
    if d in (float, int, bool, complex):
        return _dtype.to_dtype(d)
    raise TypeError(f"{fname}(): argument 'dtype' must be ember.dtype, not {type(d).__name__}")


def _int_arg(a: Any) -> int | None:
    """`a` as an int when torch would take it as one (ints, NumPy ints, integer 0-d tensors)."""
    if isinstance(a, (bool, float)):
        return None
    try:
        return operator.index(a)
    except TypeError:
        return None


def size_arg(args: tuple, size: Any, fname: str) -> tuple[int, ...]:
    """A shape from varargs `f(2, 3)`, one sequence `f((2, 3))`, or `size=`; torch's errors."""
    if size is not None:
        if args:
            raise TypeError(f"{fname}() got multiple values for argument 'size'")
        args = (size,)
    if not args:
        raise TypeError(f'{fname}() missing 1 required positional arguments: "size"')
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    elif any(isinstance(a, (tuple, list)) for a in args):
        raise TypeError(f"{fname}() takes 1 positional argument but {len(args)} were given")
    elif len(args) == 1 and _int_arg(args[0]) is None:
        raise TypeError(
            f"{fname}(): argument 'size' (position 1) must be tuple of ints, "
            f"not {type(args[0]).__name__}"
        )
    shape = []
    for pos, a in enumerate(args, 1):
        n = _int_arg(a)
        if n is None:
            raise TypeError(
                f"{fname}(): argument 'size' failed to unpack the object at pos {pos} with error "
                f'"type must be tuple of ints,but got {type(a).__name__}"'
            )
        shape.append(n)
    for n in shape:
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {shape}")
    return tuple(shape)


def tuple_size_arg(size: Any, fname: str, position: int = 1) -> tuple[int, ...]:
    """A `size` that torch requires to be a sequence (full, new_full, randint)."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            f"{fname}(): argument 'size' (position {position}) must be tuple of ints, "
            f"not {type(size).__name__}"
        )
    return size_arg((size,), None, fname)


def scalar_arg(x: Any) -> Any:
    """A Python scalar from a number, a NumPy scalar or a one-element tensor (read with
    item(): a value read, which ember.compile guards instead of baking it in)."""
    if isinstance(x, Tensor):
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _fill_dtype(value: Any) -> _dtype.dtype:
    # Matches torch: a fill value's dtype is that of a Python scalar of its kind, even for a
    # float64 0-d tensor (torch.full((2,), torch.tensor(3., dtype=torch.float64)) is float32).
    if isinstance(value, (bool, np.bool_)):
        return _dtype.bool_
    if isinstance(value, (int, np.integer)):
        return _dtype.int64
    if isinstance(value, (float, np.floating)):
        return _dtype.get_default_dtype()
    return _dtype.category_default(3)


def _checked_fill(value: Any, d: _dtype.dtype) -> Any:
    """`value` checked as torch checks a Scalar converted to `d` (c10's `overflows`)."""
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise OverflowError("int too big to convert")
    bad = False
    if d._cat == 1:
        info = np.iinfo(d.np)
        if isinstance(value, complex):
            bad = value.imag != 0
            value = value.real
        if isinstance(value, int) and not info.min:
            # Matches torch: unsigned types accept negatives down to -max (two's complement).
            bad = bad or not -info.max <= value <= info.max
        else:
            bad = bad or not info.min <= value <= info.max  # also catches NaN
    elif d._cat == 2 and isinstance(value, (float, complex)):
        if isinstance(value, complex):
            bad = value.imag != 0
            value = value.real
        if d is _dtype.float16:
            # Matches torch: doubles reach float16 through float32, so 1e300 becomes inf.
            value32 = float(np.float32(value)) if abs(value) < 3.5e38 else math.inf
            bad = bad or (math.isfinite(value32) and abs(value32) > 65504.0)
        else:
            bad = bad or (math.isfinite(value) and abs(value) > float(np.finfo(d.np).max))
    elif d._cat == 3 and isinstance(value, (float, complex)):
        part_max = float(np.finfo(d.to_real().np).max)
        bad = any(math.isfinite(p) and abs(p) > part_max for p in (value.real, value.imag))
    if bad:
        raise RuntimeError(f"value cannot be converted to type {_C_NAMES[d.name]} without overflow")
    if d._cat < 3 and isinstance(value, complex):
        return value.real
    if d._cat == 1 and isinstance(value, int):
        return np.array(value, dtype=np.int64).astype(d.np)
    return value


def _check_array(arr: np.ndarray) -> None:
    """torch's refusals for arrays it cannot wrap: byte order, dtype, negative strides."""
    if not arr.dtype.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. Conversion "
            "between byte orders is currently not supported."
        )
    _dtype.from_numpy_dtype(arr.dtype)
    if any(s < 0 for s in arr.strides):
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with negative "
            "strides are not currently supported. (You can probably work around this by making a "
            "copy of your array  with array.copy().) "
        )


# ---- tensor(): nested Python data --------------------------------------------------------------
def _is_seq(obj: Any) -> bool:
    # Matches torch (PySequence_Check): tensors are scalars here, strings are sequences.
    return isinstance(obj, (Sequence, np.ndarray)) and not isinstance(obj, Tensor)


def _sizes(data: Any) -> list[int]:
    """The shape, read as torch reads it: from the first element at every level."""
    sizes = []
    obj = data
    while _is_seq(obj):
        n = len(obj)
        sizes.append(n)
        if len(sizes) > 64:
            raise ValueError(f"too many dimensions '{type(obj).__name__}'")
        if n == 0:
            break
        obj = obj[0]
    return sizes


def _infer_dtype(obj: Any) -> _dtype.dtype:
    """torch's infer_scalar_type: promote_types over every leaf; [] is the default dtype."""
    t = type(obj)
    if t in _PY_SCALARS:
        return _dtype.category_default((bool, int, float, complex).index(t))
    if isinstance(obj, Tensor):
        return obj.dtype
    if isinstance(obj, (np.ndarray, np.generic)):
        return _dtype.from_numpy_dtype(obj.dtype)
    if isinstance(obj, str):
        raise TypeError(f"new(): invalid data type '{t.__name__}'")
    for i, kind in enumerate((bool, int, float, complex)):
        if isinstance(obj, kind):
            return _dtype.category_default(i)
    if _is_seq(obj):
        if len(obj) == 0:
            return _dtype.get_default_dtype()
        kinds = set(map(type, obj))
        items = [k() for k in kinds] if kinds <= _PY_SCALARS else obj
        out = None
        for item in items:
            d = _infer_dtype(item)
            out = d if out is None else _dtype.promote_types(out, d)
        return out
    raise RuntimeError(f"Could not infer dtype of {t.__name__}")


def _store(obj: Any, sizes: list[int], dim: int, flat: list, target: _dtype.dtype) -> None:
    """Append the leaves of `obj` to `flat`, checking it is rectangular as torch does."""
    if dim == len(sizes):
        flat.append(_leaf_value(obj, target))
        return
    if isinstance(obj, np.ndarray) and dim:
        _warn_once(_NDARRAY_LIST, stacklevel=4)
    if isinstance(obj, Tensor) and obj.ndim:
        obj = list(obj._data)
    elif not isinstance(obj, (list, tuple)):
        try:
            obj = list(obj)
        except TypeError:
            raise TypeError("not a sequence") from None
    n = sizes[dim]
    if len(obj) != n:
        raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(obj)})")
    if dim == len(sizes) - 1 and set(map(type, obj)) <= _PY_SCALARS:
        flat.extend(obj)
        return
    for item in obj:
        _store(item, sizes, dim + 1, flat, target)


def _leaf_value(obj: Any, target: _dtype.dtype) -> Any:
    if isinstance(obj, Tensor):
        if obj._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if obj._requires_grad:
            warnings.warn(
                "Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                "behavior.\nConsider using tensor.detach() first.",
                UserWarning,
                stacklevel=5,
            )
        return obj.item()  # (a value read: guarded under ember.compile)
    if _is_seq(obj):
        # Matches torch: the error Python raises converting this leaf to the target type.
        if target._cat <= 1:
            raise TypeError(f"'{type(obj).__name__}' object cannot be interpreted as an integer")
        raise TypeError(f"must be real number, not {type(obj).__name__}")
    return obj


def _convert(flat: list, inferred: _dtype.dtype, target: _dtype.dtype) -> np.ndarray:
    """The leaves as a 1-d array of `target`, with torch's overflow checks for integers."""
    with np.errstate(over="ignore", invalid="ignore"):
        if target._cat >= 2:
            try:
                return np.array(flat, dtype=target.np)
            except TypeError:
                raise TypeError("must be real number, not complex") from None
        if target is _dtype.bool_:
            return np.array(flat).astype(np.bool_)
        if inferred._cat == 3:
            raise TypeError("'complex' object cannot be interpreted as an integer")
        if inferred._cat <= 1:
            try:
                arr = np.array(flat, dtype=np.int64)
            except OverflowError:
                raise ValueError("Overflow when unpacking long long") from None
            info = np.iinfo(target.np)
            # Matches torch: an unsigned dtype takes negatives down to -max, wrapping them.
            lo = -int(info.max) if info.min == 0 else info.min
        else:
            arr = np.array(flat, dtype=np.float64)
            info = np.iinfo(target.np)
            lo = info.min
        if arr.size and not ((arr >= lo) & (arr <= info.max)).all():
            raise RuntimeError(f"value cannot be converted to type {target.name} without overflow")
        return arr.astype(target.np)


def _from_data(data: Any, dtype: _dtype.dtype | None) -> np.ndarray:
    """A fresh array of torch's inferred (or the given) dtype for nested Python data."""
    if isinstance(data, str):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    sizes = _sizes(data)
    inferred = _infer_dtype(data)
    target = dtype or inferred
    if 0 in sizes:
        # Matches torch: an empty result is not checked further ([[], [1]] gives shape (2, 0)).
        return np.zeros(sizes, dtype=target.np)
    flat: list = []
    _store(data, sizes, 0, flat, target)
    return _convert(flat, inferred, target).reshape(sizes)


def _copy_of(data: Any, dtype: _dtype.dtype | None, fname: str) -> np.ndarray:
    if isinstance(data, Tensor):
        warnings.warn(_COPY_CONSTRUCT.format(fname), UserWarning, stacklevel=3)
        arr = data._data
    elif isinstance(data, np.ndarray):
        _check_array(data)
        arr = data
    else:
        return _from_data(data, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        # Matches torch: a cast from an array or tensor wraps or overflows to inf silently.
        return arr.astype(arr.dtype if dtype is None else dtype.np, copy=True)


def tensor(
    data: Any,
    *,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A new leaf tensor holding a copy of `data` (nested sequences, scalars, arrays, tensors)."""
    check_device(device)
    return leaf(_copy_of(data, dtype_arg(dtype, "tensor"), "torch.tensor"), requires_grad)


def as_tensor(data: Any, *, dtype: _dtype.dtype | None = None, device: Any = None) -> Tensor:
    """`data` as a tensor, without a copy where possible.

    A tensor of the right dtype is returned itself (other dtypes convert with `.to`, keeping
    the graph); a NumPy array of the right dtype is shared, as `from_numpy` does.
    """
    check_device(device)
    dtype = dtype_arg(dtype, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None or dtype is data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        _check_array(data)
        if dtype is None or dtype.np == data.dtype:
            return from_numpy(data)
        return Tensor._make(data.astype(dtype.np))
    return Tensor._make(_from_data(data, dtype))


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with `ndarray`: writes to either show in both."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _check_array(ndarray)
    if not ndarray.flags.writeable:
        _warn_once(_NOT_WRITABLE, stacklevel=2)
    return Tensor._make(ndarray)


# ---- filled tensors ----------------------------------------------------------------------------
def _filled(fill: Any, shape: tuple, dtype: Any, fname: str, requires_grad: bool) -> Tensor:
    d = dtype_arg(dtype, fname) or _dtype.get_default_dtype()
    if fill is None:
        arr = np.empty(shape, dtype=d.np)
    else:
        arr = np.full(shape, fill, dtype=d.np)
    return leaf(arr, requires_grad)


def zeros(
    *size_args: Any,
    size: Any = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of zeros of the given size (default dtype unless `dtype=`)."""
    check_device(device)
    try:
        shape = size_arg(size_args, size, "zeros")
    except RuntimeError:
        # Matches torch: zeros words its negative-size error differently from the others.
        raise RuntimeError("zeros: Dimension size must be non-negative.") from None
    return _filled(0, shape, dtype, "zeros", requires_grad)


def ones(
    *size_args: Any,
    size: Any = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of ones of the given size (default dtype unless `dtype=`)."""
    check_device(device)
    return _filled(1, size_arg(size_args, size, "ones"), dtype, "ones", requires_grad)


def empty(
    *size_args: Any,
    size: Any = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """An uninitialised tensor of the given size: its values are whatever memory held."""
    check_device(device)
    return _filled(None, size_arg(size_args, size, "empty"), dtype, "empty", requires_grad)


def full(
    size: Sequence[int],
    fill_value: Any,
    *,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of `size` filled with `fill_value`; the dtype follows the value's kind."""
    check_device(device)
    shape = tuple_size_arg(size, "full")
    value = _number_arg(fill_value, "full")
    d = dtype_arg(dtype, "full") or _fill_dtype(value)
    return _filled(_checked_fill(value, d), shape, d, "full", requires_grad)


def _number_arg(value: Any, fname: str) -> Any:
    if isinstance(value, Tensor) and value.ndim:
        raise TypeError(f"{fname}(): argument 'fill_value' (position 2) must be Number, not Tensor")
    return scalar_arg(value)


def eye(
    n: int,
    m: int | None = None,
    *,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """An n x m (default n x n) matrix with ones on the diagonal."""
    check_device(device)
    for name, v in (("n", n), ("m", m)):
        if v is not None and _int_arg(v) is None:
            raise TypeError(
                f"eye(): argument '{name}' (position {1 + (name == 'm')}) must be int, "
                f"not {type(v).__name__}"
            )
        if v is not None and v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    d = dtype_arg(dtype, "eye") or _dtype.get_default_dtype()
    return leaf(np.eye(n, n if m is None else m, dtype=d.np), requires_grad)


# ---- ranges ------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    # C++ ostream's default formatting, which torch's messages use: 0.0 -> "0", 1e20 -> "1e+20".
    return f"{x:g}"


def _not_implemented(kernel: str, d: _dtype.dtype) -> NotImplementedError:
    return NotImplementedError(f"\"{kernel}\" not implemented for '{_dtype.SCALAR_NAMES[d.name]}'")


def arange(
    start: Any = 0,
    end: Any = None,
    step: Any = 1,
    *,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Values from `start` up to (not including) `end` by `step`: `arange(5)`, `arange(0, 1, .1)`.

    The dtype is int64, or the default dtype when any argument is floating. The length is
    torch's `ceil((end - start) / step)` in double precision, so float steps give torch's count.
    """
    check_device(device)
    if end is None:
        start, end = 0, start
    start, end, step = (scalar_arg(v) for v in (start, end, step))
    is_float = any(isinstance(v, float) for v in (start, end, step))
    d = dtype_arg(dtype, "arange") or (_dtype.get_default_dtype() if is_float else _dtype.int64)
    if d is _dtype.bool_ or d._cat == 3:
        raise _not_implemented("arange_cpu", d)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {_fmt(start)} -> {_fmt(end)}")
    if not ((step > 0 and end >= start) or (step < 0 and end <= start)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if d._cat == 1 and not all(-(2**63) <= v < 2**63 for v in (start, end, step)):
        raise RuntimeError("value cannot be converted to type int64_t without overflow")
    if d is _dtype.int64:
        # Matches torch: int64 truncates the bounds and step first, and counts in integers.
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise ValueError("step must be nonzero")
        n = -((start - end) // step)
    else:
        n = math.ceil((float(end) - float(start)) / float(step))
        if d._cat == 1:
            start, step = int(start), int(step)
    if n >= 2**63:
        raise RuntimeError("invalid size, possible overflow?")
    if d._cat == 1:
        arr = (start + step * np.arange(n, dtype=np.int64)).astype(d.np)
    else:
        arr = (float(start) + float(step) * np.arange(n, dtype=np.float64)).astype(d.np)
    return leaf(arr, requires_grad)


def _steps_arg(steps: Any, fname: str) -> int:
    n = _int_arg(steps)
    if n is None:
        raise TypeError(f"{fname}(): argument 'steps' must be int, not {type(steps).__name__}")
    if n < 0:
        raise RuntimeError("number of steps must be non-negative")
    return n


def _lin(start: Any, end: Any, steps: int, d: _dtype.dtype, fname: str) -> np.ndarray:
    """torch's symmetric linspace: the first half counts up from start, the second half down
    from end, so both endpoints are exact; integer dtypes step in double and truncate."""
    if d is _dtype.bool_:
        raise _not_implemented(f"{fname}_cpu", d)
    work = np.float64 if d._cat <= 1 else d.np
    if d._cat == 1:
        start, end = int(start), int(end)  # Matches torch: integer dtypes truncate the ends first.
    a, b = np.array(start, dtype=work), np.array(end, dtype=work)
    i = np.arange(steps)
    if steps == 1:
        return np.array([a]).astype(d.np)
    with np.errstate(over="ignore", invalid="ignore"):
        step = (b - a) / np.array(steps - 1, dtype=work)
        up = a + step * i.astype(work)
        down = b - step * (steps - 1 - i).astype(work)
    return np.where(i < steps // 2, up, down).astype(work)


def linspace(
    start: Any,
    end: Any,
    steps: int,
    *,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included."""
    check_device(device)
    start, end = scalar_arg(start), scalar_arg(end)
    n = _steps_arg(steps, "linspace")
    is_complex = any(isinstance(v, complex) for v in (start, end))
    d = dtype_arg(dtype, "linspace") or _dtype.category_default(3 if is_complex else 2)
    return leaf(_lin(start, end, n, d, "linspace").astype(d.np), requires_grad)


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` values from `base ** start` to `base ** end`, evenly spaced in the exponent."""
    check_device(device)
    start, end = scalar_arg(start), scalar_arg(end)
    n = _steps_arg(steps, "logspace")
    d = dtype_arg(dtype, "logspace") or _dtype.get_default_dtype()
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.power(float(base), _lin(start, end, n, d, "logspace").astype(np.float64))
        return leaf(arr.astype(d.np), requires_grad)


# ---- *_like and new_* --------------------------------------------------------------------------
def _like_input(input: Any, fname: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{fname}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    return input


def zeros_like(
    input: Tensor,
    *,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Zeros with the shape (and, unless `dtype=`, the dtype) of `input`."""
    check_device(device)
    x = _like_input(input, "zeros_like")
    return _filled(0, x.shape, dtype or x.dtype, "zeros_like", requires_grad)


def ones_like(
    input: Tensor,
    *,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Ones with the shape (and, unless `dtype=`, the dtype) of `input`."""
    check_device(device)
    x = _like_input(input, "ones_like")
    return _filled(1, x.shape, dtype or x.dtype, "ones_like", requires_grad)


def empty_like(
    input: Tensor,
    *,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """An uninitialised tensor with the shape (and, unless `dtype=`, the dtype) of `input`."""
    check_device(device)
    x = _like_input(input, "empty_like")
    return _filled(None, x.shape, dtype or x.dtype, "empty_like", requires_grad)


def full_like(
    input: Tensor,
    fill_value: Any,
    *,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """`fill_value` in the shape of `input`, in input's dtype (not the value's) unless `dtype=`."""
    check_device(device)
    x = _like_input(input, "full_like")
    d = dtype_arg(dtype, "full_like") or x.dtype
    value = _checked_fill(_number_arg(fill_value, "full_like"), d)
    return _filled(value, x.shape, d, "full_like", requires_grad)


def new_tensor(
    self: Tensor,
    data: Any,
    *,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A copy of `data` as a new leaf in self's dtype (not data's) unless `dtype=`."""
    check_device(device)
    d = dtype_arg(dtype, "new_tensor") or self.dtype
    return leaf(_copy_of(data, d, "tensor.new_tensor"), requires_grad)


def new_zeros(
    self: Tensor,
    *size_args: Any,
    size: Any = None,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Zeros of the given size in self's dtype unless `dtype=`."""
    check_device(device)
    shape = size_arg(size_args, size, "new_zeros")
    return _filled(0, shape, dtype or self.dtype, "new_zeros", requires_grad)


def new_ones(
    self: Tensor,
    *size_args: Any,
    size: Any = None,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Ones of the given size in self's dtype unless `dtype=`."""
    check_device(device)
    shape = size_arg(size_args, size, "new_ones")
    return _filled(1, shape, dtype or self.dtype, "new_ones", requires_grad)


def new_empty(
    self: Tensor,
    *size_args: Any,
    size: Any = None,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """An uninitialised tensor of the given size in self's dtype unless `dtype=`."""
    check_device(device)
    shape = size_arg(size_args, size, "new_empty")
    return _filled(None, shape, dtype or self.dtype, "new_empty", requires_grad)


def new_full(
    self: Tensor,
    size: Sequence[int],
    fill_value: Any,
    *,
    dtype: _dtype.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """`fill_value` in the given size, in self's dtype unless `dtype=`."""
    check_device(device)
    shape = tuple_size_arg(size, "new_full")
    d = dtype_arg(dtype, "new_full") or self.dtype
    value = _checked_fill(_number_arg(fill_value, "new_full"), d)
    return _filled(value, shape, d, "new_full", requires_grad)


# The samplers live with the generator in _random, which imports the helpers defined above;
# they are imported here only to be bound as Tensor methods through TENSOR_METHODS.
from ._random import (  # noqa: E402, F401
    bernoulli,
    bernoulli_,
    exponential_,
    multinomial,
    normal_,
    random_,
    uniform_,
)
