"""OpInfo entries for ember/ops/nn_ops.py (`nn.functional`): every op, every reduction, class
weights, ignore_index, label smoothing, soft targets, training and evaluation batch norm.

Conventions: class indices and class weights are constants (`no_grad`, as torch does not
differentiate them); kinks (relu6/hardtanh bounds, threshold, smooth_l1 at beta) are separate
entries with `fd=False`. Dropout is random, so its entries return `d * (1 - p) + x * (d == 0)`
with `d = dropout(x)`: that equals x (and its gradient is 1) for every mask exactly when the
kept elements are scaled by 1 / (1 - p) and the dropped ones are zero, whatever the draw; the
gradient still flows through the mask. The backward ops of linear losses (nll_loss) are checked
as functions of the cotangent, as relu's is in opdb_pointwise.py.
"""

import numpy as np
from opinfo import OpInfo, Sample, noncontig, positive, rand


def F(m):
    """torch.nn.functional or ember.nn.functional."""
    return m.nn.functional


def nn(name, samples, attr=None, **kw):
    """An entry calling `F.<attr or name>(*args, **kwargs)`."""
    attr = attr or name.split("-")[0]
    return OpInfo(name, samples, fn=lambda m, *a, **k: getattr(F(m), attr)(*a, **k), **kw)


def _unary(domain=rand, **kwargs):
    def samples(rng):
        return [
            Sample((domain(rng),), kwargs, name="0d"),
            Sample((domain(rng, 5),), kwargs, name="1d"),
            Sample((domain(rng, 2, 3, 4),), kwargs, name="3d"),
            Sample((noncontig(domain(rng, 3, 4)),), kwargs, name="noncontig"),
        ]

    return samples


def _away_from(*kinks, low=-3.0, high=3.0):
    """Samples at least 0.1 away from each kink, so finite differences do not cross one."""

    def domain(rng, *shape):
        x = rng.uniform(low, high, size=shape)
        for k in kinks:
            x = np.where(np.abs(x - k) < 0.1, k + 0.2 * np.sign(x - k + 1e-9), x)
        return x

    return domain


def _kinks(values, **kwargs):
    return lambda rng: [Sample((np.array(values, dtype=np.float64),), kwargs, name="kinks")]


def _extremes(values, **kwargs):
    return lambda rng: [Sample((np.array(values, dtype=np.float64),), kwargs, name="extremes")]


# ---- linear --------------------------------------------------------------------------------
def _linear(rng):
    w, b = rand(rng, 2, 3), rand(rng, 2)
    return [
        Sample((rand(rng, 4, 3), w, b), name="2d-bias"),
        Sample((rand(rng, 4, 3), w), name="2d"),
        Sample((rand(rng, 2, 4, 3), w, b), name="3d-bias"),
        Sample((rand(rng, 2, 4, 3), w), name="3d"),
        Sample((rand(rng, 3), w, b), name="1d-bias"),
        Sample((rand(rng, 3), w), name="1d"),
        Sample((noncontig(rand(rng, 4, 3)), noncontig(w), b), name="noncontig"),
        Sample((rand(rng, 4, 3), rand(rng, 3)), name="vector-weight"),
    ]


def _bilinear(rng):
    w = rand(rng, 2, 3, 4)
    return [
        Sample((rand(rng, 5, 3), rand(rng, 5, 4), w, rand(rng, 2)), name="bias"),
        Sample((rand(rng, 2, 5, 3), rand(rng, 2, 5, 4), w), name="3d"),
    ]


# ---- normalisation -------------------------------------------------------------------------
def _batch_norm_train(m, x, rm, rv, *args, **kwargs):
    """The output and the updated running statistics (copies, so samples stay unchanged)."""
    rm, rv = rm.clone(), rv.clone()
    out = F(m).batch_norm(x, rm, rv, *args, training=True, **kwargs)
    return out, rm, rv


def _batch_norm_samples(rng):
    def s(*shape, affine=True, **kwargs):
        c = shape[1]
        args = (rand(rng, *shape), rand(rng, c), positive(rng, c))
        if affine:
            args += (rand(rng, c), rand(rng, c))
        return Sample(args, kwargs, no_grad=(1, 2), name=f"{shape}-affine{int(affine)}")

    return [
        s(4, 3),
        s(4, 3, affine=False),
        s(2, 3, 4),
        s(2, 3, 2, 2, momentum=0.3, eps=1e-3),
        Sample((noncontig(rand(rng, 4, 3)), rand(rng, 3), positive(rng, 3)), no_grad=(1, 2)),
    ]


