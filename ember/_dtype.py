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

    __slots__ = ("_cat", "is_complex", "is_floating_point", "is_signed", "itemsize", "name", "np")

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

    def to_real(self) -> dtype:
        """The real counterpart of a complex dtype; any other dtype is returned unchanged."""
        return {complex64: float32, complex128: float64}.get(self, self)

    def to_complex(self) -> dtype:
        """The complex counterpart of a floating dtype; a complex dtype is returned unchanged.

        Matches torch, except that float16 maps to complex64: ember has no complex32.
        """
        if self._cat < 2:
            raise RuntimeError(f"Unknown Complex ScalarType for {SCALAR_NAMES[self.name]}")
        return {float16: complex64, float32: complex64, float64: complex128}.get(self, self)


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
# c10's ScalarType names, which torch's error messages use ("not implemented for 'Long'").
SCALAR_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    """The ember dtype of a NumPy dtype; raises TypeError as torch does for unsupported ones."""
    nd = np.dtype(np_dtype)
    found = _FROM_NP.get(nd)
    if found is not None:
        return found
    if nd.kind == "u":
        # torch has uint16/32/64 tensors; ember does not, so say so instead of torch's list.
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{nd.type.__name__}: ember has no "
            f"{nd.name} dtype; convert the array with .astype(numpy.int64) first."
        )
    raise TypeError(
        f"can't convert np.ndarray of type numpy.{nd.type.__name__}. The only supported types "
        "are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, "
        "uint64, uint32, uint16, uint8, and bool."
    )


_default = float32


def get_default_dtype() -> dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _default


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype; like torch, only float16/float32/float64 are allowed."""
    global _default
    if not isinstance(d, dtype):
        raise TypeError(
            "invalid dtype object: only floating-point types are supported as the default type"
        )
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default = d


# Within one category torch promotes as NumPy does; across categories the higher category wins
# unchanged (torch: float16 + int64 -> float16, where NumPy widens to float64), except that a
# complex dtype meeting float64 widens to complex128.
def promote_types(type1: dtype, type2: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both a and b convert to without losing category."""
    a, b = _dtype_arg(type1, 1), _dtype_arg(type2, 2)
    if a is b:
        return a
    if a._cat != b._cat:
        hi, lo = (a, b) if a._cat > b._cat else (b, a)
        if hi._cat == 3 and lo is float64:
            return complex128
        return hi
    return _FROM_NP[np.promote_types(a.np, b.np)]


def _dtype_arg(d: object, position: int) -> dtype:
    # Matches torch: Python's float/int/bool/complex are accepted wherever a dtype is.
    if isinstance(d, dtype) or d in (float, int, bool, complex):
        return to_dtype(d)
    raise TypeError(
        f"promote_types(): argument 'type{position}' (position {position}) must be "
        f"ember.dtype, not {type(d).__name__}"
    )


def _scalar_category(x: object) -> int:
    """The category of a Python or NumPy scalar; torch treats both as 'wrapped numbers'."""
    if isinstance(x, (bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    if isinstance(x, (float, np.floating)):
        return 2
    if isinstance(x, (complex, np.complexfloating)):
        return 3
    raise TypeError(
        f"result_type() received an invalid combination of arguments - got "
        f"({type(x).__name__}): expected Tensors or Numbers"
    )


def category_default(cat: int) -> dtype:
    """The dtype a lone Python scalar of this category gets (bool, int64, default float)."""
    if cat == 0:
        return bool_
    if cat == 1:
        return int64
    if cat == 2:
        return _default
    return _default.to_complex()


def _promote(a: dtype | None, b: dtype) -> dtype:
    return b if a is None else promote_types(a, b)


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """Merge a higher-priority tier's dtype with a lower one's (torch's combine_categories):
    the lower tier only counts when its category is above the higher tier's."""
    if higher is None:
        return lower
    if lower is None or higher._cat == 3:
        return higher
    if lower._cat == 3:
        # Matches torch: float32 tensor * complex128 scalar -> complex64 (the float's width).
        return higher.to_complex() if higher._cat == 2 else lower
    if higher._cat == 2:
        return higher
    if higher is bool_ or lower._cat == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands: object) -> dtype:
    """torch.result_type over tensors and Python scalars, in three priority tiers.

    Tensors with dimensions outrank zero-dim tensors, which outrank Python (and NumPy) scalars;
    torch merges the zero-dim tier with the scalar tier first, then with the dimensioned tier.
    """
    dim_t = zero_t = wrapped = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim_t = _promote(dim_t, d)
            else:
                zero_t = _promote(zero_t, d)
        else:
            wrapped = _promote(wrapped, category_default(_scalar_category(x)))
    return _combine(dim_t, _combine(zero_t, wrapped))


def to_dtype(d: object) -> dtype:
    """Accept an ember dtype, a NumPy dtype or a Python type (float, int, bool, complex)."""
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
