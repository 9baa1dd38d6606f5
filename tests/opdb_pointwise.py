"""OpInfo entries for ember/ops/pointwise.py: arithmetic, unary math, selection, comparisons,
conversions and in-place forms.

Samples cover 0-d tensors, broadcasting in both directions, non-contiguous inputs, Python
scalars and each op's value domain. Kinks and ties (relu(0), abs(0), clamp at its bounds,
maximum ties, sqrt(0)) live in `*-kinks` entries with `fd=False`: finite differences straddle
the kink, so those samples only pin torch's subgradient conventions. Ops whose derivative is
zero everywhere (floor, sign, rounded division) have `gradgrad=False`: their first derivative
is a constant that records no graph, in torch as in ember, so there is nothing to differentiate.
"""

import numpy as np
from opinfo import OpInfo, Sample, noncontig, positive, rand


# ---- value domains ----
def unit(rng, *shape):
    """|x| < 0.9: inside the domain of asin/acos, away from their singular edges."""
    return rand(rng, *shape, low=-0.9, high=0.9)


def nonzero(rng, *shape):
    """|x| in [0.5, 2.5) with random signs: divisors, reciprocal, remainder."""
    return np.asarray(positive(rng, *shape) * rng.choice([-1.0, 1.0], size=shape))


def ints(rng, *shape):
    return rng.integers(-5, 6, size=shape)


# ---- sample generators ----
def unary(domain=rand, *extra):
    """0-d, 1-d, 2-d and non-contiguous inputs; `extra` are further positional args."""

    def samples(rng):
        return [
            Sample((domain(rng), *extra), name="0d"),
            Sample((domain(rng, 5), *extra), name="1d"),
            Sample((domain(rng, 2, 3), *extra), name="2d"),
            Sample((noncontig(domain(rng, 3, 4)), *extra), name="noncontig"),
        ]

    return samples


def binary(lhs=rand, rhs=rand, scalar=1.5, inplace=False, **kwargs):
    """Same shapes, broadcasting either way, 0-d either side, non-contiguous, and a Python
    scalar as `other` (unless `scalar` is None). `inplace`: only samples where input has the
    broadcast shape, as an in-place op writes into it."""

    def samples(rng):
        out = [
            Sample((lhs(rng, 3, 4), rhs(rng, 3, 4)), kwargs, name="same"),
            Sample((lhs(rng, 3, 4), rhs(rng, 4)), kwargs, name="bcast-other"),
            Sample((lhs(rng, 2, 3), rhs(rng)), kwargs, name="0d-other"),
            Sample(
                (noncontig(lhs(rng, 3, 4)), noncontig(rhs(rng, 3, 4))), kwargs, name="noncontig"
            ),
        ]
        if not inplace:
            out += [
                Sample((lhs(rng, 4), rhs(rng, 3, 4)), kwargs, name="bcast-input"),
                Sample((lhs(rng, 3, 1), rhs(rng, 1, 4)), kwargs, name="outer"),
                Sample((lhs(rng), rhs(rng, 2, 3)), kwargs, name="0d-input"),
            ]
        if scalar is not None:
            out.append(Sample((lhs(rng, 3, 4), scalar), kwargs, name="scalar"))
        return out

    return samples


def fixed(*args, **kwargs):
    """One sample of fixed float64 values (kinks, ties, domain edges)."""
    arrays = tuple(np.array(a, dtype=np.float64) if isinstance(a, list) else a for a in args)
    return lambda rng: [Sample(arrays, kwargs, name="fixed")]


def cases(*samples):
    return lambda rng: [s(rng) if callable(s) else s for s in samples]


# ---- entries ----
ZERO = [0.0, -0.0, 1.0, -1.0, 0.5]

