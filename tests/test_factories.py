"""Factories against torch: each case is an expression run once with `torch` bound to ember and
once to torch; the results must agree in dtype, shape, values and requires_grad, or both must
raise the same exception type with the same message ('torch' read as 'ember')."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from ember import _factories


def run(lib, expr: str):
    """What `expr` does with `torch` bound to `lib`: a comparable summary or the error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r = eval(expr, {"torch": lib, "np": np})
        except Exception as exc:  # noqa: BLE001 - the exception itself is compared
            return ("raise", type(exc).__name__, str(exc).replace("torch", "ember"))
    if isinstance(r, (torch.Tensor, ember.Tensor)):
        values = r.detach().numpy() if "empty" not in expr else None
        return ("tensor", str(r.dtype).split(".")[1], tuple(r.shape), r.requires_grad, values)
    return ("value", r)


def check(expr: str, exact: bool = True, rtol: float = 1e-6) -> None:
    e, t = run(ember, expr), run(torch, expr)
    if t[0] != "tensor" or e[0] != "tensor":
        assert e == t, f"\nember: {e}\ntorch: {t}"
        return
    assert e[:4] == t[:4], f"\nember: {e[:4]}\ntorch: {t[:4]}"
    if t[4] is not None:
        if exact:
            np.testing.assert_array_equal(e[4], t[4])
        else:
            np.testing.assert_allclose(e[4], t[4], rtol=rtol, atol=rtol)