def _batch_norm_eval(rng):
    return [
        Sample(s.args, s.kwargs, no_grad=s.no_grad, name=s.name) for s in _batch_norm_samples(rng)
    ]


def _layer_norm(rng):
    return [
        Sample((rand(rng, 4, 5), (5,), rand(rng, 5), rand(rng, 5)), name="2d"),
        Sample((rand(rng, 2, 3, 4), [3, 4], rand(rng, 3, 4), rand(rng, 3, 4)), name="two-dims"),
        Sample((rand(rng, 2, 3, 4), [4]), name="no-affine"),
        Sample((rand(rng, 2, 3, 4), (4,), rand(rng, 4)), {"eps": 1e-2}, name="weight-only"),
        Sample((noncontig(rand(rng, 3, 4)), (4,), rand(rng, 4)), name="noncontig"),
    ]


def _group_norm(rng):
    return [
        Sample((rand(rng, 2, 6, 3), 3, rand(rng, 6), rand(rng, 6)), name="3d"),
        Sample((rand(rng, 2, 4, 2, 2), 2, rand(rng, 4), rand(rng, 4)), name="4d"),
        Sample((rand(rng, 3, 4), 1), {"eps": 1e-3}, name="one-group"),
        Sample((rand(rng, 2, 4, 3), 4), name="instance"),
    ]


def _normalize(rng):
    return [
        Sample((rand(rng, 3, 4),), name="default"),
        Sample((rand(rng, 2, 3, 4),), {"p": 1.0, "dim": -1}, name="p1"),
        Sample((rand(rng, 5),), {"dim": 0}, name="1d"),
    ]


# ---- embedding -----------------------------------------------------------------------------
_IDX = np.array([[0, 2, 4], [2, 2, 1]])


def _embedding(rng):
    w = rand(rng, 5, 3)
    return [
        Sample((_IDX, w), name="repeated"),
        Sample((np.array(3), w), name="0d"),
        Sample((np.array([1, 3]).astype(np.int32), noncontig(w)), name="int32-noncontig"),
    ]


def _embedding_not_gradients(rng):
    """padding_idx rows get no gradient and scale_grad_by_freq rescales it: torch's
    conventions, not derivatives of the forward (so no finite differences)."""
    w = rand(rng, 5, 3)
    return [
        Sample((_IDX, w), {"padding_idx": 2}, name="padding"),
        Sample((np.array([4, 0, 4]), w), {"padding_idx": -1}, name="padding-neg"),
        Sample((_IDX, w), {"scale_grad_by_freq": True}, name="scale-by-freq"),
        Sample((_IDX, w), {"scale_grad_by_freq": True, "padding_idx": 0}, name="both"),
    ]


# ---- losses --------------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "none")


def _pairs(rng, shapes=((4, 3), (2, 3, 2)), target=rand, legacy=True):
    out = []
    for r in _REDUCTIONS:
        for shape in shapes:
            out.append(Sample((rand(rng, *shape), target(rng, *shape)), {"reduction": r}))
    out.append(Sample((rand(rng), target(rng)), name="0d"))
    out.append(Sample((noncontig(rand(rng, 3, 4)), target(rng, 3, 4)), no_grad=(1,)))
    if legacy:
        out.append(Sample((rand(rng, 4, 3), target(rng, 4, 3)), {"size_average": False}))
    return out


def _broadcast_pairs(rng):
    return [
        Sample((rand(rng, 4, 3), rand(rng, 3)), {"reduction": r}, name=f"bcast-{r}")
        for r in _REDUCTIONS
    ]


def _weighted_pairs(rng):
    return [
        Sample(
            (rand(rng, 4, 3), rand(rng, 4, 3)),
            {"reduction": r, "weight": positive(rng, 4, 3)},
            no_grad=("weight",),
            name=f"weight-{r}",
        )
        for r in _REDUCTIONS
    ]


