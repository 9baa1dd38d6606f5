"""Complex tensors through the whole op table, against torch (issue #4).

Every OpInfo sample is rerun with its floating arrays made complex (x + i y, y random in
[-0.5, 0.5), so positive domains stay off the branch cuts). Where torch refuses a complex
input (relu, comparisons, floor, ...), ember must refuse it with the same error type; where
torch computes, ember must compute the same values, dtype and shape, in complex128 and
complex64. Gradients follow torch's convention (the conjugate Wirtinger derivative, scaled so
that a real loss L gets dL/dx + i dL/dy): the vjp with a random complex cotangent matches
`torch.autograd.grad`, and, independently of torch, a float64 central difference of the real
loss Re<u, f(z)> along a random complex direction v equals Re<grad, v>.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_ops import CASES, _call, _flat, _leaves, _rng

import ember


def _complexify(value, rng, dtype):
    """Floating arrays (also inside lists) become complex with a random imaginary part."""
    if isinstance(value, dict):
        return {k: _complexify(v, rng, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_complexify(v, rng, dtype) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        imag = rng.uniform(-0.5, 0.5, size=value.shape)
        return np.asarray(value + 1j * imag, dtype=dtype)  # (0-d stays an array)
    return value


def _samples(op, sample, dtype=np.complex128):
    """The sample's (args, kwargs) made complex; the same values on every call."""
    rng = _rng(op.name, sample.name, "complex")
    return _complexify(sample.args, rng, dtype), _complexify(sample.kwargs, rng, dtype)


def _to(m, value, pos, sample, requires_grad):
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        return type(value)(_to(m, v, pos, sample, requires_grad) for v in value)
    if not isinstance(value, np.ndarray):
        return value
    t = m.from_numpy(value.copy())
    if requires_grad and value.dtype.kind in "fc" and pos not in sample.no_grad:
        t.requires_grad_(True)
    return t


def _inputs(m, op, sample, requires_grad=True, dtype=np.complex128):
    args, kwargs = _samples(op, sample, dtype)
    return (
        tuple(_to(m, a, i, sample, requires_grad) for i, a in enumerate(args)),
        {k: _to(m, v, k, sample, requires_grad) for k, v in kwargs.items()},
    )


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t._is_zerotensor():
            return np.zeros(tuple(t.shape), dtype=torch.empty(0, dtype=t.dtype).numpy().dtype)
        return t.resolve_conj().resolve_neg().numpy()
    return np.asarray(t.detach()._data)


def _attempt(fn):
    """('ok', value) or ('raise', exception type name)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - which error is raised is what we compare
        return ("raise", type(exc).__name__, str(exc))


def _outcome(attempt) -> tuple:
    """What two attempts must share: success, or the raised error's type."""
    return attempt[:1] if attempt[0] == "ok" else attempt[:2]


def _dtype_name(t) -> str:
    return t.dtype.name if isinstance(t, ember.Tensor) else str(t.dtype).split(".")[1]


@pytest.mark.parametrize("op,sample", CASES)
def test_complex_forward(op, sample):
    """Same values, shapes and dtypes as torch in complex128 and complex64, or the same error
    type where torch refuses a complex input."""
    for dtype, tol in ((np.complex128, op.rtol), (np.complex64, 1e-5)):
        if dtype is np.complex64 and not op.float32:
            continue
        t = _attempt(lambda d=dtype: _call(op, torch, *_inputs(torch, op, sample, False, d)))
        e = _attempt(lambda d=dtype: _call(op, ember, *_inputs(ember, op, sample, False, d)))
        assert _outcome(e) == _outcome(t), (e, t)
        if t[0] == "raise":
            continue
        e_flat, t_flat = _flat(e[1]), _flat(t[1])
        assert len(e_flat) == len(t_flat)
        for eo, to in zip(e_flat, t_flat):
            if not isinstance(to, torch.Tensor):
                assert eo == to
                continue
            assert tuple(eo.shape) == tuple(to.shape)
            assert _dtype_name(eo) == _dtype_name(to)
            np.testing.assert_allclose(_np(eo), _np(to), rtol=tol, atol=tol, equal_nan=True)


def _differentiable(outs) -> list:
    return [
        i
        for i, o in enumerate(outs)
        if hasattr(o, "requires_grad")
        and o.requires_grad
        and (o.dtype.is_floating_point or o.dtype.is_complex)
    ]


