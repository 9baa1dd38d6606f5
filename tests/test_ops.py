"""Every op, every sample, the same checks (PyTorch's OpInfo pattern; the table is op_db.py).

For each (op, sample): forward values/shape/dtype vs torch in float64 and float32; the vjp
vs `torch.autograd.grad` with a random cotangent; the vjp vs float64 central differences
along a random direction (<u, J v>, independent of torch); the forward-mode jvp vs
`torch.func.jvp` and vs float64 central differences; double backward vs torch; no graph
when nothing requires grad; grad_fn names vs torch. A meta-test fails when a registered op is
exercised by no entry.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from op_db import OPS

import ember
from ember.ops._registry import Op


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _cases():
    for op in OPS:
        for i, sample in enumerate(op.samples(_rng(op.name))):
            yield pytest.param(op, sample, id=f"{op.id}-{sample.name or i}")


CASES = list(_cases())


def _where(flag) -> list:
    """The cases whose entry asks for a check (entries say which checks apply, and why not)."""
    return [c for c in CASES if flag(c.values[0])]


VJP_CASES = _where(lambda op: op.grad and op.torch_grad)
FD_CASES = _where(lambda op: op.grad and op.fd)
GRADGRAD_CASES = _where(lambda op: op.grad and op.gradgrad and op.torch_grad)
JVP_CASES = _where(lambda op: op.grad and op.torch_grad and not op.no_torch_jvp)


def _convert(m, value, pos, sample, requires_grad, dtype):
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        return type(value)(_convert(m, v, pos, sample, requires_grad, dtype) for v in value)
    if not isinstance(value, np.ndarray):
        return value
    arr = value.astype(dtype) if value.dtype.kind == "f" else value
    t = m.from_numpy(arr.copy()) if m is torch else m.from_numpy(arr)
    if requires_grad and arr.dtype.kind == "f" and pos not in sample.no_grad:
        t.requires_grad_(True)
    return t


def _inputs(m, sample, requires_grad=True, dtype=np.float64):
    args = tuple(_convert(m, a, i, sample, requires_grad, dtype) for i, a in enumerate(sample.args))
    kwargs = {k: _convert(m, v, k, sample, requires_grad, dtype) for k, v in sample.kwargs.items()}
    return args, kwargs


def _call(op, m, args, kwargs):
    if op.fn is not None:
        return op.fn(m, *args, **kwargs)
    if op.method:
        return getattr(args[0], op.name)(*args[1:], **kwargs)
    return getattr(m, op.name)(*args, **kwargs)


def _flat(out) -> list:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _leaves(args, kwargs) -> list:
    flat = _flat(list(args)) + _flat(list(kwargs.values()))
    return [t for t in flat if hasattr(t, "requires_grad") and t.requires_grad]


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach()
        # torch returns a lazily-zero "ZeroTensor" for some second derivatives (relu, abs).
        return np.zeros(tuple(t.shape)) if t._is_zerotensor() else t.numpy()
    return np.asarray(t.detach()._data)


def _close(got, want, op, rtol=None, atol=None):
    rtol = op.rtol if rtol is None else rtol
    atol = op.atol if atol is None else atol
    np.testing.assert_allclose(_np(got), _np(want), rtol=rtol, atol=atol, equal_nan=True)


def _run_both(op, sample, requires_grad=True, dtype=np.float64):
    e_args, e_kwargs = _inputs(ember, sample, requires_grad, dtype)
    t_args, t_kwargs = _inputs(torch, sample, requires_grad, dtype)
    return (e_args, e_kwargs, _call(op, ember, e_args, e_kwargs)), (
        t_args,
        t_kwargs,
        _call(op, torch, t_args, t_kwargs),
    )


@pytest.mark.parametrize("op,sample", CASES)
def test_forward(op, sample):
    for dtype, tol in ((np.float64, None), (np.float32, 1e-5)):
        if dtype is np.float32 and not op.float32:
            continue
        (_, _, e_out), (_, _, t_out) = _run_both(op, sample, requires_grad=False, dtype=dtype)
        e_flat, t_flat = _flat(e_out), _flat(t_out)
        assert len(e_flat) == len(t_flat)
        for e, t in zip(e_flat, t_flat):
            if isinstance(t, torch.Tensor):
                assert isinstance(e, ember.Tensor), type(e)
                assert tuple(e.shape) == tuple(t.shape)
                assert e.dtype.name == str(t.dtype).split(".")[1]
                _close(e, t, op, rtol=tol, atol=tol)
            else:
                assert e == t


def _diff_outputs(outs: list) -> list:
    return [
        i
        for i, o in enumerate(outs)
        if hasattr(o, "requires_grad") and o.requires_grad and o.dtype.is_floating_point
    ]


def _grads(m, outs, leaves, cots, create_graph=False):
    return m.autograd.grad(
        outs, leaves, cots, allow_unused=True, create_graph=create_graph, retain_graph=True
    )


@pytest.mark.parametrize("op,sample", VJP_CASES)
def test_vjp_matches_torch(op, sample):
    (e_args, e_kwargs, e_out), (t_args, t_kwargs, t_out) = _run_both(op, sample)
    e_outs, t_outs = _flat(e_out), _flat(t_out)
    idx = _diff_outputs(t_outs)
    assert idx, "torch records no differentiable output: mark this entry grad=False"
    assert _diff_outputs(e_outs) == idx
    rng = _rng(op.name, sample.name, "cot")
    cots = [rng.standard_normal(tuple(t_outs[i].shape)) for i in idx]
    e_leaves, t_leaves = _leaves(e_args, e_kwargs), _leaves(t_args, t_kwargs)
    e_g = _grads(ember, [e_outs[i] for i in idx], e_leaves, [ember.from_numpy(c) for c in cots])
    t_g = _grads(torch, [t_outs[i] for i in idx], t_leaves, [torch.from_numpy(c) for c in cots])
    if op.grad_fn_name:
        for i in idx:
            assert type(e_outs[i].grad_fn).__name__ == type(t_outs[i].grad_fn).__name__
    for e, t, leaf in zip(e_g, t_g, t_leaves):
        if t is None:
            assert e is None or not np.any(_np(e)), "ember has a gradient where torch has none"
            continue
        assert e is not None, "ember has no gradient where torch has one"
        assert tuple(e.shape) == tuple(leaf.shape)
        _close(e, t, op, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op,sample", VJP_CASES)
def test_grads_same_with_and_without_create_graph(op, sample):
    """A backward that records nothing runs the ops' NumPy rules (Op.defvjp_np) where they
    have them; create_graph=True runs the rules written with ember ops. Both give the same
    first-order gradients (test_vjp_matches_torch compares the first with torch)."""
    args, kwargs = _inputs(ember, sample)
    outs = _flat(_call(op, ember, args, kwargs))
    idx = _diff_outputs(outs)
    leaves = _leaves(args, kwargs)
    rng = _rng(op.name, sample.name, "cot")
    cots = [ember.from_numpy(rng.standard_normal(tuple(outs[i].shape))) for i in idx]
    plain = _grads(ember, [outs[i] for i in idx], leaves, cots)
    recorded = _grads(ember, [outs[i] for i in idx], leaves, cots, create_graph=True)
    for a, b in zip(plain, recorded):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            _close(a, b, op, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op,sample", FD_CASES)
def test_vjp_finite_differences(op, sample):
    """<u, J v> by central differences in float64 equals <J^T u, v> from backward."""
    args, kwargs = _inputs(ember, sample)
    outs = _flat(_call(op, ember, args, kwargs))
    idx = _diff_outputs(outs)
    leaves = _leaves(args, kwargs)
    assert idx and leaves
    rng = _rng(op.name, sample.name, "fd")
    us = [rng.standard_normal(tuple(outs[i].shape)) for i in idx]
    vs = [rng.standard_normal(tuple(x.shape)) for x in leaves]
    grads = _grads(ember, [outs[i] for i in idx], leaves, [ember.from_numpy(u) for u in us])
    analytic = sum(float(np.sum(_np(g) * v)) for g, v in zip(grads, vs) if g is not None)
    base = [x._data.copy() for x in leaves]
    eps = 1e-6

    def f(sign):
        for x, b, v in zip(leaves, base, vs):
            x._data = b + sign * eps * v
        with ember.no_grad():
            o = _flat(_call(op, ember, args, kwargs))
        return sum(float(np.sum(o[i]._data * u)) for i, u in zip(idx, us))

    numeric = (f(1) - f(-1)) / (2 * eps)
    for x, b in zip(leaves, base):
        x._data = b
    assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("op,sample", GRADGRAD_CASES)
def test_double_backward(op, sample):
    """Second derivatives (through the grads and the cotangents) match torch's."""
    (e_args, e_kwargs, e_out), (t_args, t_kwargs, t_out) = _run_both(op, sample)
    e_outs, t_outs = _flat(e_out), _flat(t_out)
    idx = _diff_outputs(t_outs)
    rng = _rng(op.name, sample.name, "gg")
    cots = [rng.standard_normal(tuple(t_outs[i].shape)) for i in idx]
    e_cots = [ember.from_numpy(c.copy()).requires_grad_() for c in cots]
    t_cots = [torch.from_numpy(c.copy()).requires_grad_() for c in cots]
    e_leaves, t_leaves = _leaves(e_args, e_kwargs), _leaves(t_args, t_kwargs)
    e_g = _grads(ember, [e_outs[i] for i in idx], e_leaves, e_cots, create_graph=True)
    t_g = _grads(torch, [t_outs[i] for i in idx], t_leaves, t_cots, create_graph=True)
    ws = [rng.standard_normal(tuple(x.shape)) for x in t_leaves]
    e_s = sum((g * ember.from_numpy(w)).sum() for g, w in zip(e_g, ws) if g is not None)
    t_s = sum((g * torch.from_numpy(w)).sum() for g, w in zip(t_g, ws) if g is not None)
    e_gg = _grads(ember, [e_s], e_leaves + e_cots, None)
    t_gg = _grads(torch, [t_s], t_leaves + t_cots, None)
    for e, t in zip(e_gg, t_gg):
        if t is None:
            assert e is None or not np.any(_np(e))
        else:
            assert e is not None
            _close(e, t, op, rtol=1e-6, atol=1e-9)