def _away(gap, legacy=True):
    """Targets whose difference from the input keeps `gap` away from the kinks at +-1."""

    def samples(rng):
        out = []
        for s in _pairs(rng, legacy=legacy):
            x, t = s.args
            d = x - t
            d = np.where(np.abs(np.abs(d) - 1) < gap, d + 3 * gap * np.sign(d), d)
            out.append(Sample((x, np.asarray(x - d)), s.kwargs, s.no_grad, s.name))
        return out

    return samples


def _nll_samples(rng, logits=False):
    x2, x3 = rand(rng, 5, 3), rand(rng, 2, 3, 4)
    t2, t3 = np.array([0, 2, 1, 2, 0]), rng.integers(0, 3, size=(2, 4))
    w = positive(rng, 3)
    out = []
    for r in _REDUCTIONS:
        out += [
            Sample((x2, t2), {"reduction": r}, name=f"2d-{r}"),
            Sample((x3, t3), {"reduction": r}, name=f"3d-{r}"),
            Sample((x2, t2), {"reduction": r, "weight": w}, no_grad=("weight",), name=f"w-{r}"),
            Sample((x2, t2), {"reduction": r, "ignore_index": 2}, name=f"ignore-{r}"),
        ]
    out += [
        Sample((rand(rng, 3), np.array(1)), name="unbatched"),
        Sample((x3, t3), {"weight": w, "ignore_index": 0}, no_grad=("weight",), name="3d-w-ign"),
        Sample((noncontig(rand(rng, 4, 3)), np.array([2, 1, 0, 1])), name="noncontig"),
        Sample((x2, t2), {"size_average": False}, name="legacy"),
    ]
    if logits:
        out.append(Sample((rand(rng, 5, 3) * 30, t2), name="large-logits"))
        out.append(Sample((rand(rng, 40, 10), rng.integers(0, 10, size=40)), name="batch"))
    return out


def _smoothing(rng):
    out = []
    for s in _nll_samples(rng):
        if "legacy" not in s.name:
            out.append(Sample(s.args, {**s.kwargs, "label_smoothing": 0.2}, s.no_grad, s.name))
    return out


def _soft_targets(rng):
    def probs(*shape):
        p = positive(rng, *shape)
        return p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)

    out = []
    for r in _REDUCTIONS:
        out += [
            Sample((rand(rng, 4, 3), probs(4, 3)), {"reduction": r}, name=f"2d-{r}"),
            Sample((rand(rng, 2, 3, 2), probs(2, 3, 2)), {"reduction": r}, name=f"3d-{r}"),
            Sample(
                (rand(rng, 4, 3), probs(4, 3)),
                {"reduction": r, "weight": positive(rng, 3), "label_smoothing": 0.1},
                no_grad=("weight",),
                name=f"w-smooth-{r}",
            ),
        ]
    return out + [Sample((rand(rng, 3), probs(3)), name="unbatched")]


def _grad_at(m, fn, x, g):
    """The gradient of fn at the fixed point x, as a function of the cotangent g."""
    x = m.from_numpy(x).requires_grad_()
    with m.enable_grad():
        return m.autograd.grad(fn(x), x, g, create_graph=g.requires_grad)[0]


def _backward_of(name, **kwargs):
    """An op's backward at fixed inputs (kinks included) as a function of the cotangent."""
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])

    def fn(m, g):
        return _grad_at(m, lambda t: getattr(F(m), name)(t, **kwargs), x.copy(), g)

    return OpInfo(f"{name}-backward", lambda rng: [Sample((rand(rng, 7),))], fn=fn)


def _embedding_backward(m, g, padding_idx):
    w = np.linspace(-1, 1, 15).reshape(5, 3)
    idx = m.from_numpy(_IDX)
    emb = F(m).embedding
    return _grad_at(m, lambda t: emb(idx, t, padding_idx), w, g)


def _nll_backward(m, g, t, reduction):
    """nll_loss's gradient at a fixed input, as a function of the cotangent `g`."""
    x = m.from_numpy(np.linspace(-1, 1, 15).reshape(5, 3)).requires_grad_()
    with m.enable_grad():
        loss = F(m).nll_loss(x, t, reduction=reduction, ignore_index=1)
        return m.autograd.grad(loss, x, g, create_graph=g.requires_grad)[0]


