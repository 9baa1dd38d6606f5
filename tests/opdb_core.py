"""OpInfo entries for the ops the registry itself relies on (sum_to_size, expand)."""

from opinfo import OpInfo, Sample, noncontig, rand


def _sum_to_size(rng):
    return [
        Sample((rand(rng, 2, 3, 4), (3, 1)), name="lead-and-inner"),
        Sample((noncontig(rand(rng, 3, 4)), (1, 4)), name="noncontig"),
        Sample((rand(rng, 5), ()), name="to-scalar"),
    ]


def _expand(rng):
    return [
        Sample((rand(rng, 3, 1), 2, 3, 4), name="varargs"),
        Sample((rand(rng), (2, 2)), name="0d"),
        Sample((noncontig(rand(rng, 1, 4)), (3, -1)), name="minus-one"),
    ]


OPS = [
    # torch records sum_to_size as a sum followed by a view (ViewBackward0) when it drops
    # leading dims; ember records one node, SumBackward1.
    OpInfo("sum_to_size", _sum_to_size, method=True, grad_fn_name=False),
    OpInfo("expand", _expand, method=True),
]


def _as_strided(rng):
    return [
        Sample((rand(rng, 6), (2, 2), (1, 2), 1), name="overlapping-window"),
        Sample((rand(rng, 3, 4), (2, 3), (4, 1)), name="sub-block"),
        Sample((rand(rng, 3, 4), (4, 3), (1, 4)), name="transpose"),
    ]


def _as_strided_scatter(rng):
    return [
        Sample((rand(rng, 3, 4), rand(rng, 2, 3), (2, 3), (4, 1), 1), name="sub-block"),
        Sample((rand(rng, 6), rand(rng, 3), (3,), (2,)), name="every-other"),
    ]


def _mul_into_view(m, x, y):
    """An in-place op on a view of a graph tensor: the base is rebased onto CopySlices."""
    base = x * 1
    base[1:, ::2].mul_(y)
    return base


def _view_inplace(rng):
    return [Sample((rand(rng, 3, 4), rand(rng, 2, 2)), name="strided-view")]


OPS += [
    OpInfo("as_strided", _as_strided),
    # torch 2.13 gives as_strided_scatter's input the window of the cotangent instead of its
    # complement (torch.autograd.gradcheck fails on it); ember is checked by finite differences.
    OpInfo("as_strided_scatter", _as_strided_scatter, torch_grad=False),
    OpInfo("inplace_on_view", _view_inplace, fn=_mul_into_view),
]
