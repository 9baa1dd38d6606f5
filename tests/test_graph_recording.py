"""The hot path records exactly what it must: over the whole op table, an op call makes one
node when grad mode is on and an input requires grad, and none at all under `no_grad` (not
even a leaf's AccumulateGrad), so inference and optimizer steps pay nothing for autograd."""

from __future__ import annotations

import pytest
from test_ops import CASES, _call, _flat, _inputs

import ember
from ember.autograd import graph
from ember.autograd.grad_mode import STATE
from ember.ops._registry import Op, OpNode


@pytest.fixture
def traced_calls(monkeypatch):
    """Every Op call made while the fixture is active, as (op, grad mode, inputs, the grad_fns
    of its floating-point results when the call returned, nodes created by the call itself,
    excluding nested op calls)."""
    calls, stack = [], []
    original_call, original_init = Op.__call__, graph.Node.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if stack:
            stack[-1].append(self)

    def call(self, *inputs, **params):
        enabled = STATE.enabled
        stack.append([])
        try:
            out = original_call(self, *inputs, **params)
        finally:
            made = stack.pop()
        results = [t for t in _flat(out) if isinstance(t, ember.Tensor)]
        fns = {t._grad_fn for t in results if t.dtype.is_floating_point or t.dtype.is_complex}
        calls.append((self, enabled, inputs, fns, made))
        return out

    monkeypatch.setattr(graph.Node, "__init__", init)
    monkeypatch.setattr(Op, "__call__", call)
    return calls


def _needs_grad(inputs) -> bool:
    return any(isinstance(x, ember.Tensor) and x.requires_grad for x in inputs)


@pytest.mark.parametrize("op,sample", CASES)
def test_no_node_under_no_grad(op, sample, traced_calls):
    args, kwargs = _inputs(ember, sample)
    with ember.no_grad():
        outs = _flat(_call(op, ember, args, kwargs))
    for fn, enabled, _, _, made in traced_calls:
        if not enabled:  # (an entry may enable grad inside, e.g. to take a gradient)
            assert made == [], f"{fn.__name__} recorded {made} under no_grad"
    if not any(enabled for _, enabled, *_ in traced_calls):
        given = [id(x) for x in _flat(list(args) + list(kwargs.values()))]
        for out in outs:
            if isinstance(out, ember.Tensor) and id(out) not in given:  # (flatten may return x)
                assert out.grad_fn is None and not out.requires_grad


@pytest.mark.parametrize("op,sample", CASES)
def test_one_node_per_recorded_op_call(op, sample, traced_calls):
    args, kwargs = _inputs(ember, sample)
    _call(op, ember, args, kwargs)
    for fn, enabled, inputs, fns, made in traced_calls:
        ops_nodes = [n for n in made if isinstance(n, OpNode) and n._op is fn]
        if enabled and fn.node_cls is not None and _needs_grad(inputs) and fns:
            assert len(ops_nodes) == 1, f"{fn.__name__} made {len(ops_nodes)} nodes"
            assert fns == {ops_nodes[0]}, f"{fn.__name__}'s results are not all its node's"
        else:
            assert ops_nodes == [], f"{fn.__name__} recorded {ops_nodes} with nothing to record"