def _nll_backward_samples(rng):
    t = np.array([0, 2, 1, 2, 0])
    return [
        Sample((rand(rng, *shape), t, r), name=r)
        for r, shape in (("mean", ()), ("sum", ()), ("none", (5,)))
    ]


def _bce(rng):
    def p(*shape):
        return rng.uniform(0.05, 0.95, size=shape)

    out = [Sample((p(4, 3), p(4, 3)), {"reduction": r}, name=r) for r in _REDUCTIONS]
    return out + [
        Sample((p(4, 3), p(4, 3)), {"weight": positive(rng, 3)}, no_grad=("weight",), name="w"),
        Sample((p(2, 3), rng.integers(0, 2, (2, 3)).astype(float)), no_grad=(1,), name="hard"),
        Sample((p(5), p(5)), {"reduction": "sum"}, name="1d"),
    ]


def _bce_logits(rng):
    out = [
        Sample((rand(rng, 4, 3), positive(rng, 4, 3) / 3), {"reduction": r}) for r in _REDUCTIONS
    ]
    return out + [
        Sample(
            (rand(rng, 4, 3), positive(rng, 4, 3) / 3),
            {"weight": positive(rng, 4, 1), "pos_weight": positive(rng, 3)},
            no_grad=("weight", "pos_weight"),
            name="weights",
        ),
        Sample(
            (rand(rng, 4, 3) * 40, positive(rng, 4, 3) / 3),
            {"pos_weight": positive(rng, 3), "reduction": "none"},
            no_grad=("pos_weight",),
            name="large",
        ),
    ]


def _kl(rng):
    def logp(*shape):
        x = rand(rng, *shape)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    out = []
    for r in ("mean", "sum", "none", "batchmean"):
        out.append(Sample((logp(4, 3), positive(rng, 4, 3) / 3), {"reduction": r}, name=r))
        out.append(
            Sample((logp(4, 3), logp(4, 3)), {"reduction": r, "log_target": True}, name=f"log-{r}")
        )
    return out + [Sample((logp(3), positive(rng, 3) / 3), {"reduction": "batchmean"}, name="1d")]


# ---- dropout -------------------------------------------------------------------------------
def _dropout_identity(name):
    """d * (1 - p) + x * (d == 0) with d = dropout(x): x for every mask (see the docstring)."""

    def fn(m, x, p, training=True):
        d = getattr(F(m), name)(x, p, training)
        return d * (1 - p) + x * (d == 0)

    return fn


def _dropout_samples(rng, shape=(6, 5)):
    def x():
        return _away_from(0.0)(rng, *shape)

    return [
        Sample((x(), 0.3), name="p0.3"),
        Sample((x(), 0.5), name="p0.5"),
        Sample((x(), 1.0), name="p1"),
        Sample((x(), 0.0), name="p0"),
        Sample((x(), 0.5, False), name="eval"),
    ]


