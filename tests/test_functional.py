"""Semantics of `nn.functional` beyond the op table (tests/opdb_nn.py): errors and warnings as
torch's, stability at extreme inputs, running statistics of batch_norm over several steps,
dropout's statistics and scaling, embedding's max_norm, one_hot."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember


def F(m):
    return m.nn.functional


def _t(m, a, **kw):
    return m.tensor(np.asarray(a).tolist(), **kw)


X = np.random.default_rng(0).uniform(-2, 2, (4, 3)).astype(np.float32)
IDX = np.array([0, 2, 1, 1])

ERRORS = {
    "linear-shape": lambda m: F(m).linear(_t(m, X), m.ones(2, 4)),
    "linear-3d-shape": lambda m: F(m).linear(m.ones(5, 4, 3), m.ones(2, 4)),
    "linear-dtype": lambda m: F(m).linear(_t(m, X), m.ones(2, 3, dtype=m.float64)),
    "bn-eval-none": lambda m: F(m).batch_norm(_t(m, X), None, None),
    "bn-one-value": lambda m: F(m).batch_norm(m.ones(1, 3), None, None, training=True),
    "bn-channels": lambda m: F(m).batch_norm(_t(m, X), m.zeros(2), m.ones(2)),
    "ln-shape": lambda m: F(m).layer_norm(m.ones(4, 3, 4), (5,)),
    "ln-weight": lambda m: F(m).layer_norm(m.ones(4, 3, 4), (4,), m.ones(3)),
    "gn-groups": lambda m: F(m).group_norm(m.ones(4, 6, 5), 4),
    "emb-float": lambda m: F(m).embedding(_t(m, [1.0, 2.0]), _t(m, X)),
    "emb-range": lambda m: F(m).embedding(_t(m, [1, 5]), _t(m, X)),
    "emb-negative": lambda m: F(m).embedding(_t(m, [-1]), _t(m, X)),
    "emb-padding": lambda m: F(m).embedding(_t(m, [1]), _t(m, X), padding_idx=-5),
    "emb-1d-weight": lambda m: F(m).embedding(_t(m, [1]), m.ones(3)),
    "one-hot-negative": lambda m: F(m).one_hot(_t(m, [-1, 2])),
    "one-hot-large": lambda m: F(m).one_hot(_t(m, [1, 2]), 2),
    "one-hot-float": lambda m: F(m).one_hot(_t(m, [1.0])),
    "one-hot-empty": lambda m: F(m).one_hot(m.zeros(0, dtype=m.int64)),
    "dropout-p": lambda m: F(m).dropout(_t(m, X), 1.5),
    "dropout-p-negative": lambda m: F(m).dropout(_t(m, X), -0.1),
    "reduction": lambda m: F(m).mse_loss(_t(m, X), _t(m, X), reduction="foo"),
    "ce-reduction": lambda m: F(m).cross_entropy(_t(m, X), _t(m, IDX), reduction="foo"),
    "mse-no-broadcast": lambda m: F(m).mse_loss(_t(m, X), m.ones(4)),
    "mse-int": lambda m: F(m).mse_loss(_t(m, [1, -2]), _t(m, [1, 2])),
    "mse-weight": lambda m: F(m).mse_loss(_t(m, X), _t(m, X), weight=m.ones(3)),
    "ce-out-of-bounds": lambda m: F(m).cross_entropy(_t(m, X), _t(m, [0, 1, 3, 0])),
    "ce-negative": lambda m: F(m).cross_entropy(_t(m, X), _t(m, [0, 1, -3, 0])),
    "ce-ignored-and-negative": lambda m: F(m).cross_entropy(_t(m, X), _t(m, [-100, 1, -3, 0])),
    "ce-batch": lambda m: F(m).cross_entropy(_t(m, X), _t(m, [0, 1, 2])),
    "ce-3d-target": lambda m: F(m).cross_entropy(m.ones(4, 3, 5), m.zeros(4, 6, dtype=m.int64)),
    "ce-multi-target": lambda m: F(m).cross_entropy(_t(m, X), m.ones(4, 2)),
    "ce-weight": lambda m: F(m).cross_entropy(_t(m, X), _t(m, IDX), weight=m.ones(2)),
    "ce-soft-weight": lambda m: F(m).cross_entropy(_t(m, X), m.ones(4, 3), weight=m.ones(2)),
    "ce-smoothing": lambda m: F(m).cross_entropy(_t(m, X), _t(m, IDX), label_smoothing=1.5),
    "ce-int32": lambda m: F(m).cross_entropy(_t(m, X), _t(m, IDX, dtype=m.int32)),
    "nll-0d": lambda m: F(m).nll_loss(m.ones(()), _t(m, 1)),
    "nll-3d-bounds": lambda m: F(m).nll_loss(m.ones(4, 3, 5), m.full((4, 5), 7)),
    "bce-range": lambda m: F(m).binary_cross_entropy(_t(m, [1.5]), _t(m, [1.0])),
    "bce-size": lambda m: F(m).binary_cross_entropy(m.ones(4, 3) / 2, m.ones(4) / 2),
    "bcel-size": lambda m: F(m).binary_cross_entropy_with_logits(m.ones(4, 3), m.ones(4)),
    "smooth-l1-beta": lambda m: F(m).smooth_l1_loss(_t(m, X), _t(m, X), beta=-1.0),
    "huber-delta": lambda m: F(m).huber_loss(_t(m, X), _t(m, X), delta=0.0),
    "gelu-approximate": lambda m: F(m).gelu(_t(m, X), approximate="foo"),
    "gelu-int": lambda m: F(m).gelu(_t(m, [1, -2])),
    "hardtanh-bounds": lambda m: F(m).hardtanh(_t(m, X), 1.0, -1.0),
    "leaky-relu-leaf": lambda m: F(m).leaky_relu(m.ones(3, requires_grad=True), inplace=True),
    "bilinear-size": lambda m: F(m).bilinear(_t(m, X), _t(m, X), m.ones(2, 3, 4)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torch(same, name):
    same(ERRORS[name])


VALUES = {
    "nll-all-ignored": lambda m: F(m).nll_loss(_t(m, X), m.full((4,), -100)),
    "one-hot": lambda m: F(m).one_hot(_t(m, [[0, 3], [1, 1]])),
    "one-hot-empty-classes": lambda m: F(m).one_hot(m.zeros(0, dtype=m.int64), 3),
    "normalize-zeros": lambda m: F(m).normalize(m.zeros(2, 3)),
    "relu-int": lambda m: F(m).relu(_t(m, [1, -2])),
    "linear-1d-input": lambda m: F(m).linear(_t(m, X[0]), _t(m, X[:2]), _t(m, X[3, :2])),
    "mse-broadcast": lambda m: F(m).mse_loss(_t(m, X), _t(m, X[0])),
    "huber-weight-mean": lambda m: F(m).huber_loss(_t(m, X), _t(m, X * 0), weight=_t(m, X * X)),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_values_match_torch(same, name):
    same(VALUES[name])


def _warning(fn) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        fn()
    return [str(w.message).replace("torch.", "ember.") for w in caught]


WARNINGS = {
    "mse-target-size": lambda m: F(m).mse_loss(_t(m, X), _t(m, X[0])),
    "l1-target-size": lambda m: F(m).l1_loss(_t(m, X), _t(m, X[0])),
    "legacy-reduce": lambda m: F(m).mse_loss(_t(m, X), _t(m, X), size_average=False),
    "legacy-ce": lambda m: F(m).cross_entropy(_t(m, X), _t(m, IDX), reduce=False),
    "kl-mean": lambda m: F(m).kl_div(_t(m, X), _t(m, X)),
    "softmax-dim": lambda m: F(m).softmax(_t(m, X)),
    "log-softmax-dim": lambda m: F(m).log_softmax(m.ones(2, 3, 4)),
    "dropout2d-3d": lambda m: F(m).dropout2d(m.ones(2, 3, 4)),
    "dropout2d-2d": lambda m: F(m).dropout2d(m.ones(2, 3)),
}


@pytest.mark.parametrize("name", list(WARNINGS))
def test_warnings_match_torch(name):
    assert _warning(lambda: WARNINGS[name](ember)) == _warning(lambda: WARNINGS[name](torch))


def test_implicit_softmax_dim_matches_torch(same):
    for shape in [(5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(1).standard_normal(shape)
        same(lambda m, x=x: F(m).softmax(_t(m, x), _stacklevel=5))
        same(lambda m, x=x: F(m).softmin(_t(m, x)))


# ---- grad_fn names torch records for each form ----
def _names(m) -> list:
    x = m.ones(4, 3, requires_grad=True)
    w, b = m.ones(2, 3, requires_grad=True), m.ones(2, requires_grad=True)
    outs = [
        F(m).linear(x, w, b),
        F(m).linear(x, w),
        F(m).linear(m.ones(5, 4, 3), w, b),
        F(m).linear(m.ones(5, 4, 3), w),
        F(m).linear(m.ones(3), w, b),
        F(m).linear(m.ones(3), w),
        F(m).bilinear(x, x, m.ones(2, 3, 3)),
        F(m).relu6(x),
        F(m).softmin(x, 1),
        F(m).dropout(x, 1.0),
        F(m).cross_entropy(x, m.ones(4, 3) / 3, reduction="sum"),
        F(m).cross_entropy(x, m.ones(4, 3) / 3),
        F(m).cross_entropy(x, m.zeros(4, dtype=m.int64), label_smoothing=0.1),
        F(m).kl_div(x, x, reduction="batchmean"),
        F(m).kl_div(x, x, reduction="none", log_target=True),
        F(m).l1_loss(x, x * 2, reduction="none"),
        F(m).nll_loss(m.ones(2, 3, 4, requires_grad=True), m.zeros(2, 4, dtype=m.int64)),
        F(m).nll_loss(
            m.ones(2, 3, 4, requires_grad=True), m.zeros(2, 4, dtype=m.int64), reduction="none"
        ),
        F(m).batch_norm(m.ones(2, 3, requires_grad=True), m.zeros(3), m.ones(3)),
        F(m).normalize(x),
    ]
    return [type(o.grad_fn).__name__ for o in outs]


def test_grad_fn_names_match_torch():
    assert _names(ember) == _names(torch)


def test_dropout_returns_input_itself_when_inactive():
    x = ember.ones(3, requires_grad=True)
    assert F(ember).dropout(x, 0.0) is x
    assert F(ember).dropout(x, 0.5, training=False) is x


# ---- numerical stability ----
EXTREME = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4])


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: F(m).softplus(x),
        lambda m, x: F(m).softplus(x, beta=3.0, threshold=5.0),
        lambda m, x: F(m).logsigmoid(x),
        lambda m, x: F(m).silu(x),
        lambda m, x: F(m).elu(x),
        lambda m, x: F(m).gelu(x),
        lambda m, x: F(m).gelu(x, approximate="tanh"),
        lambda m, x: F(m).binary_cross_entropy_with_logits(x, m.ones_like(x) / 2, reduction="none"),
        lambda m, x: F(m).binary_cross_entropy_with_logits(
            x, m.ones_like(x), pos_weight=m.full_like(x, 3.0), reduction="sum"
        ),
        lambda m, x: F(m).cross_entropy(x.reshape(1, -1) * 10, m.tensor([3])),
        lambda m, x: F(m).log_softmax(x, 0),
        lambda m, x: F(m).binary_cross_entropy(m.sigmoid(x), m.ones_like(x) / 3, reduction="none"),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_and_equal_at_extremes(fn, dtype):
    """Values and gradients at +-1e4 match torch's, and stay finite where torch's do."""
    outs = []
    for m in (ember, torch):
        x = m.tensor(EXTREME.tolist(), dtype=getattr(m, dtype), requires_grad=True)
        y = fn(m, x)
        (g,) = m.autograd.grad(y.sum(), x)
        outs.append((y.detach().numpy(), g.numpy()))
    (ey, eg), (ty, tg) = outs
    np.testing.assert_allclose(ey, ty, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eg, tg, rtol=1e-5, atol=1e-6)
    assert np.isfinite(ty).all() <= np.isfinite(ey).all()


def test_binary_cross_entropy_clamps_log_at_minus_100(same):
    p, t = [0.0, 1.0, 0.5, 1.0], [1.0, 0.0, 1.0, 1.0]
    out = same(lambda m: F(m).binary_cross_entropy(_t(m, p), _t(m, t), reduction="none"))
    assert out.tolist()[:2] == [100.0, 100.0]


# ---- batch_norm running statistics ----
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_batch_norm_running_stats_match_torch_over_steps(shape, momentum):
    rng = np.random.default_rng(2)
    state = {}
    for m in (ember, torch):
        rm, rv = m.zeros(3), m.ones(3)
        w, b = m.full((3,), 1.5, requires_grad=True), m.zeros(3, requires_grad=True)
        outs = []
        for step in range(4):
            x = m.tensor(rng.standard_normal(shape).astype(np.float32) * (step + 1) + step)
            outs.append(F(m).batch_norm(x, rm, rv, w, b, True, momentum).detach().numpy())
        outs.append(F(m).batch_norm(x, rm, rv, w, b, False, momentum).detach().numpy())
        state[m] = (rm.numpy().copy(), rv.numpy().copy(), outs)
        rng = np.random.default_rng(2)
    (erm, erv, eo), (trm, trv, to) = state[ember], state[torch]
    np.testing.assert_allclose(erm, trm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(erv, trv, rtol=1e-5, atol=1e-6)
    for e, t in zip(eo, to):
        np.testing.assert_allclose(e, t, rtol=1e-4, atol=1e-5)


def test_batch_norm_bumps_running_stat_versions():
    rm, rv = ember.zeros(3), ember.ones(3)
    v = rm._version
    F(ember).batch_norm(ember.randn(4, 3), rm, rv, training=True)
    assert rm._version == v + 1


# ---- dropout statistics and scaling ----
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_statistics_and_scale(p):
    ember.manual_seed(0)
    x = ember.ones(200, 200)
    out = F(ember).dropout(x, p).numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(out.mean() - 1) < 0.05  # unbiased in expectation


def test_dropout_is_reproducible_with_manual_seed_and_gradient_is_the_mask():
    ember.manual_seed(3)
    a = F(ember).dropout(ember.ones(50), 0.5)
    ember.manual_seed(3)
    x = ember.ones(50, requires_grad=True)
    b = F(ember).dropout(x, 0.5)
    b.sum().backward()
    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), b.detach().numpy())


def test_dropout_p1_zeros_and_inplace():
    x = ember.ones(4, 4)
    assert not F(ember).dropout(x, 1.0).numpy().any()
    y = ember.ones(100)
    out = F(ember).dropout(y, 0.5, inplace=True)
    assert out is y and set(np.unique(y.numpy())) <= {0.0, 2.0}


def test_dropout2d_drops_whole_channels():
    ember.manual_seed(1)
    out = F(ember).dropout2d(ember.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert (per_channel == per_channel[..., :1]).all()
    assert set(np.unique(out)) == {0.0, 2.0}


# ---- embedding ----
def test_embedding_max_norm_renormalises_rows_like_torch():
    w0 = np.random.default_rng(4).standard_normal((5, 3)) * 3
    got = {}
    for m in (ember, torch):
        w = m.tensor(w0.tolist(), requires_grad=True)
        out = F(m).embedding(m.tensor([[0, 2], [2, 4]]), w, max_norm=1.0)
        got[m] = (out.detach().numpy(), w.detach().numpy())
    for e, t in zip(got[ember], got[torch]):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)


def test_embedding_padding_row_gets_no_gradient_and_repeats_accumulate():
    w = ember.ones(4, 2, requires_grad=True)
    F(ember).embedding(ember.tensor([1, 1, 3, 0]), w, padding_idx=3).sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


def test_cross_entropy_weighted_mean_divides_by_weight_sum(same):
    w = [0.5, 2.0, 1.0]
    same(lambda m: F(m).cross_entropy(_t(m, X), _t(m, [0, 1, 1, -100]), weight=_t(m, w)))
    same(lambda m: F(m).nll_loss(_t(m, X), _t(m, [0, 1, 2, 1]), weight=_t(m, w), ignore_index=1))


@pytest.mark.parametrize("kwargs", [{"padding": 1}, {"padding": 2, "dilation": 2}])
def test_conv2d_input_gradient_with_an_infinite_weight(kwargs):
    """At stride 1 the input gradient runs on the padded width with "junk" columns, some of
    which land on real pixels; they must stay exact zeros even where a weight is infinite
    (inf * 0 is NaN): infinities where torch has them, and no NaN."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    w[1, 2, 0, 2] = np.inf
    g = rng.standard_normal((2, 4, 6, 7))

    def grad(m):
        xt = m.tensor(x, requires_grad=True)
        out = F(m).conv2d(xt, m.tensor(w), **kwargs)
        (gx,) = m.autograd.grad(out, xt, m.tensor(g[:, :, : out.shape[2], : out.shape[3]]))
        return gx.detach().numpy()

    want, got = grad(torch), grad(ember)
    assert np.isinf(want).any() and np.isfinite(want).any()  # (the case is a real one)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)  # (inf where torch has)
