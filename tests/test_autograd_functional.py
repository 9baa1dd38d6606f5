"""`ember.autograd.functional` against torch's: values, result structure (Tensor, tuple, nested
tuple or list), `requires_grad` of every result, and torch's errors (strict mode, non-Tensor
inputs and outputs, wrong `v`), over every combination of create_graph, strict and vectorize."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember
import ember.autograd.functional  # noqa: F401 - ember.autograd.functional below

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal(4)
C = RNG.standard_normal((4, 2))


def F(m):
    return m.autograd.functional


def t(m, a):
    return m.tensor(a, dtype=m.float64)


FUNCS = {
    "exp-sum-dim": lambda x: x.exp().sum(dim=1),
    "matmul-and-reduction": lambda x, y: (x @ y, (x * x).sum()),
    "cube-sum": lambda x: (x**3).sum(),
    "two-input-scalar": lambda x, y: (2 * x.pow(2) + 3 * y.pow(2)).sum(),
    "unused-input": lambda x, y: x * 2,
    "non-tensor-output": lambda x: 3.0,
    "linear-part": lambda x: (x * x).sum() + 0 * x.sum(),
    "two-outputs-for-scalar": lambda x: (x.sum(), x.sum()),
    "linear": lambda x: x * 2,
}
ONE = {
    "A": lambda m: t(m, A),
    "B": lambda m: t(m, B),
    "AC": lambda m: (t(m, A), t(m, C)),
    "BB": lambda m: (t(m, B), t(m, B)),
    "scalar1": lambda m: t(m, [1.5]),
    "float": lambda m: 3.0,
    "list": lambda m: [t(m, A)],
    "tuple-with-int": lambda m: (t(m, A), 3),
}
V = {
    None: lambda m: None,
    "A": lambda m: t(m, A),
    "A0": lambda m: t(m, A[:, 0]),
    "B": lambda m: t(m, B),
    "AC": lambda m: (t(m, A), t(m, C)),
    "A-only": lambda m: (t(m, A),),
    "BB": lambda m: (t(m, B), t(m, B)),
    "out-AC": lambda m: (t(m, A @ C), t(m, 2.0)),
    "out-AC-short": lambda m: t(m, A @ C),
}

# (function name, func, inputs, v): each runs with every create_graph/strict combination.
CASES_V = [
    ("vjp", "exp-sum-dim", "A", "A0"),
    ("vjp", "exp-sum-dim", "A", None),
    ("vjp", "exp-sum-dim", "A", "B"),
    ("vjp", "matmul-and-reduction", "AC", "out-AC"),
    ("vjp", "matmul-and-reduction", "AC", "out-AC-short"),
    ("vjp", "cube-sum", "B", None),
    ("vjp", "unused-input", "BB", "B"),
    ("vjp", "non-tensor-output", "A", None),
    ("vjp", "exp-sum-dim", "float", None),
    ("vjp", "exp-sum-dim", "list", None),
    ("vjp", "matmul-and-reduction", "tuple-with-int", None),
    ("jvp", "exp-sum-dim", "A", "A"),
    ("jvp", "exp-sum-dim", "A", None),
    ("jvp", "matmul-and-reduction", "AC", "AC"),
    ("jvp", "matmul-and-reduction", "AC", "A-only"),
    ("jvp", "unused-input", "BB", "BB"),
    ("jvp", "linear", "scalar1", None),
    ("jvp", "linear", "B", "A"),
]
for name in ("vhp", "hvp"):
    CASES_V += [
        (name, "cube-sum", "A", "A"),
        (name, "cube-sum", "A", None),
        (name, "cube-sum", "A", "B"),
        (name, "two-input-scalar", "BB", "BB"),
        (name, "linear-part", "B", "B"),
        (name, "unused-input", "BB", "BB"),
        (name, "exp-sum-dim", "A", "A"),
        (name, "two-outputs-for-scalar", "A", "A"),
        (name, "non-tensor-output", "A", "A"),
    ]
CASES_JAC = [
    ("jacobian", "exp-sum-dim", "A"),
    ("jacobian", "matmul-and-reduction", "AC"),
    ("jacobian", "unused-input", "BB"),
    ("jacobian", "cube-sum", "B"),
    ("jacobian", "non-tensor-output", "B"),
    ("jacobian", "linear", "scalar1"),
    ("hessian", "cube-sum", "A"),
    ("hessian", "two-input-scalar", "BB"),
    ("hessian", "linear-part", "B"),
    ("hessian", "exp-sum-dim", "A"),
    ("hessian", "two-outputs-for-scalar", "A"),
]
FLAGS = [dict(create_graph=c, strict=s) for c, s in itertools.product((False, True), repeat=2)]


def outcome(fn, m):
    try:
        return ("ok", fn(m))
    except Exception as exc:  # noqa: BLE001 - the exception itself is compared
        return ("raise", type(exc).__name__, str(exc).replace("torch.", "ember."))


def assert_same_structure(e, t_, path="result"):
    """Same nesting (Tensor / tuple / list), shapes, dtypes, values and requires_grad."""
    if isinstance(t_, torch.Tensor):
        assert isinstance(e, ember.Tensor), f"{path}: {type(e).__name__}"
        assert tuple(e.shape) == tuple(t_.shape), path
        assert str(e.dtype) == str(t_.dtype).replace("torch.", "ember."), path
        assert e.requires_grad == t_.requires_grad, f"{path}: requires_grad"
        np.testing.assert_allclose(
            e.detach().numpy(), t_.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=path
        )
        return
    assert type(e) is type(t_) and len(e) == len(t_), f"{path}: {type(e)} vs {type(t_)}"
    for i, (a, b) in enumerate(zip(e, t_)):
        assert_same_structure(a, b, f"{path}[{i}]")


def check(fn):
    e, t_ = outcome(fn, ember), outcome(fn, torch)
    if t_[0] == "raise" or e[0] == "raise":
        assert e == t_
    else:
        assert_same_structure(e[1], t_[1])


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: f"cg{f['create_graph']:d}-s{f['strict']:d}")
@pytest.mark.parametrize("name,func,inputs,v", CASES_V, ids=lambda x: str(x))
def test_products_match_torch(name, func, inputs, v, flags):
    check(lambda m: getattr(F(m), name)(FUNCS[func], ONE[inputs](m), V[v](m), **flags))


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: f"cg{f['create_graph']:d}-s{f['strict']:d}")
@pytest.mark.parametrize("name,func,inputs", CASES_JAC, ids=lambda x: str(x))
def test_jacobian_and_hessian_match_torch(name, func, inputs, flags, vectorize):
    check(lambda m: getattr(F(m), name)(FUNCS[func], ONE[inputs](m), vectorize=vectorize, **flags))


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: f"cg{f['create_graph']:d}-s{f['strict']:d}")
@pytest.mark.parametrize(
    "name,func,inputs",
    [
        ("jacobian", "exp-sum-dim", "A"),
        ("jacobian", "matmul-and-reduction", "AC"),
        ("jacobian", "unused-input", "BB"),
        ("hessian", "cube-sum", "B"),
        ("hessian", "two-input-scalar", "BB"),
    ],
    ids=str,
)
def test_forward_mode_strategy_matches_torch(name, func, inputs, flags, vectorize):
    """Columns by forward-mode AD, with torch's results (the output's dtype, lists where torch
    returns lists, requires_grad) and torch's errors."""
    key = "strategy" if name == "jacobian" else "outer_jacobian_strategy"
    check(
        lambda m: getattr(F(m), name)(
            FUNCS[func], ONE[inputs](m), vectorize=vectorize, **{key: "forward-mode"}, **flags
        )
    )


