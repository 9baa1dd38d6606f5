"""`ember.func` against `torch.func`: every transform on elementwise, matrix, reduction and
module functions; per-sample gradients; nested transforms; grad-tracking of results; torch's
errors. Each case is a function of the library module `m` (ember or torch) and runs on both."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
import torch.func

import ember
import ember.func
from tests.conftest import as_numpy, outcome

RNG = np.random.default_rng(0)
X = RNG.standard_normal(3).astype(np.float32)
Y = RNG.standard_normal(3).astype(np.float32)
W = RNG.standard_normal((2, 3)).astype(np.float32)
B = RNG.standard_normal((4, 3)).astype(np.float32)  # a batch of 4 rows
T = RNG.standard_normal((4, 2)).astype(np.float32)
X64 = RNG.standard_normal(3)
Pair = collections.namedtuple("Pair", "a b")


def t(m, a, **kw):
    return m.tensor(np.asarray(a).tolist(), **kw)


def leaves(tree) -> list:
    """The leaves of nested tuples / lists / dicts, depth first (dicts in key order)."""
    if isinstance(tree, (tuple, list)) and not isinstance(tree, (torch.Size, ember.Size)):
        return [x for item in tree for x in leaves(item)]
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in leaves(v)]
    return [tree]


def structure(tree):
    """The nesting of tuples, lists and dicts with leaves replaced by their kind."""
    if isinstance(tree, (tuple, list)) and not isinstance(tree, (torch.Size, ember.Size)):
        return (type(tree).__name__, [structure(x) for x in tree])
    if isinstance(tree, dict):
        return ("dict", {k: structure(v) for k, v in tree.items()})
    return "tensor" if isinstance(tree, (torch.Tensor, ember.Tensor)) else repr(tree)


def check(fn, rtol=1e-5, atol=1e-6):
    """fn(ember) and fn(torch) raise the same error, or return the same pytree of tensors
    (structure, shapes, dtypes, values and whether each result requires grad)."""
    e, tr = outcome(fn, ember), outcome(fn, torch)
    if tr[0] == "raise":
        assert e == tr, f"ember: {e}\ntorch: {tr}"
        return None
    assert e[0] == "ok", f"ember raised {e[1]}: {e[2]}"
    assert structure(e[1]) == structure(tr[1])
    for a, b in zip(leaves(e[1]), leaves(tr[1])):
        if isinstance(b, torch.Tensor):
            assert tuple(a.shape) == tuple(b.shape)
            assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1]
            assert a.requires_grad == b.requires_grad
            np.testing.assert_allclose(as_numpy(a), as_numpy(b), rtol=rtol, atol=atol)
        else:
            assert a == b
    return e[1]


def F(m):
    return m.func


# ---- the functions the transforms are applied to -------------------------------------------------
def f_elementwise(x):
    return (x.sin() * x.exp()).sum()


def f_matmul(x, w):
    return (w @ x.tanh()).pow(2).sum()


def f_reduce(x):
    return x.logsumexp(0) + x.max() * x.mean()


def f_vector(x, w):
    return w @ x.sigmoid()


def f_multi(x, w):
    return (w @ x, (x * x).sum())


SCALAR_FNS = {
    "elementwise": (f_elementwise, lambda m: (t(m, X),)),
    "matmul": (f_matmul, lambda m: (t(m, X), t(m, W))),
    "reduction": (f_reduce, lambda m: (t(m, X),)),
    "float64": (f_elementwise, lambda m: (t(m, X64),)),
}


@pytest.mark.parametrize("name", SCALAR_FNS)
@pytest.mark.parametrize("argnums", [0, (0,), -1])
def test_grad(name, argnums):
    f, args = SCALAR_FNS[name]
    check(lambda m: F(m).grad(f, argnums=argnums)(*args(m)))
    check(lambda m: F(m).grad_and_value(f, argnums=argnums)(*args(m)))


def test_grad_argnums_tuple_and_aux():
    check(lambda m: F(m).grad(f_matmul, argnums=(0, 1))(t(m, X), t(m, W)))
    check(lambda m: F(m).grad(f_matmul, argnums=(1, 0))(t(m, X), t(m, W)))

    def with_aux(x, w, m):
        y = w @ x
        return y.sum(), {"y": y, "n": [m.tensor(3)]}

    check(lambda m: F(m).grad(with_aux, argnums=1, has_aux=True)(t(m, X), t(m, W), m))
    check(lambda m: F(m).grad_and_value(with_aux, has_aux=True)(t(m, X), t(m, W), m))


def test_grad_pytree_inputs_and_kwargs():
    def f(p, x, scale=1.0):
        return ((p["w"] @ x + p["b"]) * scale).pow(2).sum() + p["pair"].a.sum()

    def params(m):
        return {"w": t(m, W), "b": t(m, [0.5, -1.0]), "pair": Pair(t(m, X), t(m, Y))}

    check(lambda m: F(m).grad(f)(params(m), t(m, X), scale=3.0))


def test_grad_unused_and_constant_outputs_give_zeros():
    check(lambda m: F(m).grad(lambda x, y: x.sum(), argnums=(0, 1))(t(m, X), t(m, Y)))
    check(lambda m: F(m).grad(lambda x: m.tensor(2.0))(t(m, X)))


def test_grad_results_track_the_callers_graph_like_torch():
    # Closed-over tensors that require grad keep the gradient differentiable; inputs that
    # require grad do too; fresh inputs, or a call under no_grad, give plain tensors.
    def run(m, x_grad, w_grad, no_grad=False):
        x, w = t(m, X, requires_grad=x_grad), t(m, Y, requires_grad=w_grad)
        g = F(m).grad(lambda x: (x * x * w).sum())
        if no_grad:
            with m.no_grad():
                return g(x)
        return g(x)

    for flags in [(False, False), (True, False), (False, True), (True, True)]:
        check(lambda m, flags=flags: run(m, *flags))
    check(lambda m: run(m, True, True, no_grad=True))


def test_grad_result_is_differentiable_by_backward():
    def run(m):
        w = t(m, W, requires_grad=True)
        g = F(m).grad(lambda x: (w @ x).tanh().sum())(t(m, X))
        (g * g).sum().backward()
        return w.grad

    check(run)


@pytest.mark.parametrize("name", ["vector", "multi"])
def test_vjp(name):
    f = {"vector": f_vector, "multi": f_multi}[name]

    def run(m):
        out, vjp_fn = F(m).vjp(f, t(m, X), t(m, W))
        cot = _ones_like_tree(m, out)
        return out, vjp_fn(cot), vjp_fn(cot)  # callable more than once

    check(run)


def _ones_like_tree(m, out):
    if isinstance(out, tuple):
        return tuple(_ones_like_tree(m, o) * 0.5 for o in out)
    return m.ones_like(out) * 0.5


def test_vjp_has_aux_and_grad_tracking():
    def run(m, grad_x):
        x = t(m, X, requires_grad=grad_x)
        out, vjp_fn, aux = F(m).vjp(lambda x: (x.exp(), x.sum()), x, has_aux=True)
        return out, aux, vjp_fn(t(m, Y))

    check(lambda m: run(m, False))
    check(lambda m: run(m, True))


@pytest.mark.parametrize("name", ["vector", "multi"])
def test_jvp(name):
    f = {"vector": f_vector, "multi": f_multi}[name]
    check(lambda m: F(m).jvp(f, (t(m, X), t(m, W)), (t(m, Y), t(m, W) * 2)))


def test_jvp_has_aux_pytrees_and_independent_outputs():
    def f(d):
        return d["x"].cos() * d["y"], (d["x"].sum(),)

    check(
        lambda m: F(m).jvp(
            f, ({"x": t(m, X), "y": t(m, Y)},), ({"x": t(m, Y), "y": t(m, X)},), has_aux=True
        )
    )
    check(lambda m: F(m).jvp(lambda x: (x * 2, m.ones(2)), (t(m, X),), (t(m, Y),)))


JVP_CASES = {
    "broadcasting": (lambda x, y: x * y, lambda m: (t(m, X).reshape(3, 1), t(m, Y[:2]))),
    "matmul-two-inputs": (lambda x, w: w @ x.tanh(), lambda m: (t(m, X), t(m, W))),
    "reduction": (f_reduce, lambda m: (t(m, X),)),
    "float64": (lambda x: x.sin() * x.exp(), lambda m: (t(m, X64),)),
    "three-outputs": (
        lambda x, w: {"y": w @ x, "n": [(x * x).sum(), x.long()]},
        lambda m: (t(m, X), t(m, W)),
    ),
    "returns-an-input": (lambda x, w: (x, w.sum()), lambda m: (t(m, X), t(m, W))),
}


@pytest.mark.parametrize("name", JVP_CASES)
def test_jvp_cases(name):
    """Values, dtypes and structure against torch.func.jvp, tangents of several directions;
    jacfwd on the same functions."""
    f, args = JVP_CASES[name]

    def tangents(m):
        return tuple(a * 0.5 - 1 for a in args(m))

    check(lambda m: F(m).jvp(f, args(m), tangents(m)))
    if name != "three-outputs":  # jacfwd of an integer output: torch's vmap cannot stack it
        argnums = tuple(range(len(args(ember))))
        check(lambda m: F(m).jacfwd(f, argnums=argnums)(*args(m)))


def test_jvp_has_aux_tracks_the_callers_graph_like_torch():
    # The output, its tangent and aux require grad exactly when torch's do.
    def run(m, x_grad, w_grad, no_grad=False):
        x, w = t(m, X, requires_grad=x_grad), t(m, Y, requires_grad=w_grad)

        def f(x):
            y = x.sin() * w
            return y.sum(), {"y": y, "x2": x * 2}

        if no_grad:
            with m.no_grad():
                return F(m).jvp(f, (x,), (t(m, Y),), has_aux=True)
        return F(m).jvp(f, (x,), (t(m, Y),), has_aux=True)

    for flags in [(False, False), (True, False), (False, True), (True, True)]:
        check(lambda m, flags=flags: run(m, *flags))
    check(lambda m: run(m, True, True, no_grad=True))
    # A tangent that requires grad gives a differentiable jvp.
    check(lambda m: F(m).jvp(lambda x: x.exp(), (t(m, X),), (t(m, Y, requires_grad=True),)))


def test_jvp_composes_like_torch():
    check(
        lambda m: F(m).grad(lambda x: F(m).jvp(lambda y: y.sin() * y, (x,), (x,))[1].sum())(t(m, X))
    )
    check(lambda m: F(m).jvp(F(m).grad(lambda y: (y.sin() * y).sum()), (t(m, X),), (t(m, Y),)))
    check(lambda m: F(m).vmap(lambda x: F(m).jvp(lambda y: y.exp(), (x,), (x,))[1])(t(m, B)))
    check(lambda m: F(m).jvp(F(m).vmap(lambda y: y.exp().sum()), (t(m, B),), (t(m, B),)))
    check(
        lambda m: F(m).jvp(
            lambda x: F(m).vjp(lambda y: y.sin(), x)[1](t(m, Y))[0], (t(m, X),), (t(m, Y),)
        )
    )
    # Nested jvp, and the inner jvp treats the outer primal as a constant.
    check(
        lambda m: F(m).jvp(
            lambda x: F(m).jvp(lambda y: (y.sin() * x).sum(), (x,), (t(m, Y),))[1],
            (t(m, X),),
            (t(m, X),),
        )
    )
    check(
        lambda m: F(m).jvp(
            lambda x: x * F(m).jvp(lambda y: x * y, (x,), (m.tensor(1.0),))[1],
            (m.tensor(3.0),),
            (m.tensor(1.0),),
        )
    )
    check(
        lambda m: F(m).jvp(
            lambda x: F(m).jvp(lambda y: (y.sin() * x, y * x), (x,), (x,), has_aux=True)[2],
            (t(m, X),),
            (t(m, Y),),
        )
    )
    check(lambda m: F(m).jacfwd(F(m).jacfwd(lambda x: m.ones(2)))(t(m, X)))
    check(lambda m: F(m).jacrev(F(m).jacfwd(f_vector))(t(m, X), t(m, W)), rtol=1e-4)
    check(lambda m: F(m).hessian(f_matmul)(t(m, X, requires_grad=True), t(m, W)), rtol=1e-4)

    # Backward through a jvp's tangent (reverse-over-forward).
    def backward_through(m):
        x = t(m, X, requires_grad=True)
        _, jt = F(m).jvp(lambda y: (y.sin() * y).exp(), (x,), (t(m, Y),))
        return m.autograd.grad(jt.sum(), x)

    check(backward_through)


def _hooked(calls: list):
    """A function whose intermediate result calls back on every backward pass through it."""
    w = ember.ones(3, requires_grad=True)  # so the intermediate requires grad

    def f(x):
        y = x.sin() * w
        y.register_hook(lambda g: calls.append(g))
        return y * 2

    return f


def test_forward_transforms_run_no_backward():
    """jvp, jacfwd and linearize are forward mode: no backward pass goes through func's graph
    (the double-vjp trick would run two). torch hides requires_grad inside its transforms, so
    a hook cannot be registered there: this is checked on ember only; values are compared
    with torch by the tests above."""
    calls: list = []
    f = _hooked(calls)
    x = t(ember, X)
    F(ember).jvp(f, (x,), (t(ember, Y),))
    F(ember).jacfwd(f)(x)
    F(ember).linearize(f, x)[1](t(ember, Y))
    F(ember).hessian(lambda a: f(a).sum())(x)  # forward over reverse: one backward per column
    assert len(calls) == 3
    F(ember).vjp(f, x)[1](t(ember, Y))  # reverse mode does call it
    assert len(calls) == 4


def test_linearize_errors_and_pytrees():
    def linearized(m, f, *primals):
        return F(m).linearize(f, *primals)[1]

    sin = lambda x: x.sin()  # noqa: E731
    check(lambda m: linearized(m, sin, t(m, X))(t(m, X[:2])))
    check(lambda m: linearized(m, sin, t(m, X))(t(m, X, dtype=m.float64)))
    check(lambda m: linearized(m, sin, t(m, X))(t(m, X), t(m, X)))
    check(lambda m: linearized(m, sin, t(m, X))([t(m, X)]))
    check(lambda m: F(m).linearize(lambda x: x * 2, m.arange(3)))
    check(
        lambda m: linearized(
            m, lambda d, w: {"o": w @ d["a"].exp(), "c": m.zeros(2)}, {"a": t(m, X)}, t(m, W)
        )({"a": t(m, Y)}, t(m, W))
    )
    check(
        lambda m: linearized(m, lambda x, y: x * y, t(m, X).reshape(3, 1), t(m, Y))(
            t(m, Y).reshape(3, 1), t(m, X)
        )
    )

    def grad_tracking(m):
        out, jvp_fn = F(m).linearize(lambda x: x.sin() * x, t(m, X, requires_grad=True))
        return out, jvp_fn(t(m, Y))

    check(grad_tracking)

    # Like torch's replay, a call sees the primals' current values.
    def mutated(m):
        x = t(m, X)
        _, jvp_fn = F(m).linearize(lambda a: a.sin(), x)
        x.mul_(0)
        return jvp_fn(t(m, Y))

    check(mutated)


def test_linearize_matches_jvp():
    def run(m):
        out, jvp_fn = F(m).linearize(lambda x, w: w @ x.sin(), t(m, X), t(m, W))
        return out, jvp_fn(t(m, Y), t(m, W)), jvp_fn(t(m, X), t(m, W) * 0)

    check(run)


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacobians(jac, argnums):
    check(lambda m: getattr(F(m), jac)(f_vector, argnums=argnums)(t(m, X), t(m, W)))
    check(lambda m: getattr(F(m), jac)(f_multi, argnums=argnums)(t(m, X), t(m, W)))


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_scalar_input_pytrees_and_aux(jac):
    check(lambda m: getattr(F(m), jac)(lambda s: s * t(m, X))(m.tensor(2.0)))
    check(
        lambda m: getattr(F(m), jac)(lambda d: d["a"] * d["b"].sum())({"a": t(m, X), "b": t(m, W)})
    )
    check(lambda m: getattr(F(m), jac)(lambda x: (x.exp(), x.sum()), has_aux=True)(t(m, X)))


def test_jacrev_chunk_size_is_accepted():
    for chunk in (1, 2, None):
        check(lambda m, chunk=chunk: F(m).jacrev(f_vector, chunk_size=chunk)(t(m, X), t(m, W)))


@pytest.mark.parametrize("name", SCALAR_FNS)
def test_hessian(name):
    f, args = SCALAR_FNS[name]
    check(lambda m: F(m).hessian(f)(*args(m)), rtol=1e-4, atol=1e-5)


def test_nested_transforms():
    check(lambda m: F(m).hessian(f_matmul, argnums=(0, 1))(t(m, X), t(m, W)), rtol=1e-4)
    check(lambda m: F(m).jacrev(F(m).jacrev(f_vector))(t(m, X), t(m, W)), rtol=1e-4)
    check(lambda m: F(m).jacfwd(F(m).jacfwd(f_vector))(t(m, X), t(m, W)), rtol=1e-4)
    # Third derivative of a scalar function by grad of grad of grad.
    g3 = lambda m: F(m).grad(F(m).grad(F(m).grad(lambda s: s.sin() * s**4)))  # noqa: E731
    check(lambda m: g3(m)(m.tensor(0.7)))
    # Perturbation confusion: the inner derivative treats the outer x as a constant.
    check(lambda m: F(m).grad(lambda x: x * F(m).grad(lambda y: x * y)(x))(m.tensor(3.0)))


# ---- functional_call --------------------------------------------------------------------------
def mlp(m):
    m.manual_seed(0)
    net = m.nn.Sequential(m.nn.Linear(3, 5), m.nn.Tanh(), m.nn.Linear(5, 2))
    with m.no_grad():  # the same weights in both libraries
        for p, a in zip(net.parameters(), _weights()):
            p.copy_(t(m, a))
    return net


def _weights():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s).astype(np.float32) for s in [(5, 3), (5,), (2, 5), (2,)]]


def _detached(net):
    return {k: v.detach() for k, v in net.named_parameters()}


def test_functional_call_swaps_and_restores():
    def run(m):
        net = mlp(m)
        before = [p for p in net.parameters()]
        params = {k: v * 2 for k, v in _detached(net).items()}
        out = F(m).functional_call(net, params, (t(m, B),))
        single = F(m).functional_call(net, params, t(m, B))
        kw = F(m).functional_call(
            net.__getitem__(0), {"weight": t(m, W[:1].repeat(5, 0))}, (), {"input": t(m, B)}
        )
        assert all(a is b for a, b in zip(before, net.parameters()))
        return out, single, kw, net(t(m, B))

    check(run)


def test_functional_call_restores_after_an_error():
    def run(m):
        net = mlp(m)
        params = {"0.weight": m.zeros(5, 4)}
        try:
            F(m).functional_call(net, params, (t(m, B),))
        except RuntimeError:
            pass
        return net[0].weight, type(net[0].weight).__name__

    check(run)


def test_functional_call_buffers_dict_sequences_and_strict():
    def run(m):
        bn = m.nn.BatchNorm1d(3).eval()
        bufs = {"running_mean": t(m, X), "running_var": t(m, Y).abs() + 1}
        params = {"weight": t(m, Y), "bias": t(m, X)}
        return F(m).functional_call(bn, (params, bufs), (t(m, B),), strict=True), bn.running_mean

    check(run)
    check(lambda m: F(m).functional_call(mlp(m), {"0.weight": m.zeros(5, 3)}, t(m, B), strict=True))
    check(lambda m: F(m).functional_call(mlp(m), {"nope": m.zeros(1)}, t(m, B), strict=True))
    check(lambda m: F(m).functional_call(mlp(m), ({"a": m.ones(1)}, {"a": m.ones(1)}), t(m, B)))
    check(lambda m: F(m).functional_call(mlp(m), 3, t(m, B)))
    check(lambda m: F(m).functional_call(mlp(m), [{"a": m.ones(1)}, 3], t(m, B)))


def test_functional_call_tied_weights():
    def tied(m):
        net = m.nn.Sequential(m.nn.Linear(2, 2, bias=False), m.nn.Linear(2, 2, bias=False))
        with m.no_grad():
            net[0].weight.copy_(t(m, [[1.0, 2.0], [3.0, 4.0]]))
        net[1].weight = net[0].weight
        return net

    x = np.ones((1, 2), np.float32)
    eye = np.eye(2, dtype=np.float32)
    check(lambda m: F(m).functional_call(tied(m), {"0.weight": t(m, eye) * 3}, t(m, x)))
    check(
        lambda m: F(m).functional_call(
            tied(m), {"0.weight": t(m, eye), "1.weight": t(m, eye) * 2}, t(m, x)
        )
    )
    check(
        lambda m: (
            F(m)
            .functional_call(tied(m), {"0.weight": t(m, eye) * 3}, t(m, x), tie_weights=False)
            .detach()
        )
    )


def test_grad_of_functional_call_matches_backward():
    def run(m):
        net = mlp(m)

        def loss(params, x, y):
            return m.nn.functional.mse_loss(F(m).functional_call(net, params, (x,)), y)

        return F(m).grad(loss)(_detached(net), t(m, B), t(m, T))

    got = check(run)
    net = mlp(ember)
    ember.nn.functional.mse_loss(net(t(ember, B)), t(ember, T)).backward()
    for (name, p), g in zip(net.named_parameters(), got.values()):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-6, err_msg=name)


def test_stack_module_state():
    def run(m):
        nets = [m.nn.Linear(3, 2) for _ in range(3)]
        params, buffers = F(m).stack_module_state(nets)
        return {k: tuple(v.shape) for k, v in params.items()}, [
            v.requires_grad for v in params.values()
        ]

    check(run)


# ---- per-sample gradients: THE test -------------------------------------------------------------
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_per_sample_gradients(model):
    def run(m):
        net = mlp(m) if model == "mlp" else mlp(m)[0]
        y = t(m, T) if model == "mlp" else t(m, np.tile(T, (1, 3))[:, :5])

        def loss(params, x, target):
            out = F(m).functional_call(net, params, (x.unsqueeze(0),))
            return m.nn.functional.mse_loss(out, target.unsqueeze(0))

        return F(m).vmap(F(m).grad(loss), in_dims=(None, 0, 0))(_detached(net), t(m, B), y)

    got = check(run)
    # Each row is that sample's own gradient: compare with a backward per sample.
    net = mlp(ember) if model == "mlp" else mlp(ember)[0]
    y = t(ember, T) if model == "mlp" else t(ember, np.tile(T, (1, 3))[:, :5])
    for i in range(B.shape[0]):
        net.zero_grad()
        out = net(t(ember, B[i : i + 1]))
        ember.nn.functional.mse_loss(out, y[i : i + 1]).backward()
        for (name, p), g in zip(net.named_parameters(), got.values()):
            np.testing.assert_allclose(g[i].numpy(), p.grad.numpy(), rtol=1e-5, err_msg=name)


def test_per_sample_gradients_with_grad_tracking_params():
    # Parameters that require grad: the per-sample gradients stay differentiable, as in torch.
    def run(m):
        net = mlp(m)

        def loss(params, x):
            return F(m).functional_call(net, params, (x,)).pow(2).sum()

        params = dict(net.named_parameters())
        return F(m).vmap(F(m).grad(loss), in_dims=(None, 0))(params, t(m, B))

    check(run)


# ---- vmap ---------------------------------------------------------------------------------------
def test_vmap_in_dims_and_out_dims():
    check(lambda m: F(m).vmap(lambda a: a.sin().sum())(t(m, B)))
    check(lambda m: F(m).vmap(lambda a, b: a @ b, in_dims=(0, None))(t(m, B), t(m, W.T)))
    check(lambda m: F(m).vmap(lambda a: a * 2, in_dims=1)(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: a * 2, in_dims=-1, out_dims=1)(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: a.unsqueeze(1), out_dims=-1)(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: (a, a.sum()), out_dims=(1, 0))(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: a, out_dims=(1,))(t(m, B)))
    check(lambda m: F(m).vmap(lambda a, s: a * s, in_dims=(0, None))(t(m, B), 3.0))
    check(lambda m: F(m).vmap(lambda a, *, k: a * k)(t(m, B), k=t(m, X)))


def test_vmap_pytrees():
    def f(d, pair):
        return {"s": d["x"] + d["y"], "l": [pair.a * pair.b]}

    def args(m):
        return {"x": t(m, B), "y": t(m, X)}, Pair(t(m, B), t(m, B.T))

    check(lambda m: F(m).vmap(f, in_dims=({"x": 0, "y": None}, Pair(0, 1)))(*args(m)))
    check(lambda m: F(m).vmap(f, in_dims=({"x": 0, "y": None}, 0))(*args(m)))  # sizes 4 vs 3
    check(
        lambda m: F(m).vmap(
            f, in_dims=({"x": 0, "y": None}, Pair(0, 1)), out_dims={"s": 1, "l": 0}
        )(*args(m))
    )


def test_vmap_unbatched_outputs():
    check(lambda m: F(m).vmap(lambda a, c: c, in_dims=(0, None))(t(m, B), t(m, X)))
    check(
        lambda m: F(m).vmap(lambda a, c: c * 2, in_dims=(0, None), out_dims=None)(t(m, B), t(m, X))
    )
    check(lambda m: F(m).vmap(lambda a: (a, 1), out_dims=(0, None))(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: 3.0, out_dims=None)(t(m, B)))


def test_vmap_nested_and_empty_batch():
    check(lambda m: F(m).vmap(F(m).vmap(lambda a: a.exp()))(t(m, B)))
    check(lambda m: F(m).vmap(F(m).vmap(lambda a, b: a * b, in_dims=(None, 0)))(t(m, B), t(m, B)))
    check(lambda m: F(m).vmap(lambda a: a * 2)(m.zeros(0, 3)))
    check(lambda m: F(m).vmap(lambda a: a * 2, out_dims=1)(m.zeros(0, 3)))


def test_vmap_composes_with_autograd():
    # Gradients flow through vmap from outside, and jacobians of a vmapped function are blockwise.
    def run(m):
        x = t(m, B, requires_grad=True)
        F(m).vmap(lambda a: (a.sin() * a).sum())(x).pow(2).sum().backward()
        return x.grad

    check(run)
    check(lambda m: F(m).grad(lambda x: F(m).vmap(lambda a: a.exp().sum())(x).sum())(t(m, B)))
    check(lambda m: F(m).jacrev(F(m).vmap(lambda a: a.sin()))(t(m, W)))


def test_vmap_randomness():
    check(lambda m: F(m).vmap(lambda a: a + m.rand(3))(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: m.nn.functional.dropout(a, 0.5))(t(m, B)))
    check(lambda m: F(m).vmap(lambda a: m.nn.functional.dropout(a, 0.5, training=False))(t(m, B)))
    check(lambda m: F(m).jacfwd(lambda a: a + m.randn(3))(t(m, X)))
    for mode in ("same", "different"):

        def spread(m, mode=mode):
            out = F(m).vmap(lambda a: a + m.rand_like(a), randomness=mode)(t(m, B))
            noise = out - t(m, B)
            return (noise - noise[0]).abs().max() > 0

        check(spread)
    # The error mode is undone afterwards, also after an error inside func.
    check(lambda m: F(m).vmap(lambda a: a.undefined_attr)(t(m, B)))
    assert ember.rand(2).shape == (2,)


def _in_dual_level(m, fn):
    with m.autograd.forward_ad.dual_level():
        return fn()


ERRORS = {
    "grad-not-scalar": lambda m: F(m).grad(lambda x: x * 2)(t(m, X)),
    "grad-not-tensor": lambda m: F(m).grad(lambda x: 3.0)(t(m, X)),
    "grad-aux-not-pair": lambda m: F(m).grad(lambda x: x.sum(), has_aux=True)(t(m, X)),
    "grad-argnum-range": lambda m: F(m).grad(lambda x: x.sum(), argnums=2)(t(m, X)),
    "grad-argnums-dup": lambda m: F(m).grad(lambda x: x.sum(), argnums=(0, 0))(t(m, X)),
    "grad-argnums-empty": lambda m: F(m).grad(lambda x: x.sum(), argnums=())(t(m, X)),
    "grad-argnums-list": lambda m: F(m).grad(lambda x: x.sum(), argnums=[0])(t(m, X)),
    "grad-argnum-float": lambda m: F(m).grad(lambda x: x.sum(), argnums=(0.5,))(t(m, X)),
    "grad-aux-int": lambda m: F(m).grad(lambda x: (x.sum(), 1), has_aux=True)(t(m, X)),
    "grad-not-tensor-input": lambda m: F(m).grad(lambda x: x.sum())(3.0),
    "grad-int-input": lambda m: F(m).grad(lambda x: x.sum())(m.arange(3)),
    "vjp-int-output": lambda m: F(m).vjp(lambda x: x.long(), t(m, X)),
    "vjp-not-tensor": lambda m: F(m).vjp(lambda x: 3, t(m, X)),
    "vjp-none": lambda m: F(m).vjp(lambda x: None, t(m, X)),
    "vjp-aux": lambda m: F(m).vjp(lambda x: x, t(m, X), has_aux=True),
    "vjp-cot-structure": lambda m: F(m).vjp(lambda x: x, t(m, X))[1]((t(m, X), t(m, X))),
    "vjp-cot-structure2": lambda m: F(m).vjp(lambda x: (x, x), t(m, X))[1](t(m, X)),
    "vjp-cot-shape": lambda m: F(m).vjp(lambda x: x, t(m, X))[1](m.ones(2)),
    "jvp-primals-tuple": lambda m: F(m).jvp(lambda x: x, t(m, X), t(m, X)),
    "jvp-structure": lambda m: F(m).jvp(lambda x: x, (t(m, X),), t(m, X)),
    "jvp-tangent-type": lambda m: F(m).jvp(lambda x: x, (t(m, X),), (3,)),
    "jvp-empty": lambda m: F(m).jvp(lambda: m.ones(1), (), ()),
    "jvp-strict": lambda m: F(m).jvp(lambda x: m.ones(2), (t(m, X),), (t(m, X),), strict=True),
    "jvp-shape": lambda m: F(m).jvp(lambda x: x, (t(m, X),), (m.ones(2),)),
    "jvp-output-type": lambda m: F(m).jvp(lambda x: 3.0, (t(m, X),), (t(m, X),)),
    "jvp-aux": lambda m: F(m).jvp(lambda x: x, (t(m, X),), (t(m, X),), has_aux=True),
    "jvp-aux-not-tensor": lambda m: F(m).jvp(
        lambda x: (x, [x, 3]), (t(m, X),), (t(m, X),), has_aux=True
    ),
    "jvp-output-none-in-list": lambda m: F(m).jvp(lambda x: [x, None], (t(m, X),), (t(m, X),)),
    "jvp-output-none": lambda m: F(m).jvp(lambda x: None, (t(m, X),), (t(m, X),)),
    # make_dual's checks: forward mode needs floating-point primals and tangents.
    "jvp-int-primal": lambda m: F(m).jvp(lambda x: x * 2, (m.arange(3),), (m.arange(3),)),
    "jvp-int-tangent": lambda m: F(m).jvp(lambda x: x * 2, (t(m, X),), (m.arange(3),)),
    "jvp-shape-second": lambda m: F(m).jvp(
        lambda x, y: x * y, (t(m, X), t(m, Y)), (t(m, X), m.ones(2))
    ),
    "jvp-argnums-via-jacfwd-int": lambda m: F(m).jacfwd(lambda x, y: x * y, argnums=1)(
        t(m, X), m.arange(3)
    ),
    "jvp-strict-closure-output": lambda m: F(m).jvp(
        lambda x: (x * 2, m.ones(2)), (t(m, X),), (t(m, X),), strict=True
    ),
    "jvp-inside-a-dual-level": lambda m: _in_dual_level(
        m, lambda: F(m).jvp(lambda x: x, (t(m, X),), (t(m, X),))
    ),
    # The same checks for a jvp nested in another (computed in reverse mode).
    "jvp-nested-int-primal": lambda m: F(m).jvp(
        lambda x: F(m).jvp(lambda y: y, (m.arange(3),), (m.arange(3),))[1], (t(m, X),), (t(m, X),)
    ),
    "jvp-nested-int-tangent": lambda m: F(m).jvp(
        lambda x: F(m).jvp(lambda y: y, (x,), (m.arange(3),))[1], (t(m, X),), (t(m, X),)
    ),
    "jvp-nested-shape": lambda m: F(m).jvp(
        lambda x: F(m).jvp(lambda y: y, (x,), (m.ones(2),))[1], (t(m, X),), (t(m, X),)
    ),
    "jvp-nested-strict": lambda m: F(m).jvp(
        lambda x: F(m).jvp(lambda y: m.ones(2), (x,), (x,), strict=True)[1], (t(m, X),), (t(m, X),)
    ),
    "jvp-nested-aux-not-tensor": lambda m: F(m).jvp(
        lambda x: F(m).jvp(lambda y: (y * x, 3), (x,), (x,), has_aux=True)[2],
        (t(m, X),),
        (t(m, X),),
    ),
    "linearize-inside-jvp": lambda m: F(m).jvp(
        lambda x: F(m).linearize(lambda y: y.sin(), x)[0], (t(m, X),), (t(m, X),)
    ),
    "jacrev-chunk": lambda m: F(m).jacrev(lambda x: x, chunk_size=0),
    "jacrev-complex": lambda m: F(m).jacrev(lambda x: x)(t(m, X).to(m.complex64)),
    "jacfwd-complex": lambda m: F(m).jacfwd(lambda x: x)(t(m, X).to(m.complex64)),
    "vmap-batch-sizes": lambda m: F(m).vmap(lambda a, b: a)(t(m, B), t(m, X)),
    "vmap-in-dims-list": lambda m: F(m).vmap(lambda a: a, in_dims=[0])(t(m, B)),
    "vmap-in-dims-str": lambda m: F(m).vmap(lambda a: a, in_dims="0")(t(m, B)),
    "vmap-in-dims-structure": lambda m: F(m).vmap(lambda a: a, in_dims=(0, 0))(t(m, B)),
    "vmap-in-dims-dict": lambda m: F(m).vmap(lambda d: d["a"], in_dims=({"a": 0, "c": None},))(
        {"a": t(m, B), "b": t(m, X)}
    ),
    "vmap-in-dim-range": lambda m: F(m).vmap(lambda a: a, in_dims=(2,))(t(m, B)),
    "vmap-in-dim-float": lambda m: F(m).vmap(lambda a: a, in_dims=(1.5,))(t(m, B)),
    "vmap-non-tensor": lambda m: F(m).vmap(lambda a: a, in_dims=(0,))(3.0),
    "vmap-none-arg": lambda m: F(m).vmap(lambda a, b: a, in_dims=(0, 0))(t(m, B), None),
    "vmap-nothing-batched": lambda m: F(m).vmap(lambda a: a, in_dims=(None,))(t(m, B)),
    "vmap-no-inputs": lambda m: F(m).vmap(lambda: m.ones(1))(),
    "vmap-returns-float": lambda m: F(m).vmap(lambda a: 3.0)(t(m, B)),
    "vmap-batched-out-none": lambda m: F(m).vmap(lambda a: a, out_dims=None)(t(m, B)),
    "vmap-out-dim-range": lambda m: F(m).vmap(lambda a: a, out_dims=2)(t(m, B)),
    "vmap-out-dim-negative": lambda m: F(m).vmap(lambda a: a, out_dims=-3)(t(m, B)),
    "vmap-out-dims-structure": lambda m: F(m).vmap(lambda a: (a, a), out_dims=(0, 1, 2))(t(m, B)),
    "vmap-out-dims-single": lambda m: F(m).vmap(lambda a: a, out_dims=(0, 1))(t(m, B)),
    "vmap-out-dims-str": lambda m: F(m).vmap(lambda a: a, out_dims="a")(t(m, B)),
    "vmap-out-dims-float": lambda m: F(m).vmap(lambda a: a, out_dims=(0.5,))(t(m, B)),
    "vmap-randomness-arg": lambda m: F(m).vmap(lambda a: a, randomness="x"),
    "vmap-chunk-size": lambda m: F(m).vmap(lambda a: a, chunk_size=0),
    "vmap-random-op": lambda m: F(m).vmap(lambda a: a + m.randn(3))(t(m, B)),
    "vmap-nested-random-op": lambda m: F(m).vmap(
        F(m).vmap(lambda a: a + m.rand(()), randomness="different")
    )(t(m, B)),
}


@pytest.mark.parametrize("name", ERRORS)
def test_errors(name):
    check(ERRORS[name])
