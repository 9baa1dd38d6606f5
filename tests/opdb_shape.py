"""OpInfo entries for ember/ops/shape.py: views, element-moving copies, joins and splits.

Non-contiguous inputs come two ways: `noncontig(...)` arrays (strided views) where the op's
result does not depend on the layout, and `fn=` entries that transpose or slice inside both
libraries where it does (reshape/flatten pick ViewBackward0, ReshapeAliasBackward0 or
UnsafeViewBackward0 from the input's strides, so both sides must see the same strides).
"""

import numpy as np
import torch
from opinfo import OpInfo, Sample, noncontig, rand

import ember
from ember.ops import shape as ember_shape


def _x(rng):
    return rand(rng, 2, 3, 4)


def _reshape(rng):
    """Shapes as one sequence, as `torch.reshape(x, shape)` takes them."""
    x = _x(rng)
    return [
        Sample((x, (6, 4)), name="tuple"),
        Sample((x, (4, -1)), name="tuple-infer"),
        Sample((x, [2, 3, 4]), name="same-shape"),
        Sample((rand(rng), ()), name="0d"),
        Sample((rand(rng), (1, 1)), name="0d-to-2d"),
        Sample((rand(rng, 1), (-1,)), name="1-to-infer"),
        Sample((rand(rng, 0, 3), (3, 0)), name="empty"),
    ]


def _reshape_method(rng):
    """Tensor.reshape / Tensor.view also take the sizes as varargs."""
    x = _x(rng)
    return [
        *_reshape(rng),
        Sample((x, 6, 4), name="varargs"),
        Sample((rand(rng, 1), -1), name="-1"),
    ]


def _transposed(rng):
    """A (2, 3, 4) array seen through x.transpose(0, 2) inside the op (shape (4, 3, 2))."""
    return [Sample((_x(rng),), name="transposed")]


def _view_as(rng):
    return [
        Sample((_x(rng), rand(rng, 6, 4)), no_grad=(1,), name="2d"),
        Sample((rand(rng), rand(rng, 1)), no_grad=(1,), name="0d"),
    ]


def _flatten(rng):
    x = _x(rng)
    return [
        Sample((x,), name="all"),
        Sample((x, 1), name="start"),
        Sample((x, 0, -2), name="neg-end"),
        Sample((x, -2, -2), name="noop"),
        Sample((rand(rng),), name="0d"),
        Sample((rand(rng, 5),), name="1d"),
        Sample((noncontig(x), 1, 2), name="noncontig"),
    ]


def _unflatten(rng):
    x = _x(rng)
    return [
        Sample((x, 2, (2, 2)), name="last"),
        Sample((x, -2, (3, 1)), name="neg-dim"),
        Sample((x, 0, (-1, 1)), name="infer"),
        Sample((noncontig(x), 2, [2, 2]), name="noncontig"),
    ]


def _squeeze(rng):
    x = rand(rng, 2, 1, 3, 1)
    return [
        Sample((x,), name="all"),
        Sample((x, 1), name="int"),
        Sample((x, -1), name="neg-int"),
        Sample((x, 0), name="not-size-1"),
        Sample((x, (1, -1)), name="tuple"),
        Sample((x, (0, 3)), name="tuple-mixed"),
        Sample((rand(rng), 0), name="0d"),
        Sample((rand(rng),), name="0d-all"),
        Sample((noncontig(x), 1), name="noncontig"),
    ]


def _unsqueeze(rng):
    x = _x(rng)
    return [
        Sample((x, 0), name="front"),
        Sample((x, 3), name="back"),
        Sample((x, -1), name="neg"),
        Sample((x, -4), name="neg-front"),
        Sample((rand(rng), 0), name="0d"),
        Sample((noncontig(x), 1), name="noncontig"),
    ]


def _transpose(rng):
    x = _x(rng)
    return [
        Sample((x, 0, 2), name="outer"),
        Sample((x, -1, 1), name="neg"),
        Sample((x, 1, 1), name="same"),
        Sample((rand(rng), 0, -1), name="0d"),
        Sample((noncontig(x), 0, 1), name="noncontig"),
    ]


def _permute(rng):
    x = _x(rng)
    return [
        Sample((x, (2, 0, 1)), name="tuple"),
        Sample((x, (-1, 0, 1)), name="tuple-neg"),
        Sample((x, [0, 1, 2]), name="identity"),
        Sample((rand(rng), ()), name="0d"),
        Sample((noncontig(x), (1, 2, 0)), name="noncontig"),
    ]


def _permute_method(rng):
    return [*_permute(rng), Sample((_x(rng), 2, 0, 1), name="varargs")]