def test_forward_mode_jacobian_keeps_the_inputs_graph_as_torch_does():
    check(
        lambda m: F(m).jacobian(
            lambda x: x.sin(),
            m.tensor(B, requires_grad=True),
            vectorize=True,
            strategy="forward-mode",
        )
    )


def _times(w):
    """x -> exp(x) * w, with w captured."""
    return lambda x: x.exp() * w


# name -> m -> (func, inputs)
FORWARD_JACOBIANS = {
    "broadcasting": lambda m: (lambda x, y: x * y, (t(m, A[:, :1]), t(m, B))),
    "three-outputs": lambda m: (lambda x, y: (x @ y, (x * x).sum(), x.long()), (t(m, A), t(m, C))),
    "scalar-input": lambda m: (lambda s: s * t(m, B), t(m, 2.0)),
    "float32-input-float64-output": lambda m: (lambda x: x.double().exp(), m.ones(3)),
    "input-requires-grad": lambda m: (lambda x: x.sin() * x, t(m, B).requires_grad_()),
    "closure-requires-grad": lambda m: (_times(t(m, B).requires_grad_()), t(m, B)),
    "empty-input": lambda m: (lambda x: x * 2, m.zeros(0, dtype=m.float64)),
    "vjp-inside": lambda m: (lambda x: F(m).vjp(lambda y: y.sin(), x, t(m, B))[1], t(m, B)),
    "non-tensor-output": lambda m: (lambda x: 3.0, t(m, B)),
    "list-output": lambda m: (lambda x: [x], t(m, B)),
    "int-input": lambda m: (lambda x: x * 2, m.arange(3)),
}


