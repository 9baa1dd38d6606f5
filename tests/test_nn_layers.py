"""Layer modules against torch.nn: recurrent layers and cells, attention, activations, losses,
normalisation, dropout and embedding.

Each check builds the torch module, builds the ember module with the same arguments, copies
torch's parameters and buffers into it by name, runs the same float64 inputs through both and
compares outputs, then input and parameter gradients of a random cotangent. Reprs must be
torch's with 'torch' spelt 'ember'; errors must have torch's type and message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)
RTOL = 1e-10
ATOL = 1e-12


# ---- helpers ------------------------------------------------------------------------------------
def build(name: str, *args, **kwargs) -> tuple:
    """(torch module, ember module), both float64, ember's holding torch's values by name."""
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    em = getattr(ember.nn, name)(*args, **kwargs).double()
    assert repr(em) == repr(tm).replace("torch", "ember")
    t_params = [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == t_params
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    copy_state(tm, em)
    return tm, em


def copy_state(tm, em) -> None:
    """Copy every parameter and buffer of torch module `tm` into ember module `em`."""
    targets = dict([*em.named_parameters(), *em.named_buffers()])
    with ember.no_grad():
        for n, p in [*tm.named_parameters(), *tm.named_buffers()]:
            targets[n].copy_(ember.tensor(p.detach().numpy()))


def _map_tensors(fn, value, memo: dict):
    """`fn` applied to every torch tensor in a tuple/list/dict nest, once per object."""
    if isinstance(value, dict):
        return {k: _map_tensors(fn, v, memo) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_map_tensors(fn, v, memo) for v in value)
    if not isinstance(value, torch.Tensor):
        return value
    if id(value) not in memo:
        memo[id(value)] = fn(value)
    return memo[id(value)]


def fresh(value):
    """The same values as new leaves (gradients from earlier calls gone); keeps q-is-k identity."""
    return _map_tensors(
        lambda t: t.detach().clone().requires_grad_() if t.requires_grad else t, value, {}
    )


def to_ember(value):
    """The ember twin of a torch tensor or of a tuple/list/dict of them; keeps identity."""

    def twin(t: torch.Tensor) -> ember.Tensor:
        e = ember.tensor(t.detach().numpy().copy())
        return e.requires_grad_() if t.requires_grad else e

    return _map_tensors(twin, value, {})


def leaf(*shape: int, low: float | None = None, high: float | None = None) -> torch.Tensor:
    """A float64 torch leaf that requires grad: standard normal, or uniform in [low, high]."""
    if low is None:
        data = RNG.standard_normal(shape)
    else:
        data = RNG.uniform(low, high, shape)
    return torch.tensor(data, requires_grad=True)


def flat(value) -> list:
    """The tensors of a nested output or argument list, in order (anything else skipped)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in flat(v)]
    return [value] if isinstance(value, (torch.Tensor, ember.Tensor)) else []


def close(e, t, rtol: float = RTOL, atol: float = ATOL) -> None:
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).replace("torch", "ember")
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def check(tm, em, *inputs, rtol: float = RTOL, atol: float = ATOL, **kwargs):
    """Same outputs, same input and parameter gradients of a random cotangent; ember's output."""
    inputs, kwargs = fresh((inputs, kwargs))
    tm.zero_grad(), em.zero_grad()
    e_args, e_kwargs = to_ember((inputs, kwargs))
    t_out, e_out = tm(*inputs, **kwargs), em(*e_args, **e_kwargs)
    t_flat, e_flat = flat(t_out), flat(e_out)
    assert len(e_flat) == len(t_flat)
    for e, t in zip(e_flat, t_flat):
        close(e, t, rtol, atol)
    pairs = [(e, t) for e, t in zip(e_flat, t_flat) if t.requires_grad]
    if not pairs:
        return e_out
    cotangents = [RNG.standard_normal(tuple(t.shape)) for _, t in pairs]
    sum((t * torch.tensor(g)).sum() for (_, t), g in zip(pairs, cotangents)).backward()
    sum((e * ember.tensor(g)).sum() for (e, _), g in zip(pairs, cotangents)).backward()
    t_leaves = [t for t in flat((inputs, kwargs)) if t.requires_grad]
    e_leaves = [e for e in flat((e_args, e_kwargs)) if e.requires_grad]
    for e, t in zip(e_leaves, t_leaves):
        assert (e.grad is None) == (t.grad is None)
        if t.grad is not None:
            close(e.grad, t.grad, rtol, atol)
    e_params = dict(em.named_parameters())
    for name, p in tm.named_parameters():
        assert (e_params[name].grad is None) == (p.grad is None), name
        if p.grad is not None:
            close(e_params[name].grad, p.grad, rtol, atol)
    return e_out


