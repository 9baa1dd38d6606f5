"""`gradcheck` / `gradgradcheck` against torch's: passing on correct ops, failing with torch's
message (both Jacobians printed) on a corrupted gradient or tangent, torch's warnings and
errors, in backward mode and in forward mode (`check_forward_ad`, `check_fwd_over_rev`), with
the batched checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

with warnings.catch_warnings():
    # torch's first make_dual imports its jvp decompositions, which warns (torch.jit): do it
    # now, so that no case's warnings depend on the order the cases run in.
    warnings.simplefilter("ignore")
    import torch._decomp.decompositions_for_jvp  # noqa: F401

X = np.random.default_rng(0).standard_normal((2, 3))
FWD = {"check_forward_ad": True}
CHECKS = {
    ember: (gradcheck, gradgradcheck),
    torch: (torch.autograd.gradcheck, torch.autograd.gradgradcheck),
}


def t(m, a=X, dtype=None, requires_grad=True):
    return m.tensor(a, dtype=dtype or m.float64, requires_grad=requires_grad)


def doubled_gradient(a):
    """3a, whose backward is corrupted to 6 by a hook on its input."""
    a.register_hook(lambda g: g * 2)
    return a * 3


def doubled_tangent(m, y):
    """y, whose forward-mode tangent (when it has one) is corrupted to twice its value."""
    fw = m.autograd.forward_ad
    primal, tangent = fw.unpack_dual(y)
    return y if tangent is None else fw.make_dual(primal, tangent * 2)


def run(fn, m):
    """(outcome, warning messages) of fn(module, gradcheck, gradgradcheck)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", fn(m, *CHECKS[m]))
        except Exception as exc:  # noqa: BLE001 - the exception itself is compared
            result = ("raise", type(exc).__name__, str(exc).replace("torch.", "ember."))
    return result, [str(w.message) for w in caught]


def check(fn):
    assert run(fn, ember) == run(fn, torch)