ARITHMETIC = [
    OpInfo("add", binary()),
    OpInfo("add", binary(scalar=2, alpha=2), method=True),
    OpInfo("sub", binary(scalar=-3)),
    OpInfo("sub", binary(alpha=-0.5), method=True),
    OpInfo("subtract", binary()),
    OpInfo("rsub", binary(scalar=2.0)),
    OpInfo("rsub", binary(alpha=3)),
    OpInfo("mul", binary()),
    OpInfo("mul", binary(scalar=-2), method=True),
    OpInfo("multiply", binary()),
    OpInfo("div", binary(rhs=nonzero, scalar=-2.5)),
    OpInfo("div", binary(rhs=nonzero), method=True),
    OpInfo("divide", binary(rhs=nonzero)),
    OpInfo("true_divide", binary(rhs=nonzero)),
    # Rounded division: zero gradient (DivBackward2), nothing for double backward.
    OpInfo("div", binary(rhs=nonzero, rounding_mode="trunc"), gradgrad=False),
    OpInfo("div", binary(rhs=nonzero, rounding_mode="floor"), gradgrad=False),
    # floor_divide has no derivative in torch (grad_fn NotImplemented; backward raises).
    OpInfo("floor_divide", binary(rhs=nonzero, scalar=-1.5), grad=False),
    OpInfo("remainder", binary(rhs=nonzero, scalar=-1.5)),
    OpInfo("remainder", binary(rhs=nonzero), method=True),
    # remainder(number, tensor): torch has no derivative formula for it.
    OpInfo(
        "remainder-scalar-input", unary(nonzero), fn=lambda m, x: m.remainder(2.5, x), grad=False
    ),
    OpInfo("pow", binary(lhs=positive, scalar=2.5)),
    OpInfo("pow-scalar", unary(rand, 3), fn=lambda m, x, e: m.pow(x, e)),
    OpInfo("pow-negative", unary(positive, -1.5), fn=lambda m, x, e: m.pow(x, e)),
    OpInfo("pow-zero", unary(rand, 0), fn=lambda m, x, e: m.pow(x, e), gradgrad=False),
    OpInfo("pow-scalar-base", unary(rand), fn=lambda m, x: m.pow(2.5, x)),
    OpInfo("square", unary()),
    OpInfo("neg", unary()),
    OpInfo("negative", unary(), method=True),
    OpInfo("abs", unary(nonzero)),
    OpInfo("absolute", unary(nonzero)),
    OpInfo("sign", unary(nonzero), gradgrad=False),
    OpInfo("reciprocal", unary(nonzero)),
    # Python operators: each dunder in _tensor.py maps to one of these ops.
    OpInfo("x+y", binary(), fn=lambda m, x, y: x + y),
    OpInfo("2+x", unary(), fn=lambda m, x: 2 + x),
    OpInfo("x-y", binary(), fn=lambda m, x, y: x - y),
    OpInfo("2-x", unary(), fn=lambda m, x: 2 - x),
    OpInfo("x*y", binary(), fn=lambda m, x, y: x * y),
    OpInfo("x/y", binary(rhs=nonzero), fn=lambda m, x, y: x / y),
    OpInfo("2/x", unary(nonzero), fn=lambda m, x: 2 / x),
    OpInfo("x//y", binary(rhs=nonzero), fn=lambda m, x, y: x // y, grad=False),
    OpInfo("x%y", binary(rhs=nonzero), fn=lambda m, x, y: x % y),
    OpInfo("x**2", unary(), fn=lambda m, x: x**2),
    OpInfo("x**y", binary(lhs=positive), fn=lambda m, x, y: x**y),
    OpInfo("2**x", unary(), fn=lambda m, x: 2**x),
    OpInfo("-x", unary(), fn=lambda m, x: -x),
    OpInfo("abs(x)", unary(nonzero), fn=lambda m, x: abs(x)),
]

UNARY_MATH = [
    OpInfo("exp", unary()),
    OpInfo("log", unary(positive)),
    OpInfo("log1p", unary(positive)),
    OpInfo("expm1", unary()),
    OpInfo("log2", unary(positive)),
    OpInfo("log10", unary(positive)),
    OpInfo("sqrt", unary(positive)),
    OpInfo("rsqrt", unary(positive)),
    OpInfo("sin", unary()),
    OpInfo("cos", unary()),
    OpInfo("tan", unary(unit)),
    OpInfo("asin", unary(unit)),
    OpInfo("acos", unary(unit)),
    OpInfo("atan", unary()),
    OpInfo("arcsin", unary(unit)),
    OpInfo("arccos", unary(unit)),
    OpInfo("arctan", unary()),
    OpInfo("atan2", binary(scalar=None)),
    OpInfo("arctan2", binary(scalar=None)),
    OpInfo("sinh", unary()),
    OpInfo("cosh", unary()),
    OpInfo("tanh", unary()),
    OpInfo("sigmoid", unary()),
    OpInfo("sigmoid-large", fixed([-800.0, -40.0, 0.0, 40.0, 800.0]), fn=lambda m, x: m.sigmoid(x)),
    OpInfo("erf", unary()),
    OpInfo("erf-tails", fixed(list(np.linspace(-7, 7, 57))), fn=lambda m, x: m.erf(x)),
    OpInfo("relu", unary(nonzero)),
    # relu's backward as a function of its cotangent (torch: threshold_backward).
    OpInfo("relu-backward", unary(nonzero), fn=lambda m, x: _relu_backward(m, x)),
    # tanh's and sigmoid's backward (torch: tanh_backward, sigmoid_backward) in both inputs.
    OpInfo("tanh-backward", binary(scalar=None), fn=lambda m, g, x: _act_backward(m.tanh, m, g, x)),
    OpInfo(
        "sigmoid-backward",
        binary(scalar=None),
        fn=lambda m, g, x: _act_backward(m.sigmoid, m, g, x),
    ),
    OpInfo("floor", unary(), gradgrad=False),
    OpInfo("ceil", unary(), gradgrad=False),
    OpInfo("trunc", unary(), gradgrad=False),
    OpInfo("fix", unary(), gradgrad=False),
    OpInfo("round", unary(), gradgrad=False),
    OpInfo(
        "round-half-even",
        fixed([0.5, 1.5, 2.5, -0.5, -1.5]),
        fn=lambda m, x: m.round(x),
        fd=False,
        gradgrad=False,
    ),
    OpInfo("round-decimals", unary(), fn=lambda m, x: m.round(x, decimals=2), gradgrad=False),
    OpInfo(
        "round-decimals-neg",
        unary(),
        fn=lambda m, x: m.round(x * 1000, decimals=-2),
        gradgrad=False,
    ),
    OpInfo("frac", unary()),
    OpInfo("clone", unary()),
]

SELECTION = [
    OpInfo("clamp", unary(rand, -0.5, 0.5)),
    OpInfo("clamp-min", unary(), fn=lambda m, x: m.clamp(x, min=0.2)),
    OpInfo("clamp-max", unary(), fn=lambda m, x: x.clamp(max=-0.2)),
    OpInfo(
        "clamp-tensor",
        fn=lambda m, x, lo, hi: m.clamp(x, lo, hi),
        samples=lambda rng: [
            Sample((rand(rng, 3, 4), rand(rng, 4, low=-2, high=0), rand(rng, 3, 1, low=0, high=2))),
            Sample((rand(rng, 3, 4), rand(rng, 3, 4), rand(rng, 3, 4)), name="min>max-somewhere"),
            Sample(
                (rand(rng), rand(rng, 3, low=-2, high=0), rand(rng, 3, low=0, high=2)),
                name="0d-input",
            ),
        ],
    ),
    OpInfo("clamp-tensor-min", binary(scalar=None), fn=lambda m, x, lo: m.clamp(x, min=lo)),
    OpInfo("clamp-tensor-max", binary(scalar=None), fn=lambda m, x, hi: m.clamp(x, max=hi)),
    OpInfo("clip", unary(rand, -1, 0.5)),
    OpInfo("clamp_min", unary(rand, 0.3)),
    OpInfo("clamp_min", binary(scalar=None), method=True),
    OpInfo("clamp_max", unary(rand, -0.3)),
    OpInfo("clamp_max", binary(scalar=None), method=True),
    OpInfo("maximum", binary(scalar=None)),
    OpInfo("minimum", binary(scalar=None)),
    OpInfo(
        "where",
        lambda rng: [
            Sample((rand(rng, 3, 4) > 0, rand(rng, 3, 4), rand(rng, 3, 4)), name="same"),
            Sample((rand(rng, 3, 1) > 0, rand(rng, 4), rand(rng, 3, 4)), name="bcast"),
            Sample((rand(rng, 2, 3) > 0, rand(rng), rand(rng, 3)), name="0d"),
            Sample((rand(rng, 2, 3) > 0, rand(rng, 2, 3), 0.0), name="scalar-other"),
            Sample((rand(rng, 2, 3) > 0, -1.5, rand(rng, 2, 3)), name="scalar-input"),
            Sample(
                (noncontig(rand(rng, 3, 4) > 0), noncontig(rand(rng, 3, 4)), rand(rng, 4)),
                name="noncontig",
            ),
        ],
    ),
]

KINKS = [
    OpInfo("relu-kinks", fixed(ZERO), fn=lambda m, x: m.relu(x), fd=False),
    OpInfo("abs-kinks", fixed(ZERO), fn=lambda m, x: m.abs(x), fd=False),
    OpInfo("sign-kinks", fixed(ZERO), fn=lambda m, x: m.sign(x), fd=False, gradgrad=False),
    OpInfo("sqrt-kinks", fixed([0.0, 1.0, 4.0]), fn=lambda m, x: m.sqrt(x), fd=False),
    OpInfo("log-kinks", fixed([0.0, 1.0, 4.0]), fn=lambda m, x: m.log(x), fd=False),
    OpInfo(
        "clamp-kinks",
        fixed([-1.0, -0.5, 0.0, 0.5, 1.0]),
        fn=lambda m, x: m.clamp(x, -0.5, 0.5),
        fd=False,
    ),
    OpInfo(
        "clamp-tensor-kinks",
        fixed([-1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 1.0, 3.0], [1.0, 0.0, 1.0, 1.0]),
        fn=lambda m, x, lo, hi: m.clamp(x, lo, hi),
        fd=False,
    ),
    OpInfo(
        "maximum-ties",
        fixed([1.0, 2.0, -1.0, 0.0], [1.0, 1.0, -1.0, 0.0]),
        fn=lambda m, x, y: m.maximum(x, y),
        fd=False,
    ),
    OpInfo(
        "minimum-ties",
        fixed([1.0, 2.0, -1.0, 0.0], [1.0, 1.0, -1.0, 0.0]),
        fn=lambda m, x, y: m.minimum(x, y),
        fd=False,
    ),
    OpInfo(
        "atan2-origin",
        fixed([0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        fn=lambda m, x, y: m.atan2(x, y),
        fd=False,
    ),
    OpInfo(
        "pow-zero-base", fixed([0.0, 0.0, 2.0], [0.0, 2.0, 0.0]), fn=lambda m, x, y: x**y, fd=False
    ),
    OpInfo("pow-scalar-zero-base", fixed([0.0, 1.0, 2.5]), fn=lambda m, x: 0**x, fd=False),
    OpInfo(
        "remainder-signs",
        fixed([4.0, -4.0, 3.0, -3.0], [-2.0, 2.0, -2.0, 2.0]),
        fn=lambda m, x, y: m.remainder(x, y),
        fd=False,
    ),
]

PREDICATES = (
    [
        OpInfo(name, binary(), grad=False)
        for name in (
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "greater",
            "greater_equal",
            "less",
            "less_equal",
            "not_equal",
        )
    ]
    + [
        OpInfo(name, binary(scalar=None), grad=False)
        for name in ("logical_and", "logical_or", "logical_xor")
    ]
    + [OpInfo(name, unary(), grad=False) for name in ("logical_not", "isnan", "isinf", "isfinite")]
    + [
        OpInfo("x==y", binary(), fn=lambda m, x, y: x == y, grad=False),
        OpInfo("x<=2", unary(), fn=lambda m, x: x <= 2, grad=False),
        OpInfo(
            "isnan-edges",
            fixed([np.nan, np.inf, -np.inf, 0.0]),
            fn=lambda m, x: m.isnan(x) | m.isinf(x),
            grad=False,
        ),
        OpInfo(
            "isclose",
            binary(scalar=None),
            fn=lambda m, x, y: m.isclose(x, y, rtol=0.5, atol=0.1),
            grad=False,
        ),
        OpInfo(
            "isclose-nan",
            fixed([np.nan, np.inf, 1.0], [np.nan, np.inf, 1.0 + 1e-9]),
            fn=lambda m, x, y: m.isclose(x, y, equal_nan=True),
            grad=False,
        ),
        OpInfo(
            "equal",
            binary(scalar=None),
            fn=lambda m, x, y: m.tensor(m.equal(x, x + 0 * y)),
            grad=False,
        ),
        OpInfo(
            "allclose",
            binary(scalar=None),
            fn=lambda m, x, y: m.tensor(m.allclose(x, y, atol=3)),
            grad=False,
        ),
    ]
)

INTEGER = [
    OpInfo(
        name,
        lambda rng: [
            Sample((ints(rng, 3, 4), ints(rng, 4)), name="bcast"),
            Sample((ints(rng, 3, 4), 3), name="scalar"),
            Sample((ints(rng, 3, 4) > 0, ints(rng, 3, 4) > 1), name="bool"),
        ],
        grad=False,
    )
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "add", "mul", "eq")
] + [
    OpInfo(
        "bitwise_not",
        lambda rng: [Sample((ints(rng, 3, 4),)), Sample((ints(rng, 4) > 0,))],
        grad=False,
    ),
    OpInfo(
        "maximum-int",
        lambda rng: [Sample((ints(rng, 3, 4), ints(rng, 4) > 0))],
        fn=lambda m, x, y: (m.maximum(x, y), m.minimum(y, x)),
        grad=False,
    ),
    OpInfo(
        "int-division",
        lambda rng: [Sample((ints(rng, 3, 4), rng.choice([-3, -2, 2, 3], 4)))],
        fn=lambda m, x, y: (x / y, x // y, x % y, m.div(x, y, rounding_mode="trunc")),
        grad=False,
    ),
    OpInfo(
        "int-unary",
        lambda rng: [Sample((ints(rng, 3, 4),))],
        fn=lambda m, x: (
            m.exp(x),
            m.sqrt(x.abs()),
            m.floor(x),
            m.round(x),
            m.sign(x),
            m.relu(x),
            m.clamp(x, 0.5),
            m.clamp(x, -1, 2),
            x**2,
            2 ** x.abs(),
            m.sigmoid(x),
        ),
        grad=False,
    ),
    OpInfo(
        "int-pow-negative",
        fixed(np.array([-1, 1, 2, 0, -1]), np.array([-1, -1, -1, -1, -2])),
        fn=lambda m, x, y: x**y,
        grad=False,
    ),
    OpInfo(
        "real-imag",
        lambda rng: [Sample((rand(rng, 3) + 1j * rand(rng, 3),))],
        fn=lambda m, z: (m.real(z), m.imag(z)),
        grad=False,
        float32=False,
    ),
]

CONVERSIONS = [
    # A float32 round trip: central differences at eps=1e-6 only see float32 rounding.
    OpInfo("to-float32", unary(), fn=lambda m, x: x.to(m.float32).double(), rtol=1e-6, fd=False),
    OpInfo("to_dtype", unary(), fn=lambda m, x: x.float(), fd=False),
    OpInfo("to-int", unary(), fn=lambda m, x: (x * 3).to(m.int64), grad=False),
    OpInfo("real", unary(), fn=lambda m, x: x.real * 2),
    # The complex-number ops. On real inputs sgn is sign and angle 0 or pi; the rest build a
    # complex tensor from real ones and return a real part, so the real-dtype tests (vjp, finite
    # differences, double backward, jvp) run through complex intermediates. test_complex.py
    # reruns every entry on complex inputs.
    OpInfo("sgn", unary(nonzero), gradgrad=False),
    OpInfo("angle", unary(nonzero), gradgrad=False),
    OpInfo(
        "complex",
        binary(scalar=None),
        fn=lambda m, x, y: m.abs(m.complex(x, y) * m.complex(y, x + 1)),
    ),
    OpInfo(
        "conj",
        binary(scalar=None),
        fn=lambda m, x, y: m.real(m.conj(m.complex(x, y)).exp() * m.complex(y, 0.5 * x)),
    ),
    OpInfo(
        "conj_physical",
        binary(scalar=None),
        fn=lambda m, x, y: m.imag(m.conj_physical(m.complex(x, y)) ** 2),
    ),
    OpInfo(
        "polar",
        binary(positive, scalar=None),
        fn=lambda m, r, t: m.imag(m.polar(r, t) * m.complex(t, r)),
    ),
    OpInfo(
        "view_as_complex",
        lambda rng: [
            Sample((rand(rng, 3, 4),), name="2d"),
            Sample((noncontig(rand(rng, 4, 2)),), name="noncontig"),
            Sample((rand(rng, 2),), name="1d"),
        ],
        fn=lambda m, x: m.view_as_real(m.view_as_complex(x.reshape(-1, 2)) ** 2),
    ),
    OpInfo(
        "complex-sgn-angle",
        binary(nonzero, nonzero, scalar=None),
        fn=lambda m, x, y: m.angle(m.complex(x, y)) + m.real(m.sgn(m.complex(x, y)) * 1j),
    ),
    OpInfo("copy_", binary(scalar=None, inplace=True), fn=lambda m, x, y: (x * 1).copy_(y + 0 * x)),
    OpInfo(
        "copy_-broadcast",
        lambda rng: [Sample((rand(rng, 3, 4), rand(rng, 4)))],
        fn=lambda m, x, y: (x * 1).copy_(y),
    ),
    OpInfo("fill_", unary(), fn=lambda m, x: (x * 1).fill_(2.5), gradgrad=False),
    OpInfo(
        "fill_-tensor",
        lambda rng: [Sample((rand(rng, 3, 4), rand(rng)))],
        fn=lambda m, x, v: (x * 1).fill_(v),
        gradgrad=False,
    ),
    OpInfo("zero_", unary(), fn=lambda m, x: (x * 1).zero_(), gradgrad=False),
]


def _inplace(name, domain=rand, *extra, **kwargs):
    return OpInfo(
        f"{name}_",
        unary(domain, *extra),
        fn=lambda m, x, *a: getattr(x * 1, f"{name}_")(*a, **kwargs),
        gradgrad=name not in ("floor", "ceil", "trunc", "round", "sign"),
    )


INPLACE = (
    [
        _inplace(n)
        for n in (
            "exp",
            "neg",
            "negative",
            "expm1",
            "sin",
            "cos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "sigmoid",
            "erf",
            "frac",
            "square",
            "floor",
            "ceil",
            "trunc",
            "round",
        )
    ]
    + [_inplace(n, positive) for n in ("log", "log1p", "log2", "log10", "sqrt", "rsqrt")]
    + [_inplace(n, unit) for n in ("asin", "acos", "tan")]
    + [_inplace(n, nonzero) for n in ("abs", "reciprocal", "relu", "sign")]
    + [
        _inplace("add", rand, 2.5, alpha=2),
        _inplace("sub", rand, 1.5),
        _inplace("mul", rand, -2),
        _inplace("div", rand, 4),
        _inplace("pow", positive, 2.5),
        _inplace("clamp", rand, -0.5, 0.5),
        _inplace("clip", rand, -0.5),
        _inplace("clamp_min", rand, 0.1),
        _inplace("clamp_max", rand, 0.1),
        _inplace("remainder", rand, 0.7),
        OpInfo(
            "inplace-binary",
            binary(rhs=nonzero, scalar=None, inplace=True),
            fn=lambda m, x, y: (
                (x * 1).add_(y).mul_(y).div_(y).sub_(y, alpha=2).pow_(2).atan2_(y).remainder_(y)
            ),
        ),
        OpInfo(
            "inplace-clamp-tensor",
            binary(scalar=None, inplace=True),
            fn=lambda m, x, y: (x * 1).clamp_(y, y + 1),
        ),
        OpInfo(
            "floor_divide_",
            binary(rhs=nonzero, scalar=None, inplace=True),
            fn=lambda m, x, y: (x * 1).floor_divide_(y),
            grad=False,
        ),
        OpInfo(
            "div_-floor",
            binary(rhs=nonzero, scalar=None, inplace=True),
            fn=lambda m, x, y: (x * 1).div_(y, rounding_mode="floor"),
            gradgrad=False,
        ),
        OpInfo("x+=y", binary(scalar=None, inplace=True), fn=lambda m, x, y: _iadd(x * 1, y)),
    ]
)


def _relu_backward(m, g):
    """The gradient of relu at fixed points, as a function of the cotangent `g`."""
    x = m.from_numpy(np.linspace(-1, 1, g.numel()).reshape(tuple(g.shape))).requires_grad_()
    with m.enable_grad():
        return m.autograd.grad(m.relu(x), x, g, create_graph=g.requires_grad)[0]


def _act_backward(f, m, g, x):
    """The gradient of activation f at x, as a function of the cotangent g and of x."""
    g, x = m.broadcast_tensors(g, x)
    graph = g.requires_grad or x.requires_grad
    with m.enable_grad():
        x0 = x if x.requires_grad else x.detach().requires_grad_()
        return m.autograd.grad(f(x0), x0, g, create_graph=graph)[0]


def _iadd(x, y):
    x += y
    x -= y / 2
    x *= y
    x /= 2
    return x


OPS = ARITHMETIC + UNARY_MATH + SELECTION + KINKS + PREDICATES + INTEGER + CONVERSIONS + INPLACE
