"""OpInfo entries for ember/ops/conv.py: convolutions, pooling, unfold/fold.

Samples cover stride/padding/dilation/groups, 'same'/'valid', no bias, unbatched input,
non-square kernels, ceil_mode and return_indices, at sizes that keep each case to a few ms.
The `*_grad` entries call autograd.grad(create_graph=True) as their forward: they exercise the
backward ops (conv's weight gradient, the pools' adjoints) as ops in their own right, so their
derivatives (torch's double and triple backward) are checked too; torch names those nodes
differently (e.g. ConvolutionBackwardBackward0), so their grad_fn names are not compared.
"""

import numpy as np
from opinfo import OpInfo, Sample, noncontig, rand


def _f(name: str):
    return lambda m, *args, **kwargs: getattr(m.nn.functional, name)(*args, **kwargs)


def _grad_of(name: str, **params):
    """The input (and weight) gradients of F.<name>(*inputs, **params) for cotangent g."""

    def fn(m, *args):
        *inputs, g = args
        graph = any(t.requires_grad for t in args)  # else: a plain backward, no graph kept
        inputs = [t if t.requires_grad else t.detach().requires_grad_() for t in inputs]
        with m.enable_grad():  # also under the finite-difference check's no_grad
            out = getattr(m.nn.functional, name)(*inputs, **params)
            return m.autograd.grad(out, inputs, g, create_graph=graph)

    return fn


def _conv1d(rng):
    return [
        Sample((rand(rng, 2, 3, 7), rand(rng, 4, 3, 3), rand(rng, 4)), name="basic"),
        Sample(
            (rand(rng, 2, 4, 9), rand(rng, 6, 2, 2), None),
            {"stride": 2, "padding": 1, "dilation": 2, "groups": 2},
            name="strided-groups",
        ),  # fmt: skip
        Sample((rand(rng, 3, 6), rand(rng, 2, 3, 2)), {"padding": "same"}, name="unbatched-same"),
    ]


def _conv2d(rng):
    return [
        Sample((rand(rng, 2, 3, 5, 4), rand(rng, 4, 3, 3, 2), rand(rng, 4)), name="basic"),
        Sample(
            (rand(rng, 2, 3, 6, 7), rand(rng, 2, 3, 3, 3)),
            {"stride": 2, "padding": 1},
            name="stride-pad-nobias",
        ),  # fmt: skip
        Sample(
            (rand(rng, 1, 2, 7, 6), rand(rng, 3, 2, 2, 3), rand(rng, 3)),
            {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1)},
            name="pairs",
        ),  # fmt: skip
        Sample(
            (rand(rng, 2, 4, 5, 5), rand(rng, 6, 2, 3, 3), rand(rng, 6)),
            {"groups": 2},
            name="groups",
        ),  # fmt: skip
        Sample((rand(rng, 2, 3, 4, 4), rand(rng, 3, 1, 2, 2)), {"groups": 3}, name="depthwise"),
        Sample(
            (rand(rng, 1, 2, 5, 6), rand(rng, 2, 2, 2, 3), rand(rng, 2)),
            {"padding": "same"},
            name="same-even",
        ),  # fmt: skip
        Sample(
            (rand(rng, 1, 2, 6, 6), rand(rng, 2, 2, 3, 3)),
            {"padding": "same", "dilation": 2},
            name="same-dilated",
        ),  # fmt: skip
        Sample((rand(rng, 1, 2, 4, 4), rand(rng, 2, 2, 3, 3)), {"padding": "valid"}, name="valid"),
        Sample((rand(rng, 3, 5, 4), rand(rng, 2, 3, 2, 2), rand(rng, 2)), name="unbatched"),
        Sample((noncontig(rand(rng, 2, 2, 4, 5)), rand(rng, 3, 2, 1, 1)), name="noncontig-1x1"),
    ]


