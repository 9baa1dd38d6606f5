"""ember.autograd.forward_ad against torch.autograd.forward_ad: the API's semantics (levels,
errors, unpack_dual, repr, views, in-place ops, integer results, composition with backward).
Every op's jvp rule is checked by the op table (test_ops.py: test_jvp_*)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw

import ember
import ember.autograd.forward_ad as efw
from ember.autograd.grad_mode import STATE

X = [1.0, 2.0, 3.0]
T = [0.5, 0.25, 1.0]


def _both(fn):
    """fn(module, forward_ad) in ember and in torch, inside a dual level."""
    with efw.dual_level():
        e = fn(ember, efw)
    with tfw.dual_level():
        t = fn(torch, tfw)
    return e, t


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the point is to compare type and message
        return type(e), str(e)
    return None


def _same_error(fn):
    e, t = _err(lambda: fn(ember, efw)), _err(lambda: fn(torch, tfw))
    assert e is not None and t is not None
    assert e[0] is t[0] and e[1].replace("ember.", "torch.") == t[1]


def _dual(m, fw, x=X, t=T, dtype="float64"):
    dt = getattr(m, dtype)
    return fw.make_dual(m.tensor(x, dtype=dt), m.tensor(t, dtype=dt))


def test_level_numbers_and_cleanup():
    with efw.dual_level() as level:
        assert level == 0 and STATE.fw_level
        y = _dual(ember, efw) * 2
        assert efw.unpack_dual(y).tangent is not None
    assert not STATE.fw_level
    assert efw.unpack_dual(y).tangent is None  # torch drops a level's tangents when it exits
    assert efw.enter_dual_level() == 0
    efw.exit_dual_level()


def test_unpack_dual_namedtuple():
    def f(m, fw):
        d = _dual(m, fw)
        p, t = fw.unpack_dual(d)
        plain = fw.unpack_dual(m.ones(2))
        return p, t, fw.unpack_dual(d).primal, plain.tangent, type(fw.unpack_dual(d)).__name__

    (ep, et, ep2, enone, ename), (tp, tt, tp2, tnone, tname) = _both(f)
    assert ename == tname == "UnpackedDualTensor"
    assert enone is None and tnone is None
    np.testing.assert_array_equal(ep._data, tp.numpy())
    np.testing.assert_array_equal(et._data, tt.numpy())
    with efw.dual_level():
        d = _dual(ember, efw)
        assert efw.unpack_dual(efw.unpack_dual(d).primal).tangent is None


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, fw: _dual(m, fw),
        lambda m, fw: _dual(m, fw) * 2,
        lambda m, fw: _dual(m, fw).sin(),
        lambda m, fw: fw.make_dual(m.tensor(2.0), m.tensor(3.0)),
        lambda m, fw: fw.make_dual(m.zeros(2, 3), m.ones(2, 3)),
        lambda m, fw: fw.make_dual(m.zeros(2, 3, requires_grad=True), m.ones(2, 3)),
        lambda m, fw: _dual(m, fw)[1:],
        lambda m, fw: _dual(m, fw).long(),
        lambda m, fw: _dual(m, fw) > 1,
    ],
)
def test_repr_matches_torch(fn):
    e, t = _both(lambda m, fw: repr(fn(m, fw)).replace("ember.", "torch."))
    assert e == t


def test_make_dual_errors_match_torch():
    _same_error(lambda m, fw: fw.make_dual(m.ones(3), m.ones(3)))  # no level
    with efw.dual_level(), tfw.dual_level():
        _same_error(lambda m, fw: fw.make_dual(m.ones(3), m.ones(2)))
        _same_error(lambda m, fw: fw.make_dual(m.ones(3), m.ones(1, 3)))
        _same_error(lambda m, fw: fw.make_dual(m.ones(3), m.ones(3, dtype=m.int64)))
        _same_error(lambda m, fw: fw.make_dual(m.arange(3), m.ones(3)))
        _same_error(lambda m, fw: fw.make_dual(fw.make_dual(m.ones(3), m.ones(3)), m.ones(3)))
        _same_error(lambda m, fw: fw.enter_dual_level())  # nested
    _same_error(lambda m, fw: fw.exit_dual_level())  # none to exit


def test_make_dual_keeps_tangent_and_aliases_primal():
    x, t = ember.ones(3, dtype=ember.float64), ember.ones(3, dtype=ember.float32)
    with efw.dual_level():
        d = efw.make_dual(x, t)
        assert efw.unpack_dual(d).tangent is t  # as torch: kept as it is, dtype included
        assert d._base is x and d.grad_fn is None
        xr = ember.ones(3, requires_grad=True)
        assert type(efw.make_dual(xr, ember.ones(3)).grad_fn).__name__ == "ViewBackward0"


def test_integer_results_have_no_tangent():
    def f(m, fw):
        d = _dual(m, fw)
        return [fw.unpack_dual(r).tangent for r in (d.long(), d > 1, d.argmax(), m.arange(3) * d)]

    (e_long, e_cmp, e_arg, e_mul), (t_long, t_cmp, t_arg, t_mul) = _both(f)
    assert e_long is e_cmp is e_arg is None and t_long is t_cmp is t_arg is None
    np.testing.assert_array_equal(e_mul._data, t_mul.numpy())


def test_views_share_the_tangent():
    def f(m, fw):
        base = _dual(m, fw, x=[[1.0, 2.0], [3.0, 4.0]], t=[[1.0, 0.0], [0.0, 1.0]]) * 1
        v = base[1]
        v.mul_(3.0)
        return fw.unpack_dual(base).tangent, fw.unpack_dual(base.t()).tangent

    (e, et), (t, tt) = _both(f)
    np.testing.assert_array_equal(e._data, t.numpy())
    np.testing.assert_array_equal(et._data, tt.numpy())


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, fw, d: d.mul_(2),
        lambda m, fw, d: d.add_(_dual(m, fw)),
        lambda m, fw, d: m.tensor(X, dtype=m.float64).add_(d),  # a plain tensor becomes dual
        lambda m, fw, d: d.sin_(),
        lambda m, fw, d: d.zero_(),
        lambda m, fw, d: d.__setitem__(0, 5.0),
        lambda m, fw, d: m.zeros(3, dtype=m.float64).__setitem__(slice(1, None), d[1:]),
    ],
)
def test_inplace_ops_on_duals(fn):
    def f(m, fw):
        d = _dual(m, fw) * 1  # not a leaf view of a plain tensor
        target = fn(m, fw, d)
        return fw.unpack_dual(d if target is None else target)

    (ep, et), (tp, tt) = _both(f)
    np.testing.assert_allclose(ep._data, tp.detach().numpy())
    assert (et is None) == (tt is None)
    if et is not None:
        np.testing.assert_allclose(et._data, tt.numpy())


def test_tangent_is_differentiable_reverse_over_forward():
    def f(m, fw):
        t = m.tensor([1.0, 0.5], dtype=m.float64, requires_grad=True)
        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        tangent = fw.unpack_dual((fw.make_dual(x, t).exp() * 3).sum()).tangent
        return m.autograd.grad(tangent, (x, t))

    (ex, et), (tx, tt) = _both(f)
    np.testing.assert_allclose(ex._data, tx.numpy())
    np.testing.assert_allclose(et._data, tt.numpy())


@pytest.mark.parametrize("create_graph", [False, True])
def test_backward_inside_a_level_forward_over_reverse(create_graph):
    def f(m, fw):
        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        d = fw.make_dual(x, m.tensor([1.0, -1.0], dtype=m.float64))
        y = (d.exp() * d.sin()).sum()  # exp's rule reads its saved output
        (g,) = m.autograd.grad(y, x, create_graph=create_graph)
        return g, fw.unpack_dual(g).tangent

    (eg, et), (tg, tt) = _both(f)
    np.testing.assert_allclose(eg._data, tg.detach().numpy())
    assert (et is None) == (tt is None)
    if tt is not None:
        np.testing.assert_allclose(et._data, tt.detach().numpy())


def test_backward_accumulates_plain_grads():
    def f(m, fw):
        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        (fw.make_dual(x, m.ones(2, dtype=m.float64)) ** 3).sum().backward()
        return x.grad, fw.unpack_dual(x.grad).tangent

    (eg, et), (tg, tt) = _both(f)
    np.testing.assert_allclose(eg._data, tg.numpy())
    assert et is None and tt is None


def test_detach_drops_the_tangent():
    (e, t) = _both(lambda m, fw: fw.unpack_dual(_dual(m, fw).detach()).tangent)
    assert e is None and t is None


def test_no_cost_outside_a_level():
    assert not STATE.fw_level
    assert not hasattr(ember.ones(2) * 2, "_fw_grad")  # the slot stays unset


def test_rule_kinds_are_declared():
    ops = ember.ops
    assert ops.pointwise.sin.jvps == "elementwise"
    assert ops.pointwise._add.jvps == "linear"
    assert ops.pointwise.mul.jvps == "multilinear"
    assert ops.linalg._mm.jvps == "multilinear"
