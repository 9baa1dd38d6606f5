"""ember.explain: the printed backward walk (pinned for the seeds' programs), its numbers
against autograd.grad, and that it leaves every .grad and the graph as they were."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import ember
from ember.explain import explain

SEED003 = """\
Backward walk of z: what z.backward() computes, node by node,
in the order the engine runs them (explain writes nothing to .grad).
[1] MeanBackward0: z = mean(y)
    incoming dz/dz = tensor(1.)
    rule     d mean(y)/dy = 1/3 for each of 3 elements
    passes   dz/dz * 1/3 for each element = tensor([0.3333, 0.3333, 0.3333]) to y (MulBackward0)
[2] MulBackward0: y = x * x
    incoming dz/dy = tensor([0.3333, 0.3333, 0.3333])
    rule     d(a*b)/da = b, d(a*b)/db = a; here a = b = x, so dy/dx = 2x = tensor([2., 4., 6.])
    passes   dz/dy * b = tensor([0.3333, 0.6667, 1.0000]) to x (AccumulateGrad)
             dz/dy * a = tensor([0.3333, 0.6667, 1.0000]) to x (AccumulateGrad)
[3] AccumulateGrad: leaf x
    incoming dz/dx = tensor([0.6667, 1.3333, 2.0000]) (the sum of 2 contributions)
    x.grad += tensor([0.6667, 1.3333, 2.0000])
"""

SEED002 = """\
Backward walk of z: what z.backward() computes, node by node,
in the order the engine runs them (explain writes nothing to .grad).
[1] AddBackward0: z = t1 + 1
    incoming dz/dz = tensor([1.])
    rule     d(a+b)/da = 1, d(a+b)/db = 1
    passes   dz/dz = tensor([1.]) to t1 (MulBackward0)
[2] MulBackward0: t1 = y * 3
    incoming dz/dt1 = tensor([1.])
    rule     d(a*b)/da = b, d(a*b)/db = a
    passes   dz/dt1 * b = tensor([3.]) to y (PowBackward0)
[3] PowBackward0: y = x ** 2
    incoming dz/dy = tensor([3.])
    rule     d(x**2)/dx = 2 * x
    passes   dz/dy * 2 * x = tensor([12.]) to x (AccumulateGrad)
[4] AccumulateGrad: leaf x
    incoming dz/dx = tensor([12.])
    x.grad += tensor([12.])
"""

# Seed 003's model, sigmoid(w * x + b) written as 1 / (exp(-(w * x + b)) + 1), summarised.
SIGMOID = """\
Backward walk of output: what output.backward() computes, node by node,
in the order the engine runs them (explain writes nothing to .grad).
[1] MulBackward0: output = t1 * 1
    incoming doutput/doutput = tensor(1.)
    rule     d(a*b)/da = b, d(a*b)/db = a
    passes   doutput/doutput * b = tensor(1.) to t1 (ReciprocalBackward0)
[2] ReciprocalBackward0: t1 = reciprocal(t2)
    incoming doutput/dt1 = tensor(1.)
    rule     local derivative from the op's vjp rule (reciprocal.defvjp in ember/ops/pointwise.py)
    passes   tensor(-0.2500) to t2 (AddBackward0)
... 6 more steps (explain(..., max_steps=None) shows all) ...
[9] AccumulateGrad: leaf x
    incoming doutput/dx = tensor(0.)
    x.grad += tensor(0.)
[10] AccumulateGrad: leaf w
    incoming doutput/dw = tensor(0.2500)
    w.grad += tensor(0.2500)