def same_error(fn) -> None:
    """fn(torch) and fn(ember) raise the same exception type with the same message."""
    caught = []
    for lib in (torch, ember):
        with pytest.raises(Exception) as info:  # noqa: PT011 - compared below
            fn(lib)
        caught.append((type(info.value).__name__, str(info.value).replace("torch", "ember")))
    assert caught[1] == caught[0]


def same_warning(fn) -> None:
    """fn(torch) and fn(ember) warn the same category and message."""
    seen = []
    for lib in (torch, ember):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fn(lib)
        seen.append([(w.category, str(w.message).replace("torch", "ember")) for w in record])
    assert seen[1] == seen[0]
    assert seen[0]


# ---- recurrent layers ---------------------------------------------------------------------------
T, B, IN, H = 4, 3, 5, 4
RNN_KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
RNN_CONFIGS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"num_layers": 2, "batch_first": True},
    {"bidirectional": True, "batch_first": True, "bias": False},
]


def initial_state(name: str, shape: tuple, proj_size: int = 0):
    """h0 (or (h0, c0) for an LSTM) of `shape`, as torch leaves."""
    if name != "LSTM":
        return leaf(*shape)
    return (leaf(*shape[:-1], proj_size or shape[-1]), leaf(*shape))


@pytest.mark.parametrize("kind", RNN_KINDS, ids=lambda k: f"{k[0]}{k[1]}")
@pytest.mark.parametrize("config", RNN_CONFIGS, ids=str)
@pytest.mark.parametrize("with_h0", [False, True], ids=["no_h0", "h0"])
def test_rnn_matches_torch(kind, config, with_h0):
    name, kw = kind
    tm, em = build(name, IN, H, **kw, **config)
    x = leaf(B, T, IN) if config.get("batch_first") else leaf(T, B, IN)
    directions = 2 if config.get("bidirectional") else 1
    h_shape = (config.get("num_layers", 1) * directions, B, H)
    args = (x, initial_state(name, h_shape)) if with_h0 else (x,)
    out = check(tm, em, *args)
    assert tuple(out[0].shape) == (*x.shape[:2], directions * H)


@pytest.mark.parametrize("kind", RNN_KINDS, ids=lambda k: f"{k[0]}{k[1]}")
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True], ids=["no_h0", "h0"])
def test_rnn_unbatched_input(kind, batch_first, with_h0):
    name, kw = kind
    tm, em = build(name, IN, H, num_layers=2, bidirectional=True, batch_first=batch_first, **kw)
    args = (leaf(T, IN), initial_state(name, (4, H))) if with_h0 else (leaf(T, IN),)
    out = check(tm, em, *args)
    assert tuple(out[0].shape) == (T, 2 * H)


@pytest.mark.parametrize("config", [{}, {"num_layers": 2, "bidirectional": True}], ids=str)
def test_lstm_projection(config):
    tm, em = build("LSTM", IN, H, proj_size=2, **config)
    directions = 2 if config else 1
    h_shape = (config.get("num_layers", 1) * directions, B, H)
    check(tm, em, leaf(T, B, IN))
    check(tm, em, leaf(T, B, IN), initial_state("LSTM", h_shape, proj_size=2))


