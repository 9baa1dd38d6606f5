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