def _cotangents(rng, outs, idx) -> list:
    cots = []
    for i in idx:
        shape = tuple(outs[i].shape)
        c = rng.standard_normal(shape)
        if outs[i].dtype.is_complex:
            c = c + 1j * rng.standard_normal(shape)
        cots.append(c)
    return cots


def _complex_vjp(m, op, sample):
    """(leaves, grads) for a random cotangent, or ('raise', type) from forward or backward."""
    args, kwargs = _inputs(m, op, sample)
    outs = _flat(_call(op, m, args, kwargs))
    idx = _differentiable(outs)
    leaves = _leaves(args, kwargs)
    cots = _cotangents(_rng(op.name, sample.name, "complex-cot"), outs, idx)
    grads = m.autograd.grad(
        [outs[i] for i in idx], leaves, [m.from_numpy(c) for c in cots], allow_unused=True
    )
    names = [type(outs[i].grad_fn).__name__ for i in idx]
    return leaves, grads, names


# torch computes a complex convolution from real ones (Gauss's trick: three real convolutions
# added and subtracted), so its grad_fn is the last add of that composition; ember records one
# node. The values are compared all the same.
_COMPOSED_IN_TORCH = {"conv1d", "conv2d", "conv_transpose2d", "conv2d_grad"}

GRAD_CASES = [c for c in CASES if c.values[0].grad and c.values[0].torch_grad]


@pytest.mark.parametrize("op,sample", GRAD_CASES)
def test_complex_vjp_matches_torch(op, sample):
    """Gradients of complex inputs for a random complex cotangent equal torch's (or both raise
    the same error type, forward or backward)."""
    t = _attempt(lambda: _complex_vjp(torch, op, sample))
    e = _attempt(lambda: _complex_vjp(ember, op, sample))
    assert _outcome(e) == _outcome(t), (e, t)
    if t[0] == "raise":
        return
    (_, e_grads, e_names), (t_leaves, t_grads, t_names) = e[1], t[1]
    if op.grad_fn_name and op.name.split("-")[0] not in _COMPOSED_IN_TORCH:
        assert e_names == t_names
    for eg, tg, leaf in zip(e_grads, t_grads, t_leaves):
        if tg is None:
            assert eg is None or not np.any(_np(eg)), "ember has a gradient where torch has none"
            continue
        assert eg is not None, "ember has no gradient where torch has one"
        assert tuple(eg.shape) == tuple(leaf.shape)
        assert _dtype_name(eg) == _dtype_name(tg)
        np.testing.assert_allclose(_np(eg), _np(tg), rtol=1e-6, atol=1e-9)


FD_CASES = [c for c in CASES if c.values[0].grad and c.values[0].fd]


def _real_loss(outs, idx, cots) -> float:
    """Re<u, w> summed: the real loss whose gradient a cotangent u stands for."""
    return sum(float(np.sum((np.conj(u) * outs[i]._data).real)) for i, u in zip(idx, cots))


@pytest.mark.parametrize("op,sample", FD_CASES)
def test_complex_vjp_finite_differences(op, sample):
    """Re<grad, v> equals the central difference of the real loss along complex v (float64);
    where ember refuses the complex case, torch refuses it too (same error type)."""
    args, kwargs = _inputs(ember, op, sample)
    rng = _rng(op.name, sample.name, "complex-fd")

    def vjp():
        outs = _flat(_call(op, ember, args, kwargs))
        idx = _differentiable(outs)
        cots = _cotangents(rng, outs, idx)
        grads = ember.autograd.grad(
            [outs[i] for i in idx], leaves, [ember.from_numpy(c) for c in cots], allow_unused=True
        )
        return idx, cots, grads

    leaves = _leaves(args, kwargs)
    e = _attempt(vjp)
    if e[0] == "raise":
        t = _attempt(lambda: _complex_vjp(torch, op, sample))
        assert _outcome(t) == _outcome(e), (e, t)
        return
    idx, cots, grads = e[1]
    vs = [rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape) for x in leaves]
    analytic = sum(
        float(np.sum((np.conj(g._data) * v).real)) for g, v in zip(grads, vs) if g is not None
    )
    base = [x._data.copy() for x in leaves]
    eps = 1e-6

    def f(sign):
        for x, b, v in zip(leaves, base, vs):
            x._data = b + sign * eps * v
        with ember.no_grad():
            return _real_loss(_flat(_call(op, ember, args, kwargs)), idx, cots)

    numeric = (f(1) - f(-1)) / (2 * eps)
    for x, b in zip(leaves, base):
        x._data = b
    assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-6, nan_ok=True)