"""


def test_seed003_walk_through(capsys):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    z = y.mean()
    result = explain(z)
    assert capsys.readouterr().out == SEED003
    assert str(result) + "\n" == SEED003
    assert [s.name for s in result.steps] == ["MeanBackward0", "MulBackward0", "AccumulateGrad"]
    # The seed's own numbers: dz/dz = 1, dz/dy = 1/3 each, x.grad = 2x / 3.
    assert result.steps[0].incoming[0][1].item() == 1.0
    np.testing.assert_allclose(result.steps[1].incoming[0][1].numpy(), [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(result.steps[2].incoming[0][1].numpy(), [2 / 3, 4 / 3, 2], 1e-6)
    assert result.steps[2].contributions == 2


def test_seed002_chain_rule(capsys):
    x = ember.tensor([2.0], requires_grad=True)
    y = x**2
    z = 3 * y + 1
    explain(z)
    assert capsys.readouterr().out == SEED002


def test_long_graphs_print_first_and_last_steps(capsys):
    class MyModel(ember.nn.Module):
        def forward(self, x, w, b):
            return 1 / (ember.exp(-(w * x + b)) + 1)

    x = ember.tensor(1.0, requires_grad=True)
    w = ember.tensor(0.0, requires_grad=True)
    b = ember.tensor(0.0, requires_grad=True)
    output = MyModel()(x, w, b)
    result = explain(output, max_steps=4)
    assert capsys.readouterr().out == SIGMOID
    assert len(result.steps) == 10
    assert len(str(explain(output, max_steps=None, quiet=True)).splitlines()) > 30


def test_a_long_chain_is_summarised_not_dumped():
    x = ember.tensor([0.5, -0.5], requires_grad=True)
    y = x
    for _ in range(500):
        y = (y * 1.01).tanh()
    result = explain(y.sum(), quiet=True)
    text = str(result)
    assert len(result.steps) == 1002
    assert "... 990 more steps (explain(..., max_steps=None) shows all) ..." in text
    assert len(text.splitlines()) < 60


def test_leaves_get_exactly_what_autograd_grad_gives():
    ember.manual_seed(0)
    a = ember.randn(3, 4, requires_grad=True)
    b = ember.randn(4, requires_grad=True)
    w = ember.randn(4, 2, requires_grad=True)
    h = ((a * b).relu() + b.exp() / 3).sigmoid()
    loss = ((h @ w).tanh() ** 2).mean() + (a - 1).abs().sum() * a.sum(0).mean()
    result = explain(loss, quiet=True)
    leaves = {s.incoming[0][0]: s.incoming[0][1] for s in result.steps if not s.passed}
    expected = ember.autograd.grad(loss, [a, b, w], retain_graph=True)
    for name, g in zip("abw", expected):
        np.testing.assert_array_equal(leaves[name].numpy(), g.numpy())
    text = str(explain(loss, max_steps=None, quiet=True))
    for name in ("ReluBackward0", "SigmoidBackward0", "MmBackward0", "AbsBackward0"):
        assert name in text


def test_nothing_changes_and_backward_still_works():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    calls = []
    y.register_hook(lambda g: calls.append(g))
    z = y.mean()
    text = str(explain(z, quiet=True))
    assert x.grad is None and y.grad is None and calls == []
    assert "explain does not run the tensor hooks" in text
    z.backward()  # the graph was not freed by explain
    assert x.grad.tolist() == pytest.approx([2 / 3, 4 / 3, 2])
    assert len(calls) == 1


def test_after_backward_it_says_to_explain_first():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (x * x).mean()
    z.backward()
    with pytest.raises(RuntimeError, match=r"call ember.explain\(z\) before z.backward\(\)"):
        explain(z, quiet=True)


def test_non_scalar_outputs_need_a_gradient_as_backward_does():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        explain(y, quiet=True)
    result = explain(y, ember.tensor([1.0, 2.0, 2.0]), quiet=True)
    assert result.steps[-1].incoming[0][1].tolist() == [2.0, 4.0, 4.0]


def test_names_from_the_caller_from_names_and_generated():
    model = ember.nn.Sequential(ember.nn.Linear(3, 2), ember.nn.Tanh(), ember.nn.Linear(2, 1))
    data = ember.ones(4, 3)
    loss = model(data).pow(2).sum()
    text = str(explain(loss, names=model.named_parameters(), quiet=True))
    assert "leaf 0.weight" in text and "leaf 2.bias" in text
    assert "addmm(data, 0.weight, 0.bias)" in text
    assert "PowBackward0: t1 = t2 ** 2" in text


def test_ops_without_a_sentence_name_their_rule():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = ember.nn.functional.softmax(x, dim=1)[:, 0].sum()
    text = str(explain(out, quiet=True))
    assert "SoftmaxBackward0" in text
    assert "local derivative from the op's vjp rule (" in text
    assert "SelectBackward0" in text and "only moves values" in text


def test_a_leaf_output_and_the_short_repr():
    x = ember.tensor(3.0, requires_grad=True)
    result = explain(x, quiet=True)
    assert (
        str(result).splitlines()[2:]
        == textwrap.dedent("""\
        [1] AccumulateGrad: leaf x
            incoming dx/dx = tensor(1.)
            x.grad += tensor(1.)""").splitlines()
    )
    assert repr(result) == "<ember.explain of x: 1 steps>"
