"""ember's tensor repr against torch 2.13's, character for character.

Each case builds the same NumPy data into an ember tensor and a torch tensor and compares
`repr` exactly (torch's `torch.` dtype prefix read as `ember.`), so one space out of place fails.
Print options and the default dtype are reset after every test, in both libraries.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch._tensor_str import get_printoptions as torch_get_printoptions

import ember
from ember._printing import printoptions, tensor_repr

FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int16", "int32", "int64", "uint8"]
COMPLEX = ["complex64", "complex128"]
ALL_DTYPES = FLOATS + INTS + COMPLEX + ["bool"]
SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 4), (2, 2, 2, 3), (1, 1, 1), (4, 1)]
EMPTY_SHAPES = [(0,), (0, 3), (2, 0, 4), (3, 0)]


@pytest.fixture(autouse=True)
def _restore_defaults():
    yield
    ember.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    ember.set_default_dtype(ember.float32)
    torch.set_default_dtype(torch.float32)


def torch_repr(t: torch.Tensor) -> str:
    return repr(t).replace("torch.", "ember.")


def both(arr: np.ndarray) -> tuple:
    """An ember and a torch tensor holding `arr` (ember's keeps the array's strides)."""
    return ember.Tensor._make(arr), torch.from_numpy(np.array(arr, order="C"))


def check(arr: np.ndarray) -> None:
    e, t = both(arr)
    assert repr(e) == torch_repr(t)
    assert str(e) == repr(e)


def values(kind: str, shape: tuple, dtype: str, seed: int = 0) -> np.ndarray:
    """Seeded data of one value range; complex dtypes get independent real and imaginary parts."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    if dtype == "bool":
        return rng.random(n).reshape(shape) < 0.5
    if dtype in INTS:
        info = np.iinfo(dtype)
        lo = {"small": -10, "negative": -1000, "huge": info.min}.get(kind, 0)
        hi = {"small": 10, "negative": 0, "huge": info.max}.get(kind, 100)
        return rng.integers(max(lo, info.min), min(hi, info.max), n, endpoint=True).reshape(shape)

    def real() -> np.ndarray:
        x = rng.standard_normal(n)
        if kind == "tiny":
            x = x * 1e-6
        elif kind == "huge":
            x = x * 1e9
        elif kind == "mixed":
            x = x * 10.0 ** rng.integers(-3, 5, n)
        elif kind == "integer":
            x = np.round(x * 50)
        elif kind == "negative":
            x = -np.abs(x) * 100
        elif kind == "special":  # nan, inf, -inf and -0.0 in turn at every third place
            x = np.round(x * 10, 1)
            x[::3] = np.resize([np.nan, np.inf, -np.inf, -0.0], len(x[::3]))
        elif kind == "zeros":
            x = np.zeros(n)
        elif kind == "small":
            x = x * 0.01
        return x

    x = real()
    if dtype in COMPLEX:  # set parts directly: multiplying inf by 1j would make nan
        x = x.astype(complex)
        x.imag = real()
    if dtype == "float16":
        x = np.clip(x, -6e4, 6e4)
    return x.astype(dtype).reshape(shape)


KINDS = ["normal", "tiny", "huge", "mixed", "integer", "negative", "zeros", "small", "special"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_dtypes_shapes_ranges(kind, dtype, shape):
    check(values(kind, shape, dtype))


SPECIALS = [
    [np.nan],
    [np.inf],
    [-np.inf],
    [-0.0],
    [0.0, -0.0],
    [np.nan, 1.0, 2.0],
    [np.nan, 1.5, -np.inf],
    [np.inf, -np.inf, np.nan],
    [-0.0, 1.25, 3.0],
    [np.nan, 1e-5, 1.0],
    [np.inf, 1e10],
    [1e-4, 1.0],
    [1e-4 * 0.999, 1.0],
    [1.0, 1000.0],
    [1.0, 1000.1],
    [1e8],
    [1.0001e8],
    [123456789.0],
    [0.1, 0.25, 100.0],
    [9.99995, 1.0],
    [99999.5, -3.0],
    [-1e-30, 5e30],
    [1e-300, 1e300],
    [0.5, -0.5],
    [2.5, -1.0, 0.0],
    [1e20, -2.0],
]


def _fits(data: list, dtype: str) -> bool:
    """float32 cannot hold 1e300; such values are only printed in the wider dtypes."""
    return dtype != "float32" or not any(abs(v) > 3e38 and math.isfinite(v) for v in data)


@pytest.mark.parametrize(
    "data,dtype",
    [(d, t) for t in ("float32", "float64", "complex128") for d in SPECIALS if _fits(d, t)],
    ids=str,
)
def test_special_values(data, dtype):
    arr = np.array(data, dtype=dtype)
    check(arr)
    check(arr[0])
    check(arr.reshape(1, -1))
    if dtype == "complex128":
        for real, imag in ((data[::-1], data), (data, [-v for v in data])):
            arr = np.array(real, dtype=complex)
            arr.imag = imag
            check(arr)


@pytest.mark.parametrize("data", [[np.nan, 1.0], [-0.0, 2.5], [60000.0, 0.001], [1e-7, 3.0]])
def test_float16_specials(data):
    check(np.array(data, dtype=np.float16))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_empty(shape, dtype):
    check(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "shape", [(1001,), (2000,), (40, 30), (11, 11, 11), (3, 1000), (1000, 2), (7, 7, 7, 7)], ids=str
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "bool", "complex64"])
@pytest.mark.parametrize("kind", ["normal", "mixed", "integer"])
def test_summarized(shape, dtype, kind):
    check(values(kind, shape, dtype, seed=3))


