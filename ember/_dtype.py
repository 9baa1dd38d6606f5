"""torch's dtypes on top of NumPy's, the default dtype, and torch's type-promotion rules.

Each `dtype` wraps one NumPy dtype. Promotion follows torch, not NumPy: tensors with dimensions
outrank zero-dim tensors, which outrank Python scalars, and a lower-priority operand only
matters when it belongs to a higher category (bool < integer < floating < complex). So
`float32 tensor * 2.5` stays float32, and `int tensor / int tensor` is the default float dtype.
"""

from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type, printed as `ember.float32` (torch prints `torch.float32`)."""

    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize", "_cat")

    def __init__(self, name: str, np_dtype: type, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self._cat = category  # 0 bool, 1 integer, 2 floating, 3 complex
        self.is_floating_point = category == 2
        self.is_complex = category == 3
        self.is_signed = name not in ("bool", "uint8")
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    @property
    def to_real(self) -> dtype:
        return {complex64: float32, complex128: float64}.get(self, self)

    @property
    def to_complex(self) -> dtype:
        return {float32: complex64, float64: complex128, float16: complex64}.get(self, self)


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
complex64 = dtype("complex64", np.complex64, 3)
complex128 = dtype("complex128", np.complex128, 3)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64, complex64, complex128)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
# torch's aliases: torch.float is float32, torch.double float64, torch.long int64, ...
ALIASES = {
    "float": float32,
    "double": float64,
    "half": float16,
    "long": int64,
    "int": int32,
    "short": int16,
    "cfloat": complex64,
    "cdouble": complex128,
}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    """The ember dtype of a NumPy dtype; raises TypeError as torch does for unsupported ones."""
    try:
        return _FROM_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).name}. The only supported "
            "types are: float64, float32, float16, complex64, complex128, int64, int32, int16, "
            "int8, uint8, and bool."
        ) from None


_default = float32


def get_default_dtype() -> dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _default


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype; like torch, only float32/float64/float16 are allowed."""
    global _default
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default = d


# Within one category torch promotes as NumPy does; across categories the higher category wins
# unchanged (torch: float16 + int64 -> float16, where NumPy widens to float64).
def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both a and b convert to without losing category."""
    if a is b:
        return a
    if a._cat != b._cat:
        hi, lo = (a, b) if a._cat > b._cat else (b, a)
        if hi._cat == 3 and lo is float64:
            return complex128
        return hi
    return _FROM_NP[np.promote_types(a.np, b.np)]


def _scalar_category(x: object) -> int:
    if isinstance(x, bool):
        return 0
    if isinstance(x, int):
        return 1
    if isinstance(x, float):
        return 2
    return 3


def category_default(cat: int) -> dtype:
    """The dtype a lone Python scalar of this category gets (bool, int64, default float)."""
    if cat == 0:
        return bool_
    if cat == 1:
        return int64
    if cat == 2:
        return _default
    return complex128 if _default is float64 else complex64


def result_type(*operands: object) -> dtype:
    """torch.result_type over tensors and Python scalars (three priority tiers)."""
    dim_t = zero_t = None
    scalar_cat = -1
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim_t = d if dim_t is None else promote_types(dim_t, d)
            else:
                zero_t = d if zero_t is None else promote_types(zero_t, d)
        elif x is not None:
            scalar_cat = max(scalar_cat, _scalar_category(x))
    out = dim_t
    if zero_t is not None:
        if out is None:
            out = zero_t
        elif zero_t._cat > out._cat:
            out = zero_t if zero_t._cat != 3 else _complex_of(out, zero_t)
    if scalar_cat >= 0:
        if out is None:
            out = category_default(scalar_cat)
        elif scalar_cat > out._cat:
            out = category_default(scalar_cat) if out._cat < 2 else out.to_complex
    return out


def _complex_of(base: dtype, c: dtype) -> dtype:
    return complex128 if (base is float64 or c is complex128) else complex64


def to_dtype(d: object) -> dtype:
    """Accept an ember dtype, a NumPy dtype or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return float64
    if d is int:
        return int64
    if d is bool:
        return bool_
    if d is complex:
        return complex128
    return from_numpy_dtype(d)
