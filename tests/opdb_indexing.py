"""OpInfo entries for ember/ops/indexing.py: getitem/setitem, gather/scatter, index_*, masks.

Index tensors are int64 (or bool) NumPy arrays in `args`: they become index tensors that never
require grad. Samples cover repeated and negative indices, masks, broadcasting values and
non-contiguous inputs; `__setitem__` entries write into a clone so the leaf stays untouched.
"""

import numpy as np
from opinfo import OpInfo, Sample, noncontig, rand


def _i(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _getitem_basic(rng):
    x = rand(rng, 3, 4, 5)
    return [
        Sample((x, 1), name="int"),
        Sample((x, -1), name="negative-int"),
        Sample((x, (0, 2)), name="two-ints"),
        Sample((x, (Ellipsis, 1)), name="ellipsis-int"),
        Sample((noncontig(x), (2, slice(None), -1)), name="noncontig-int-slice-int"),
    ]


def _getitem_slice(rng):
    x = rand(rng, 4, 5, 6)
    return [
        Sample((x, slice(1, None)), name="slice"),
        Sample((x, slice(None, None, 2)), name="step"),
        Sample((x, (slice(None), slice(1, 4, 2), slice(-3, None))), name="three-slices"),
        Sample((x, (0, slice(1, None))), name="int-then-slice"),
        Sample((x, slice(10, None)), name="empty"),
        Sample((noncontig(x), (None, slice(1, 3))), name="noncontig-none-then-slice"),
    ]


def _getitem_none(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, None), name="none"),
        Sample((x, (slice(1, None), None)), name="slice-then-none"),
        Sample((x, (0, Ellipsis, None)), name="int-ellipsis-none"),
        Sample((rand(rng), None), name="0d"),
    ]


def _getitem_alias(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, Ellipsis), name="ellipsis"),
        Sample((x, (slice(None), slice(0, 10))), name="full-slices"),
        Sample((rand(rng), ()), name="0d-empty-tuple"),
    ]


def _getitem_advanced(rng):
    x = rand(rng, 4, 5, 3)
    return [
        Sample((x, _i(0, 2, 0, -1)), name="repeated-negative"),
        Sample((x, _i([0, 1], [3, 3])), name="2d-index"),
        Sample((x, (slice(None), _i(4, 0, 4))), name="slice-then-index"),
        Sample((x, (_i(0, 1), slice(None), _i(2, 2))), name="split-indices-go-first"),
        Sample((x, (_i(1, 3), _i([0], [4]))), name="broadcast-indices"),
        Sample((x, np.array([True, False, True, True])), name="mask"),
        Sample((x, rng.uniform(size=(4, 5)) > 0.5), name="2d-mask"),
        Sample((x, (0, _i(1, 1))), name="int-and-index"),
        Sample((x, True), name="true"),
        Sample((x, (None, _i(2, 0))), name="none-and-index"),
        Sample((noncontig(x), (Ellipsis, _i(0, 2, 2))), name="noncontig-ellipsis-index"),
    ]


def _getitem(m, x, index):
    return x[index]


def _setitem_basic(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 0, rand(rng, 4)), name="row"),
        Sample((x, (slice(None), slice(1, 3)), rand(rng, 1, 2)), name="broadcast-value"),
        Sample((x, (0, 1), 2.5), name="scalar"),
        Sample((x, 1, rand(rng, 1, 1, 4)), name="leading-ones-value"),
        Sample((noncontig(x), (slice(None, None, 2), -1), rand(rng)), name="noncontig-0d-value"),
    ]


def _setitem_advanced(rng):
    x = rand(rng, 4, 3)
    return [
        Sample((x, _i(0, 2), rand(rng, 3)), name="index"),
        Sample((x, _i(1, -1), rand(rng, 2, 3)), name="negative"),
        Sample((x, np.array([True, False, True, False]), rand(rng, 2, 1)), name="mask"),
        Sample((x, rng.uniform(size=(4, 3)) > 0.5, 0.5), name="2d-mask-scalar"),
        Sample((x, (slice(None), _i(2, 0)), rand(rng, 4, 2)), name="slice-then-index"),
    ]