def test_summarized_width_from_shown_values_only():
    x = np.ones(2000, dtype=np.float32)
    x[500] = 1e12  # hidden by summarization, so it must not force scientific notation
    check(x)
    x[0] = 1e12
    check(x)


@pytest.mark.parametrize("n", [10, 13, 14, 20, 27, 50, 81, 200])
@pytest.mark.parametrize("kind", ["normal", "huge", "integer", "mixed"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "complex128", "bool"])
def test_wrapping(n, kind, dtype):
    check(values(kind, (n,), dtype, seed=n))
    check(values(kind, (2, n), dtype, seed=n))
    check(values(kind, (2, 2, n), dtype, seed=n))


def test_non_contiguous():
    base = values("normal", (4, 6, 5), "float32", seed=7)
    check(base.transpose(2, 0, 1))
    check(base[::2, 1::3, ::-1])
    check(base[:, 0, :].T)
    check(values("integer", (20, 60), "float64")[::-1, ::2])


OPTIONS = [
    {"precision": 0},
    {"precision": 1},
    {"precision": 2},
    {"precision": 7},
    {"precision": 12},
    {"threshold": 5},
    {"threshold": 0},
    {"threshold": 5, "edgeitems": 0},
    {"threshold": 5, "edgeitems": 1},
    {"threshold": 10, "edgeitems": 5},
    {"edgeitems": 0},
    {"linewidth": 1},
    {"linewidth": 20},
    {"linewidth": 40},
    {"linewidth": 150},
    {"sci_mode": True},
    {"sci_mode": False},
    {"sci_mode": True, "precision": 2},
    {"profile": "short"},
    {"profile": "full"},
    {"profile": "short", "precision": 5},
    {"profile": "default"},
]


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
@pytest.mark.parametrize(
    "case",
    [
        ("normal", (), "float32"),
        ("normal", (7,), "float32"),
        ("mixed", (4, 5), "float64"),
        ("huge", (3, 4), "float32"),
        ("tiny", (2, 2, 3), "complex64"),
        ("integer", (12,), "float32"),
        ("zeros", (3,), "float32"),
        ("small", (6, 7), "int64"),
        ("normal", (5, 3), "bool"),
        ("normal", (30, 40), "float32"),
        ("normal", (1001,), "float32"),
        ("normal", (0, 2), "float32"),
        ("normal", (3, 2, 2), "int16"),
    ],
    ids=str,
)
def test_printoptions(opts, case):
    ember.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    assert ember.get_printoptions() == torch_get_printoptions()
    check(values(*case, seed=11))


def test_printoptions_special_values():
    arr = np.array([np.nan, -0.0, np.inf, 2.0, 0.0], dtype=np.float32)
    for opts in ({"sci_mode": True}, {"sci_mode": False, "precision": 0}, {"precision": 0}):
        ember.set_printoptions(**opts)
        torch.set_printoptions(**opts)
        check(arr)
        check(np.zeros(3, dtype=np.float32))


def test_get_set_printoptions():
    assert ember.get_printoptions() == torch_get_printoptions()
    ember.set_printoptions(precision=2, sci_mode=True)
    assert ember.get_printoptions()["sci_mode"] is True
    ember.set_printoptions(linewidth=50)  # sci_mode resets to None, as in torch
    torch.set_printoptions(precision=2, sci_mode=True)
    torch.set_printoptions(linewidth=50)
    assert ember.get_printoptions() == torch_get_printoptions()
    ember.set_printoptions(profile="full")
    torch.set_printoptions(profile="full")
    assert ember.get_printoptions() == torch_get_printoptions()