def test_rnn_parameters_and_init():
    em = ember.nn.GRU(IN, H, num_layers=2, bidirectional=True)
    assert [n for n, _ in em.named_parameters()][:5] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "weight_ih_l0_reverse",
    ]
    assert tuple(em.weight_ih_l1.shape) == (3 * H, 2 * H)
    bound = 1 / np.sqrt(H)
    for p in em.parameters():
        assert p.requires_grad and p.dtype == ember.float32
        assert np.all(np.abs(p.detach().numpy()) <= bound)
    assert [len(w) for w in em.all_weights] == [4, 4, 4, 4]
    assert em.all_weights[1][0] is em.weight_ih_l0_reverse
    em.flatten_parameters()


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("LSTM", (10, 20), {"num_layers": 2, "batch_first": True}),
        ("LSTM", (3, 4, 2), {"dropout": 0.5, "bidirectional": True, "proj_size": 2}),
        ("RNN", (3, 4), {"nonlinearity": "relu", "bias": False}),
        ("RNN", (3, 4, 1, "relu"), {}),
        ("GRU", (3, 4), {"dropout": 0.25, "num_layers": 3}),
        ("RNNCell", (3, 4), {"nonlinearity": "relu", "bias": False}),
        ("LSTMCell", (3, 4), {}),
        ("GRUCell", (3, 4), {"bias": False}),
    ],
)
def test_rnn_reprs(name, args, kwargs):
    t, e = getattr(torch.nn, name)(*args, **kwargs), getattr(ember.nn, name)(*args, **kwargs)
    assert repr(e) == repr(t).replace("torch", "ember")


def test_rnn_dropout_between_layers():
    tm, em = build("LSTM", IN, H, num_layers=3, dropout=0.5)
    x = leaf(T, B, IN)
    tm.eval(), em.eval()
    check(tm, em, x)
    em.train()
    ex = to_ember(x)
    first, second = em(ex)[0], em(ex)[0]
    assert not np.allclose(first.detach().numpy(), second.detach().numpy())


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3, 3, dtype=lib.float64)),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3, 5)),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3, 3), (lib.zeros(1, 2, 4), lib.zeros(1, 3, 4))),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3, 3), (lib.zeros(1, 3, 2), lib.zeros(1, 3, 4))),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3, 3), (lib.zeros(3, 4), lib.zeros(3, 4))),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(2, 3), (lib.zeros(1, 1, 4), lib.zeros(1, 1, 4))),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(1, 2, 3, 3)),
        lambda lib: lib.nn.GRU(3, 4)(lib.randn(2, 3, 3), lib.zeros(2, 3, 4)),
        lambda lib: lib.nn.GRU(3, 4)(lib.randn(2, 3, 3), lib.zeros(3, 4)),
        lambda lib: lib.nn.GRU(3, 4)(lib.randn(2, 3), lib.zeros(1, 1, 4)),
        lambda lib: lib.nn.GRU(3, 4)(lib.randn(3)),
        lambda lib: lib.nn.RNN(3, 4)(lib.randn(3)),
        lambda lib: lib.nn.RNN(3, 4)(lib.randn(0, 2, 3)),
        lambda lib: lib.nn.RNN(3, 4, nonlinearity="sigmoid"),
        lambda lib: lib.nn.RNN(3, 4, proj_size=2),
        lambda lib: lib.nn.GRU(3, 4, proj_size=2),
        lambda lib: lib.nn.LSTM(3, 4, proj_size=4),
        lambda lib: lib.nn.LSTM(3, 4, dropout=1.5),
        lambda lib: lib.nn.LSTM(3, 4, batch_first=1),
        lambda lib: lib.nn.LSTM(3.0, 4),
        lambda lib: lib.nn.LSTM(0, 4),
        lambda lib: lib.nn.LSTM(3, 0),
        lambda lib: lib.nn.LSTM(3, 4, num_layers=0),
        lambda lib: lib.nn.GRUCell(3, 4)(lib.randn(2, 5)),
        lambda lib: lib.nn.GRUCell(3, 4)(lib.randn(2, 3), lib.randn(3, 4)),
        lambda lib: lib.nn.GRUCell(3, 4)(lib.randn(2, 3), lib.randn(2, 5)),
        lambda lib: lib.nn.GRUCell(3, 4)(lib.randn(2, 3, 3)),
        lambda lib: lib.nn.RNNCell(3, 4)(lib.randn(2, 3), lib.randn(1, 2, 4)),
        lambda lib: lib.nn.LSTMCell(3, 4)(lib.randn(2, 3), (lib.randn(2, 4), lib.randn(2, 4, 1))),
        lambda lib: lib.nn.LSTMCell(3, 4)(lib.randn(2, 3), (lib.randn(2, 4), lib.randn(2, 5))),
    ],
)
def test_rnn_errors(fn):
    same_error(fn)