OPS = [
    nn("linear", _linear),
    nn("bilinear", _bilinear),
    # activations
    nn("relu", _unary(_away_from(0.0))),
    nn("relu-kinks", _kinks([-1.0, 0.0, 2.0]), fd=False),
    nn("leaky_relu", _unary(_away_from(0.0), negative_slope=0.2)),
    nn("leaky_relu-default", _unary(_away_from(0.0))),
    nn("leaky_relu-kinks", _kinks([-1.0, 0.0, 2.0]), fd=False),
    _backward_of("leaky_relu", negative_slope=0.2),
    _backward_of("hardtanh", min_val=-1.0, max_val=1.0),
    _backward_of("threshold", threshold=0.5, value=2.0),
    nn("elu", _unary(_away_from(0.0), alpha=1.5)),
    nn("elu-kinks", _kinks([-30.0, 0.0, 50.0, 800.0]), fd=False),
    nn("gelu", _unary()),
    nn("gelu-tanh", _unary(approximate="tanh")),
    nn("gelu-extremes", _extremes([-40.0, -8.0, 0.0, 8.0, 40.0])),
    nn("silu", _unary()),
    nn("sigmoid", _unary()),
    nn("tanh", _unary()),
    nn("softplus", _unary()),
    nn("softplus-beta", _unary(_away_from(2.0, low=-5, high=5), beta=2.0, threshold=4.0)),
    nn("softplus-extremes", _extremes([-1e4, -50.0, 0.0, 19.9, 20.1, 1e4]), fd=False),
    nn("hardtanh", _unary(_away_from(-1.0, 1.0))),
    nn("hardtanh-bounds", _unary(_away_from(-0.5, 2.0), min_val=-0.5, max_val=2.0)),
    nn("hardtanh-kinks", _kinks([-2.0, -1.0, 0.0, 1.0, 2.0]), fd=False),
    nn("relu6", _unary(_away_from(0.0, 6.0, low=-2, high=8))),
    nn("relu6-kinks", _kinks([-1.0, 0.0, 3.0, 6.0, 7.0]), fd=False),
    nn("logsigmoid", _unary()),
    nn("logsigmoid-extremes", _extremes([-800.0, -40.0, 0.0, 40.0, 800.0])),
    nn("threshold", lambda rng: [Sample((_away_from(0.5)(rng, 3, 4), 0.5, -2.0))]),
    nn("threshold-kinks", _kinks([0.0, 0.5, 1.0], threshold=0.5, value=3.0), fd=False),
    nn("softmax", lambda rng: [Sample((rand(rng, 2, 3, 4), d)) for d in (0, 1, -1)]),
    nn("log_softmax", lambda rng: [Sample((rand(rng, 2, 3, 4), d)) for d in (0, 1, -1)]),
    nn("softmin", lambda rng: [Sample((rand(rng, 2, 3, 4), d)) for d in (0, 1, -1)]),
    # dropout
    OpInfo("dropout", _dropout_samples, fn=_dropout_identity("dropout")),
    OpInfo(
        "dropout2d",
        lambda rng: _dropout_samples(rng, (2, 3, 2, 2)),
        fn=_dropout_identity("dropout2d"),
    ),
    # normalisation
    OpInfo("batch_norm-train", _batch_norm_samples, fn=_batch_norm_train),
    nn("batch_norm-eval", _batch_norm_eval),
    nn("layer_norm", _layer_norm),
    nn("group_norm", _group_norm),
    nn("normalize", _normalize),
    # embedding
    nn("embedding", _embedding),
    nn("embedding-padding-freq", _embedding_not_gradients, fd=False),
    OpInfo(
        "embedding-backward",
        lambda rng: [Sample((rand(rng, 2, 3, 3), p), name=str(p)) for p in (None, 2)],
        fn=_embedding_backward,
    ),
    # losses
    nn("mse_loss", _pairs),
    nn("mse_loss-broadcast", _broadcast_pairs),
    nn("mse_loss-weight", _weighted_pairs),
    nn("l1_loss", _pairs),
    nn("l1_loss-weight", _weighted_pairs),
    nn("smooth_l1_loss", _away(0.05)),
    nn(
        "smooth_l1_loss-beta",
        lambda rng: [Sample((rand(rng, 4, 3), rand(rng, 4, 3)), {"beta": 5.0})],
    ),
    nn(
        "smooth_l1_loss-beta0",
        lambda rng: [Sample((rand(rng, 4, 3), rand(rng, 4, 3)), {"beta": 0.0})],
    ),
    nn(
        "smooth_l1_loss-kinks",
        lambda rng: [Sample((np.array([0.0, 1.0, -1.0, 2.0]), np.zeros(4)))],
        fd=False,
    ),
    nn("huber_loss", _away(0.05, legacy=False)),
    nn(
        "huber_loss-delta", lambda rng: [Sample((rand(rng, 4, 3), rand(rng, 4, 3)), {"delta": 5.0})]
    ),
    nn("huber_loss-weight", _weighted_pairs),
    nn("nll_loss", _nll_samples),
    OpInfo("nll_loss-backward", _nll_backward_samples, fn=_nll_backward),
    nn("cross_entropy", lambda rng: _nll_samples(rng, logits=True)),
    nn("cross_entropy-smoothing", _smoothing),
    nn("cross_entropy-soft", _soft_targets),
    nn("binary_cross_entropy", _bce),
    nn("binary_cross_entropy_with_logits", _bce_logits),
    nn("kl_div", _kl),
]