def _setitem_repeated(rng):
    return [Sample((rand(rng, 4, 3), _i(1, 1, -1, 3), rand(rng, 4, 3)), name="repeated")]


def _setitem_whole(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, Ellipsis, rand(rng, 4)), name="ellipsis"),
        Sample((x, slice(None), rand(rng, 3, 1)), name="full-slice"),
    ]


def _setitem_fill(rng):
    return [Sample((rand(rng, 3, 4), (slice(None), slice(0, 9)), -2.0), name="scalar")]


def _setitem(m, x, index, value):
    y = x.clone()
    y[index] = value
    return y


def _gather(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 1, _i([0, 0], [1, 3], [2, 2])), name="dim1-repeated"),
        Sample((x, 0, _i([2, 2, 0, 1])), name="dim0-smaller-index"),
        Sample((noncontig(x), -1, _i([3], [0], [3])), name="noncontig-negative-dim"),
        Sample((rand(rng, 2, 3, 4), 2, rng.integers(0, 4, (2, 3, 6))), name="3d-larger-dim"),
    ]


def _scatter(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 1, _i([0], [1], [3]), rand(rng, 3, 1)), name="src"),
        Sample((x, 0, _i([2, 0, 1, 2]), rand(rng, 1, 4)), name="dim0"),
        Sample((noncontig(x), 1, _i([1, 2], [0, 3], [3, 0]), rand(rng, 3, 2)), name="noncontig"),
    ]


def _scatter_value(rng):
    x = rand(rng, 3, 4)
    return [Sample((x, 1, _i([0, 2], [1, 3], [3, 3]), 1.5), name="scalar-value")]


def _scatter_reduce(rng):
    x = rand(rng, 3, 4)
    idx = _i([0, 0], [1, 1], [3, 0])
    return [
        Sample((x, 1, idx, rand(rng, 3, 2)), {"reduce": "add"}, name="add"),
        Sample((x, 1, idx, rand(rng, 3, 2)), {"reduce": "multiply"}, name="multiply"),
    ]


def _scatter_add(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 1, _i([0, 0, 0], [1, 3, 1], [2, 2, 2]), rand(rng, 3, 3)), name="repeated"),
        Sample((noncontig(x), 0, _i([0, 0, 2, 1]), rand(rng, 1, 4)), name="noncontig-dim0"),
    ]


def _inplace_scatter(m, x, dim, index, src):
    return x.clone().scatter_(dim, index, src)


def _inplace_scatter_add(m, x, dim, index, src):
    return x.clone().scatter_add_(dim, index, src)


def _index_select(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 1, _i(0, 0, 3)), name="repeated"),
        Sample((x, -2, _i(2, 0)), name="negative-dim"),
        Sample((noncontig(x), 0, np.array(1)), name="noncontig-0d-index"),
    ]


def _repeat_interleave(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 2), name="flat"),
        Sample((x, 3), {"dim": 1}, name="int-dim"),
        Sample((x, _i(1, 0, 2)), {"dim": 0}, name="counts"),
        Sample((noncontig(x), _i(2)), {"dim": -1}, name="one-count-noncontig"),
        Sample((rand(rng), 3), name="0d"),
    ]


def _index_add(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 0, _i(0, 0), rand(rng, 2, 4)), name="repeated"),
        Sample((x, 1, _i(3, 1, 0), rand(rng, 3, 3)), {"alpha": 2.0}, name="alpha"),
    ]


def _index_fill(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, 1, _i(0, 2), 1.5), name="scalar"),
        Sample((x, 0, _i(1, 1, 2), rand(rng)), name="tensor-repeated"),
    ]