def test_rnn_dropout_warning_and_unknown_cell_nonlinearity():
    same_warning(lambda lib: lib.nn.GRU(3, 4, dropout=0.5))
    cell = ember.nn.RNNCell(3, 4, nonlinearity="sigmoid")  # as torch: accepted until forward
    same_error(lambda lib: lib.nn.RNNCell(3, 4, nonlinearity="sigmoid")(lib.randn(2, 3)))
    assert cell.nonlinearity == "sigmoid"


@pytest.mark.parametrize(
    "name, kwargs",
    [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {})],
)
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(name, kwargs, bias):
    tm, em = build(name, IN, H, bias=bias, **kwargs)
    state = (leaf(B, H), leaf(B, H)) if name == "LSTMCell" else leaf(B, H)
    check(tm, em, leaf(B, IN))
    check(tm, em, leaf(B, IN), state)
    out = check(tm, em, leaf(IN))  # unbatched
    assert tuple(flat(out)[0].shape) == (H,)
    check(tm, em, leaf(IN), tuple(s[0] for s in state) if name == "LSTMCell" else state[0])


def test_cell_unrolled_equals_layer():
    """A GRU layer is its cell unrolled: same weights, same trajectory."""
    layer, cell = ember.nn.GRU(IN, H).double(), ember.nn.GRUCell(IN, H).double()
    with ember.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(layer, f"{name}_l0"))
    x = ember.randn(T, B, IN, dtype=ember.float64)
    out, h = layer(x)
    state = None
    for t in range(T):
        state = cell(x[t], state)
        np.testing.assert_allclose(state.detach().numpy(), out[t].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h[0].detach().numpy(), state.detach().numpy(), rtol=1e-12)


# ---- attention ----------------------------------------------------------------------------------
E, HEADS, L, S = 8, 2, 3, 5


def causal(n: int) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool).triu(1)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"batch_first": True},
        {"bias": False},
        {"add_bias_kv": True},
        {"add_zero_attn": True},
        {"kdim": 3, "vdim": 6},
        {"kdim": 3, "vdim": 6, "add_bias_kv": True, "add_zero_attn": True, "batch_first": True},
    ],
    ids=str,
)
@pytest.mark.parametrize("average", [True, False])
def test_multihead_attention_cross(config, average):
    tm, em = build("MultiheadAttention", E, HEADS, **config)
    first = (lambda *s: (s[1], s[0], s[2])) if config.get("batch_first") else (lambda *s: s)
    q = leaf(*first(L, B, E))
    k = leaf(*first(S, B, config.get("kdim", E)))
    v = leaf(*first(S, B, config.get("vdim", E)))
    out, weights = check(tm, em, q, k, v, average_attn_weights=average)
    assert tuple(weights.shape) == (
        (B, L, weights.shape[-1]) if average else (B, HEADS, L, weights.shape[-1])
    )


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_self_with_masks(batch_first):
    tm, em = build("MultiheadAttention", E, HEADS, batch_first=batch_first)
    x = leaf(B, L, E) if batch_first else leaf(L, B, E)
    padding = torch.tensor([[False, False, True], [False, False, False], [False, True, True]])
    float_mask = torch.tensor(RNG.standard_normal((L, L)))
    check(tm, em, x, x, x)
    check(tm, em, x, x, x, attn_mask=causal(L))
    check(tm, em, x, x, x, key_padding_mask=padding)
    check(tm, em, x, x, x, key_padding_mask=padding, attn_mask=causal(L))
    check(tm, em, x, x, x, attn_mask=float_mask)
    check(tm, em, x, x, x, attn_mask=float_mask.expand(B * HEADS, L, L).contiguous())
    out, weights = check(tm, em, x, x, x, need_weights=False, attn_mask=causal(L))
    assert weights is None
    check(tm, em, x, x, x, need_weights=False, attn_mask=causal(L), is_causal=True)
    # Matches torch: without weights or padding mask, is_causal overrides the mask given.
    check(tm, em, x, x, x, need_weights=False, attn_mask=float_mask, is_causal=True)
    check(tm, em, x, x, x, attn_mask=causal(L), is_causal=True)