TENSOR_CASES = [
    # dtype inference
    "torch.tensor([1, 2.0])",
    "torch.tensor([True, 1])",
    "torch.tensor([True, 1.5])",
    "torch.tensor([1, 2+3j])",
    "torch.tensor(2+3j)",
    "torch.tensor([1, True, 2.0, 1j])",
    "torch.tensor(True)",
    "torch.tensor(3)",
    "torch.tensor(-2**63)",
    "torch.tensor(1e400)",
    "torch.tensor((1, 2))",
    "torch.tensor(range(3))",
    "torch.tensor([[1, 2], (3, 4.)])",
    "torch.tensor([[[1, 2]], [[3, 4]]])",
    # NumPy scalars and arrays keep their dtype, and promote inside lists
    "torch.tensor(np.float64(1.0))",
    "torch.tensor(np.int16(3))",
    "torch.tensor(np.bool_(True))",
    "torch.tensor([np.float64(1.0), 2.0])",
    "torch.tensor([np.float32(1.0), 2.0])",
    "torch.tensor([np.int32(1), 2])",
    "torch.tensor([np.int32(1), 2.5])",
    "torch.tensor([np.float16(1.5), 1])",
    "torch.tensor([np.float16(1.5), 1.0])",
    "torch.tensor([np.complex128(1.5), 1.0])",
    "torch.tensor(np.array(5.0))",
    "torch.tensor(np.zeros((2, 0, 3)))",
    "torch.tensor(np.array([[1, 2]], dtype=np.float32), dtype=torch.float64)",
    "torch.tensor(np.array([300, 2]), dtype=torch.uint8)",
    "torch.tensor([np.array([1, 2], dtype=np.int32)])",
    "torch.tensor([np.array([1, 2], dtype=np.int32), [3, 4]])",
    "torch.tensor([[1, 2], np.array([3, 4], dtype=np.int32)])",
    # lists of tensors: one-element tensors are scalars
    "torch.tensor([torch.tensor(1.), torch.tensor(2.)])",
    "torch.tensor([torch.tensor(1., dtype=torch.float64), 2.])",
    "torch.tensor([torch.tensor(1), 2.5])",
    "torch.tensor([torch.tensor([1.]), torch.tensor([2.])])",
    "torch.tensor([torch.tensor([[1.]]), torch.tensor(2.)])",
    "torch.tensor([[torch.tensor(1)], [torch.tensor(2)]])",
    "torch.tensor([torch.tensor(1, dtype=torch.int8), torch.tensor(2, dtype=torch.uint8)])",
    "torch.tensor([[1, 2], torch.tensor([3, 4])])",
    "torch.tensor(torch.ones(2, dtype=torch.float64))",
    "torch.tensor(torch.tensor([300]), dtype=torch.uint8)",
    "torch.tensor(torch.ones(2, requires_grad=True)).requires_grad",
    "torch.tensor([torch.tensor(1., requires_grad=True)]).requires_grad",
    # empty data
    "torch.tensor([])",
    "torch.tensor([[]])",
    "torch.tensor([[], []])",
    "torch.tensor([[], [1]])",
    # dtype= and conversions with torch's overflow checks
    "torch.tensor([1, 2], dtype=torch.float64, requires_grad=True)",
    "torch.tensor([1, 2], dtype=float)",
    "torch.tensor([1, 2], dtype=int)",
    "torch.tensor([1, 2], dtype=complex)",
    "torch.tensor([1.5, 2.7], dtype=torch.int64)",
    "torch.tensor([-1.5, 2.7], dtype=torch.uint8)",
    "torch.tensor([300], dtype=torch.uint8)",
    "torch.tensor([-1], dtype=torch.uint8)",
    "torch.tensor([-255], dtype=torch.uint8)",
    "torch.tensor([-256], dtype=torch.uint8)",
    "torch.tensor([255.9], dtype=torch.uint8)",
    "torch.tensor([200], dtype=torch.int8)",
    "torch.tensor([-129], dtype=torch.int8)",
    "torch.tensor([1e20], dtype=torch.int64)",
    "torch.tensor([1e10], dtype=torch.int32)",
    "torch.tensor([float('nan')], dtype=torch.int64)",
    "torch.tensor([1e10], dtype=torch.float16)",
    "torch.tensor([1e300], dtype=torch.float32)",
    "torch.tensor([2**63 - 1], dtype=torch.float16)",
    "torch.tensor([0.5, 0, 2], dtype=torch.bool)",
    "torch.tensor([1j], dtype=torch.bool)",
    "torch.tensor([1 + 2j], dtype=torch.float32)",
    "torch.tensor([1j], dtype=torch.int64)",
    "torch.tensor(5, dtype=torch.complex64)",
    "torch.tensor(3.5, dtype=torch.bool)",
    # errors
    "torch.tensor([1, 2], requires_grad=True)",
    "torch.tensor([1., 2], dtype=torch.int32, requires_grad=True)",
    "torch.tensor([1, 2], dtype=np.float32)",
    "torch.tensor([[1, 2], [3]])",
    "torch.tensor([[1], []])",
    "torch.tensor([[1, 2], 3])",
    "torch.tensor([[torch.tensor(1.)], 2])",
    "torch.tensor([1, [2, 3]])",
    "torch.tensor([1.5, [2, 3]])",
    "torch.tensor([True, [2, 3]])",
    "torch.tensor([torch.ones(2), torch.ones(2)])",
    "torch.tensor([1, torch.tensor([1., 2.])])",
    "torch.tensor('abc')",
    "torch.tensor(['a'])",
    "torch.tensor(None)",
    "torch.tensor([None])",
    "torch.tensor([[1, 2], [None, 3]])",
    "torch.tensor({1: 2})",
    "torch.tensor({1, 2})",
    "torch.tensor(x for x in range(3))",
    "torch.tensor([[1, 2], iter([3, 4])])",
    "torch.tensor(object())",
    "torch.tensor(2**63)",
    "torch.tensor([2**64])",
    "torch.tensor([np.array(5.0), np.array(6.0)])",
    "torch.tensor(np.arange(3)[::-1])",
    "torch.tensor(np.array(['a']))",
    "torch.tensor(np.array([None]))",
    "torch.tensor(np.array([1], dtype=np.int64).astype('>i8'))",
    "torch.tensor([1, 2], 3)",
    "torch.tensor([1, 2], device='cpu')",
    "torch.tensor([1, 2], device=torch.device('cpu'))",
]


@pytest.mark.parametrize("expr", TENSOR_CASES)
def test_tensor(expr):
    check(expr)


