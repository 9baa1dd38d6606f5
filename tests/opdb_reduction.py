"""OpInfo entries for ember/ops/reduction.py: every dim form (negative, keepdim, tuples), 0-d,
1-d, 3-d and non-contiguous inputs. Ties and kinks (max/min/amax ties, norms at the zero vector)
are separate entries with `fd=False`: there the derivative does not exist and only torch's
convention is checked. Products with zeros stay under finite differences: they are smooth.
"""

import numpy as np
from opinfo import OpInfo, Sample, noncontig, positive, rand


def _forms(rng, tuples=True):
    """Full reductions of every rank, then every dim (negative too) with and without keepdim."""
    x = rand(rng, 2, 3, 4)
    out = [
        Sample((rand(rng),), name="0d"),
        Sample((rand(rng, 5),), name="1d"),
        Sample((x,), name="3d"),
        Sample((noncontig(rand(rng, 3, 4)),), name="noncontig"),
        Sample((rand(rng), 0), name="0d-dim0"),
        Sample((rand(rng), -1), {"keepdim": True}, name="0d-dim-1-keep"),
        Sample((rand(rng, 5), 0), name="1d-dim0"),
        Sample((noncontig(rand(rng, 3, 4)), 1), {"keepdim": True}, name="noncontig-dim1-keep"),
    ]
    for d in (0, 1, 2, -1, -3):
        for keep in (False, True):
            out.append(Sample((x, d), {"keepdim": keep}, name=f"dim{d}-keep{int(keep)}"))
    if tuples:
        out += [
            Sample((x, (0, 2)), name="dims02"),
            Sample((x, (-1, 0)), {"keepdim": True}, name="dims-1,0-keep"),
            Sample((x, [1]), name="dims-list"),
            Sample((x, (0, 1, 2)), name="dims-all"),
            Sample((x,), {"dim": None, "keepdim": True}, name="dim-None-keep"),
        ]
    return out


def _dim_forms(rng):
    """Ops that need a dim (max/min with dim, cumsum, softmax): every dim, 0-d, non-contiguous."""
    x = rand(rng, 2, 3, 4)
    out = [Sample((x, d), name=f"dim{d}") for d in (0, 1, 2, -1, -3)]
    return out + [
        Sample((rand(rng), 0), name="0d"),
        Sample((rand(rng, 5), -1), name="1d"),
        Sample((noncontig(rand(rng, 3, 4)), 1), name="noncontig"),
    ]


def _max_dim(rng):
    x = rand(rng, 2, 3, 4)
    keep = [Sample((x, d, True), name=f"dim{d}-keep") for d in (0, -1)]
    return _dim_forms(rng) + keep + [Sample((x,), {"dim": 1, "keepdim": True}, name="kwargs")]


def _full(rng):
    return [
        Sample((rand(rng),), name="0d"),
        Sample((rand(rng, 5),), name="1d"),
        Sample((rand(rng, 2, 3, 4),), name="3d"),
        Sample((noncontig(rand(rng, 3, 4)),), name="noncontig"),
    ]


def _ties(rng):
    x = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [-4.0, 5.0, -4.0, 5.0]])
    return [
        Sample((x,), name="full"),
        Sample((np.full((2, 3), 1.5),), name="all-equal"),
        Sample((x, 1), name="dim1"),
        Sample((x, 0), {"keepdim": True}, name="dim0-keep"),
    ]


def _prod_zeros(rng):
    one, two = rand(rng, 3, 4), rand(rng, 3, 4)
    one[1, 2] = 0.0
    two[0, 1] = two[2, 1] = two[0, 3] = 0.0
    return [
        Sample((one,), name="full-one-zero"),
        Sample((two,), name="full-zeros"),
        Sample((one, 1), name="dim1-one-zero"),
        Sample((two, 0), {"keepdim": True}, name="dim0-zeros"),
        Sample((two, -1), name="dim-1-zeros"),
        Sample((np.zeros(()),), name="0d-zero"),
    ]


def _norm(rng):
    x = rand(rng, 2, 3, 4)
    # norm's second positional argument is p: pass the dim forms by keyword.
    dims = [dict(zip(["dim"], s.args[1:]), **s.kwargs) for s in _forms(rng)]
    out = [Sample(s.args[:1], k, name=s.name) for s, k in zip(_forms(rng), dims)]
    out[-2].args += (2,)  # torch.norm(p='fro') over three dims raises: ask for p=2
    for p in (1, 2, 3, 1.5, 0.5, -1, float("inf"), float("-inf"), "fro"):
        out.append(Sample((x, p), name=f"p{p}"))
        out.append(Sample((x, p, 1, True), name=f"p{p}-dim1-keep"))
    return out + [
        Sample((x,), {"p": 3, "dim": (0, 2)}, name="p3-dims"),
        Sample((x, "fro", (0, 1)), name="fro-dims"),
        Sample((noncontig(rand(rng, 3, 4)), float("inf"), -1), name="inf-noncontig"),
    ]


