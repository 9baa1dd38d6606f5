"""ember.compile: replayed calls equal eager calls bit for bit (issue #7, first part)."""

import numpy as np

import ember


def _tiny(x0):
    x = x0.clone().requires_grad_(True)
    y = x
    for _ in range(5):
        y = (y * 1.01 + 0.1).tanh()
    loss = y.sum()
    loss.backward()
    return loss, x.grad


def test_replay_equals_eager_forward_and_backward():
    x0 = ember.randn(16, dtype=ember.float64)
    want = _tiny(x0)
    step = ember.compile(_tiny)
    for _ in range(3):
        got = step(x0)
        for a, b in zip(want, got):
            assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert len(step.traces) == 1 and step.traces[0].run is not None


def _train(compiled: bool, steps: int = 4):
    nn = ember.nn
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = ember.randn(8, 20), ember.randint(0, 5, (8,))

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = ember.compile(step) if compiled else step
    losses = [run(x, y).item() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], run


def test_training_loop_parameters_equal_eager():
    l1, p1, _ = _train(False)
    l2, p2, run = _train(True)
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    assert len(run.traces) == 1 and run.traces[0].run is not None


def test_value_read_guards_retrace():
    def f(x):
        return x * 2 if x.sum().item() > 0 else x * 3

    step = ember.compile(f)
    pos, neg = ember.ones(3), -ember.ones(3)
    assert step(pos).tolist() == [2.0] * 3
    assert step(neg).tolist() == [-3.0] * 3
    assert step(pos).tolist() == [2.0] * 3
    assert len(step.traces) == 2