SIZE_CASES = [
    "torch.{f}(2, 3)",
    "torch.{f}((2, 3))",
    "torch.{f}([2, 3])",
    "torch.{f}(torch.Size([2, 3]))",
    "torch.{f}(size=(2, 3))",
    "torch.{f}(size=[2])",
    "torch.{f}([])",
    "torch.{f}(())",
    "torch.{f}(0, 4)",
    "torch.{f}(np.int64(2), 3)",
    "torch.{f}(torch.tensor(2), 3)",
    "torch.{f}([torch.tensor(2), 3])",
    "torch.{f}(2, dtype=torch.int32)",
    "torch.{f}(2, dtype=torch.complex128)",
    "torch.{f}(2, dtype=float)",
    "torch.{f}(2, dtype=torch.float64, requires_grad=True)",
    "torch.{f}(2, dtype=torch.int32, requires_grad=True)",
    "torch.{f}(2, device='cpu')",
    "torch.{f}(-1)",
    "torch.{f}(2, -3)",
    "torch.{f}(2.5)",
    "torch.{f}(True)",
    "torch.{f}((2, 3.0))",
    "torch.{f}()",
    "torch.{f}(2, size=(2,))",
    "torch.{f}((2, 3), 4)",
    "torch.{f}((2,), (3,))",
]