def _norm_at_zero(rng):
    x = rand(rng, 3, 4)
    x[1] = 0.0
    x[2, 1] = 0.0
    return [
        Sample((x, p, 1), name=f"p{p}-zero-row")
        for p in (2, 1, 3, 1.5, 0.5, float("inf"), float("-inf"))
    ] + [
        Sample((np.zeros(4),), name="zero-vector"),
        Sample((np.zeros((2, 2)), 3), name="zero-p3"),
        Sample((np.array([2.0, -2.0, 1.0]), float("inf")), name="inf-abs-tie"),
    ]


def _var(rng):
    x = rand(rng, 2, 3, 4)
    return [s for s in _forms(rng) if s.args[0].ndim] + [
        Sample((x, 1, False), name="dim-unbiased-False"),
        Sample((x, False), name="unbiased-False"),
        Sample((x, 1, True, True), name="dim-unbiased-keepdim"),
        Sample((x,), {"dim": (0, 2), "correction": 0}, name="correction0"),
        Sample((x,), {"dim": -1, "correction": 2, "keepdim": True}, name="correction2"),
        Sample((x,), {"correction": 0.5}, name="correction-half"),
        Sample((x,), {"unbiased": False}, name="unbiased-kw"),
    ]


def _var_degenerate(rng):
    """n - correction <= 0: torch returns nan or inf (and warns); the derivative does not exist."""
    x = rand(rng, 2, 3)
    return [
        Sample((rand(rng),), name="0d"),
        Sample((rand(rng, 1),), name="one-element"),
        Sample((x, 1), {"correction": 3}, name="correction-n"),
        Sample((x, 0), {"correction": 5}, name="correction-above-n"),
    ]


def _moments_pair(rng):
    x = rand(rng, 2, 3, 4)
    return [
        Sample((x,), name="full"),
        Sample((rand(rng, 5), 0), name="1d"),
        Sample((x, 1), name="dim1"),
        Sample((x, (0, 2), True, True), name="dims-unbiased-keep"),
        Sample((x, False), name="unbiased-False"),
        Sample((x,), {"dim": -1, "correction": 0}, name="correction0"),
        Sample((noncontig(rand(rng, 3, 4)), 0), name="noncontig"),
    ]


def _logsumexp(rng):
    x = rand(rng, 2, 3, 4)
    out = [s for s in _forms(rng) if len(s.args) > 1]  # dim is required
    return out + [
        Sample((1000 * x, 1), name="large"),
        Sample((-1000 * x, (0, 2)), name="large-negative"),
    ]


def _softmax(rng):
    return _dim_forms(rng) + [
        Sample((500 * rand(rng, 3, 4), 1), name="large"),
        Sample((rand(rng, 40, 10), 1), name="batch"),  # (a batch's short rows: reduced as columns)
        Sample((rand(rng, 2, 3),), {"dim": 0}, name="kwarg"),
    ]


def _cum(rng):
    return _dim_forms(rng) + [Sample((rand(rng, 3, 4),), {"dim": 0}, name="kwarg")]


def _cumprod_zeros(rng):
    x = rand(rng, 3, 5)
    x[0, 1] = x[1, 1] = x[1, 3] = 0.0
    x[2, 0] = x[2, 2] = x[2, 4] = 0.0
    return [
        Sample((x, 1), name="dim1"),
        Sample((x, 0), name="dim0"),
        Sample((np.array([0.0, 2.0, 3.0]), 0), name="leading-zero"),
    ]


def _logical(rng):
    x = rand(rng, 2, 3, 4)
    x[0, 1] = 0.0
    b = rng.random((2, 3)) < 0.5
    return [
        Sample((x,), name="full"),
        Sample((x, 1), name="dim1"),
        Sample((x, -1, True), name="dim-1-keep"),
        Sample((x, (0, 2)), name="dims"),
        Sample((x, ()), name="dims-empty"),
        Sample((b, 0), name="bool"),
        Sample((b,), name="bool-full"),
        Sample((np.zeros(()),), name="0d"),
        Sample((np.array([[0, 3], [1, 2]], dtype=np.uint8), 1), name="uint8"),
    ]