def _t(rng):
    return [
        Sample((rand(rng, 3, 4),), name="2d"),
        Sample((rand(rng, 4),), name="1d"),
        Sample((rand(rng),), name="0d"),
        Sample((noncontig(rand(rng, 3, 4)),), name="noncontig"),
    ]


def _movedim(rng):
    x = _x(rng)
    return [
        Sample((x, 0, 2), name="int"),
        Sample((x, (0, 1), (2, 0)), name="tuple"),
        Sample((x, -1, 0), name="neg"),
        Sample((x, 1, 1), name="noop"),
        Sample((noncontig(x), (2,), (0,)), name="noncontig"),
    ]


def _expand_as(rng):
    return [
        Sample((rand(rng, 3, 1), rand(rng, 2, 3, 4)), no_grad=(1,), name="lead"),
        Sample((rand(rng), rand(rng, 2)), no_grad=(1,), name="0d"),
    ]


def _broadcast_to(rng):
    return [
        Sample((rand(rng, 3, 1), (2, 3, 4)), name="lead"),
        Sample((noncontig(rand(rng, 1, 4)), [3, -1]), name="minus-one"),
        Sample((rand(rng), ()), name="0d"),
    ]


def _tile_method(rng):
    return [
        Sample((rand(rng, 2, 3), 2), name="int"),
        Sample((rand(rng, 2, 3), 2, 1, 1), name="varargs"),
    ]


def _repeat(rng):
    x = rand(rng, 2, 3)
    return [
        Sample((x, 2, 3), name="varargs"),
        Sample((x, (2, 1, 2)), name="new-dim"),
        Sample((x, [1, 1]), name="ones"),
        Sample((rand(rng), (3,)), name="0d"),
        Sample((rand(rng), ()), name="0d-empty"),
        Sample((noncontig(x), 2, 2), name="noncontig"),
    ]


def _repeat_zero(rng):
    return [Sample((rand(rng, 2, 3), 0, 2), name="zero")]


def _meshgrid(rng):
    return [
        Sample((rand(rng, 3), rand(rng, 2)), {"indexing": "ij"}, name="ij"),
        Sample((rand(rng, 3), rand(rng, 2), rand(rng, 4)), {"indexing": "xy"}, name="xy-3"),
        Sample((rand(rng), rand(rng, 2)), {"indexing": "xy"}, name="0d"),
    ]


def _tile(rng):
    x = rand(rng, 2, 3)
    return [
        Sample((x, (2,)), name="short"),
        Sample((x, (2, 1, 3)), name="long"),
        Sample((x, ()), name="empty"),
        Sample((rand(rng), (2, 2)), name="0d"),
    ]


def _flip(rng):
    x = _x(rng)
    return [
        Sample((x, (0,)), name="one"),
        Sample((x, [0, -1]), name="two-neg"),
        Sample((x, ()), name="none"),
        Sample((rand(rng), (0,)), name="0d"),
        Sample((noncontig(x), (1, 2)), name="noncontig"),
    ]


def _flip_method(rng):
    return [Sample((_x(rng), 0, 2), name="varargs")]


def _roll(rng):
    x = _x(rng)
    return [
        Sample((x, 1), name="flat"),
        Sample((x, -5), name="flat-neg"),
        Sample((x, 1, 1), name="int"),
        Sample((x, (1, -2), (0, -1)), name="tuple"),
        Sample((x, (1, 2), (1, 1)), name="repeated-dim"),
        Sample((x, 7, -1), name="big-shift"),
        Sample((rand(rng), 3), name="0d"),
        Sample((noncontig(x), 2, 2), name="noncontig"),
    ]


def _cat(rng):
    x = _x(rng)
    return [
        Sample(([x, rand(rng, 2, 3, 2)], -1), name="last"),
        Sample(([x, rand(rng, 1, 3, 4), rand(rng, 3, 3, 4)],), name="three"),
        Sample(((x, noncontig(rand(rng, 2, 1, 4))), 1), name="tuple-noncontig"),
        Sample(([rand(rng, 3)],), name="single"),
        Sample(([x, np.zeros(0)], 1), name="legacy-empty"),
        Sample(([x, np.arange(24).reshape(2, 3, 4)],), name="promote-int"),
    ]


def _stack(rng):
    x = _x(rng)
    return [
        Sample(([x, rand(rng, 2, 3, 4)],), name="front"),
        Sample(([x, rand(rng, 2, 3, 4), noncontig(x)], -1), name="last-noncontig"),
        Sample(([rand(rng), rand(rng)],), name="0d"),
        Sample(([x, np.ones((2, 3, 4), dtype=np.int64)], 2), name="promote-int"),
    ]