def _subst(value, new: dict):
    """args/kwargs with the tensors keyed (by id) in `new` replaced."""
    if isinstance(value, dict):
        return {k: _subst(v, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_subst(v, new) for v in value)
    return new.get(id(value), value)


def _ember_jvp(op, sample, tangents: list, requires_grad: bool) -> tuple:
    """(outputs, their tangents) by ember's forward mode; leaves as test_vjp's, made dual."""
    fwad = ember.autograd.forward_ad
    args, kwargs = _inputs(ember, sample)
    leaves = _leaves(args, kwargs)
    with fwad.dual_level():
        duals = {
            id(x): fwad.make_dual(x if requires_grad else x.detach(), ember.from_numpy(t))
            for x, t in zip(leaves, tangents)
        }
        outs = _flat(_call(op, ember, _subst(args, duals), _subst(kwargs, duals)))
        return outs, [
            fwad.unpack_dual(o).tangent if isinstance(o, ember.Tensor) else None for o in outs
        ]


def _jvp_tangents(op, sample, kind: str) -> list:
    rng = _rng(op.name, sample.name, kind)
    return [rng.standard_normal(tuple(x.shape)) for x in _leaves(*_inputs(ember, sample))]


def _torch_jvp(op, sample, tangents: list, requires_grad: bool) -> tuple:
    """torch's (outputs, tangents) by its forward mode (torch.autograd.forward_ad, which
    torch.func.jvp shares its formulas with), the leaves made dual exactly as `_ember_jvp`
    makes ember's: entries whose function detaches or calls autograd (the `*_grad` and
    `*-backward` entries) then mean the same in both."""
    fwad = torch.autograd.forward_ad
    args, kwargs = _inputs(torch, sample)
    leaves = _leaves(args, kwargs)
    with fwad.dual_level():
        duals = {
            id(x): fwad.make_dual(x if requires_grad else x.detach(), torch.from_numpy(t))
            for x, t in zip(leaves, tangents)
        }
        outs = _flat(_call(op, torch, _subst(args, duals), _subst(kwargs, duals)))
        return outs, [
            fwad.unpack_dual(o).tangent if isinstance(o, torch.Tensor) else None for o in outs
        ]


@pytest.mark.parametrize("op,sample", JVP_CASES)
def test_jvp_matches_torch(op, sample):
    """Forward-mode tangents (random, float64) match torch's, with the primals requiring grad
    (tangents then record a graph) and without."""
    tangents = _jvp_tangents(op, sample, "jvp")
    for requires_grad in (False, True):
        t_outs, t_tans = _torch_jvp(op, sample, tangents, requires_grad)
        e_outs, e_tans = _ember_jvp(op, sample, tangents, requires_grad)
        assert len(e_outs) == len(t_outs)
        for i, o in enumerate(t_outs):
            if not o.dtype.is_floating_point:
                continue
            if t_tans[i] is None:  # torch: no tangent (the output does not depend on one)
                assert e_tans[i] is None or not np.any(_np(e_tans[i]))
                continue
            assert e_tans[i] is not None, f"output {i} has no tangent"
            assert tuple(e_tans[i].shape) == tuple(o.shape)
            assert e_tans[i].dtype is e_outs[i].dtype
            _close(e_tans[i], t_tans[i], op, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op,sample", FD_CASES)
def test_jvp_finite_differences(op, sample):
    """Each output's tangent J v equals (f(x + eps v) - f(x - eps v)) / 2 eps in float64 (the
    leaves require grad, as in the vjp check: the `*_grad` entries differentiate through them)."""
    tangents = _jvp_tangents(op, sample, "jvp-fd")
    outs, tans = _ember_jvp(op, sample, tangents, requires_grad=True)
    args, kwargs = _inputs(ember, sample)
    leaves = _leaves(args, kwargs)
    base = [x._data.copy() for x in leaves]
    eps = 1e-6

    def f(sign):
        for x, b, v in zip(leaves, base, tangents):
            x._data = b + sign * eps * v
        with ember.no_grad():
            return [o._data.copy() for o in _flat(_call(op, ember, args, kwargs))]

    plus, minus = f(1), f(-1)
    for i in _diff_outputs(_flat(_call(op, ember, *_inputs(ember, sample)))):
        assert tans[i] is not None, f"output {i} has no tangent"
        numeric = (plus[i] - minus[i]) / (2 * eps)
        np.testing.assert_allclose(_np(tans[i]), numeric, rtol=1e-5, atol=1e-6)


def _second_backward(m, op, sample) -> str:
    """'ok' or 'raise': a second backward through the sample's graph after the first freed it."""
    args, kwargs = _inputs(m, sample)
    outs = _flat(_call(op, m, args, kwargs))
    total = sum(outs[i].sum() for i in _diff_outputs(outs))
    leaves = _leaves(args, kwargs)
    m.autograd.grad(total, leaves, allow_unused=True)
    try:
        m.autograd.grad(total, leaves, allow_unused=True)
    except RuntimeError as e:
        assert str(e).startswith("Trying to backward through the graph a second time"), e
        return "raise"
    return "ok"


SECOND_BACKWARD_CASES = [
    c
    for c in VJP_CASES
    if _diff_outputs(_flat(_call(c.values[0], ember, *_inputs(ember, c.values[1]))))
]


@pytest.mark.parametrize("op,sample", SECOND_BACKWARD_CASES)
def test_second_backward_raises_where_torchs_does(op, sample):
    """After a backward without retain_graph, a second one raises exactly where torch's does:
    where a formula needs a freed value (including the number in `x * 2` and index tensors),
    not where only shapes are needed (`x + 2`, `mean`, `split`)."""
    assert _second_backward(ember, op, sample) == _second_backward(torch, op, sample)


@pytest.mark.parametrize("op,sample", CASES)
def test_no_graph_without_requires_grad(op, sample):
    args, kwargs = _inputs(ember, sample, requires_grad=False)
    for out in _flat(_call(op, ember, args, kwargs)):
        if isinstance(out, ember.Tensor):
            assert out.grad_fn is None and not out.requires_grad


def _registered_ops() -> dict:
    found = {}
    for module in ember.ops.MODULES:
        for value in vars(module).values():
            if isinstance(value, Op):
                found[value.__name__] = value
    return found


def test_every_registered_op_has_an_entry(monkeypatch):
    called = set()
    original = Op.__call__

    def traced(self, *args, **kwargs):
        called.add(self.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Op, "__call__", traced)
    for param in CASES:
        op, sample = param.values
        args, kwargs = _inputs(ember, sample)
        _call(op, ember, args, kwargs)
    missing = sorted(set(_registered_ops()) - called)
    assert not missing, f"ops with no OpInfo sample exercising them: {missing}"
