"""Indexing behaviour the OpInfo table does not reach: `__setitem__` (gradient flow, views,
version counter, leaf errors), view-ness and node names of `__getitem__`, and errors vs torch
(type and message, 'torch' read as 'ember')."""

import numpy as np
import pytest
import torch

import ember

X = np.arange(12.0).reshape(3, 4)


def _leaf(m):
    return m.tensor(X, requires_grad=True)


def test_setitem_gradient_reaches_value_and_rest_of_x(same):
    def fn(m):
        x, v = _leaf(m), m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * 2
        y[1] = v * 3
        gx, gv = m.autograd.grad(y, (x, v), m.tensor(np.arange(12.0).reshape(3, 4) + 1))
        return gx, gv, type(y.grad_fn).__name__

    same(fn)


@pytest.mark.parametrize(
    "index, node",
    [(0, "CopySlices"), ((slice(None), 1), "CopySlices"), (Ellipsis, "FillBackward3")],
)
def test_setitem_node_names(index, node):
    for m in (ember, torch):
        y = _leaf(m).clone()
        y[index] = 1.0
        assert type(y.grad_fn).__name__ == node
        assert y._version == 1


def test_setitem_advanced_node_and_repeated_value_gradient(same):
    def fn(m):
        x, v = _leaf(m), m.tensor(np.ones((3, 4)), requires_grad=True)
        y = x.clone()
        y[m.tensor([0, 0, 1])] = v
        g = m.tensor(np.arange(12.0).reshape(3, 4))
        return (*m.autograd.grad(y, (x, v), g), type(y.grad_fn).__name__)

    same(fn)


def test_setitem_without_grad_writes_through_views():
    for m in (ember, torch):
        base = m.zeros(3, 4)
        row = base[1]
        row[2] = 5.0
        assert base[1, 2].item() == 5.0
        assert base._version == row._version == 1
        base[m.tensor([True, False, True])] = 7.0
        assert row._version == 2 and base.sum().item() == 5.0 + 7.0 * 8


def test_setitem_leaf_errors_outside_no_grad(same):
    same(lambda m: _leaf(m).__setitem__(0, 1.0))  # a view of the leaf is written
    same(lambda m: _leaf(m).__setitem__(m.tensor([0]), 1.0))  # the leaf itself
    same(lambda m: _leaf(m).__setitem__(Ellipsis, 1.0))


def test_setitem_leaf_allowed_in_no_grad(same):
    def fn(m):
        x = _leaf(m)
        with m.no_grad():
            x[0, 1:] = m.tensor([7.0, 8.0, 9.0])
            x[m.tensor([2])] = -1.0
        return x.detach().clone(), x.grad_fn is None, x._version, x.requires_grad

    same(fn)


def test_setitem_false_is_a_no_op(same):
    def fn(m):
        y = _leaf(m).clone()
        y[False] = 3.0
        return y.detach(), y._version, type(y.grad_fn).__name__

    same(fn)


def test_setitem_casts_into_integer_tensor(same):
    def fn(m):
        y = m.zeros(3, dtype=m.long)
        y[0] = 2.7
        y[1] = m.tensor(4.9, requires_grad=True)  # no graph: y cannot require grad
        return y, y.requires_grad

    same(fn)


@pytest.mark.parametrize(
    "value",
    [
        lambda m: m.ones(3),
        lambda m: m.ones(2, 4),
        lambda m: [1.0, 2.0, 3.0, 4.0],
        lambda m: np.ones(4),
    ],
)
def test_setitem_value_errors(same, value):
    def fn(m):
        y = m.zeros(3, 4)
        y[0] = value(m)
        return y

    same(fn)


def test_setitem_advanced_value_shape_error(same):
    same(lambda m: m.zeros(3, 4).__setitem__(m.tensor([0, 2]), m.ones(3)))


def test_getitem_views_share_memory_and_version(same):
    def fn(m):
        x = m.zeros(3, 4)
        views = [x[0], x[1:], x[None], x[...], x[:, ::2], x[1, 2]]
        copies = [x[m.tensor([0, 1])], x[m.tensor([True, False, True])], x[True]]
        x.add_(1)
        return [v._is_view() for v in views + copies], [v._version for v in views], views[5]

    same(fn)