@pytest.mark.parametrize("f", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("case", SIZE_CASES)
def test_sized_factories(f, case):
    check(case.format(f=f))


FULL_CASES = [
    "torch.full((2, 3), 1.5)",
    "torch.full((2, 3), 1)",
    "torch.full((2, 3), True)",
    "torch.full((2, 3), 1j)",
    "torch.full([2], 1.)",
    "torch.full(size=[2], fill_value=1.)",
    "torch.full((2,), torch.tensor(3))",
    "torch.full((2,), torch.tensor(3.0, dtype=torch.float64))",
    "torch.full((2,), np.float64(2.0))",
    "torch.full((2,), np.int32(2))",
    "torch.full((2,), 1.5, dtype=torch.int64)",
    "torch.full((2,), -1, dtype=torch.uint8)",
    "torch.full((1,), 2**63 - 1, dtype=torch.float32)",
    "torch.full((1,), float('inf'), dtype=torch.float16)",
    "torch.full((1,), 1e300, dtype=torch.bool)",
    "torch.full((2,), torch.tensor([3.0]))",
    "torch.full(2, 1.)",
    "torch.full((-1,), 1.)",
    "torch.full((2,), 1, requires_grad=True)",
    "torch.full((2,), 1., requires_grad=True)",
    "torch.full((1,), 2**63)",
    "torch.full((1,), 2**64)",
    "torch.full((1,), float('nan'), dtype=torch.int64)",
    "torch.full((1,), 1j, dtype=torch.float32)",
    "torch.full((2,), 1e40, dtype=torch.complex64)",
    "torch.full((2,), -1e10, dtype=torch.float16)",
] + [
    f"torch.full((1,), {v}, dtype=torch.{d})"
    for d in ["uint8", "int8", "int16", "int32", "int64", "float16", "float32"]
    for v in ["1e300", "2**63 - 1", "300", "-129"]
]


@pytest.mark.parametrize("expr", FULL_CASES)
def test_full(expr):
    check(expr)


EYE_CASES = [
    "torch.eye(3)",
    "torch.eye(2, 3)",
    "torch.eye(2, m=3)",
    "torch.eye(0)",
    "torch.eye(3, dtype=torch.int64)",
    "torch.eye(2, requires_grad=True)",
    "torch.eye(2, dtype=torch.int64, requires_grad=True)",
    "torch.eye(-1)",
    "torch.eye(2, -1)",
    "torch.eye(2.5)",
]


@pytest.mark.parametrize("expr", EYE_CASES)
def test_eye(expr):
    check(expr)


ARANGE_CASES = [
    "torch.arange(5)",
    "torch.arange(5.)",
    "torch.arange(0, 5, 2)",
    "torch.arange(start=1, end=4)",
    "torch.arange(end=4)",
    "torch.arange(1, 4, step=2)",
    "torch.arange(True)",
    "torch.arange(torch.tensor(3))",
    "torch.arange(torch.tensor(3.))",
    "torch.arange(torch.tensor(3, dtype=torch.int32))",
    "torch.arange(np.float64(3))",
    "torch.arange(np.int32(3))",
    "torch.arange(0, 10, 3.)",
    "torch.arange(0, -1.5, -0.25)",
    "torch.arange(0.1, 0.3, 0.1)",
    "torch.arange(0, 5.5, dtype=torch.int64)",
    "torch.arange(0.5, 5, dtype=torch.int64)",
    "torch.arange(0, 5, 1.5, dtype=torch.int64)",
    "torch.arange(1, 2, 0.5, dtype=torch.int32)",
    "torch.arange(3, dtype=torch.uint8)",
    "torch.arange(300, dtype=torch.uint8)",
    "torch.arange(0, 5, 1, dtype=torch.float16)",
    "torch.arange(torch.tensor(0.), 5, dtype=torch.int64)",
    "torch.arange(3., requires_grad=True)",
    "torch.arange(3, requires_grad=True)",
    "torch.arange(0, 5, 0.5, dtype=torch.int64)",
    "torch.arange(0, 5, 0)",
    "torch.arange(0, 5, 0.)",
    "torch.arange(0, 5, -1)",
    "torch.arange(5, 0)",
    "torch.arange(1.5, 0.5)",
    "torch.arange(0, float('inf'))",
    "torch.arange(0.5, float('nan'))",
    "torch.arange(3, dtype=torch.bool)",
    "torch.arange(3, dtype=torch.complex64)",
    "torch.arange(0, 2**62, 1e-3)",
]


@pytest.mark.parametrize("expr", ARANGE_CASES)
def test_arange(expr):
    check(expr)


@pytest.mark.parametrize(
    "args",
    [
        (0, 1, 0.1),
        (1, 0, -0.3),
        (-1, 1, 0.1),
        (0, 10, 0.7),
        (1, 1.3, 0.1),
        (0, 1, 1 / 3),
        (-5.5, 100, 0.37),
        (0, 1000, 1.1),
        (1e20, 1e20 + 1e6, 1e5),
    ],
)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64"])
def test_arange_float_steps_length_and_values(args, dtype):
    # The length must match torch exactly; values only to rounding, because torch's vectorised
    # kernel rounds differently in the last place depending on the CPU's vector width.
    rtol = 1e-3 if dtype == "float16" else 1e-6
    check(f"torch.arange(*{args!r}, dtype=torch.{dtype})", dtype.startswith("int"), rtol)


LINSPACE_CASES = [
    "torch.linspace(0, 1, 5)",
    "torch.linspace(0, 1, steps=3)",
    "torch.linspace(0, 1, 1)",
    "torch.linspace(0, 1, 0)",
    "torch.linspace(0, 10, 5, dtype=torch.int64)",
    "torch.linspace(0, 10, 4, dtype=torch.int64)",
    "torch.linspace(10, 0, 4, dtype=torch.int64)",
    "torch.linspace(-3.3, 7.1, 50, dtype=torch.int32)",
    "torch.linspace(torch.tensor(0.), torch.tensor(1.), 3)",
    "torch.linspace(0, 1j, 3)",
    "torch.linspace(0, 1, 3, dtype=torch.float64)",
    "torch.linspace(0, 1, 3, requires_grad=True)",
    "torch.linspace(0, 1, -1)",
    "torch.linspace(0, 3, 4, dtype=torch.bool)",
    "torch.logspace(0, 2, 3)",
    "torch.logspace(0, 2, 3, base=2)",
    "torch.logspace(0, 2, 3, dtype=torch.int64)",
    "torch.logspace(0, 3, 4, base=2, dtype=torch.int64)",
    "torch.logspace(-3.3, 7.1, 50, dtype=torch.int64)",
    "torch.logspace(0, 1, 1)",
]


@pytest.mark.parametrize("expr", LINSPACE_CASES)
def test_linspace_logspace(expr):
    check(expr)


@pytest.mark.parametrize("f", ["linspace", "logspace"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linspace_logspace_float_values(f, dtype):
    check(f"torch.{f}(-3.3, 7.1, 50, dtype=torch.{dtype})", exact=False)
    check(f"torch.{f}(1e-3, 1., 1000, dtype=torch.{dtype})", exact=False)


LIKE_CASES = [
    "torch.zeros_like(torch.ones(2, dtype=torch.int32))",
    "torch.ones_like(torch.ones(2, 3))",
    "torch.ones_like(torch.ones(2), dtype=torch.float64)",
    "torch.ones_like(torch.ones(2), requires_grad=True)",
    "torch.ones_like(torch.ones(2, dtype=torch.int32), requires_grad=True)",
    "torch.empty_like(torch.ones(2, 3))",
    "torch.empty_like(torch.ones(2, 3), dtype=torch.int8)",
    "torch.full_like(torch.ones(2, dtype=torch.int32), 2.5)",
    "torch.full_like(torch.ones(2, dtype=torch.int32), 1e20)",
    "torch.full_like(torch.ones(2), 7, dtype=torch.float64)",
    "torch.full_like(torch.ones(2), True)",
    "torch.zeros_like([1, 2])",
    "torch.ones_like(torch.ones(2, requires_grad=True))",
]


@pytest.mark.parametrize("expr", LIKE_CASES)
def test_like(expr):
    check(expr)


NEW_CASES = [
    "torch.ones(2, dtype=torch.int64).new_tensor([1.5])",
    "torch.ones(2, dtype=torch.float64).new_tensor([1, 2])",
    "torch.ones(2).new_tensor(np.array([1, 2], dtype=np.int32))",
    "torch.ones(2).new_tensor(torch.tensor([1, 2]))",
    "torch.ones(2).new_tensor([1, 2], dtype=torch.int32)",
    "torch.ones(2).new_tensor([1, 2], requires_grad=True)",
    "torch.ones(2, dtype=torch.int32).new_tensor([1.5, 300])",
    "torch.ones(2, dtype=torch.uint8).new_tensor([300])",
    "torch.ones(2, dtype=torch.int32).new_zeros(2, 3)",
    "torch.ones(2, dtype=torch.int32).new_zeros((2, 3))",
    "torch.ones(2, dtype=torch.int32).new_zeros(size=(2, 3))",
    "torch.ones(2, dtype=torch.int32).new_ones([2])",
    "torch.ones(2, dtype=torch.int32).new_full((2,), 3.7)",
    "torch.ones(2, dtype=torch.int32).new_full(2, 3.7)",
    "torch.ones(2, dtype=torch.int32).new_empty(3)",
    "torch.ones(2).new_empty((2, 3), dtype=torch.int64)",
    "torch.ones(2, dtype=torch.int32).new_zeros(2, dtype=torch.float64)",
    "torch.ones(2, requires_grad=True).new_zeros(2)",
    "torch.ones(2).new_zeros(2, requires_grad=True)",
    "torch.ones(2).new_zeros(-1)",
    "torch.ones(2).new_zeros()",
]


@pytest.mark.parametrize("expr", NEW_CASES)
def test_new_methods(expr):
    check(expr)


def test_new_methods_are_listed_as_tensor_methods():
    for name in ("new_tensor", "new_zeros", "new_ones", "new_full", "new_empty"):
        assert name in _factories.TENSOR_METHODS
        assert getattr(ember.Tensor, name) is getattr(_factories, name)


def test_tensor_copies_data():
    a = np.array([1.0, 2.0])
    t = ember.tensor(a)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    src = ember.tensor([1.0, 2.0])
    with pytest.warns(UserWarning, match="To copy construct from a tensor"):
        copy = ember.tensor(src)
    src[0] = 5.0
    assert copy.tolist() == [1.0, 2.0]
    assert copy.is_leaf


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ember.from_numpy(a)
    assert t.dtype is ember.float32 and t.shape == (2, 3)
    a[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    t.numpy()[1, 2] = -1.0
    assert a[1, 2] == -1.0


def test_from_numpy_keeps_every_supported_dtype():
    for name in (
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
    ):
        a = np.zeros(2, dtype=name)
        assert str(ember.from_numpy(a).dtype) == str(torch.from_numpy(a).dtype).replace(
            "torch", "ember"
        )


@pytest.mark.parametrize(
    "expr",
    [
        "torch.from_numpy([1])",
        "torch.from_numpy(np.arange(3)[::-1])",
        "torch.from_numpy(np.array(['a']))",
        "torch.from_numpy(np.array([None]))",
        "torch.from_numpy(np.zeros(2, dtype='>f8'))",
        "torch.from_numpy(np.arange(6).reshape(2, 3)[:, ::2])",
        "torch.as_tensor(np.arange(3)[::-1])",
        "torch.as_tensor([1, 2], torch.float64)",
        "torch.as_tensor([1, 2.5])",
        "torch.as_tensor([[1, 2], [3]])",
        "torch.as_tensor(np.arange(3), dtype=torch.float32)",
        "torch.as_tensor(torch.ones(2), dtype=torch.int32)",
    ],
)
def test_from_numpy_and_as_tensor_vs_torch(expr):
    check(expr)


def test_unsupported_unsigned_arrays_say_ember_lacks_them():
    with pytest.raises(TypeError, match="ember has no uint16 dtype"):
        ember.from_numpy(np.zeros(2, dtype=np.uint16))


def test_non_writable_array_warns_once():
    a = np.ones(2)
    a.flags.writeable = False
    _factories._warned.discard(_factories._NOT_WRITABLE)
    with pytest.warns(UserWarning, match="The given NumPy array is not writable"):
        ember.from_numpy(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.as_tensor(a)


def test_as_tensor_shares_when_it_can():
    a = np.arange(3, dtype=np.float64)
    shared = ember.as_tensor(a)
    a[0] = 7.0
    assert shared[0].item() == 7.0
    converted = ember.as_tensor(a, dtype=ember.float32)
    a[1] = 8.0
    assert converted.dtype is ember.float32 and converted[1].item() == 1.0
    t = ember.ones(2)
    assert ember.as_tensor(t) is t
    assert ember.as_tensor(t, dtype=ember.float32) is t


def test_as_tensor_conversion_keeps_the_graph():
    x = ember.ones(2, requires_grad=True)
    y = ember.as_tensor(x * 2, dtype=ember.float64)
    assert y.dtype is ember.float64 and y.requires_grad and y.grad_fn is not None


def test_list_of_ndarrays_warns_once():
    _factories._warned.discard(_factories._NDARRAY_LIST)
    with pytest.warns(UserWarning, match="Creating a tensor from a list of numpy.ndarrays"):
        t = ember.tensor([np.ones(2), np.zeros(2)])
    assert t.dtype is ember.float64 and t.shape == (2, 2)


def test_tensor_follows_default_dtype():
    saved = ember.get_default_dtype()
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor([1.5]).dtype is ember.float64
        assert ember.tensor([1j]).dtype is ember.complex128
        assert ember.zeros(2).dtype is ember.float64
        assert ember.arange(0.5).dtype is ember.float64
        assert ember.full((1,), 2.5).dtype is ember.float64
    finally:
        ember.set_default_dtype(saved)


def test_non_cpu_devices_are_refused():
    for f in (
        lambda: ember.zeros(2, device="cuda"),
        lambda: ember.tensor([1], device="cuda:0"),
        lambda: ember.arange(3, device="meta"),
    ):
        with pytest.raises(RuntimeError, match="ember runs on the CPU only"):
            f()


def test_large_nested_list_round_trips():
    data = np.random.default_rng(0).standard_normal((200, 50)).tolist()
    np.testing.assert_array_equal(ember.tensor(data).numpy(), torch.tensor(data).numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Tensor([1, 2]),
        lambda m: m.Tensor(2, 3).shape,
        lambda m: m.Tensor().shape,
        lambda m: str(m.Tensor([[1.5]]).dtype).split(".")[1],
        lambda m: m.Tensor(m.tensor([1, 2])),
        lambda m: type(m.Tensor(m.tensor([1.0, 2.0], requires_grad=True)).grad_fn).__name__,
    ],
)
def test_legacy_tensor_constructor(same, make):
    same(make)