# ---- the complex-number ops themselves, and second derivatives ----------------------------------
def _z(rng, shape, zero=False):
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if zero:
        z.flat[0] = 0  # torch's convention at the kink: gradient 0
    return z


_COMPLEX_FNS = {
    "conj": (lambda m, z: m.conj(z) * z, 1),
    "conj_physical": (lambda m, z: m.conj_physical(z).exp(), 1),
    "Tensor.conj": (lambda m, z: (z.conj() * 2j).sin(), 1),
    "sgn": (lambda m, z: m.sgn(z), 1),
    "angle": (lambda m, z: m.angle(z), 1),
    "abs": (lambda m, z: m.abs(z * z), 1),
    "real": (lambda m, z: m.real(z * z), 1),
    "imag": (lambda m, z: m.imag(z.exp()), 1),
    "abs-sgn-mix": (lambda m, z: m.sgn(z) * m.abs(z) ** 1.5 + m.angle(z).cos(), 1),
    "mul-conj": (lambda m, z, w: z * w.conj() + m.conj(z) * w, 2),
    "matmul": (lambda m, z, w: z.reshape(2, 3) @ w.reshape(3, 2), 2),
}


@pytest.mark.parametrize("name", sorted(_COMPLEX_FNS))
@pytest.mark.parametrize("zero", [False, True], ids=["generic", "with-zero"])
def test_complex_op_vjp(name, zero):
    """conj, sgn, angle, abs, real, imag (the non-holomorphic ops): gradients equal torch's
    and a float64 finite difference, including at z = 0 where torch defines them as 0."""
    fn, arity = _COMPLEX_FNS[name]
    rng = np.random.default_rng(len(name) + zero)
    zs = [_z(rng, 6, zero) for _ in range(arity)]

    def run(m):
        leaves = [m.from_numpy(z.copy()).requires_grad_() for z in zs]
        out = fn(m, *leaves)
        u = np.random.default_rng(7).standard_normal(tuple(out.shape))
        if out.dtype.is_complex:
            u = u + 1j * np.random.default_rng(8).standard_normal(tuple(out.shape))
        grads = m.autograd.grad(out, leaves, m.from_numpy(u))
        return out, u, [g.detach().resolve_conj().numpy() if m is torch else g._data for g in grads]

    (e_out, u, e_grads), (t_out, _, t_grads) = run(ember), run(torch)
    assert type(e_out.grad_fn).__name__ == type(t_out.grad_fn).__name__
    for eg, tg in zip(e_grads, t_grads):
        assert eg.dtype == tg.dtype
        np.testing.assert_allclose(eg, tg, rtol=1e-10, atol=1e-12)
    if zero and name in ("sgn", "angle", "abs-sgn-mix"):
        return  # (a kink: the finite difference has no meaning at 0; torch's 0 is compared)
    vs = [_z(rng, 6) for _ in zs]
    eps = 1e-6

    def loss(sign):
        with ember.no_grad():
            ts = [ember.from_numpy(z + sign * eps * v) for z, v in zip(zs, vs)]
            return float(np.sum((np.conj(u) * fn(ember, *ts)._data).real))

    numeric = (loss(1) - loss(-1)) / (2 * eps)
    analytic = sum(float(np.sum((np.conj(g) * v).real)) for g, v in zip(e_grads, vs))
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("exp", lambda m, z: (z * 0.5).exp()),
        ("mul-sin", lambda m, z: z.sin() * z),
        ("abs", lambda m, z: (z * z).abs()),
        ("div-log", lambda m, z: (z.log() / (z + 2)).conj()),
        ("sgn", lambda m, z: m.sgn(z * 1.5)),
    ],
)
def test_complex_double_backward(name, fn):
    """Second derivatives of complex functions (create_graph=True through the conjugated
    rules) equal torch's."""
    rng = np.random.default_rng(3)
    z0, u0, w0 = (_z(rng, 5) for _ in range(3))

    def run(m):
        z = m.from_numpy(z0.copy()).requires_grad_()
        out = fn(m, z)
        u = u0 if out.dtype.is_complex else u0.real
        (g,) = m.autograd.grad(out, z, m.from_numpy(u.copy()), create_graph=True)
        (gg,) = m.autograd.grad(g, z, m.from_numpy(w0.copy()))
        return g.detach(), gg

    (eg, egg), (tg, tgg) = run(ember), run(torch)
    np.testing.assert_allclose(eg._data, tg.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(egg._data, tgg.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.complex(m.ones(2), m.ones(2, dtype=m.float64)),
        lambda m: m.complex(m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)),
        lambda m: m.polar(m.ones(2), m.ones(2, dtype=m.float64)),
        lambda m: m.sign(m.ones(2, dtype=m.complex64)),
        lambda m: m.ones(2, dtype=m.complex64) < 1,
        lambda m: m.ones(2, dtype=m.complex128).clamp(0, 1),
        lambda m: m.ones(2, dtype=m.complex128).abs_(),
        lambda m: m.autograd.grad(
            (x := m.ones(2, requires_grad=True)) * 2, x, m.ones(2, dtype=m.complex64)
        ),
    ],
)
def test_complex_errors(call):
    """torch's errors (type and message) for complex inputs an op does not take."""
    t = _attempt(lambda: call(torch))
    e = _attempt(lambda: call(ember))
    assert t[0] == e[0] == "raise"
    assert e[1] == t[1]
    assert e[2].replace("ember.", "torch.") == t[2]