@pytest.mark.parametrize(
    "index",
    [
        lambda m: 5,
        lambda m: (0, 10),
        lambda m: (Ellipsis, 10),
        lambda m: slice(None, None, -1),
        lambda m: slice(None, None, 0),
        lambda m: (0, 0, 0),
        lambda m: 1.0,
        lambda m: m.tensor([1.0]),
        lambda m: m.tensor([5]),
        lambda m: (slice(None), m.tensor([10])),
        lambda m: m.tensor([True, False]),
        lambda m: (m.tensor([0, 1]), m.tensor([0, 1, 2])),
    ],
)
def test_getitem_errors(same, index):
    same(lambda m: m.zeros(3, 4)[index(m)])


def test_getitem_0d_errors(same):
    same(lambda m: m.tensor(1.0)[0])
    same(lambda m: m.tensor(1.0)[:])


def test_advanced_backward_accumulates_repeats(same):
    def fn(m):
        x = _leaf(m)
        (g,) = m.autograd.grad(x[m.tensor([0, 2, 0, 0])].sum(), x)
        return g

    same(fn)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: x.gather(1, m.tensor([[4]])),
        lambda m, x: x.gather(1, m.zeros(3, 1)),
        lambda m, x: x.gather(1, m.zeros(4, 1, dtype=m.long)),
        lambda m, x: x.scatter(1, m.tensor([[0]]), m.ones(1, 1, dtype=m.float64)),
        lambda m, x: x.scatter(1, m.tensor([[0]]), m.ones(1, 1), reduce="max"),
        lambda m, x: x.index_select(1, m.tensor([[0]])),
        lambda m, x: x.index_select(1, m.tensor([4])),
        lambda m, x: x.index_add(0, m.tensor([0, 0]), m.ones(3, 4)),
        lambda m, x: x.masked_fill(m.tensor([1, 0, 1, 0]), 1.0),
        lambda m, x: x.masked_fill(m.ones(4, dtype=m.bool), m.ones(1)),
        lambda m, x: x.masked_fill(m.ones(3, dtype=m.bool), 1.0),
        lambda m, x: m.take(x, m.tensor([12])),
    ],
)
def test_indexing_op_errors(same, call):
    same(lambda m: call(m, m.zeros(3, 4)))


def test_inplace_index_ops_record_nodes(same):
    def fn(m):
        x, src = _leaf(m), m.ones(3, 1, requires_grad=True)
        y = x.clone()
        y.scatter_(1, m.tensor([[0], [1], [3]]), src)
        y.masked_fill_(m.tensor([True, False, False, False]), 0.0)
        return (*m.autograd.grad(y.sum(), (x, src)), y._version, type(y.grad_fn).__name__)

    same(fn)


def test_nonzero_never_requires_grad(same):
    same(lambda m: (_leaf(m).nonzero(), _leaf(m).nonzero().requires_grad))


@pytest.mark.parametrize("hit", [True, False])
def test_masked_fill_on_0d_tensors(same, hit):
    def f(m):
        x = m.tensor(1.5, requires_grad=True)
        y = x.masked_fill(m.tensor(hit), 0.0)
        (g,) = m.autograd.grad(y, x)
        return [y, g, x.detach().masked_fill_(m.tensor(hit), 2.0)]

    same(f)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.repeat_interleave(m.tensor([2, 1, 3])),
        lambda m: m.tensor([[1, 2], [3, 4]]).repeat_interleave(3),
        lambda m: m.tensor([[1, 2], [3, 4]]).repeat_interleave(m.tensor([2]), dim=1),
        lambda m: m.tensor([1, 2]).repeat_interleave(m.tensor([1, 2, 3])),
        lambda m: m.tensor([1, 2]).repeat_interleave(-1),
        lambda m: m.tensor([1, 2]).repeat_interleave(m.tensor([1, -1])),
        lambda m: m.tensor([1, 2]).repeat_interleave(m.tensor([[1, 2]])),
        lambda m: m.tensor([1, 2]).repeat_interleave(2.5),
        lambda m: m.tensor([1, 2]).repeat_interleave(2, dim=3),
    ],
)
def test_repeat_interleave(same, call):
    same(call)


def test_repeat_interleave_graph_is_torchs(same):
    def run(m):
        z = m.ones(2, 3, requires_grad=True)
        r = z.repeat_interleave(2, dim=1)
        names = [r.grad_fn.name(), r.grad_fn.next_functions[0][0].name()]
        return names, z.repeat_interleave(m.tensor([1, 0, 2]), dim=1).grad_fn.name()

    same(run)