@pytest.mark.parametrize("name", FORWARD_JACOBIANS)
def test_forward_mode_jacobian_cases_match_torch(name):
    check(
        lambda m: F(m).jacobian(
            *FORWARD_JACOBIANS[name](m), vectorize=True, strategy="forward-mode"
        )
    )


def test_forward_mode_jacobian_inside_a_dual_level_is_nested_forward_ad():
    def run(m):
        with m.autograd.forward_ad.dual_level():
            return F(m).jacobian(lambda x: x, t(m, B), vectorize=True, strategy="forward-mode")

    check(run)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("jacobian", {"vectorize": True, "strategy": "forward-mode"}),
        ("jacobian", {}),
        ("jvp", {}),
    ],
    ids=["jacobian-forward-mode", "jacobian-reverse-mode", "jvp"],
)
def test_backward_passes_match_torch(name, kwargs):
    """How many backward passes go through func's graph, counted by a hook on an intermediate:
    none for the forward-mode jacobian, one per output element in reverse mode, and one for
    jvp, which torch 2.13 computes by the double backward trick (not forward mode)."""

    def run(m):
        calls = []
        w = t(m, B).requires_grad_()  # so the intermediate requires grad

        def f(x):
            y = x.sin() * w
            y.register_hook(lambda g: calls.append(1))
            return y * 2

        args = (f, t(m, B)) if name == "jacobian" else (f, t(m, B), t(m, B))
        getattr(F(m), name)(*args, **kwargs)
        return m.tensor(float(len(calls)))

    check(run)


def test_products_of_a_function_without_forward_rule_match_torch():
    """An autograd.Function with a backward only: torch's jvp and hvp, computed by double
    backward, accept it; so do ember's."""

    def square(m):
        class Square(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        return Square.apply

    check(lambda m: F(m).jvp(square(m), t(m, B), t(m, B)))
    check(lambda m: F(m).hvp(lambda x: square(m)(x).sum(), t(m, B), t(m, B)))


@pytest.mark.parametrize("name", ["jacobian", "hessian"])
def test_unknown_strategy(name):
    key = "strategy" if name == "jacobian" else "outer_jacobian_strategy"
    check(lambda m: getattr(F(m), name)(FUNCS["cube-sum"], t(m, B), **{key: "sideways"}))


def test_matches_torch_documented_examples(same):
    """The examples in torch's docstrings."""
    same(lambda m: F(m).vjp(lambda x, y: 2 * x + 3 * y, (t(m, B), t(m, B)), t(m, np.ones(4)))[1])
    same(lambda m: F(m).jvp(lambda x, y: 2 * x + 3 * y, (t(m, B), t(m, B)), (t(m, B), t(m, B)))[1])
    same(lambda m: F(m).jacobian(lambda x, y: 2 * x.exp() + 3 * y, (t(m, B), t(m, B))))
    same(lambda m: F(m).hessian(lambda x: x.pow(3).sum(), t(m, A[:2, :2])).reshape(4, 4))


@pytest.mark.parametrize("name", ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"])
def test_touches_no_grad_and_results_are_detached(name):
    x = ember.tensor(B, requires_grad=True)
    w = ember.tensor(B, requires_grad=True)  # captured by the closure
    func = FUNCS["cube-sum"] if name in ("vhp", "hvp", "hessian") else FUNCS["linear"]
    args = (x, x.detach()) if name in ("vjp", "jvp", "vhp", "hvp") else (x,)
    if name == "vjp":
        args = (x, ember.ones(4, dtype=x.dtype))
    result = getattr(ember.autograd.functional, name)(lambda a: func(a * w), *args)
    assert x.grad is None and w.grad is None
    for r in result if isinstance(result, tuple) else (result,):
        assert not r.requires_grad


def test_create_graph_results_are_differentiable_to_the_inputs():
    def run(m):
        x = t(m, B).requires_grad_()
        _, g = F(m).vjp(lambda a: (a**3).sum(), x, create_graph=True)
        return m.autograd.grad(g.sum(), x)[0]

    check(run)


def test_functions_are_exported():
    assert set(ember.autograd.functional.__all__) == {
        "vjp",
        "jvp",
        "jacobian",
        "hessian",
        "hvp",
        "vhp",
    }