def test_multihead_attention_unbatched_and_eval():
    tm, em = build("MultiheadAttention", E, HEADS, dropout=0.5)
    tm.eval(), em.eval()
    q, k = leaf(L, E), leaf(S, E)
    check(tm, em, q, k, k, key_padding_mask=torch.tensor([False, True, False, False, True]))
    x = leaf(L, E)
    check(tm, em, x, x, x, attn_mask=causal(L), average_attn_weights=False)


def test_multihead_attention_dropout_in_training():
    em = ember.nn.MultiheadAttention(E, HEADS, dropout=0.5)
    x = ember.randn(L, B, E)
    weights = em(x, x, x)[1].detach().numpy()
    assert weights.shape == (B, L, L) and not np.allclose(weights.sum(-1), 1)


def test_multihead_attention_parameters_and_init():
    em = ember.nn.MultiheadAttention(E, HEADS, add_bias_kv=True)
    assert type(em.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(em.out_proj, ember.nn.Linear)
    assert em.in_proj_bias.detach().numpy().tolist() == [0.0] * (3 * E)
    assert em.out_proj.bias.detach().numpy().tolist() == [0.0] * E
    bound = np.sqrt(6 / (E + 3 * E))  # xavier_uniform_ of the (3E, E) in_proj_weight
    assert np.all(np.abs(em.in_proj_weight.detach().numpy()) <= bound)
    assert em.q_proj_weight is None and em.head_dim == E // HEADS


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.MultiheadAttention(8, 3),
        lambda lib: lib.nn.MultiheadAttention(0, 2),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(*[lib.randn(3, 2, 8)] * 2, lib.randn(3, 8)),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(*[lib.randn(3, 2, 4)] * 3),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.randn(3, 8), *[lib.randn(3, 2, 8)] * 2),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            lib.randn(1, 3, 2, 8), *[lib.randn(3, 2, 8)] * 2
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            lib.randn(3, 2, 8), lib.randn(4, 2, 8), lib.randn(5, 2, 8)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3, attn_mask=lib.zeros(3, 4)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3, attn_mask=lib.zeros(2, 3, 3)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3, attn_mask=lib.zeros(3, 3, dtype=lib.long)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3, key_padding_mask=lib.zeros(2, 4, dtype=lib.bool)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3, key_padding_mask=lib.zeros(3, dtype=lib.bool)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(*[lib.randn(3, 2, 8)] * 3, is_causal=True),
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 8)] * 3, attn_mask=lib.zeros(2, 3, 4)
        ),
        lambda lib: lib.nn.MultiheadAttention(8, 2, kdim=3, vdim=3)(
            lib.randn(3, 2, 8), lib.randn(4, 2, 3), lib.randn(5, 2, 3)
        ),
    ],
)
def test_multihead_attention_errors(fn):
    same_error(fn)


def test_multihead_attention_mismatched_mask_types_warn():
    same_warning(
        lambda lib: lib.nn.MultiheadAttention(8, 2)(
            *[lib.randn(3, 2, 8)] * 3,
            key_padding_mask=lib.zeros(2, 3, dtype=lib.bool),
            attn_mask=lib.zeros(3, 3),
        )
    )


