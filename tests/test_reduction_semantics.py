"""What the OpInfo table does not cover for reductions: the (values, indices) namedtuple, result
dtypes of integer and bool inputs, torch's errors and warnings, grad_fn names of every overload,
conventions at ties and NaN, and numerical stability at extreme values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ember

X = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]


def _dt(t) -> str:
    return str(t.dtype).split(".")[-1]


# ---- max/min with dim: torch.return_types ----
@pytest.mark.parametrize("name", ["max", "min"])
def test_return_type_prints_as_torch(name):
    e = getattr(ember.tensor(X), name)(1)
    t = getattr(torch.tensor(X), name)(1)
    assert repr(e) == repr(t).replace("torch", "ember")
    assert str(e) == str(t).replace("torch", "ember")
    assert type(e).__name__ == name and type(e).__module__ == "ember.return_types"
    x = ember.tensor(X, requires_grad=True)
    r = getattr(x, name)(0, keepdim=True)
    assert repr(r).startswith(f"ember.return_types.{name}(\nvalues=tensor([[")
    assert f"grad_fn=<{name.capitalize()}Backward0>" in repr(r)


def test_return_type_is_a_tuple_with_fields():
    r = ember.max(ember.tensor(X), dim=1)
    values, indices = r
    assert isinstance(r, tuple) and len(r) == 2
    assert r[0] is values is r.values and r[1] is indices is r.indices and r[-1] is indices
    assert indices.tolist() == [1, 0] and values.tolist() == [3.0, 2.0]
    with pytest.raises(AttributeError):
        r.values = None


def test_max_ties_index_and_gradient_follow_torch():
    """The first tied index is returned; the full reduction splits the gradient evenly."""
    e, t = ember.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    assert e.max(1).indices.tolist() == t.max(1).indices.tolist() == [1, 0]
    assert e.argmin(1).tolist() == t.argmin(1).tolist()
    for f in (lambda x: x.max(), lambda x: x.amax(1).sum(), lambda x: x.max(1)[0].sum()):
        (ge,) = ember.autograd.grad(f(e), e)
        (gt,) = torch.autograd.grad(f(t), t)
        np.testing.assert_array_equal(ge.numpy(), gt.numpy())


def test_max_with_nan():
    data = [1.0, float("nan"), 3.0]
    for f in (lambda x: x.max(), lambda x: x.amax(), lambda x: x.max(0).values):
        e, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        assert math.isnan(f(e).item()) and math.isnan(f(t).item())
        (ge,) = ember.autograd.grad(f(e), e)
        (gt,) = torch.autograd.grad(f(t), t)
        np.testing.assert_array_equal(ge.numpy(), gt.numpy())
    assert ember.tensor(data).max(0).indices.item() == torch.tensor(data).max(0).indices.item()


@pytest.mark.parametrize("name", ["max", "min"])
def test_two_tensor_form_is_elementwise(name, same):
    same(lambda m: getattr(m, name)(m.tensor([1.0, 5.0]), m.tensor([3.0, 2.0])))
    same(lambda m: getattr(m.tensor([1.0, 5.0]), name)(m.tensor(3.0)))
    same(lambda m: getattr(m, name)(m.tensor([1.0, 5.0]), other=m.tensor([3.0, 2.0])))
    x = ember.tensor([1.0, 5.0], requires_grad=True)
    assert (
        type(getattr(ember, name)(x, x * 2).grad_fn).__name__ == f"{name.capitalize()}imumBackward0"
    )


# ---- result dtypes ----
DTYPE_CASES = [
    lambda m, x: x.sum(),
    lambda m, x: x.sum(0),
    lambda m, x: x.sum(0, dtype=m.int8),
    lambda m, x: x.sum(dtype=m.float32),
    lambda m, x: x.prod(),
    lambda m, x: x.prod(1, keepdim=True),
    lambda m, x: x.cumsum(0),
    lambda m, x: x.cumprod(1),
    lambda m, x: x.cumsum(0, dtype=m.float64),
    lambda m, x: x.max(),
    lambda m, x: x.min(0).values,
    lambda m, x: x.amax(0),
    lambda m, x: x.amin(),
    lambda m, x: x.argmax(),
    lambda m, x: x.argmin(1),
    lambda m, x: x.all(),
    lambda m, x: x.any(1),
    lambda m, x: x.logsumexp(0),
    lambda m, x: x.mean(dtype=m.float64),
    lambda m, x: x.softmax(0, dtype=m.float32),
]


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "float32", "float64"])
@pytest.mark.parametrize("case", range(len(DTYPE_CASES)))
def test_result_dtype_and_value(case, dtype):
    f = DTYPE_CASES[case]
    data = [[1, 2, 0], [3, 1, 2]]
    outs = []
    for m in (ember, torch):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outs.append(f(m, m.tensor(data, dtype=getattr(m, dtype))))
        except Exception as exc:  # noqa: BLE001 - both must raise alike
            outs.append((type(exc).__name__, str(exc).replace("torch", "ember")))
    e, t = outs
    if isinstance(t, tuple):
        assert e == t
        return
    assert _dt(e) == _dt(t)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


def test_uint8_all_any_stay_uint8(same):
    assert _dt(same(lambda m: m.tensor([[1, 2], [3, 0]], dtype=m.uint8).all())) == "uint8"
    assert _dt(same(lambda m: m.tensor([[1, 2], [3, 0]], dtype=m.uint8).any(0))) == "uint8"


def test_all_any_dims(same):
    x = [[0.0, 1.0], [2.0, 3.0]]
    same(lambda m: m.tensor(x).all(dim=()))  # torch: an empty dim list reduces nothing here
    same(lambda m: m.tensor(x).any(dim=(0, 1)))
    same(lambda m: m.tensor(x).all(1, keepdim=True))
    same(lambda m: m.tensor(2.0).any(0))


# ---- errors ----
ERRORS = [
    lambda m: m.tensor([1, 2]).mean(),
    lambda m: m.tensor([True]).mean(0),
    lambda m: m.tensor([1.0, 2.0]).mean(dtype=m.int64),
    lambda m: m.tensor([1, 2]).var(),
    lambda m: m.tensor([1, 2]).std(0),
    lambda m: m.var_mean(m.tensor([1, 2])),
    lambda m: m.tensor([1, 2]).norm(),
    lambda m: m.tensor([1.0, 2.0]).norm(p=1, dtype=m.float16),
    lambda m: m.ones(2, 2).norm(p="abc"),
    lambda m: m.ones(2, 2, 2).norm(dim=(0, 1, 2)),
    lambda m: m.ones(2, 2, 2).norm(p="nuc", dim=0),
    lambda m: m.zeros(0, 3).norm(float("inf")),
    lambda m: m.zeros(0, 3).norm(float("-inf"), dim=-2),
    lambda m: m.tensor([True, False]).argmax(),
    lambda m: m.tensor([True, False]).argmin(0),
    lambda m: m.tensor([]).max(),
    lambda m: m.tensor([]).min(),
    lambda m: m.tensor([]).amax(),
    lambda m: m.tensor([]).argmax(),
    lambda m: m.zeros(0, 3).max(0),
    lambda m: m.zeros(2, 0).min(-1),
    lambda m: m.zeros(2, 0).amax((0, 1)),
    lambda m: m.zeros(0, 3).argmin(-2),
    lambda m: m.ones(2, 2).sum(2),
    lambda m: m.ones(2, 2).mean(-3),
    lambda m: m.ones(2, 2).prod(2),
    lambda m: m.ones(2, 2).max(2),
    lambda m: m.ones(2, 2).amax(2),
    lambda m: m.ones(2, 2).argmax(2),
    lambda m: m.ones(2, 2).var(2),
    lambda m: m.ones(2, 2).logsumexp(2),
    lambda m: m.ones(2, 2).cumsum(2),
    lambda m: m.ones(2, 2).softmax(2),
    lambda m: m.ones(2, 2).all(2),
    lambda m: m.tensor(3.0).sum(1),
    lambda m: m.ones(2, 2).sum((0, 0)),
    lambda m: m.ones(2, 2).amax((1, -1)),
    lambda m: m.tensor([1, 2]).softmax(0),
    lambda m: m.tensor([[1, 2]]).softmax(0),
    lambda m: m.tensor([1, 2]).log_softmax(-1),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_match_torch(case, same):
    f = ERRORS[case]
    with pytest.raises((RuntimeError, IndexError, NotImplementedError)):
        f(torch)
    same(f)


def test_degrees_of_freedom_warning():
    for name in ("var", "std", "var_mean", "std_mean"):
        with pytest.warns(UserWarning, match=rf"^{name}\(\): degrees of freedom is <= 0"):
            out = getattr(ember, name)(ember.tensor([1.0]))
        assert math.isnan((out[0] if isinstance(out, tuple) else out).item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.tensor([1.0, 2.0]).var()


# ---- overloads and grad_fn names ----
NAMED = [
    lambda m, x: x.sum(),
    lambda m, x: x.sum(None),
    lambda m, x: x.sum(dim=None, keepdim=True),
    lambda m, x: x.sum(dtype=m.float32),
    lambda m, x: x.sum((0, 1)),
    lambda m, x: x.sum(()),
    lambda m, x: x.mean(),
    lambda m, x: x.mean(None),
    lambda m, x: x.mean([]),
    lambda m, x: x.prod(),
    lambda m, x: x.prod(0),
    lambda m, x: x.max(),
    lambda m, x: x.max(0).values,
    lambda m, x: m.max(x, dim=1, keepdim=True)[0],
    lambda m, x: m.min(input=x),
    lambda m, x: x.amax(None),
    lambda m, x: x.amin(dim=()),
    lambda m, x: x.norm(),
    lambda m, x: m.norm(x, 2, 1),
    lambda m, x: x.norm(p="fro", dim=(0, 1)),
    lambda m, x: x.norm(dim=None, keepdim=True),
    lambda m, x: x.norm(dtype=m.float64),
    lambda m, x: x.var(),
    lambda m, x: x.var(0, False),
    lambda m, x: x.var(False),
    lambda m, x: x.var(unbiased=False),
    lambda m, x: x.var(dim=(1, 0)),
    lambda m, x: m.var(x, 0, True, True),
    lambda m, x: x.std(1, correction=0),
    lambda m, x: x.std(dim=None, keepdim=True),
    lambda m, x: m.var_mean(x, 1)[0],
    lambda m, x: m.var_mean(x, unbiased=False)[1],
    lambda m, x: m.std_mean(x, dim=0, correction=0)[0],
    lambda m, x: m.std_mean(x, 1, True, keepdim=True)[1],
    lambda m, x: x.logsumexp((0, 1)),
    lambda m, x: m.logsumexp(x, dim=[0, 1], keepdim=True),
    lambda m, x: x.cumsum(dim=0),
    lambda m, x: x.cumprod(1),
    lambda m, x: x.cumsum(0, dtype=m.float64),
    lambda m, x: x.softmax(dim=0),
    lambda m, x: m.softmax(x, 0, m.float64),
    lambda m, x: m.log_softmax(x, dim=1, dtype=m.float64),
]


@pytest.mark.parametrize("case", range(len(NAMED)))
def test_overloads_values_and_grad_fn(case):
    f = NAMED[case]
    data = [[1.0, 2.0, 0.5], [3.0, -4.0, 2.0]]
    e_x = ember.tensor(data, requires_grad=True)
    t_x = torch.tensor(data, requires_grad=True)
    e, t = f(ember, e_x), f(torch, t_x)
    assert type(e.grad_fn).__name__ == type(t.grad_fn).__name__
    assert _dt(e) == _dt(t) and tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6)
    (ge,) = ember.autograd.grad(e.sum(), e_x)
    (gt,) = torch.autograd.grad(t.sum(), t_x)
    assert _dt(ge) == _dt(gt)
    np.testing.assert_allclose(ge.numpy(), gt.numpy(), rtol=1e-5, atol=1e-7)


def test_softmax_dtype_casts_first():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.softmax(x, 0, dtype=ember.float64)
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "ToCopyBackward0"


# ---- numerical stability and edge values ----
def _odd_rows(m):
    inf, nan = float("inf"), float("nan")
    odd = m.tensor([[-inf, -inf, -inf], [inf, 0.0, 1.0], [nan, 0.0, 0.0], [-inf, 2.0, 1.0]])
    return m.cat([odd, m.arange(108.0).reshape(36, 3)])


STABLE = [
    lambda m: m.tensor([1000.0, 1000.0, -1000.0]).logsumexp(0),
    lambda m: m.tensor([-1000.0, -1001.0]).logsumexp(0),
    lambda m: m.tensor([float("inf"), 1.0]).logsumexp(0),
    lambda m: m.tensor([float("-inf"), float("-inf")]).logsumexp(0),
    lambda m: m.zeros(0, 3).logsumexp(0),
    lambda m: m.tensor([1000.0, 0.0, -1000.0]).softmax(0),
    lambda m: m.tensor([[1000.0, 999.0], [-1000.0, -999.0]]).log_softmax(1),
    lambda m: m.tensor([float("-inf"), 0.0]).softmax(0),
    lambda m: m.tensor([float("-inf"), 0.0]).log_softmax(0),
    lambda m: m.zeros(0, 3).softmax(0),
    # a batch of short rows (reduced as columns) with infinite and NaN rows among them
    lambda m: _odd_rows(m).log_softmax(1),
    lambda m: _odd_rows(m).softmax(1),
    lambda m: _odd_rows(m).logsumexp(1),
    lambda m: m.zeros(40, 0).log_softmax(1),  # (a batch of rows with no classes at all)
    lambda m: m.zeros(40, 0).softmax(1),
    lambda m: m.tensor([]).sum(),
    lambda m: m.tensor([]).mean(),
    lambda m: m.tensor([]).prod(),
    lambda m: m.zeros(0, 3).mean(0),
    lambda m: m.zeros(0, 3).var(),
    lambda m: m.zeros(0, 3).max(1).values,
    lambda m: m.zeros(0, 3).norm(float("inf"), dim=1),
    lambda m: m.tensor([3.0, -4.0]).norm(-1),
    lambda m: m.tensor([0.0, -4.0]).norm(-1),
    lambda m: m.tensor([0.0, -4.0]).norm(0.5),
    lambda m: m.tensor(3.0).max(0).indices,
    lambda m: m.tensor(3.0).argmax(keepdim=True),
    lambda m: m.ones(2, 3).argmax(keepdim=True),
    lambda m: m.tensor(3.0).cumprod(0),
    lambda m: m.tensor(3.0).softmax(0),
    lambda m: m.tensor(-2.0).norm(dim=0),
    lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]).var(0, correction=2),
    lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]).var(correction=0.5),
]


@pytest.mark.parametrize("case", range(len(STABLE)))
def test_extreme_values_match_torch(case, same):
    same(STABLE[case])


def test_gradients_at_zeros_and_zero_vectors():
    """prod/cumprod with one and several zeros; norms of a zero vector have gradient 0."""
    cases = [
        ([2.0, 0.0, 3.0], lambda x: x.prod()),
        ([2.0, 0.0, 3.0, 0.0], lambda x: x.prod()),
        ([[2.0, 0.0], [0.0, 0.0]], lambda x: x.prod(1).sum()),
        ([2.0, 0.0, 3.0, 0.0, 4.0], lambda x: (x.cumprod(0) * x.new_tensor([1, 2, 3, 4, 5])).sum()),
        ([0.0, 0.0, 0.0], lambda x: x.norm()),
        ([0.0, 0.0, 0.0], lambda x: x.norm(3)),
        ([0.0, 0.0], lambda x: x.norm(float("inf"))),
        ([0.0, 0.0], lambda x: x.std()),
    ]
    for data, f in cases:
        e, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        (ge,) = ember.autograd.grad(f(e), e)
        (gt,) = torch.autograd.grad(f(t), t)
        np.testing.assert_allclose(ge.numpy(), gt.numpy(), rtol=1e-6)


def test_sum_with_dtype_casts_the_gradient_back():
    x = ember.ones(2, 3, dtype=ember.float64, requires_grad=True)
    x.sum(dtype=ember.float32).backward()
    assert x.grad.dtype is ember.float64