def _hstack(rng):
    return [
        Sample(([_x(rng), rand(rng, 2, 1, 4)],), name="3d"),
        Sample(([rand(rng, 3), rand(rng, 2)],), name="1d"),
        Sample(([rand(rng), rand(rng)],), name="0d"),
    ]


def _vstack(rng):
    return [
        Sample(([_x(rng), rand(rng, 1, 3, 4)],), name="3d"),
        Sample(([rand(rng, 3), rand(rng, 3)],), name="1d"),
        Sample(([rand(rng), rand(rng)],), name="0d"),
    ]


def _split(rng):
    x = _x(rng)
    return [
        Sample((x, 2), name="int"),
        Sample((x, 3, 2), name="uneven"),
        Sample((x, 5, -1), name="bigger"),
        Sample((x, [1, 2], 1), name="sizes"),
        Sample((x, (4, 0), -1), name="sizes-zero"),
        Sample((noncontig(x), 2, 1), name="noncontig"),
    ]


def _chunk(rng):
    x = _x(rng)
    return [
        Sample((x, 2), name="even"),
        Sample((x, 3, -1), name="fewer"),
        Sample((x, 5, 1), name="too-many"),
        Sample((noncontig(x), 2, 2), name="noncontig"),
    ]


def _unbind(rng):
    x = _x(rng)
    return [
        Sample((x,), name="front"),
        Sample((x, -1), name="last"),
        Sample((rand(rng, 3),), name="1d"),
        Sample((noncontig(x), 1), name="noncontig"),
    ]


def _one_piece(rng):
    """Only one output of a multi-output op is used: the others get no gradient."""
    return [Sample((_x(rng),), name="one-piece")]


def _narrow(rng):
    x = _x(rng)
    return [
        Sample((x, 1, 1, 2), name="middle"),
        Sample((x, -1, -3, 2), name="neg"),
        Sample((x, 0, 0, 2), name="whole"),
        Sample((x, 2, 4, 0), name="empty"),
        Sample((noncontig(x), 2, 1, 3), name="noncontig"),
    ]


def _select(rng):
    x = _x(rng)
    return [
        Sample((x, 1, 2), name="pos"),
        Sample((x, -1, -1), name="neg"),
        Sample((rand(rng, 3), 0, 1), name="1d"),
        Sample((noncontig(x), 0, 1), name="noncontig"),
    ]


def _tril(rng):
    x = rand(rng, 2, 3, 4)
    return [
        Sample((x,), name="3d"),
        Sample((rand(rng, 4, 3), 1), name="pos"),
        Sample((rand(rng, 3, 4),), {"diagonal": -1}, name="kwarg-neg"),
        Sample((rand(rng, 3, 4), 9), name="far"),
        Sample((noncontig(x), -1), name="noncontig"),
    ]


def _diag(rng):
    return [
        Sample((rand(rng, 3),), name="1d"),
        Sample((rand(rng, 3), 1), name="1d-pos"),
        Sample((rand(rng, 3), -2), name="1d-neg"),
        Sample((rand(rng, 3, 4),), name="2d"),
        Sample((rand(rng, 3, 4), 2), name="2d-pos"),
        Sample((rand(rng, 4, 3), -1), name="2d-neg"),
        Sample((noncontig(rand(rng, 3, 3)),), name="noncontig"),
    ]


def _diagonal(rng):
    x = _x(rng)
    return [
        Sample((rand(rng, 3, 4),), name="2d"),
        Sample((x,), name="3d"),
        Sample((x, 1, 1, 2), name="offset"),
        Sample((x, -1, -1, 0), name="neg-reversed"),
        Sample((x, 5), name="beyond"),
        Sample((noncontig(x), 0, 2, 1), name="noncontig"),
    ]


def _diag_embed(rng):
    x = rand(rng, 2, 3)
    return [
        Sample((x,), name="default"),
        Sample((x, 1), name="offset"),
        Sample((x, -1, 0, 2), name="dims"),
        Sample((x, 0, -1, 0), name="reversed"),
        Sample((rand(rng, 3),), name="1d"),
    ]


def _slice_backward(m, g, shape, dim, start, end, step):
    """The op behind every slice/select/narrow vjp, against torch's aten.slice_backward."""
    if m is ember:
        return ember_shape._slice_backward(g, shape=shape, dim=dim, start=start, end=end, step=step)
    return torch.ops.aten.slice_backward(g, shape, dim, start, end, step)


def _slice_backward_samples(rng):
    return [
        Sample((rand(rng, 2, 2, 4), (2, 3, 4), 1, 1, 3, 1), name="middle"),
        Sample((rand(rng, 2, 3, 2), (2, 3, 4), 2, 0, 4, 2), name="step"),
    ]