# ---- activations --------------------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", (), {}),
    ("ReLU", (), {"inplace": True}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("ELU", (), {}),
    ("ELU", (0.5,), {"inplace": True}),
    ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("SiLU", (), {}),
    ("SiLU", (True,), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("Softmax", (1,), {}),
    ("Softmax", (), {"dim": -1}),
    ("LogSoftmax", (0,), {}),
    ("Softplus", (), {}),
    ("Softplus", (2.0, 1.0), {}),
    ("Hardtanh", (), {}),
    ("Hardtanh", (-0.5, 0.5, True), {}),
    ("ReLU6", (), {}),
    ("ReLU6", (True,), {}),
    ("LogSigmoid", (), {}),
]


@pytest.mark.parametrize("name, args, kwargs", ACTIVATIONS)
def test_activations_match_torch(name, args, kwargs):
    tm, em = build(name, *args, **kwargs)
    x = torch.tensor(RNG.standard_normal((3, 4)) * 4)
    if getattr(tm, "inplace", False):
        # An in-place activation needs a non-leaf input; compare the gradient through it.
        t_leaf = x.clone().requires_grad_()
        e_leaf = to_ember(t_leaf)
        t_out, e_out = tm(t_leaf * 1), em(e_leaf * 1)
        close(e_out, t_out)
        g = RNG.standard_normal((3, 4))
        (t_out * torch.tensor(g)).sum().backward()
        (e_out * ember.tensor(g)).sum().backward()
        close(e_leaf.grad, t_leaf.grad)
    else:
        check(tm, em, x.requires_grad_())


def test_softmax_without_dim_warns_as_torch():
    same_warning(lambda lib: lib.nn.Softmax()(lib.ones(2, 3)))


def test_hardtanh_errors_and_deprecated_names():
    same_error(lambda lib: lib.nn.Hardtanh(1.0, -1.0))
    same_warning(lambda lib: lib.nn.Hardtanh(min_value=-2.0))
    with pytest.warns(FutureWarning):
        assert ember.nn.Hardtanh(max_value=2.0).max_val == 2.0


# ---- losses -------------------------------------------------------------------------------------
def _classes(n: int = 4, c: int = 5, ignore: bool = False) -> torch.Tensor:
    target = torch.tensor(RNG.integers(0, c, n))
    if ignore:
        target[1] = -100
    return target


def _probs(*shape: int) -> torch.Tensor:
    return torch.tensor(RNG.uniform(0.05, 0.95, shape))


LOSSES = [
    ("MSELoss", {}, lambda: (leaf(3, 4), torch.tensor(RNG.standard_normal((3, 4))))),
    ("L1Loss", {}, lambda: (leaf(3, 4), torch.tensor(RNG.standard_normal((3, 4))))),
    (
        "SmoothL1Loss",
        {"beta": 0.5},
        lambda: (leaf(3, 4), torch.tensor(RNG.standard_normal((3, 4)))),
    ),
    ("HuberLoss", {"delta": 0.5}, lambda: (leaf(3, 4), torch.tensor(RNG.standard_normal((3, 4))))),
    ("CrossEntropyLoss", {}, lambda: (leaf(4, 5), _classes(ignore=True))),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, lambda: (leaf(4, 5), _classes())),
    ("CrossEntropyLoss", {"weight": "class"}, lambda: (leaf(4, 5), _classes(ignore=True))),
    (
        "CrossEntropyLoss",
        {},
        lambda: (leaf(4, 5), torch.softmax(torch.randn(4, 5, dtype=torch.float64), 1)),
    ),
    (
        "CrossEntropyLoss",
        {"ignore_index": 2},
        lambda: (leaf(4, 5, 2), torch.tensor(RNG.integers(0, 5, (4, 2)))),
    ),
    ("NLLLoss", {}, lambda: (leaf(4, 5), _classes(ignore=True))),
    ("NLLLoss", {"weight": "class"}, lambda: (leaf(4, 5), _classes())),
    ("BCELoss", {}, lambda: (leaf(3, 5, low=0.05, high=0.95), _probs(3, 5))),
    ("BCELoss", {"weight": "class"}, lambda: (leaf(3, 5, low=0.05, high=0.95), _probs(3, 5))),
    ("BCEWithLogitsLoss", {}, lambda: (leaf(3, 5), _probs(3, 5))),
    (
        "BCEWithLogitsLoss",
        {"weight": "class", "pos_weight": "class"},
        lambda: (leaf(3, 5), _probs(3, 5)),
    ),
    ("KLDivLoss", {}, lambda: (leaf(3, 5), _probs(3, 5))),
    ("KLDivLoss", {"log_target": True}, lambda: (leaf(3, 5), torch.log(_probs(3, 5)))),
]


