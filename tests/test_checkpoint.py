"""`ember.utils.checkpoint` against torch: same values, gradients, errors and warnings with and
without checkpointing, in both variants (`use_reentrant`), plus the memory it saves."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import torch.utils.checkpoint
from conftest import located

import ember
import ember.utils.checkpoint

VARIANTS = [False, True]


def _ck(m):
    return m.utils.checkpoint


def _behaviour(fn, m):
    """What fn(m) does and the warnings it gives: ((kind, value or type, message),
    [(category, message), ...]). Messages are compared with torch's names: checkpoint's own
    messages say `torch.utils.checkpoint` in both, as other ember messages say torch.autograd."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", fn(m))
        except Exception as exc:  # noqa: BLE001 - the exception itself is what we compare
            result = ("raise", type(exc).__name__, str(exc).replace("ember.", "torch."))
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def _same_behaviour(fn):
    e, t = _behaviour(fn, ember), _behaviour(fn, torch)
    e = (located(e[0]), e[1])  # ember adds where, after torch's text (issue #4)
    assert e == t, f"ember: {e}\ntorch: {t}"


def _fill(m, module, rng):
    with m.no_grad():
        for p in module.parameters():
            p.copy_(m.tensor(rng.standard_normal(tuple(p.shape))))
    return module


def _mlp(m, rng, width=5):
    """Linear-tanh-Linear in float64 with weights drawn from rng (the same in ember and torch)."""
    return _fill(
        m,
        m.nn.Sequential(
            m.nn.Linear(width, 7), m.nn.Tanh(), m.nn.Linear(7, width), m.nn.Sigmoid()
        ).double(),
        rng,
    )


def _input(m, rng, shape=(4, 5), requires_grad=True):
    return m.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def _grads(tensors):
    return [t.grad for t in tensors]