def _diagonal_backward(m, g, shape, offset, dim1, dim2):
    """The op behind the diagonal and diag vjps, against torch's aten.diagonal_backward."""
    if m is ember:
        return ember_shape._diagonal_backward(g, shape=shape, offset=offset, dim1=dim1, dim2=dim2)
    return torch.ops.aten.diagonal_backward(g, shape, offset, dim1, dim2)


def _diagonal_backward_samples(rng):
    return [
        Sample((rand(rng, 3, 2), (2, 3, 4), 1, 0, 2), name="offset"),
        Sample((rand(rng, 2, 3), (2, 3, 4), -1, 2, 1), name="reversed"),
    ]


OPS = [
    OpInfo("reshape", _reshape),
    OpInfo("reshape_method", _reshape_method, fn=lambda m, x, *s: x.reshape(*s)),
    OpInfo(
        "reshape_transposed_copy", _transposed, fn=lambda m, x: m.reshape(x.transpose(0, 2), (-1,))
    ),
    OpInfo(
        "reshape_transposed_alias",
        _transposed,
        fn=lambda m, x: m.reshape(x.transpose(0, 2), (2, 2, 3, 2)),
    ),
    OpInfo("view", _reshape_method, method=True),
    OpInfo("view_transposed", _transposed, fn=lambda m, x: x.transpose(0, 2).view(4, 1, 3, 2)),
    OpInfo("view_as", _view_as, method=True),
    OpInfo("reshape_as", _view_as, method=True),
    OpInfo("flatten", _flatten),
    OpInfo("flatten_transposed", _transposed, fn=lambda m, x: x.transpose(0, 2).flatten(1)),
    OpInfo("ravel", _transposed, fn=lambda m, x: m.ravel(x.transpose(0, 2))),
    OpInfo("unflatten", _unflatten),
    OpInfo("squeeze", _squeeze),
    OpInfo("unsqueeze", _unsqueeze),
    OpInfo("transpose", _transpose),
    OpInfo("swapaxes", _transpose),
    OpInfo("swapdims", _transpose, method=True),
    OpInfo("permute", _permute),
    OpInfo("permute_method", _permute_method, fn=lambda m, x, *d: x.permute(*d)),
    OpInfo("t", _t),
    OpInfo("T", _t, fn=lambda m, x: x.T),
    OpInfo("mT", _transposed, fn=lambda m, x: x.mT),
    OpInfo("movedim", _movedim),
    OpInfo("moveaxis", _movedim, method=True),
    OpInfo("expand_as", _expand_as, method=True),
    OpInfo("broadcast_to", _broadcast_to),
    OpInfo("repeat", _repeat, method=True),
    # An empty output: torch's gradient of the gradient is not connected to the graph at all,
    # so torch.autograd.grad refuses the second differentiation.
    OpInfo("repeat", _repeat_zero, method=True, gradgrad=False),
    OpInfo("tile", _tile),
    OpInfo("meshgrid", _meshgrid),
    OpInfo("tile_method", _tile_method, fn=lambda m, x, *d: x.tile(*d)),
    OpInfo("flip", _flip),
    OpInfo("flip_method", _flip_method, fn=lambda m, x, *d: x.flip(*d)),
    OpInfo("fliplr", _transposed),
    OpInfo("flipud", _transposed, method=True),
    OpInfo("roll", _roll),
    OpInfo("cat", _cat),
    OpInfo("concat", _cat),
    OpInfo("concatenate", _cat),
    OpInfo("stack", _stack),
    OpInfo("hstack", _hstack),
    OpInfo("vstack", _vstack),
    OpInfo("split", _split),
    OpInfo("split_method", _split, fn=lambda m, x, *a: x.split(*a)),
    OpInfo("split_one_piece", _one_piece, fn=lambda m, x: m.split(x, [1, 2], 1)[1]),
    OpInfo("chunk", _chunk),
    OpInfo("chunk_one_piece", _one_piece, fn=lambda m, x: x.chunk(2, -1)[0]),
    OpInfo("unbind", _unbind),
    OpInfo("unbind_one_piece", _one_piece, fn=lambda m, x: m.unbind(x, 1)[2]),
    OpInfo("iter", _one_piece, fn=lambda m, x: list(x)),
    OpInfo("narrow", _narrow),
    OpInfo("select", _select),
    OpInfo("tril", _tril),
    OpInfo("triu", _tril),
    OpInfo("diag", _diag),
    OpInfo("diagonal", _diagonal),
    OpInfo("diag_embed", _diag_embed),
    OpInfo("slice_backward", _slice_backward_samples, fn=_slice_backward),
    OpInfo("diagonal_backward", _diagonal_backward_samples, fn=_diagonal_backward),
]