@pytest.mark.parametrize(
    "name, kwargs, make", LOSSES, ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.filterwarnings("ignore:reduction. .mean. divides the total loss")
def test_losses_match_torch(name, kwargs, make, reduction):
    weights = {k: torch.tensor(RNG.uniform(0.5, 2.0, 5)) for k, v in kwargs.items() if v == "class"}
    tm = getattr(torch.nn, name)(**{**kwargs, **weights}, reduction=reduction)
    em = getattr(ember.nn, name)(**{**kwargs, **to_ember(weights)}, reduction=reduction)
    assert repr(em) == repr(tm).replace("torch", "ember")
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert list(em.state_dict()) == list(tm.state_dict())
    check(tm, em, *make())


def test_loss_buffers_follow_dtype_and_legacy_reduction():
    em = ember.nn.CrossEntropyLoss(weight=ember.ones(3)).double()
    assert em.weight.dtype == ember.float64 and list(em.state_dict()) == ["weight"]
    assert ember.nn.BCEWithLogitsLoss().pos_weight is None
    same_warning(lambda lib: lib.nn.MSELoss(size_average=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ember.nn.MSELoss(size_average=False).reduction == "sum"
        assert ember.nn.L1Loss(reduce=False).reduction == "none"
    same_error(lambda lib: lib.nn.HuberLoss(delta="1"))
    assert repr(ember.nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss()"
    tm, em = torch.nn.KLDivLoss(reduction="batchmean"), ember.nn.KLDivLoss(reduction="batchmean")
    check(tm, em, leaf(3, 5), _probs(3, 5))


# ---- normalisation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, shape",
    [
        ((4,), {}, (3, 4)),
        (([3, 4],), {}, (2, 3, 4)),
        ((4,), {"elementwise_affine": False}, (2, 3, 4)),
        ((4,), {"bias": False, "eps": 1e-3}, (2, 4)),
    ],
)
def test_layer_norm_matches_torch(args, kwargs, shape):
    tm, em = build("LayerNorm", *args, **kwargs)
    with torch.no_grad():
        for p in tm.parameters():  # not the ones/zeros init, so the affine part is exercised
            p.copy_(torch.tensor(RNG.standard_normal(tuple(p.shape))))
    copy_state(tm, em)
    check(tm, em, leaf(*shape))


@pytest.mark.parametrize(
    "args, kwargs, shape",
    [
        ((2, 4), {}, (3, 4, 5)),
        ((1, 4), {"affine": False}, (2, 4)),
        ((4, 4), {"bias": False}, (2, 4, 2, 3)),
    ],
)
def test_group_norm_matches_torch(args, kwargs, shape):
    tm, em = build("GroupNorm", *args, **kwargs)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.tensor(RNG.standard_normal(tuple(p.shape))))
    copy_state(tm, em)
    check(tm, em, leaf(*shape))


def test_norm_init_and_errors():
    em = ember.nn.LayerNorm(3)
    assert em.weight.detach().numpy().tolist() == [1.0] * 3
    assert em.bias.detach().numpy().tolist() == [0.0] * 3
    assert em.normalized_shape == (3,)
    assert ember.nn.GroupNorm(2, 4, affine=False).weight is None
    same_error(lambda lib: lib.nn.GroupNorm(3, 4))


BATCH_NORMS = [
    ("BatchNorm1d", {}, (6, 3)),
    ("BatchNorm1d", {"momentum": None}, (4, 3, 5)),
    ("BatchNorm1d", {"affine": False, "momentum": 0.3}, (5, 3)),
    ("BatchNorm2d", {}, (4, 3, 2, 2)),
    ("BatchNorm2d", {"momentum": None, "bias": False}, (2, 3, 3, 2)),
    ("BatchNorm2d", {"track_running_stats": False}, (2, 3, 2, 2)),
]


@pytest.mark.parametrize("name, kwargs, shape", BATCH_NORMS)
def test_batch_norm_running_stats_match_torch(name, kwargs, shape):
    tm, em = build(name, 3, **kwargs)
    for _ in range(3):  # training steps: batch statistics, buffers updated in place
        check(tm, em, leaf(*shape) * 2 + 1)
        for (n, t_buf), (_, e_buf) in zip(tm.named_buffers(), em.named_buffers()):
            np.testing.assert_allclose(e_buf.numpy(), t_buf.numpy(), rtol=RTOL, err_msg=n)
    tm.eval(), em.eval()
    check(tm, em, leaf(*shape))  # eval: running statistics (batch ones if none tracked)
    if tm.num_batches_tracked is not None:
        assert em.num_batches_tracked.item() == 3 and em.num_batches_tracked.dtype == ember.int64


def test_batch_norm_buffers_and_reset():
    em = ember.nn.BatchNorm1d(3)
    assert list(em.state_dict()) == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    em(ember.randn(4, 3) + 5)
    assert em.running_mean.detach().numpy().min() > 0.1
    em.reset_running_stats()
    assert em.running_mean.numpy().tolist() == [0.0] * 3
    assert em.running_var.numpy().tolist() == [1.0] * 3
    assert em.num_batches_tracked.item() == 0
    untracked = ember.nn.BatchNorm2d(3, track_running_stats=False)
    assert untracked.running_mean is None and list(untracked.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.BatchNorm1d(3)(lib.randn(2, 3, 4, 5)),
        lambda lib: lib.nn.BatchNorm1d(3)(lib.randn(3)),
        lambda lib: lib.nn.BatchNorm2d(3)(lib.randn(2, 3, 4)),
    ],
)
def test_batch_norm_input_dim_errors(fn):
    same_error(fn)


# ---- dropout ------------------------------------------------------------------------------------
def test_dropout():
    tm, em = build("Dropout", 0.3)
    assert repr(ember.nn.Dropout(0.1, True)) == "Dropout(p=0.1, inplace=True)"
    x = ember.randn(200, 50, dtype=ember.float64) + 3
    out = em(x).numpy()
    kept = out != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(out[kept], x.numpy()[kept] / 0.7, rtol=1e-12)
    em.eval()
    assert np.array_equal(em(x).numpy(), x.numpy())
    tm.eval()
    check(tm, em, leaf(3, 4))
    same_error(lambda lib: lib.nn.Dropout(1.5))
    same_error(lambda lib: lib.nn.Dropout(-0.1))


# ---- embedding ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"padding_idx": 1}, {"padding_idx": -2}, {"scale_grad_by_freq": True}, {"max_norm": 1.0}],
    ids=str,
)
def test_embedding_matches_torch(kwargs):
    tm, em = build("Embedding", 6, 3, **kwargs)
    check(tm, em, torch.tensor([[0, 1, 4], [4, 4, 2]]))
    check(tm, em, torch.tensor(5))


def test_embedding_padding_row_and_from_pretrained():
    em = ember.nn.Embedding(5, 3, padding_idx=-1)
    assert em.padding_idx == 4
    assert em.weight[4].detach().numpy().tolist() == [0.0] * 3
    assert em.weight.requires_grad
    table = ember.randn(4, 2)
    frozen = ember.nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    assert np.array_equal(frozen(ember.tensor([3, 0])).numpy(), table.numpy()[[3, 0]])
    trainable = ember.nn.Embedding.from_pretrained(table, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad and repr(trainable) == "Embedding(4, 2, padding_idx=0)"
    t_rep = repr(torch.nn.Embedding(5, 3, max_norm=1.0, norm_type=1.0, sparse=True))
    assert repr(ember.nn.Embedding(5, 3, max_norm=1.0, norm_type=1.0, sparse=True)) == t_rep


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.Embedding(5, 3, padding_idx=5),
        lambda lib: lib.nn.Embedding(5, 3, padding_idx=-6),
        lambda lib: lib.nn.Embedding(5, 3, _weight=lib.zeros(4, 3)),
        lambda lib: lib.nn.Embedding.from_pretrained(lib.zeros(4)),
    ],
)
def test_embedding_errors(fn):
    same_error(fn)