def _arg(rng):
    x = rand(rng, 2, 3, 4)
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    return [
        Sample((x,), name="flat"),
        Sample((x,), {"keepdim": True}, name="flat-keep"),
        Sample((x, 1), name="dim1"),
        Sample((x, -1, True), name="dim-1-keep"),
        Sample((rand(rng), 0), name="0d"),
        Sample((ties, 1), name="ties"),
        Sample((noncontig(rand(rng, 3, 4)), 0), name="noncontig"),
    ]


def _binary(rng):
    return [
        Sample((rand(rng, 3, 4), rand(rng, 4)), name="broadcast"),
        Sample((rand(rng, 2, 3), rand(rng)), name="0d-other"),
    ]


def _positive_forms(rng):
    return [
        Sample((positive(rng, 2, 3, 4),) + s.args[1:], s.kwargs, name=s.name)
        for s in _forms(rng, False)
    ]


OPS = [
    OpInfo("sum", _forms),
    OpInfo("sum", _forms, method=True),
    # A float32 result is too coarse for float64 finite differences.
    OpInfo(
        "sum_dtype", _forms, fn=lambda m, x, *a, **k: m.sum(x, *a, dtype=m.float32, **k), fd=False
    ),
    OpInfo("mean", _forms),
    OpInfo("mean", _forms, method=True),
    OpInfo("prod", lambda rng: _forms(rng, tuples=False)),
    OpInfo("prod", _positive_forms, method=True),
    OpInfo("prod_zeros", _prod_zeros, fn=lambda m, *a, **k: m.prod(*a, **k)),
    OpInfo("max", _full),
    OpInfo("max", _max_dim),
    OpInfo("max", _max_dim, method=True),
    OpInfo("min", _full),
    OpInfo("min", _max_dim, method=True),
    OpInfo("max_binary", _binary, fn=lambda m, x, y: m.max(x, y)),
    OpInfo("min_binary", _binary, fn=lambda m, x, y: m.min(x, y)),
    OpInfo("max_ties", _ties, fn=lambda m, *a, **k: m.max(*a, **k), fd=False),
    OpInfo("min_ties", _ties, fn=lambda m, *a, **k: m.min(*a, **k), fd=False),
    OpInfo("amax", _forms),
    OpInfo("amin", _forms, method=True),
    OpInfo("amax_ties", _ties, fn=lambda m, *a, **k: m.amax(*a, **k), fd=False),
    OpInfo("amin_ties", _ties, fn=lambda m, *a, **k: m.amin(*a, **k), fd=False),
    OpInfo("argmax", _arg, grad=False),
    OpInfo("argmin", _arg, grad=False, method=True),
    OpInfo("norm", _norm),
    OpInfo("norm", _norm, method=True),
    # ord 0 counts nonzeros: torch gives no gradient (None), so nothing to differentiate again.
    OpInfo(
        "norm_p0",
        lambda rng: [
            Sample((rand(rng, 3, 4), 0), name="full"),
            Sample((rand(rng, 3, 4), 0, 1), name="dim1"),
        ],
        fn=lambda m, *a, **k: m.norm(*a, **k),
        gradgrad=False,
    ),
    OpInfo("norm_at_zero", _norm_at_zero, fn=lambda m, *a, **k: m.norm(*a, **k), fd=False),
    OpInfo("var", _var),
    OpInfo("var", _var, method=True),
    OpInfo("std", _var),
    OpInfo("std", _var, method=True),
    OpInfo("var_degenerate", _var_degenerate, fn=lambda m, *a, **k: m.var(*a, **k), fd=False),
    OpInfo("std_degenerate", _var_degenerate, fn=lambda m, *a, **k: m.std(*a, **k), fd=False),
    OpInfo("var_mean", _moments_pair),
    OpInfo("std_mean", _moments_pair),
    OpInfo("logsumexp", _logsumexp),
    OpInfo("logsumexp", _logsumexp, method=True),
    OpInfo("softmax", _softmax),
    OpInfo("softmax", _softmax, method=True),
    OpInfo(
        "softmax_dtype", _softmax, fn=lambda m, x, *a, **k: m.softmax(x, *a, dtype=m.float64, **k)
    ),
    OpInfo("log_softmax", _softmax),
    OpInfo("log_softmax", _softmax, method=True),
    OpInfo("cumsum", _cum),
    OpInfo("cumsum", _cum, method=True),
    OpInfo("cumprod", _cum),
    OpInfo("cumprod", _cum, method=True),
    OpInfo("cumprod_zeros", _cumprod_zeros, fn=lambda m, x, d: m.cumprod(x, d)),
    OpInfo("all", _logical, grad=False),
    OpInfo("any", _logical, grad=False, method=True),
]