def test_complex_and_polar_values():
    """complex(re, im) and polar(r, theta): values, dtypes and gradients as torch's."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    u = _z(rng, 4)
    for name in ("complex", "polar"):
        res = {}
        for m in (ember, torch):
            x = m.from_numpy(a.copy()).requires_grad_()
            y = m.from_numpy(b.copy()).requires_grad_()
            out = getattr(m, name)(x, y)
            gx, gy = m.autograd.grad(out, (x, y), m.from_numpy(u.copy()))
            res[m] = (out, gx, gy)
        (eo, egx, egy), (to, tgx, tgy) = res[ember], res[torch]
        assert type(eo.grad_fn).__name__ == type(to.grad_fn).__name__
        assert eo.dtype.name == str(to.dtype).split(".")[1]
        np.testing.assert_allclose(eo._data, to.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(egx._data, tgx.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(egy._data, tgy.numpy(), rtol=1e-10, atol=1e-12)
    f32 = ember.complex(ember.ones(2), ember.zeros(2))
    assert f32.dtype is ember.complex64


@pytest.mark.parametrize(
    "name,fn",
    [
        ("exp-mul", lambda m, z: (z * 0.5).exp() * z),
        ("tanh-div", lambda m, z: z.tanh() / (z + 3)),  # a holomorphic op: derived from its vjp
        ("abs", lambda m, z: m.abs(z * z)),
        ("sgn", lambda m, z: m.sgn(z)),
        ("angle", lambda m, z: m.angle(z)),
        ("conj-real-imag", lambda m, z: m.real(m.conj(z) * z) + m.imag(z * 1j)),
    ],
)
def test_complex_jvp_matches_torch(name, fn):
    """Forward mode through complex tensors (holomorphic rules, and the complex-aware ones of
    abs, sgn, angle, conj, real, imag) equals torch.func.jvp."""
    rng = np.random.default_rng(11)
    z0, t0 = _z(rng, 5), _z(rng, 5)
    e_out, e_t = ember.func.jvp(
        lambda z: fn(ember, z), (ember.from_numpy(z0),), (ember.from_numpy(t0),)
    )
    t_out, t_t = torch.func.jvp(
        lambda z: fn(torch, z), (torch.from_numpy(z0),), (torch.from_numpy(t0),)
    )
    np.testing.assert_allclose(e_out._data, t_out.resolve_conj().numpy(), rtol=1e-12)
    np.testing.assert_allclose(e_t._data, t_t.resolve_conj().numpy(), rtol=1e-10, atol=1e-12)


def test_complex_jvp_refused_where_not_written():
    """An op whose forward-mode rule is real-only (var) refuses complex tangents clearly,
    instead of returning a wrong one."""
    z = ember.from_numpy(_z(np.random.default_rng(1), 4))
    with pytest.raises(NotImplementedError, match="forward-mode AD of _var for complex"):
        ember.func.jvp(lambda z: z.var(), (z,), (z,))


def test_view_as_real_and_complex_are_views():
    """view_as_real / view_as_complex share memory and the version counter with their input,
    as torch's; a recorded in-place op through one raises rather than differentiate wrong."""
    for m in (ember, torch):
        x = m.zeros(3, 2, dtype=m.float64)
        c = m.view_as_complex(x)
        x[1, 1] = 5.0
        assert c[1].item() == 5j
        r = m.view_as_real(c)
        r[2, 0] = 7.0
        assert x[2, 0].item() == 7.0
        assert c._version == x._version == r._version
    z = ember.tensor([1 + 2j, 3j], requires_grad=True) * 1
    with pytest.raises(NotImplementedError, match="view_as_real"):
        ember.view_as_real(z).mul_(2)