def test_printoptions_context_manager():
    arr = np.array([1.123456, 2.0], dtype=np.float32)
    with printoptions(precision=2):
        torch.set_printoptions(precision=2)
        check(arr)
    torch.set_printoptions(profile="default")
    assert ember.get_printoptions() == torch_get_printoptions()
    check(arr)


@pytest.mark.parametrize("default", ["float64", "float16"])
def test_default_dtype(default):
    ember.set_default_dtype(getattr(ember, default))
    torch.set_default_dtype(getattr(torch, default))
    for dtype in ALL_DTYPES:
        check(values("normal", (3,), dtype))
        check(np.zeros((0,), dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "float16"])
@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (2, 40), (0,), (0, 2), (1200,)], ids=str)
def test_requires_grad_leaf(dtype, shape):
    arr = values("normal", shape, dtype, seed=5)
    e, t = both(arr)
    e._requires_grad = True
    t.requires_grad_()
    assert repr(e) == torch_repr(t)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (2, 12), (7,), (2000,)], ids=str)
@pytest.mark.parametrize("op", ["mul", "sum", "exp"])
def test_grad_fn(dtype, shape, op):
    arr = values("normal", shape, dtype, seed=9)
    e, t = both(arr)
    e._requires_grad = True
    t.requires_grad_()
    fn = {"mul": lambda x: x * 2, "sum": lambda x: x.sum(), "exp": lambda x: x.exp()}[op]
    assert repr(fn(e)) == torch_repr(fn(t))


@pytest.mark.parametrize("precision", [4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize("n", [5, 6, 7])
def test_suffix_wrapping(precision, n):
    ember.set_printoptions(precision=precision)
    torch.set_printoptions(precision=precision)
    arr = values("normal", (n,), "float64", seed=n) * 100
    e, t = both(arr)
    e._requires_grad = True
    t.requires_grad_()
    assert repr(e) == torch_repr(t)
    assert repr(e * 2) == torch_repr(t * 2)
    check(arr)


def test_subclass_names():
    class Parameter(ember.Tensor):
        pass

    class MyT(ember.Tensor):
        pass

    arr = np.array([1.0, 2.5], dtype=np.float32)
    p = Parameter._make(arr)
    p._requires_grad = True
    assert repr(p) == torch_repr(torch.nn.Parameter(torch.from_numpy(arr.copy())))
    assert repr(p) == "Parameter containing:\ntensor([1.0000, 2.5000], requires_grad=True)"
    torch_myt = type("MyT", (torch.Tensor,), {})
    assert repr(MyT._make(arr)) == torch_repr(torch.from_numpy(arr.copy()).as_subclass(torch_myt))


@pytest.mark.parametrize("shape", [(3,), (0, 2)], ids=str)
def test_tensor_contents(shape):
    e, t = both(np.ones(shape, dtype=np.float64))
    expected = t.__repr__(tensor_contents="[...]").replace("torch.", "ember.")
    assert tensor_repr(e, tensor_contents="[...]") == expected


def test_exact_strings():
    """A few outputs spelled out, so a shared bug in torch comparison cannot hide."""
    T = ember.Tensor._make
    assert repr(T(np.array(28.0, dtype=np.float32))) == "tensor(28.)"
    assert repr(T(np.array(True))) == "tensor(True)"
    assert repr(T(np.zeros(0, dtype=np.float32))) == "tensor([])"
    assert repr(T(np.zeros((0, 3), dtype=np.float32))) == "tensor([], size=(0, 3))"
    assert repr(T(np.array([1.0, 2.0]))) == "tensor([1., 2.], dtype=ember.float64)"
    assert repr(T(np.array([1 + 2j, -3.5 - 1j], dtype=np.complex64))) == (
        "tensor([ 1.0000+2.j, -3.5000-1.j])"
    )
    assert repr(T(np.array([[1, -20], [300, 4]]))) == "tensor([[  1, -20],\n        [300,   4]])"
    assert repr(T(np.array([1e-5, 1.0], dtype=np.float32))) == "tensor([1.0000e-05, 1.0000e+00])"


finite = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
        elements=st.one_of(finite, st.sampled_from([0.0, -0.0, 1.0, 1e-4, 1e8, 1000.0])),
    )
)
def test_hypothesis_float32(arr):
    check(arr)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.complex128,
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
        elements=st.builds(complex, st.floats(), st.floats()),
    )
)
def test_hypothesis_complex(arr):
    check(arr)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.int8, np.int64, np.uint8, np.float16, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=8),
    ),
    st.integers(0, 8),
    st.integers(1, 6),
    st.integers(1, 100),
)
def test_hypothesis_options(arr, precision, edgeitems, linewidth):
    opts = {"precision": precision, "edgeitems": edgeitems, "linewidth": linewidth, "threshold": 20}
    ember.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    check(arr)