def _conv_transpose2d(rng):
    return [
        Sample((rand(rng, 2, 3, 4, 3), rand(rng, 3, 2, 3, 2), rand(rng, 2)), name="basic"),
        Sample(
            (rand(rng, 1, 2, 3, 4), rand(rng, 2, 3, 3, 3)),
            {"stride": 2, "padding": 1, "output_padding": 1},
            name="stride-outpad",
        ),  # fmt: skip
        Sample(
            (rand(rng, 2, 4, 3, 3), rand(rng, 4, 1, 2, 3), rand(rng, 2)),
            {"groups": 2, "stride": (1, 2), "dilation": (2, 1)},
            name="groups-dilation",
        ),  # fmt: skip
        Sample(
            (rand(rng, 1, 2, 3, 3), rand(rng, 2, 2, 2, 2)),
            {"dilation": 2, "output_padding": 1},
            name="outpad-by-dilation",
        ),  # fmt: skip
        Sample((rand(rng, 2, 3, 3), rand(rng, 2, 2, 2, 2)), name="unbatched"),
    ]


def _conv_grad(rng):
    return [
        Sample((rand(rng, 2, 4, 5, 4), rand(rng, 6, 2, 3, 2), rand(rng, 2, 6, 3, 4)), name="g"),
    ]


def _max_pool2d(rng):
    return [
        Sample((rand(rng, 2, 3, 4, 6), 2), name="k2"),
        Sample((rand(rng, 1, 2, 7, 6), 3), {"stride": 2, "padding": 1}, name="k3s2p1"),
        Sample(
            (rand(rng, 1, 2, 6, 7), (2, 3)),
            {"stride": (1, 2), "dilation": (2, 1)},
            name="pairs-dilation",
        ),  # fmt: skip
        Sample((rand(rng, 1, 2, 7, 7), 2), {"ceil_mode": True, "padding": 1}, name="ceil"),
        Sample(
            (rand(rng, 2, 5, 5), 3), {"stride": 2, "return_indices": True}, name="unbatched-indices"
        ),  # fmt: skip
        Sample((noncontig(rand(rng, 1, 2, 4, 4)), 2, 1), name="noncontig-overlap"),
    ]


def _avg_pool2d(rng):
    return [
        Sample((rand(rng, 2, 3, 4, 6), 2), name="k2"),
        Sample((rand(rng, 1, 2, 7, 6), 3), {"stride": 2, "padding": 1}, name="k3s2p1"),
        Sample(
            (rand(rng, 1, 2, 7, 6), 3),
            {"stride": 2, "padding": 1, "count_include_pad": False},
            name="exclude-pad",
        ),  # fmt: skip
        Sample(
            (rand(rng, 1, 2, 7, 7), (2, 3)),
            {"ceil_mode": True, "padding": 1, "stride": 2},
            name="ceil-pairs",
        ),  # fmt: skip
        Sample(
            (rand(rng, 1, 2, 7, 7), 2),
            {"ceil_mode": True, "count_include_pad": False},
            name="ceil-exclude",
        ),  # fmt: skip
        Sample(
            (rand(rng, 2, 5, 5), 2), {"stride": 1, "divisor_override": 3}, name="unbatched-divisor"
        ),  # fmt: skip
    ]


def _adaptive2d(rng):
    return [
        Sample((rand(rng, 2, 3, 5, 7), (3, 4)), name="uneven"),
        Sample((rand(rng, 1, 2, 6, 4), (None, 3)), name="none"),
        Sample((rand(rng, 2, 3, 5), 2), name="unbatched"),
        Sample((rand(rng, 1, 2, 3, 4), 1), name="global"),
        Sample((rand(rng, 1, 2, 4, 6), (8, 3)), name="upsample"),
    ]


def _adaptive_max2d(rng):
    return _adaptive2d(rng) + [
        Sample((rand(rng, 1, 2, 5, 7), (2, 3), True), name="indices"),
    ]


def _pool1d(rng):
    return [
        Sample((rand(rng, 2, 3, 7), 2), name="k2"),
        Sample(
            (rand(rng, 3, 8), 3),
            {"stride": 2, "padding": 1, "ceil_mode": True},
            name="unbatched-ceil",
        ),  # fmt: skip
    ]


def _max_pool1d(rng):
    return _pool1d(rng) + [
        Sample((rand(rng, 1, 2, 9), 3), {"dilation": 2, "return_indices": True}, name="indices"),
    ]


def _adaptive_avg_pool1d(rng):
    return [
        Sample((rand(rng, 2, 3, 7), 3), name="uneven"),
        Sample((rand(rng, 3, 5), 1), name="unbatched-global"),
    ]