CASES = {
    "elementwise": lambda m, gc, ggc: gc(lambda a: (a.exp() * a).tanh(), t(m)),
    "reduction": lambda m, gc, ggc: gc(lambda a: (a.exp() * a).sum(1), t(m)),
    "matmul-two-outputs": lambda m, gc, ggc: gc(lambda a, b: (a @ b, a.sin()), (t(m), t(m, X.T))),
    "scalar-input": lambda m, gc, ggc: gc(lambda a: a.sum() * a, t(m, 1.5)),
    "list-of-inputs": lambda m, gc, ggc: gc(lambda a, b: a * b, [t(m), t(m)]),
    "non-tensor-argument": lambda m, gc, ggc: gc(lambda a, k: a * k, (t(m), 2.0)),
    "split-undefined-grads": lambda m, gc, ggc: gc(lambda a: a.split(1, dim=0), t(m)),
    "non-contiguous": lambda m, gc, ggc: gc(lambda a: a * a, t(m).t()),
    "fast-mode": lambda m, gc, ggc: gc(lambda a: a.cos(), t(m), fast_mode=True),
    "wrong-gradient": lambda m, gc, ggc: gc(lambda a: doubled_gradient(a.view_as(a)), t(m, X[0])),
    "wrong-gradient-no-raise": lambda m, gc, ggc: gc(
        lambda a: doubled_gradient(a.view_as(a)), t(m, X[0]), raise_exception=False
    ),
    "wrong-gradient-second-input": lambda m, gc, ggc: gc(
        lambda a, b: a + doubled_gradient(b.view_as(b)), (t(m, X[0]), t(m, X[1]))
    ),
    "float32-warns": lambda m, gc, ggc: gc(lambda a: a * a, t(m, X[0], m.float32)),
    "float32-int-input-warns-once": lambda m, gc, ggc: gc(
        lambda a, i: a * i, (t(m, X[0], m.float32), m.tensor([1, 2, 3]))
    ),
    "no-input-requires-grad": lambda m, gc, ggc: gc(lambda a: a, t(m, requires_grad=False)),
    "stride-0-input": lambda m, gc, ggc: gc(lambda a: a * a, t(m, [1.0]).expand(3)),
    "no-differentiable-output": lambda m, gc, ggc: gc(lambda a: a.detach() * 2, t(m)),
    "constant-output": lambda m, gc, ggc: gc(lambda a: m.ones(2), t(m)),
    "no-ad-at-all": lambda m, gc, ggc: gc(lambda a: a, t(m), check_backward_ad=False),
    "gradgrad-reduction": lambda m, gc, ggc: ggc(lambda a: (a**3).sum(), t(m)),
    "gradgrad-two-inputs": lambda m, gc, ggc: ggc(lambda a, b: a**2 * b, (t(m), t(m))),
    "gradgrad-given-grad-outputs": lambda m, gc, ggc: ggc(
        lambda a: a.exp(), t(m), t(m, np.ones((2, 3)))
    ),
    "gradgrad-noncontiguous-grad-outputs": lambda m, gc, ggc: ggc(
        lambda a: a**3, t(m), gen_non_contig_grad_outputs=True
    ),
    "gradgrad-wrong-double-backward": lambda m, gc, ggc: ggc(
        lambda a: doubled_gradient((a * a).view_as(a)), t(m, X[0]), t(m, np.ones(3))
    ),
    # Forward mode: the Jacobian by dual tensors against the numerical one.
    "fwd-elementwise": lambda m, gc, ggc: gc(lambda a: (a.exp() * a).tanh(), t(m), **FWD),
    "fwd-only": lambda m, gc, ggc: gc(
        lambda a: (a.exp() * a).tanh(), t(m), check_forward_ad=True, check_backward_ad=False
    ),
    "fwd-broadcasting-two-outputs": lambda m, gc, ggc: gc(
        lambda a, b: (a * b, (a @ b.T).sin()), (t(m), t(m, X[:1])), **FWD
    ),
    "fwd-matmul-two-outputs": lambda m, gc, ggc: gc(
        lambda a, b: (a @ b, a.sin()), (t(m), t(m, X.T)), **FWD
    ),
    "fwd-non-contiguous": lambda m, gc, ggc: gc(lambda a: a * a, t(m).t(), **FWD),
    "fwd-non-tensor-argument": lambda m, gc, ggc: gc(lambda a, k: a * k, (t(m), 2.0), **FWD),
    "fwd-int-input": lambda m, gc, ggc: gc(
        lambda a, i: a * i, (t(m, X[0]), m.tensor([1, 2, 3])), **FWD
    ),
    "fwd-split-undefined-tangents": lambda m, gc, ggc: gc(lambda a: a.split(1, dim=0), t(m), **FWD),
    "fwd-no-differentiable-output": lambda m, gc, ggc: gc(lambda a: a.detach() * 2, t(m), **FWD),
    "fwd-constant-output": lambda m, gc, ggc: gc(lambda a: m.ones(2), t(m), **FWD),
    "fwd-int-output-first": lambda m, gc, ggc: gc(lambda a: (a.long(), a * 2), t(m), **FWD),
    # torch pairs output i of the differentiable outputs with the i-th floating-point one.
    "fwd-detached-output-first": lambda m, gc, ggc: gc(lambda a: (a.detach(), a * 2), t(m), **FWD),
    "fwd-float32-warns": lambda m, gc, ggc: gc(lambda a: a * a, t(m, X[0], m.float32), **FWD),
    # No backward in forward mode: a corrupted backward passes it, a corrupted tangent fails it.
    "fwd-wrong-gradient-not-looked-at": lambda m, gc, ggc: gc(
        lambda a: doubled_gradient(a.view_as(a)),
        t(m, X[0]),
        check_forward_ad=True,
        check_backward_ad=False,
    ),
    "fwd-wrong-tangent": lambda m, gc, ggc: gc(
        lambda a: doubled_tangent(m, a * 3), t(m, X[0]), **FWD
    ),
    "fwd-wrong-tangent-backward-only": lambda m, gc, ggc: gc(
        lambda a: doubled_tangent(m, a * 3), t(m, X[0])
    ),
    "fwd-wrong-tangent-no-raise": lambda m, gc, ggc: gc(
        lambda a: doubled_tangent(m, a * 3), t(m, X[0]), raise_exception=False, **FWD
    ),
    "fwd-wrong-tangent-second-input": lambda m, gc, ggc: gc(
        lambda a, b: a + doubled_tangent(m, b * 3),
        (t(m, X[0]), t(m, X[1])),
        check_forward_ad=True,
        check_backward_ad=False,
    ),
    "batched-forward": lambda m, gc, ggc: gc(
        lambda a, b: (a * b, a.sum()), (t(m), t(m)), check_batched_forward_grad=True, **FWD
    ),
    "batched-backward": lambda m, gc, ggc: gc(
        lambda a, b: (a * b, a.sum()), (t(m), t(m)), check_batched_grad=True
    ),
    "batched-backward-unused-input": lambda m, gc, ggc: gc(
        lambda a, b: a * 2, (t(m), t(m)), check_batched_grad=True
    ),
    "batched-both": lambda m, gc, ggc: gc(
        lambda a: (a.exp(),),
        t(m),
        check_batched_grad=True,
        check_batched_forward_grad=True,
        **FWD,
    ),
    "batched-forward-needs-forward": lambda m, gc, ggc: gc(
        lambda a: a, t(m), check_batched_forward_grad=True
    ),
    "batched-backward-needs-backward": lambda m, gc, ggc: gc(
        lambda a: a, t(m), check_batched_grad=True, check_backward_ad=False, **FWD
    ),
    "gradgrad-fwd-over-rev": lambda m, gc, ggc: ggc(
        lambda a: (a**3).sum(), t(m), check_fwd_over_rev=True
    ),
    "gradgrad-fwd-over-rev-only": lambda m, gc, ggc: ggc(
        lambda a, b: a**2 * b.sin(),
        (t(m), t(m)),
        check_fwd_over_rev=True,
        check_rev_over_rev=False,
        check_undefined_grad=False,
    ),
    "gradgrad-fwd-over-rev-given-grad-outputs": lambda m, gc, ggc: ggc(
        lambda a: a.exp(), t(m), t(m, np.ones((2, 3))), check_fwd_over_rev=True
    ),
    "gradgrad-fwd-over-rev-noncontiguous": lambda m, gc, ggc: ggc(
        lambda a: a**3, t(m).t(), gen_non_contig_grad_outputs=True, check_fwd_over_rev=True
    ),
    "gradgrad-fwd-over-rev-wrong-double-backward": lambda m, gc, ggc: ggc(
        lambda a: doubled_gradient((a * a).view_as(a)),
        t(m, X[0]),
        t(m, np.ones(3)),
        check_fwd_over_rev=True,
        check_rev_over_rev=False,
        check_undefined_grad=False,
    ),
    "gradgrad-undefined-needs-rev": lambda m, gc, ggc: ggc(
        lambda a: a**3, t(m), check_fwd_over_rev=True, check_rev_over_rev=False
    ),
    "gradgrad-batched": lambda m, gc, ggc: ggc(
        lambda a: a**3, t(m), check_fwd_over_rev=True, check_batched_grad=True
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_matches_torch(case):
    check(CASES[case])


def test_mismatch_message_format():
    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a: doubled_gradient(a.view_as(a)), x)
    assert str(info.value) == (
        "Jacobian mismatch for output 0 with respect to input 0,\n"
        "numerical:tensor([[3.0000, 0.0000],\n        [0.0000, 3.0000]], dtype=ember.float64)\n"
        "analytical:tensor([[6., 0.],\n        [0., 6.]], dtype=ember.float64)\n"
    )
    assert isinstance(info.value, RuntimeError)


def test_inputs_are_restored_and_grads_untouched():
    x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
    before = x.detach().numpy().copy()
    assert gradcheck(lambda a: a.sin(), x)
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x.grad is None


def undefined_tangent_differs(m, a, b):
    """a * b, whose tangent is off by one when a's tangent is zeros and b's is neither zeros
    nor one-hot: only gradcheck's check of undefined tangents (zeros against none, the other
    input carrying a random tangent of norm 1) gives such tangents."""
    fw = m.autograd.forward_ad
    y = a * b
    ta, tb = fw.unpack_dual(a).tangent, fw.unpack_dual(b).tangent
    if ta is None or tb is None or float(ta.abs().sum()) != 0 or float(tb.abs().sum()) <= 1.01:
        return y
    primal, tangent = fw.unpack_dual(y)
    return fw.make_dual(primal, tangent + 1)


def test_undefined_tangent_check_matches_torch():
    def fn(m, gc, ggc, **options):
        return gc(
            lambda a, b: undefined_tangent_differs(m, a, b),
            (t(m, X[0]), t(m, X[1])),
            check_forward_ad=True,
            **options,
        )

    (e, _), (tr, _) = run(fn, ember), run(fn, torch)
    assert e[:2] == tr[:2] == ("raise", "GradcheckError")
    # The random tangents come from each library's own generator: compare up to the values.
    head = "('Mismatch in tangent values for output with index: ', 0, ' when input: ', tensor("
    assert e[2].startswith(head) and tr[2].startswith(head)
    assert e[2].split(" Got: ")[0] == tr[2].split(" Got: ")[0]
    check(lambda m, gc, ggc: fn(m, gc, ggc, check_undefined_grad=False))


def test_forward_mode_runs_no_backward():
    """check_forward_ad without check_backward_ad never calls backward: a hook on an
    intermediate result, which every backward pass through it would call, is never called."""
    calls = []
    w = ember.ones(3, dtype=ember.float64, requires_grad=True)  # so y always requires grad

    def f(a):
        y = a.sin() * w
        y.register_hook(lambda g: calls.append(g))
        return y * 2

    x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
    assert gradcheck(f, x, check_forward_ad=True, check_backward_ad=False)
    assert calls == []
    assert gradcheck(f, x, check_forward_ad=True)
    assert calls  # the backward checks do call it


def test_exported_from_ember_autograd():
    assert ember.autograd.gradcheck is gradcheck
    assert ember.autograd.gradgradcheck is gradgradcheck
    assert ember.autograd.GradcheckError is GradcheckError
