"""dtypes against torch: promote_types and result_type over every pair of the 11 dtypes and all
three priority tiers (dimensioned tensors > zero-dim tensors > Python scalars), the default
dtype, reprs, aliases and dtype methods."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch

import ember

NAMES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]
# NumPy scalars count as Python numbers; np.bool_ is left out: torch reads it as a float.
SCALARS = [True, 3, 2.5, 1j, np.float32(1.5), np.int32(2)]


def name(d) -> str:
    return str(d).split(".")[1]


def make(lib, dtype_name: str, ndim: int):
    return lib.zeros((2,) * ndim, dtype=getattr(lib, dtype_name))


def complex32_expected(torch_result) -> bool:
    # ember has no complex32 (torch's float16 + complex); it uses complex64 instead.
    return torch_result == torch.complex32


@pytest.fixture
def default_dtype():
    """Restore the default dtype after a test changes it."""
    saved_e, saved_t = ember.get_default_dtype(), torch.get_default_dtype()
    yield
    ember.set_default_dtype(saved_e)
    torch.set_default_dtype(saved_t)


@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_matches_torch(a, b):
    expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert name(ember.promote_types(getattr(ember, a), getattr(ember, b))) == name(expected)


def test_promote_types_accepts_python_types_and_rejects_others():
    assert ember.promote_types(ember.int8, float) is ember.float64
    assert ember.promote_types(ember.int8, bool) is ember.int8
    with pytest.raises(TypeError, match="argument 'type2' \\(position 2\\) must be ember.dtype"):
        ember.promote_types(ember.float32, "a")


@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
@pytest.mark.parametrize("ndims", [(1, 0), (0, 1), (0, 0), (1, 1)])
def test_result_type_tensor_tiers(a, b, ndims):
    expected = torch.result_type(make(torch, a, ndims[0]), make(torch, b, ndims[1]))
    got = ember.result_type(make(ember, a, ndims[0]), make(ember, b, ndims[1]))
    if complex32_expected(expected):
        assert got is ember.complex64
    else:
        assert name(got) == name(expected)


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("ndim", [0, 1])
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
def test_result_type_with_scalars(a, ndim, scalar):
    t, e = make(torch, a, ndim), make(ember, a, ndim)
    for t_args, e_args in (((t, scalar), (e, scalar)), ((scalar, t), (scalar, e))):
        expected = torch.result_type(*t_args)
        got = ember.result_type(*e_args)
        if complex32_expected(expected):
            assert got is ember.complex64
        else:
            assert name(got) == name(expected)


@pytest.mark.parametrize("x,y", list(itertools.product([True, 2, 2.5, 1j], repeat=2)))
def test_result_type_of_two_scalars(x, y):
    assert name(ember.result_type(x, y)) == name(torch.result_type(x, y))


def test_result_type_three_tiers_merge_like_torch():
    # float32 tensor with a complex128 0-d tensor keeps the float's width: complex64.
    got = ember.result_type(ember.zeros(2), ember.zeros((), dtype=ember.complex128))
    assert got is ember.complex64
    # An int tensor, a float64 0-d tensor and a complex scalar (torch.result_type takes only
    # two operands, so this is torch's rule by hand): complex scalar + float64 0-d merge first
    # to complex128, which then outranks the int tensor's category.
    args = (ember.zeros(2, dtype=ember.int32), ember.zeros((), dtype=ember.float64), 1j)
    assert ember.result_type(*args) is ember.complex128


def test_result_type_rejects_non_numbers():
    with pytest.raises(TypeError, match="result_type\\(\\) received an invalid combination"):
        ember.result_type(ember.zeros(2), "a")


def test_result_type_with_float64_default(default_dtype):
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    for scalar in (2.5, 1j):
        for a in ("int32", "bool"):
            expected = torch.result_type(make(torch, a, 1), scalar)
            assert name(ember.result_type(make(ember, a, 1), scalar)) == name(expected)


def test_default_dtype_get_set(default_dtype):
    assert ember.get_default_dtype() is ember.float32
    ember.set_default_dtype(ember.float64)
    assert ember.get_default_dtype() is ember.float64
    assert ember.tensor(1.5).dtype is ember.float64
    assert ember.tensor(1j).dtype is ember.complex128
    ember.set_default_dtype(ember.float16)
    assert ember.get_default_dtype() is ember.float16


@pytest.mark.parametrize("bad", ["int64", "complex64", "bool"])
def test_set_default_dtype_refuses_non_floating(bad, default_dtype):
    with pytest.raises(TypeError) as e:
        ember.set_default_dtype(getattr(ember, bad))
    with pytest.raises(TypeError) as t:
        torch.set_default_dtype(getattr(torch, bad))
    assert str(e.value) == str(t.value)


@pytest.mark.parametrize("bad", [float, "float32"])
def test_set_default_dtype_refuses_non_dtypes(bad, default_dtype):
    with pytest.raises(TypeError) as e:
        ember.set_default_dtype(bad)
    with pytest.raises(TypeError) as t:
        torch.set_default_dtype(bad)
    assert str(e.value) == str(t.value)


@pytest.mark.parametrize("n", NAMES)
def test_dtype_attributes_match_torch(n):
    e, t = getattr(ember, n), getattr(torch, n)
    assert repr(e) == f"ember.{n}" and str(e) == f"ember.{n}"
    assert e.is_floating_point == t.is_floating_point
    assert e.is_complex == t.is_complex
    assert e.is_signed == t.is_signed
    assert e.itemsize == t.itemsize
    assert name(e.to_real()) == name(t.to_real())
    assert pickle.loads(pickle.dumps(e)) is e


@pytest.mark.parametrize("n", [x for x in NAMES if x != "float16"])
def test_to_complex_matches_torch(n):
    e, t = getattr(ember, n), getattr(torch, n)
    try:
        expected = name(t.to_complex())
    except RuntimeError as err:
        with pytest.raises(RuntimeError, match=str(err)):
            e.to_complex()
    else:
        assert name(e.to_complex()) == expected


@pytest.mark.parametrize(
    "alias,target",
    [
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("long", "int64"),
        ("int", "int32"),
        ("short", "int16"),
        ("bool", "bool"),
        ("cfloat", "complex64"),
        ("cdouble", "complex128"),
    ],
)
def test_aliases(alias, target):
    assert getattr(ember, alias) is getattr(ember, target)
    assert getattr(torch, alias) is getattr(torch, target)