def _masked_fill(rng):
    x = rand(rng, 3, 4)
    mask = np.array([True, False, True, False])
    return [
        Sample((x, mask, 2.0), name="scalar-broadcast-mask"),
        Sample((x, rng.uniform(size=(2, 3, 4)) > 0.5, -1.0), name="mask-broadcasts-input"),
        Sample((noncontig(x), mask, rand(rng)), name="noncontig-tensor-value"),
    ]


def _masked_fill_same_shape(rng):
    # In place, the mask must broadcast to the input (torch raises otherwise).
    return [s for s in _masked_fill(rng) if s.args[1].ndim <= s.args[0].ndim]


def _masked_fill_inplace(m, x, mask, value):
    return x.clone().masked_fill_(mask, value)


def _masked_select(rng):
    x = rand(rng, 3, 4)
    return [
        Sample((x, rng.uniform(size=(3, 4)) > 0.5), name="same-shape"),
        Sample((x, np.array([True, False, True, True])), name="broadcast-mask"),
        Sample((rand(rng, 1, 4), rng.uniform(size=(3, 4)) > 0.3), name="broadcast-input"),
    ]


def _take(rng):
    return [
        Sample((rand(rng, 3, 4), _i([0, 11], [11, -1])), name="repeated-negative"),
        Sample((noncontig(rand(rng, 2, 3)), _i(5, 0, 2)), name="noncontig"),
    ]


def _nonzero(rng):
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    return [
        Sample((a,), name="2d"),
        Sample((a,), {"as_tuple": True}, name="as-tuple"),
        Sample((np.array(3.0),), name="0d"),
    ]


OPS = [
    OpInfo("getitem_select", _getitem_basic, fn=_getitem),
    OpInfo("getitem_slice", _getitem_slice, fn=_getitem),
    OpInfo("getitem_unsqueeze", _getitem_none, fn=_getitem),
    OpInfo("getitem_alias", _getitem_alias, fn=_getitem),
    OpInfo("getitem_advanced", _getitem_advanced, fn=_getitem),
    OpInfo("setitem_basic", _setitem_basic, fn=_setitem),
    OpInfo("setitem_advanced", _setitem_advanced, fn=_setitem),
    # Matches torch: with repeated indices the last write wins, yet every value element gets
    # the cotangent at its index (torch's index_put backward), which is not the derivative.
    OpInfo("setitem_repeated", _setitem_repeated, fn=_setitem, fd=False),
    OpInfo("setitem_whole", _setitem_whole, fn=_setitem),
    # torch's FillBackward3 returns a constant zero gradient: nothing to differentiate twice.
    OpInfo("setitem_fill", _setitem_fill, fn=_setitem, gradgrad=False),
    OpInfo("gather", _gather),
    OpInfo("scatter", _scatter),
    OpInfo("scatter_value", _scatter_value, fn=lambda m, x, d, i, v: m.scatter(x, d, i, v)),
    # torch records no derivative for scatter with reduce= (its node is NotImplemented).
    OpInfo("scatter_reduce", _scatter_reduce, fn=lambda m, *a, **k: m.scatter(*a, **k), grad=False),
    OpInfo("scatter_", _scatter, fn=_inplace_scatter),
    OpInfo("scatter_add", _scatter_add),
    OpInfo("scatter_add_", _scatter_add, fn=_inplace_scatter_add),
    OpInfo("index_select", _index_select),
    OpInfo("repeat_interleave", _repeat_interleave),
    OpInfo("index_add", _index_add, method=True),
    OpInfo("index_fill", _index_fill, method=True),
    OpInfo("masked_fill", _masked_fill),
    OpInfo("masked_fill_", _masked_fill_same_shape, fn=_masked_fill_inplace),
    OpInfo("masked_select", _masked_select),
    OpInfo("take", _take),
    OpInfo("nonzero", _nonzero, grad=False),
]