# ---- values and gradients --------------------------------------------------------------------
@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_mlp_block_matches_torch_and_plain_run(same, use_reentrant):
    def run(m, checkpointed=True):
        rng = np.random.default_rng(0)
        block = _mlp(m, rng)
        x = _input(m, rng)
        if checkpointed:
            y = _ck(m).checkpoint(block, x, use_reentrant=use_reentrant)
        else:
            y = block(x)
        ((y * x) ** 2).sum().backward()
        return [y, *_grads([x, *block.parameters()])]

    got = same(run)
    for a, b in zip(got, run(ember, checkpointed=False)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_stacked_blocks_with_input_not_requiring_grad(same, use_reentrant):
    # The first checkpoint's input needs no gradient: only the captured parameters do.
    def run(m):
        rng = np.random.default_rng(1)
        blocks = [_mlp(m, rng) for _ in range(3)]
        x = _input(m, rng, requires_grad=False)
        h = x
        for b in blocks:
            h = _ck(m).checkpoint(b, h, use_reentrant=use_reentrant)
        h.pow(3).sum().backward()
        return [h, h.requires_grad] + _grads([p for b in blocks for p in b.parameters()])

    same(run)


def test_autograd_grad_reaches_captured_parameters(same):
    def run(m):
        rng = np.random.default_rng(2)
        block = _mlp(m, rng)
        x = _input(m, rng)
        y = _ck(m).checkpoint(block, x, use_reentrant=False)
        grads = m.autograd.grad((y**2).sum(), [x, *block.parameters()])
        return [*grads, _grads([x, *block.parameters()]) == [None] * 5]

    same(run)


def test_backward_with_inputs_non_reentrant(same):
    def run(m):
        rng = np.random.default_rng(3)
        block = _mlp(m, rng)
        x = _input(m, rng)
        y = _ck(m).checkpoint(block, x, use_reentrant=False)
        y.sum().backward(inputs=[block[0].weight])
        return [block[0].weight.grad, x.grad is None, block[2].weight.grad is None]

    same(run)


def test_double_backward_and_captured_non_leaf(same):
    # b depends on x outside the checkpoint: its gradient must reach x once, not twice.
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        b = x * 3
        y = _ck(m).checkpoint(lambda a: (a.sin() * b).exp(), x, use_reentrant=False)
        (g,) = m.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), x)
        return [y, g, gg]

    same(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_nested_checkpoints(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        w = m.tensor([1.5, 2.0, -0.5], dtype=m.float64, requires_grad=True)

        def inner(c):
            return (c * w).tanh()

        def outer(a):
            return _ck(m).checkpoint(inner, a, use_reentrant=use_reentrant) * w

        y = _ck(m).checkpoint(outer, x, use_reentrant=use_reentrant)
        y.sum().backward()
        return [y, x.grad, w.grad]

    same(run)


@pytest.mark.parametrize(
    "backward",
    [
        lambda m, y, ps: y.sum().backward(),
        lambda m, y, ps: m.autograd.grad(y.sum(), ps),
    ],
)
def test_reentrant_inside_non_reentrant(backward):
    # The inner reentrant checkpoint sees the user's walk: .backward() works, .grad() raises.
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        w = m.tensor([1.5, 2.0, -0.5], dtype=m.float64, requires_grad=True)

        def outer(a):
            return _ck(m).checkpoint(lambda c: (c * w).tanh(), a, use_reentrant=True) * w

        y = _ck(m).checkpoint(outer, x, use_reentrant=False)
        got = backward(m, y, [x, w])
        return (got or (x.grad, w.grad))[0].tolist(), w.grad is None

    _same_behaviour(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_retain_graph_backward_twice(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        y = _ck(m).checkpoint(lambda a: a.sin() * a, x, use_reentrant=use_reentrant)
        y.sum().backward(retain_graph=True)
        y.sum().backward()
        return x.grad

    same(run)


@pytest.mark.parametrize("segments", [1, 2, 3, 4])
@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_checkpoint_sequential(same, segments, use_reentrant):
    def run(m):
        rng = np.random.default_rng(4)
        model = _fill(
            m,
            m.nn.Sequential(
                m.nn.Linear(5, 6),
                m.nn.ReLU(),
                m.nn.Linear(6, 6),
                m.nn.Tanh(),
                m.nn.Linear(6, 5),
                m.nn.Sigmoid(),
            ).double(),
            rng,
        )
        x = _input(m, rng)
        y = _ck(m).checkpoint_sequential(model, segments, x, use_reentrant=use_reentrant)
        (y * x).sum().backward()
        return [y, *_grads([x, *model.parameters()])]

    same(run)


def test_checkpoint_sequential_of_a_list(same):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        y = _ck(m).checkpoint_sequential([m.sin, m.exp, m.cos], 2, x, use_reentrant=False)
        y.sum().backward()
        return [y, x.grad]

    same(run)


# ---- RNG preservation ------------------------------------------------------------------------
def _dropout_run(checkpointed, use_reentrant=False, preserve_rng_state=True):
    """Dropout inside the block; returns the output, the gradients and the next random draw."""
    rng = np.random.default_rng(5)
    block = _mlp(ember, rng)
    model = ember.nn.Sequential(block[0], ember.nn.Dropout(0.5), block[1], block[2])
    x = _input(ember, rng, (16, 5))
    ember.manual_seed(0)
    if checkpointed:
        y = ember.utils.checkpoint.checkpoint(
            model, x, use_reentrant=use_reentrant, preserve_rng_state=preserve_rng_state
        )
    else:
        y = model(x)
    y.pow(2).sum().backward()
    values = [y, *_grads([x, *model.parameters()])]
    return [v.detach().numpy() for v in values], ember.rand(3).numpy()


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_dropout_masks_are_recomputed_identically(use_reentrant):
    plain, plain_next = _dropout_run(False)
    got, got_next = _dropout_run(True, use_reentrant)
    for a, b in zip(got, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # The caller's stream is where the plain run left it: the recomputation restored it.
    np.testing.assert_array_equal(got_next, plain_next)


def test_without_preserve_rng_state_the_masks_differ():
    plain, _ = _dropout_run(False)
    got, _ = _dropout_run(True, preserve_rng_state=False)
    np.testing.assert_array_equal(got[0], plain[0])  # the forward is the same
    assert not np.allclose(got[1], plain[1])  # backward recomputed with other masks


def test_dropout_in_torch_is_preserved_too(same):
    # The same property in both libraries (their generators differ, so compare each to itself).
    def run(m):
        x = m.ones(64, dtype=m.float64, requires_grad=True)
        m.manual_seed(0)
        y = _ck(m).checkpoint(m.nn.functional.dropout, x, use_reentrant=False)
        y.sum().backward()
        return bool((x.grad == y.detach()).all())

    assert same(run) is True


# ---- arguments and outputs -------------------------------------------------------------------
def test_kwargs_pass_through_non_reentrant(same):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        s = m.tensor([2.0, 3.0, 4.0], dtype=m.float64, requires_grad=True)

        def f(a, *, scale, power=1):
            return (a * scale) ** power

        y = _ck(m).checkpoint(f, x, use_reentrant=False, scale=s, power=3)
        y.sum().backward()
        return [y, x.grad, s.grad]

    same(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_non_tensor_args_and_outputs(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)

        def f(a, k, name, nothing):
            return a.sin() * k, name.upper(), nothing, k + 1

        y, name, nothing, k = _ck(m).checkpoint(f, x, 3, "ab", None, use_reentrant=use_reentrant)
        y.sum().backward()
        return [y, name, nothing, k, x.grad, y.grad_fn is not None]

    same(run)


def test_nested_outputs_non_reentrant(same):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        i = m.tensor([1, 2])
        out = _ck(m).checkpoint(
            lambda a: {"sin": a.sin(), "pair": [a.exp(), i * 2], "same": a}, x, use_reentrant=False
        )
        (out["sin"] * out["pair"][0]).sum().backward()
        return [out["sin"], out["pair"][1], out["same"] is x, out["pair"][1].requires_grad, x.grad]

    same(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_identity_function(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        y = _ck(m).checkpoint(lambda a: a, x, use_reentrant=use_reentrant)
        return [y, y is x, y.requires_grad]

    same(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_under_no_grad(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        with m.no_grad():
            y = _ck(m).checkpoint(lambda a: a.sin(), x, use_reentrant=use_reentrant)
        return [y, y.requires_grad, y.grad_fn is None]

    same(run)


def test_context_fn_wraps_forward_and_recomputation():
    calls = []

    class Mark:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            calls.append(self.name)

        def __exit__(self, *exc):
            calls.append("/" + self.name)

    def record(m):
        calls.clear()
        x = m.tensor([0.5, -1.0], requires_grad=True)
        y = _ck(m).checkpoint(
            lambda a: a.sin(),
            x,
            use_reentrant=False,
            context_fn=lambda: (Mark("fwd"), Mark("re")),
        )
        y.sum().backward()
        return list(calls)

    assert record(ember) == record(torch) == ["fwd", "/fwd", "re", "/re"]


# ---- errors and warnings ---------------------------------------------------------------------
def test_use_reentrant_not_given_warns_and_defaults_to_reentrant():
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        y = _ck(m).checkpoint(lambda a: a.sin(), x)
        return type(y.grad_fn).__name__

    _same_behaviour(run)
    assert _behaviour(run, ember)[0] == ("ok", "CheckpointFunctionBackward")


def test_checkpoint_sequential_use_reentrant_not_given_warns():
    def run(m):
        x = m.tensor([0.5, -1.0], dtype=m.float64, requires_grad=True)
        return _ck(m).checkpoint_sequential([m.sin, m.cos], 2, x).tolist()

    _same_behaviour(run)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: _ck(m).checkpoint(m.sin, x, use_reentrant=True, foo=1, bar=2),
        lambda m, x: _ck(m).checkpoint(m.sin, x, use_reentrant=True, debug=True),
        lambda m, x: _ck(m).checkpoint(
            m.sin, x, use_reentrant=True, context_fn=lambda: (None, None)
        ),
        lambda m, x: _ck(m).checkpoint(m.sin, x, use_reentrant=False, determinism_check="x"),
        lambda m, x: _ck(m).checkpoint(
            m.sin, x, use_reentrant=False, debug=True, context_fn=lambda: (None, None)
        ),
        lambda m, x: _ck(m).checkpoint_sequential([m.sin], 1, x, use_reentrant=False, foo=1),
        lambda m, x: _ck(m).checkpoint_sequential([m.sin], 0, x, use_reentrant=False),
        lambda m, x: _ck(m).detach_variable([x]),
    ],
)
def test_argument_errors(call):
    _same_behaviour(lambda m: call(m, m.tensor([0.5, -1.0], requires_grad=True)))


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_no_input_requires_grad(use_reentrant):
    # Reentrant: torch's warning, and the parameters inside get no gradient; non-reentrant:
    # no warning, and they do.
    def run(m):
        w = m.tensor([1.5, 2.0], requires_grad=True)
        x = m.tensor([0.5, -1.0])
        y = _ck(m).checkpoint(lambda a: a * w, x, use_reentrant=use_reentrant)
        if y.requires_grad:
            y.sum().backward()
        return [y.requires_grad, None if w.grad is None else w.grad.tolist()]

    _same_behaviour(run)


@pytest.mark.parametrize(
    "backward",
    [
        lambda m, x, y: m.autograd.grad(y.sum(), x),
        lambda m, x, y: y.sum().backward(inputs=[x]),
    ],
)
def test_reentrant_refuses_grad_and_backward_inputs(backward):
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        backward(m, x, _ck(m).checkpoint(lambda a: a.sin(), x, use_reentrant=True))

    _same_behaviour(run)


def test_reentrant_output_not_requiring_grad_on_recomputation():
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        _ck(m).checkpoint(lambda a: a.detach(), x, use_reentrant=True).sum().backward()

    _same_behaviour(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_backward_twice_raises(same, use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        y = _ck(m).checkpoint(lambda a: a.sin() * 2, x, use_reentrant=use_reentrant)
        y.sum().backward()
        y.sum().backward()

    same(run)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_input_modified_in_place_raises(use_reentrant):
    def run(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        z = x * 1
        y = _ck(m).checkpoint(lambda a: a.sin() * 2, z, use_reentrant=use_reentrant)
        z.add_(1)
        y.sum().backward()

    _same_behaviour(run)


def test_recomputation_that_differs_raises_checkpoint_error():
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], requires_grad=True)
        calls = []

        def f(a):
            calls.append(1)
            return a[: 4 - len(calls)].sin()

        y = _ck(m).checkpoint(f, x, use_reentrant=False)
        y.sum().backward()

    for m in (ember, torch):
        with pytest.raises(m.utils.checkpoint.CheckpointError, match="different"):
            run(m)


# ---- memory ----------------------------------------------------------------------------------
def _peak_bytes(use_reentrant, blocks=8, size=256):
    """Peak traced memory of a forward and backward through `blocks` matmul + elementwise
    blocks (NumPy reports its buffers to tracemalloc), each checkpointed unless `use_reentrant`
    is None, and the weights' gradients."""
    rng = np.random.default_rng(6)
    ws = [
        ember.tensor(rng.standard_normal((size, size)) / size**0.5, requires_grad=True)
        for _ in range(blocks)
    ]
    x = ember.tensor(rng.standard_normal((size, size)), requires_grad=True)

    def block(h, w):
        a = h @ w
        return (a.tanh() * a.sigmoid() + h).exp().log1p()

    def step(h, w):
        if use_reentrant is None:
            return block(h, w)
        return ember.utils.checkpoint.checkpoint(block, h, w, use_reentrant=use_reentrant)

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        h = x
        for w in ws:
            h = step(h, w)
        h.sum().backward()
        del h
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, [w.grad.numpy() for w in ws] + [x.grad.numpy()]


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_checkpointing_lowers_peak_memory(use_reentrant):
    plain, plain_grads = _peak_bytes(None)
    checkpointed, grads = _peak_bytes(use_reentrant)
    for a, b in zip(grads, plain_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert checkpointed < 0.6 * plain, (checkpointed, plain)
