"""Conv and pooling modules vs torch: reprs, parameter names/shapes, init bounds, forward and
backward with torch's weights copied in, and constructor/forward errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import outcome

import ember

MODULES = [
    ("Conv1d", (2, 4, 3), {"padding": "same"}),
    ("Conv2d", (1, 1, 2), {}),
    ("Conv2d", (4, 6, (3, 2)), {"stride": 2, "padding": 1, "dilation": (1, 2), "groups": 2}),
    ("Conv2d", (3, 3, 3), {"groups": 3, "bias": False, "padding": "valid"}),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ("ConvTranspose2d", (4, 6, 2), {"groups": 2, "dilation": 2, "bias": False}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3, 2, 1), {"ceil_mode": True}),
    ("MaxPool1d", (3,), {"stride": 1}),
    ("AvgPool2d", (2,), {"count_include_pad": False}),
    ("AvgPool1d", (2,), {}),
    ("AdaptiveAvgPool2d", ((2, None),), {}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveMaxPool2d", (2,), {}),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(MODULES)]


def _input(name: str, rng: np.random.Generator) -> np.ndarray:
    if name in ("Conv1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d"):
        return (
            rng.standard_normal((2, 2, 9)) if name == "Conv1d" else rng.standard_normal((2, 3, 9))
        )
    channels = 4 if name in ("ConvTranspose2d",) else (1 if name == "Conv2d" else 3)
    return rng.standard_normal((2, channels, 7, 6))


@pytest.mark.parametrize("name,args,kwargs", MODULES, ids=IDS)
def test_repr_and_parameters(name, args, kwargs):
    e, t = getattr(ember.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(e) == repr(t)
    e_params = [(n, tuple(p.shape)) for n, p in e.named_parameters()]
    assert e_params == [(n, tuple(p.shape)) for n, p in t.named_parameters()]


@pytest.mark.parametrize("name,args,kwargs", MODULES, ids=IDS)
def test_forward_backward_with_torch_weights(name, args, kwargs):
    if name == "Conv2d" and kwargs.get("groups") == 2:
        x = np.random.default_rng(1).standard_normal((2, 4, 7, 6))
    elif name == "Conv2d" and kwargs.get("groups") == 3:
        x = np.random.default_rng(1).standard_normal((3, 6, 5))  # unbatched
    else:
        x = _input(name, np.random.default_rng(1))
    t = getattr(torch.nn, name)(*args, **kwargs).double()
    e = getattr(ember.nn, name)(*args, **kwargs).double()
    for (_, ep), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
        ep.data = ember.from_numpy(tp.detach().numpy().copy())
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ex = ember.from_numpy(x.copy()).requires_grad_()
    to, eo = t(tx), e(ex)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert type(eo.grad_fn).__name__ == type(to.grad_fn).__name__
    g = np.random.default_rng(2).standard_normal(tuple(to.shape))
    to.backward(torch.from_numpy(g))
    eo.backward(ember.from_numpy(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ep, tp in zip(e.parameters(), t.parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["Conv1d", "Conv2d", "ConvTranspose2d"])
def test_init_bounds(name):
    m = getattr(ember.nn, name)(6, 4, 3)
    fan_in = m.weight.shape[1] * math.prod(m.weight.shape[2:])
    bound = 1 / math.sqrt(fan_in)
    assert float(m.weight.abs().max()) <= bound
    assert float(m.bias.abs().max()) <= bound
    assert float(m.weight.std()) > bound / 4  # filled, not left empty or zero


def test_return_indices_and_output_size():
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 5)).astype(np.float32)
    outs = [
        (
            m.nn.MaxPool2d(2, return_indices=True)(m.from_numpy(x.copy()))[1].numpy(),
            m.nn.ConvTranspose2d(2, 1, 3, stride=2)(m.from_numpy(x.copy()), output_size=[12, 12]),
        )
        for m in (ember, torch)
    ]
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert tuple(outs[0][1].shape) == tuple(outs[1][1].shape) == (1, 1, 12, 12)


ERRORS = [
    lambda m: m.nn.Conv2d(3, 4, 3, groups=2),
    lambda m: m.nn.Conv2d(4, 3, 3, groups=2),
    lambda m: m.nn.Conv2d(4, 4, 3, groups=0),
    lambda m: m.nn.Conv2d(4, 4, 3, stride=2, padding="same"),
    lambda m: m.nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"),
    lambda m: m.nn.Conv2d(3, 4, 3)(m.zeros(2, 2, 5, 5)),
    lambda m: m.nn.Conv2d(3, 4, 3)(m.zeros(5, 5)),
    lambda m: m.nn.Conv2d(3, 4, 3)(m.zeros(1, 3, 2, 2)),
    lambda m: m.nn.Conv2d(3, 4, 3)(m.zeros(1, 3, 5, 5, dtype=m.float64)),
    lambda m: m.nn.Conv1d(3, 4, 3)(m.zeros(1, 3, 5, 5)),
    lambda m: m.nn.ConvTranspose2d(3, 4, 3)(m.zeros(1, 4, 5, 5)),
    lambda m: m.nn.ConvTranspose2d(3, 4, 3, stride=2)(m.zeros(1, 3, 5, 5), output_size=(20, 20)),
    lambda m: m.nn.MaxPool2d(2, padding=2)(m.zeros(1, 1, 4, 4)),
    lambda m: m.nn.MaxPool2d(3)(m.zeros(1, 1, 2, 2)),
    lambda m: m.nn.AvgPool2d(2, divisor_override=0)(m.zeros(1, 1, 4, 4)),
    lambda m: m.nn.AdaptiveAvgPool2d(2)(m.zeros(4, 4)),
    lambda m: m.nn.functional.conv2d(m.zeros(1, 3, 5, 5), m.zeros(4, 3, 3, 3), m.zeros(3)),
    lambda m: m.nn.functional.conv2d(m.zeros(1, 3, 5, 5), m.zeros(4, 1, 3, 3), groups=3),
    lambda m: m.nn.functional.conv2d(m.zeros(1, 3, 5, 5), m.zeros(4, 3, 3, 3), stride=0),
    lambda m: m.nn.functional.conv2d(m.zeros(1, 3, 5, 5), m.zeros(4, 3, 3, 3), padding=-1),
    lambda m: m.nn.functional.conv_transpose2d(
        m.zeros(1, 3, 5, 5), m.zeros(3, 2, 3, 3), stride=2, output_padding=2
    ),
    lambda m: m.nn.functional.fold(m.zeros(2, 7, 9), (6, 6), 2, stride=2),
    lambda m: m.nn.functional.unfold(m.zeros(1, 1, 3, 3), 4),
]


@pytest.mark.parametrize("fn", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(fn):
    assert outcome(fn, ember) == outcome(fn, torch)


def test_other_padding_modes_not_implemented():
    with pytest.raises(NotImplementedError, match="padding_mode='zeros'"):
        ember.nn.Conv2d(1, 1, 3, padding_mode="reflect")