def _unfold(rng):
    return [
        Sample((rand(rng, 2, 3, 4, 5), 2), name="k2"),
        Sample(
            (rand(rng, 1, 2, 5, 6), (2, 3)),
            {"dilation": (1, 2), "padding": 1, "stride": 2},
            name="params",
        ),  # fmt: skip
        Sample((rand(rng, 2, 4, 4), 3), {"padding": 1}, name="unbatched"),
    ]


def _fold(rng):
    return [
        Sample((rand(rng, 2, 12, 12), (4, 5), 2), name="k2"),
        Sample(
            (rand(rng, 1, 12, 6), (5, 6), (2, 3)),
            {"dilation": (1, 2), "padding": 1, "stride": 2},
            name="params",
        ),  # fmt: skip
        Sample((rand(rng, 8, 9), (4, 4), 2), {"padding": 1, "stride": 2}, name="unbatched"),
    ]


def _pool_grad(shape: tuple, out_shape: tuple):
    def samples(rng):
        return [Sample((rand(rng, *shape), rand(rng, *out_shape)), name="g")]

    return samples


def _tied_max(rng):
    """Ties and NaN: the first maximum of a window wins, NaN beats numbers (torch only)."""
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, np.nan, 2.0], [2.0, 2.0, 2.0]]]])
    many = rng.integers(-1, 2, size=(2, 3, 6, 8)).astype(np.float64)  # (relu-like: ties at 0)
    low = many.copy()
    low[0, 0, :3, :3] = -np.inf  # (a window of -inf, with and without padding)
    return [
        Sample((x, 2, 1), name="ties-nan"),
        Sample((x, 2, 1), {"return_indices": True}, name="ties-nan-indices"),
        Sample((many, 2), {"return_indices": True}, name="many-ties-indices"),
        Sample((many, 3), {"stride": 1, "return_indices": True}, name="overlapping-ties"),
        Sample((low, 2), {"return_indices": True}, name="minus-inf"),
        Sample((low, 3), {"stride": 2, "padding": 1, "return_indices": True}, name="minus-inf-pad"),
    ]


OPS = [
    OpInfo("conv1d", _conv1d, fn=_f("conv1d")),
    OpInfo("conv2d", _conv2d, fn=_f("conv2d")),
    OpInfo("conv_transpose2d", _conv_transpose2d, fn=_f("conv_transpose2d")),
    OpInfo(
        "conv2d_grad",
        _conv_grad,
        fn=_grad_of("conv2d", stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
        grad_fn_name=False,
    ),
    OpInfo("max_pool2d", _max_pool2d, fn=_f("max_pool2d")),
    OpInfo("max_pool2d_ties", _tied_max, fn=_f("max_pool2d"), fd=False),
    OpInfo(
        "max_pool2d_grad",
        _pool_grad((1, 2, 5, 5), (1, 2, 5, 5)),
        fn=_grad_of("max_pool2d", kernel_size=3, stride=1, padding=1),
        grad_fn_name=False,
    ),
    OpInfo("max_pool1d", _max_pool1d, fn=_f("max_pool1d")),
    OpInfo("avg_pool2d", _avg_pool2d, fn=_f("avg_pool2d")),
    OpInfo(
        "avg_pool2d_grad",
        _pool_grad((1, 2, 6, 5), (1, 2, 4, 3)),
        fn=_grad_of("avg_pool2d", kernel_size=3, stride=2, padding=1, ceil_mode=True),
        grad_fn_name=False,
    ),
    OpInfo("avg_pool1d", _pool1d, fn=_f("avg_pool1d")),
    OpInfo("adaptive_avg_pool2d", _adaptive2d, fn=_f("adaptive_avg_pool2d")),
    OpInfo(
        "adaptive_avg_pool2d_grad",
        _pool_grad((1, 2, 5, 7), (1, 2, 3, 4)),
        fn=_grad_of("adaptive_avg_pool2d", output_size=(3, 4)),
        grad_fn_name=False,
    ),
    OpInfo("adaptive_avg_pool1d", _adaptive_avg_pool1d, fn=_f("adaptive_avg_pool1d")),
    OpInfo("adaptive_max_pool2d", _adaptive_max2d, fn=_f("adaptive_max_pool2d")),
    OpInfo("unfold", _unfold, fn=_f("unfold")),
    OpInfo("fold", _fold, fn=_f("fold")),
]
