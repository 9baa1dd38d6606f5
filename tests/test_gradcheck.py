"""`gradcheck` / `gradgradcheck` against torch's: passing on correct ops, failing with torch's
message (both Jacobians printed) on a corrupted gradient, torch's warnings and errors, and a
clear NotImplementedError for the options ember cannot honour."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

X = np.random.default_rng(0).standard_normal((2, 3))
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


@pytest.mark.parametrize(
    "options,named",
    [
        ({"check_forward_ad": True}, "check_forward_ad"),
        ({"check_batched_grad": True}, "check_batched_grad"),
        # torch requires check_forward_ad with it, which is named first.
        ({"check_batched_forward_grad": True, "check_forward_ad": True}, "check_forward_ad"),
    ],
)
def test_unsupported_options_say_so(options, named):
    x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"{named}=True is not supported"):
        gradcheck(lambda a: a * 2, x, **options)


def test_gradgradcheck_forward_over_reverse_is_unsupported():
    x = ember.tensor(X, dtype=ember.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="check_fwd_over_rev"):
        gradgradcheck(lambda a: a**2, x, check_fwd_over_rev=True)


def test_exported_from_ember_autograd():
    assert ember.autograd.gradcheck is gradcheck
    assert ember.autograd.gradgradcheck is gradgradcheck
    assert ember.autograd.GradcheckError is GradcheckError
