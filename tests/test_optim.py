"""ember.optim checked against torch.optim: the same parameters and gradients give the same
trajectories and state step for step; state dicts, reprs, errors and lr schedules match."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import ember

SHAPES = [(3, 4), (4,), ()]

OPTIMIZER_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.2, "nesterov": True, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.1, "betas": (0.5, 0.6), "eps": 1e-3}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.05, "alpha": 0.5, "eps": 1e-4}),
    ("RMSprop", {"lr": 0.05, "centered": True}),
    ("RMSprop", {"lr": 0.05, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.05, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "maximize": True}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for name, kw in OPTIMIZER_CASES]  # fmt: skip


def to_numpy(value):
    if isinstance(value, (torch.Tensor, ember.Tensor)):
        return value.detach().numpy()
    return value


def initial_values(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradient_sequence(steps, dtype=np.float64, seed=1):
    """Per step, a gradient for each parameter; parameter 2 has none on steps 3 and 4."""
    rng = np.random.default_rng(seed)
    return [
        [None if (i == 2 and k in (3, 4)) else rng.standard_normal(s).astype(dtype)
         for i, s in enumerate(SHAPES)]
        for k in range(steps)
    ]  # fmt: skip


def snapshot(m, opt, params):
    """Parameter values and every state entry, as NumPy arrays/numbers, keyed by index."""
    state = {
        i: {k: np.array(to_numpy(v)) for k, v in opt.state[p].items()}
        for i, p in enumerate(params)
        if p in opt.state
    }
    return [np.array(to_numpy(p)) for p in params], state


def run_fixed_grads(m, name, kwargs, steps=10, dtype=np.float64):
    params = [m.tensor(v, requires_grad=True) for v in initial_values(dtype)]
    opt = getattr(m.optim, name)(params, **kwargs)
    out = []
    for grads in gradient_sequence(steps, dtype):
        for p, g in zip(params, grads):
            p.grad = None if g is None else m.tensor(g)
        opt.step()
        out.append(snapshot(m, opt, params))
    return out


def assert_same_trajectory(e_traj, t_traj, rtol=1e-12, atol=1e-14):
    assert len(e_traj) == len(t_traj)
    for k, ((ep, es), (tp, ts)) in enumerate(zip(e_traj, t_traj)):
        for a, b in zip(ep, tp):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"step {k}")
        assert es.keys() == ts.keys(), f"step {k}"
        for i in ts:
            assert list(es[i]) == list(ts[i]), f"step {k}: state keys of parameter {i}"
            for key in ts[i]:
                assert es[i][key].dtype == ts[i][key].dtype, (k, i, key)
                np.testing.assert_allclose(
                    es[i][key], ts[i][key], rtol=rtol, atol=atol, err_msg=f"{k} {i} {key}"
                )


# ---- trajectories -------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_trajectory_with_fixed_gradients_float64(name, kwargs):
    assert_same_trajectory(
        run_fixed_grads(ember, name, kwargs), run_fixed_grads(torch, name, kwargs)
    )


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_trajectory_with_fixed_gradients_float32(name, kwargs):
    assert_same_trajectory(
        run_fixed_grads(ember, name, kwargs, dtype=np.float32),
        run_fixed_grads(torch, name, kwargs, dtype=np.float32),
        rtol=1e-5,
        atol=1e-6,
    )


def run_regression(m, name, kwargs, steps=10):
    """Linear regression by full-batch steps with a closure: the loss and its gradient are
    computed by the library itself."""
    rng = np.random.default_rng(2)
    x = m.tensor(rng.standard_normal((16, 3)))
    y = m.tensor(rng.standard_normal((16, 1)))
    w = m.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    b = m.tensor(np.zeros(1), requires_grad=True)
    opt = getattr(m.optim, name)([w, b], **kwargs)

    def closure():
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return losses, snapshot(m, opt, [w, b])


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_trajectory_on_a_regression_loss_with_closure(name, kwargs):
    e_losses, e_snap = run_regression(ember, name, kwargs)
    t_losses, t_snap = run_regression(torch, name, kwargs)
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-12)
    assert_same_trajectory([e_snap], [t_snap])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_their_own_options(name):
    def run(m):
        a, b = (m.tensor(v, requires_grad=True) for v in initial_values()[:2])
        opt = getattr(m.optim, name)([{"params": [a]}, {"params": b, "lr": 0.3}], lr=0.01)
        for grads in gradient_sequence(5):
            a.grad, b.grad = m.tensor(grads[0]), m.tensor(grads[1])
            opt.step()
        return [a.detach().numpy().copy(), b.detach().numpy().copy()]

    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_allclose(e, t, rtol=1e-12)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("Adam", {"lr": 0.1, "amsgrad": True}),
        ("AdamW", {"lr": 0.1}),
        ("RMSprop", {"lr": 0.1, "centered": True, "momentum": 0.5}),
        ("Adagrad", {"lr": 0.1}),
    ],
)
def test_complex_parameters_are_pairs_of_reals(name, kwargs):
    def run(m):
        rng = np.random.default_rng(3)
        p = m.tensor(rng.standard_normal(4) + 1j * rng.standard_normal(4), requires_grad=True)
        opt = getattr(m.optim, name)([p], **kwargs)
        for _ in range(5):
            p.grad = m.tensor(rng.standard_normal(4) + 1j * rng.standard_normal(4))
            opt.step()
        return p.detach().numpy().copy()

    np.testing.assert_allclose(run(ember), run(torch), rtol=1e-12)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", lambda m: {"lr": m.tensor(0.1, dtype=m.float64), "momentum": 0.9}),
        ("Adam", lambda m: {"lr": m.tensor([0.1], dtype=m.float64)}),
        (
            "Adam",
            lambda m: {"betas": (m.tensor(0.8, dtype=m.float64), m.tensor([0.9], dtype=m.float64))},
        ),
        ("RMSprop", lambda m: {"lr": m.tensor(0.01, dtype=m.float64)}),
        ("Adagrad", lambda m: {"lr": m.tensor(0.1, dtype=m.float64)}),
    ],
)
def test_tensor_hyperparameters(name, kwargs):
    """A one-element tensor lr or beta acts as its value (float64 tensors: no rounding)."""
    assert_same_trajectory(
        run_fixed_grads(ember, name, kwargs(ember)), run_fixed_grads(torch, name, kwargs(torch))
    )


def test_foreach_and_fused_are_options_that_show_in_repr(same):
    same(lambda m: repr(m.optim.Adam([leaf(m)], foreach=False, fused=None, capturable=False)))


def test_differentiable_steps_are_not_supported():
    with pytest.raises(NotImplementedError, match="differentiable"):
        ember.optim.SGD([leaf(ember)], differentiable=True)


# ---- update semantics ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_step_updates_the_parameter_object_in_place(name):
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    alias, data, version = p.detach(), p._data, p._version
    opt = getattr(ember.optim, name)([p], lr=0.1)
    p.grad = ember.tensor([0.5, -0.5])
    opt.step()
    assert opt.param_groups[0]["params"][0] is p
    assert p._data is data and p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version > version
    np.testing.assert_array_equal(alias.numpy(), p.detach().numpy())


def test_a_graph_that_saved_the_old_parameter_fails_at_backward(same):
    def f(m):
        p = m.tensor([1.0, 2.0], requires_grad=True)
        loss = (p * p).sum()
        p.grad = m.tensor([1.0, 1.0])
        m.optim.SGD([p], lr=0.1).step()
        loss.backward()

    same(f)


def test_parameters_without_grad_are_skipped_and_get_no_state(same):
    def f(m):
        a, b = m.tensor([1.0], requires_grad=True), m.tensor([2.0], requires_grad=True)
        opt = m.optim.Adam([a, b], lr=0.1)
        a.grad = m.tensor([1.0])
        opt.step()
        return [b.item(), len(opt.state), list(opt.state_dict()["state"])]

    same(f)


def test_sgd_without_momentum_keeps_no_state(same):
    def f(m):
        p = m.tensor([1.0], requires_grad=True)
        opt = m.optim.SGD([p], lr=0.1)
        p.grad = m.tensor([1.0])
        opt.step()
        return [len(opt.state), opt.state_dict()["state"]]

    same(f)


def test_step_state_is_a_scalar_tensor_in_the_default_dtype():
    for m in (ember, torch):
        p = m.tensor([1.0], requires_grad=True)
        opt = m.optim.Adam([p])
        p.grad = m.tensor([1.0])
        opt.step()
        step = opt.state[p]["step"]
        assert isinstance(step, m.Tensor) and step.shape == () and step.dtype == m.float32
        assert step.item() == 1.0


def test_adagrad_creates_its_state_at_construction(same):
    def f(m):
        p = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.Adagrad([p], initial_accumulator_value=0.25)
        return [list(opt.state[p]), opt.state[p]["step"], opt.state[p]["sum"]]

    same(f)


def test_closure_runs_with_grad_and_the_update_without(same):
    def f(m):
        p = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.SGD([p], lr=0.1)
        modes = []

        def closure():
            modes.append(m.is_grad_enabled())
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        with m.no_grad():
            loss = opt.step(closure)
        return [modes, loss, p, m.is_grad_enabled()]

    same(f)


def test_zero_grad(same):
    def f(m):
        p = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.SGD([p], lr=0.1)
        (p * p).sum().backward()
        g = p.grad
        opt.zero_grad(set_to_none=False)
        kept = [p.grad is g, p.grad]
        opt.zero_grad()
        return kept + [p.grad is None]

    same(f)


def test_step_hooks():
    calls = []
    p = ember.tensor([1.0], requires_grad=True)
    opt = ember.optim.SGD([p], lr=0.1)
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o is opt)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", len(args))))
    opt.step()
    pre.remove()
    opt.step()
    assert calls == [("pre", True), ("post", 1), ("post", 1)]


def test_named_parameters_are_accepted(same):
    def f(m):
        p = m.tensor([1.0], requires_grad=True)
        opt = m.optim.SGD([("w", p)], lr=0.1)
        return [opt.param_groups[0]["param_names"], opt.state_dict()["param_groups"]]

    same(f)


# ---- state dicts --------------------------------------------------------------------------------
def plain(obj):
    """A state dict with tensors as NumPy arrays, for comparison across libraries."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return to_numpy(obj)


def assert_same_state_dict(e, t):
    e, t = plain(e), plain(t)
    assert e["param_groups"] == t["param_groups"]
    assert e["state"].keys() == t["state"].keys()
    for i in t["state"]:
        assert list(e["state"][i]) == list(t["state"][i])
        for k, v in t["state"][i].items():
            np.testing.assert_allclose(e["state"][i][k], v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(name, kwargs):
    def run(m):
        grads = gradient_sequence(10)
        params = [m.tensor(v, requires_grad=True) for v in initial_values()]
        opt = getattr(m.optim, name)(params, **kwargs)
        for step in grads[:5]:
            for p, g in zip(params, step):
                p.grad = None if g is None else m.tensor(g)
            opt.step()
        saved = copy.deepcopy(opt.state_dict())
        fresh = [m.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
        opt2 = getattr(m.optim, name)(fresh, lr=123.0)
        opt2.load_state_dict(saved)
        for step in grads[5:]:
            for pair in (params, fresh):
                for p, g in zip(pair, step):
                    p.grad = None if g is None else m.tensor(g)
            opt.step()
            opt2.step()
        return saved, opt.state_dict(), opt2.state_dict(), params, fresh

    e, t = run(ember), run(torch)
    assert_same_state_dict(e[0], t[0])
    assert_same_state_dict(e[1], t[1])
    assert_same_state_dict(e[2], t[2])
    for ep, tp, fp in zip(e[3], t[3], e[4]):
        np.testing.assert_array_equal(ep.detach().numpy(), fp.detach().numpy())
        np.testing.assert_allclose(ep.detach().numpy(), tp.detach().numpy(), rtol=1e-12)


def test_state_dict_numbers_parameters_across_groups(same):
    def f(m):
        a, b, c = (m.tensor([float(i)], requires_grad=True) for i in range(3))
        opt = m.optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
        for p in (a, c):
            p.grad = m.tensor([1.0])
        opt.step()
        sd = opt.state_dict()
        return [sd["param_groups"], list(sd["state"]), sd["state"][1]["momentum_buffer"]]

    same(f)


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = ember.optim.Adam([p])
    p.grad = ember.tensor([1.0, 1.0])
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    q = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    opt2 = ember.optim.Adam([q])
    opt2.load_state_dict(sd)
    assert opt2.state[q]["exp_avg"].dtype is ember.float64
    assert opt2.state[q]["step"].dtype is ember.float32


def test_adamw_stays_decoupled_after_loading_an_adam_state_dict(same):
    def f(m):
        p = m.tensor([1.0], requires_grad=True)
        opt = m.optim.AdamW([p])
        opt.load_state_dict(m.optim.Adam([p]).state_dict())
        return opt.param_groups[0]["decoupled_weight_decay"]

    same(f)


# ---- reprs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=CASE_IDS)
def test_repr(name, kwargs, same):
    same(lambda m: repr(getattr(m.optim, name)([m.tensor([1.0], requires_grad=True)], **kwargs)))


def test_repr_with_two_groups(same):
    def f(m):
        a, b = m.tensor([1.0], requires_grad=True), m.tensor([2.0], requires_grad=True)
        return repr(m.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1e-2))

    same(f)


# ---- errors -------------------------------------------------------------------------------------
def leaf(m, v=1.0):
    return m.tensor([v], requires_grad=True)


ERROR_CASES = {
    "empty": lambda m: m.optim.SGD([], lr=0.1),
    "tensor_params": lambda m: m.optim.SGD(leaf(m), lr=0.1),
    "non_leaf": lambda m: m.optim.SGD([leaf(m) * 2], lr=0.1),
    "not_a_tensor": lambda m: m.optim.SGD([1.0], lr=0.1),
    "set": lambda m: m.optim.SGD([{"params": {leaf(m)}}], lr=0.1),
    "group_not_dict": lambda m: m.optim.SGD([leaf(m)]).add_param_group([leaf(m)]),
    "two_groups": lambda m: (lambda p: m.optim.SGD([{"params": [p]}, {"params": [p]}]))(leaf(m)),
    "named_mixed": lambda m: m.optim.SGD([("a", leaf(m)), leaf(m)]),
    "named_groups_mixed": lambda m: m.optim.SGD(
        [{"params": [("a", leaf(m))]}, {"params": [leaf(m)]}]
    ),  # fmt: skip
    "sgd_lr": lambda m: m.optim.SGD([leaf(m)], lr=-0.1),
    "sgd_momentum": lambda m: m.optim.SGD([leaf(m)], momentum=-0.5),
    "sgd_weight_decay": lambda m: m.optim.SGD([leaf(m)], weight_decay=-1),
    "sgd_nesterov_no_momentum": lambda m: m.optim.SGD([leaf(m)], nesterov=True),
    "sgd_nesterov_dampening": lambda m: m.optim.SGD(
        [leaf(m)], momentum=0.9, dampening=0.1, nesterov=True
    ),
    "sgd_tensor_lr": lambda m: m.optim.SGD([leaf(m)], lr=m.tensor([0.1, 0.2])),
    "adam_lr": lambda m: m.optim.Adam([leaf(m)], lr=-1.0),
    "adam_eps": lambda m: m.optim.Adam([leaf(m)], eps=-1.0),
    "adam_beta0": lambda m: m.optim.Adam([leaf(m)], betas=(1.0, 0.9)),
    "adam_beta1": lambda m: m.optim.Adam([leaf(m)], betas=(0.9, -0.1)),
    "adam_weight_decay": lambda m: m.optim.AdamW([leaf(m)], weight_decay=-0.1),
    "adam_int_beta": lambda m: m.optim.Adam([leaf(m)], betas=(0.9, 0)),
    "rmsprop_alpha": lambda m: m.optim.RMSprop([leaf(m)], alpha=-0.1),
    "rmsprop_momentum": lambda m: m.optim.RMSprop([leaf(m)], momentum=-0.1),
    "rmsprop_eps": lambda m: m.optim.RMSprop([leaf(m)], eps=-0.1),
    "adagrad_lr_decay": lambda m: m.optim.Adagrad([leaf(m)], lr_decay=-0.1),
    "adagrad_init": lambda m: m.optim.Adagrad([leaf(m)], initial_accumulator_value=-0.1),
    "adagrad_eps": lambda m: m.optim.Adagrad([leaf(m)], eps=-0.1),
    "load_groups": lambda m: m.optim.SGD([leaf(m)]).load_state_dict(
        m.optim.SGD([{"params": [leaf(m)]}, {"params": [leaf(m)]}]).state_dict()
    ),
    "load_sizes": lambda m: m.optim.SGD([leaf(m)]).load_state_dict(
        m.optim.SGD([leaf(m), leaf(m)]).state_dict()
    ),
    "fused_and_foreach": lambda m: m.optim.SGD([leaf(m)], fused=True, foreach=True),
    "adam_tensor_betas_size": lambda m: m.optim.Adam(
        [leaf(m)], betas=(m.tensor([0.9]), m.tensor([0.99, 0.9]))
    ),
    "adam_mixed_betas": lambda m: m.optim.Adam([leaf(m)], betas=(m.tensor(0.9), 0.99)),
    "base_step": lambda m: m.optim.Optimizer([leaf(m)], {}).step(),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors(case, same):
    assert same(ERROR_CASES[case]) is None


def test_duplicate_parameters_warn_like_torch():
    for m in (ember, torch):
        p = leaf(m)
        with pytest.warns(UserWarning, match="duplicate parameters"):
            m.optim.SGD([p, p])


# ---- lr schedulers ------------------------------------------------------------------------------
SCHEDULER_CASES = {
    "StepLR": lambda m, o: m.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.optim.lr_scheduler.MultiStepLR(o, [3, 7, 7, 20], gamma=0.3),
    "ExponentialLR": lambda m, o: m.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8),
    "CosineAnnealingLR-eta_min": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=10, eta_min=0.01
    ),
    "LambdaLR": lambda m, o: m.optim.lr_scheduler.LambdaLR(o, lambda e: 0.95**e + e % 3),
    "LambdaLR-per-group": lambda m, o: m.optim.lr_scheduler.LambdaLR(
        o, [lambda e: 1 / (e + 1), lambda e: e]
    ),
    "OneCycleLR": lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=30),
    "OneCycleLR-linear": lambda m, o: m.optim.lr_scheduler.OneCycleLR(
        o, max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=10, anneal_strategy="linear"
    ),
    "OneCycleLR-three-phase": lambda m, o: m.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, total_steps=31, three_phase=True, pct_start=0.25, div_factor=10.0
    ),
    "OneCycleLR-no-momentum": lambda m, o: m.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, total_steps=30, cycle_momentum=False, final_div_factor=100.0
    ),
}


def two_group_optimizer(m, name="SGD"):
    a, b = leaf(m), leaf(m, 2.0)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.3}]
    if name == "SGD":
        return m.optim.SGD(groups, lr=0.1, momentum=0.9), [a, b]
    return getattr(m.optim, name)(groups, lr=0.1), [a, b]


def schedule(m, case, optimizer_name, steps=30):
    """Per step: each group's lr, momentum/beta1, and get_last_lr()."""
    opt, params = two_group_optimizer(m, optimizer_name)
    sched = SCHEDULER_CASES[case](m, opt)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad = m.tensor([1.0])
        opt.step()
        sched.step()
        out.append(
            [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups]
            + [sched.get_last_lr(), sched.last_epoch]
        )
    return out, sched, opt


@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
@pytest.mark.parametrize("case", SCHEDULER_CASES)
def test_scheduler_values_match_step_for_step(case, optimizer_name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e, e_sched, e_opt = schedule(ember, case, optimizer_name)
        t, t_sched, t_opt = schedule(torch, case, optimizer_name)
    assert e == t  # exact: the same float operations in the same order
    e_sd, t_sd = e_sched.state_dict(), t_sched.state_dict()
    assert e_sd == t_sd
    e_groups = [{k: v for k, v in g.items() if k != "params"} for g in e_opt.param_groups]
    t_groups = [{k: v for k, v in g.items() if k != "params"} for g in t_opt.param_groups]
    assert e_groups == t_groups


@pytest.mark.parametrize("case", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR"])
def test_scheduler_step_with_epoch_uses_the_closed_form(case):
    def run(m):
        opt, _ = two_group_optimizer(m)
        sched = SCHEDULER_CASES[case](m, opt)
        out = []
        for epoch in [3, 9, 4, 15]:
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter"):
                sched.step(epoch)
            out.append(sched.get_last_lr())
        return out

    assert run(ember) == run(torch)


@pytest.mark.parametrize("case", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "LambdaLR"])
def test_scheduler_state_dict_round_trip(case):
    def run(m):
        opt, _ = two_group_optimizer(m)
        sched = SCHEDULER_CASES[case](m, opt)
        for _ in range(7):
            opt.step()
            sched.step()
        saved = copy.deepcopy(sched.state_dict())
        opt2, _ = two_group_optimizer(m)
        opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
        sched2 = SCHEDULER_CASES[case](m, opt2)
        sched2.load_state_dict(saved)
        opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
        out = []
        for _ in range(10):
            for o, s in ((opt, sched), (opt2, sched2)):
                o.step()
                s.step()
            out.append((sched.get_last_lr(), sched2.get_last_lr()))
        return out

    e, t = run(ember), run(torch)
    assert e == t
    assert all(a == b for a, b in e)


def test_cosine_annealing_follows_an_lr_changed_from_outside():
    def run(m):
        opt, _ = two_group_optimizer(m)
        sched = m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
        out = []
        for k in range(25):
            if k == 3:
                opt.param_groups[0]["lr"] = 0.05
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out

    assert run(ember) == run(torch)


def test_scheduler_step_before_optimizer_step_warns_like_torch():
    for m in (ember, torch):
        opt, _ = two_group_optimizer(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step"):
            sched.step()
        opt, _ = two_group_optimizer(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
            sched.step()


def test_get_lr_outside_step_warns():
    for m in (ember, torch):
        opt, _ = two_group_optimizer(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="get_last_lr"):
            sched.get_lr()


PLATEAU_METRICS = [5, 4, 4.5, 4.2, 4.1, 4.3, 4.0, 4.0, 3.99, 4.5, 5, 6, 3, 3, 3.2, 3.1, 2, 2, 2, 2]
PLATEAU_CASES = [
    {},
    {"patience": 1},
    {"patience": 2, "factor": 0.5, "cooldown": 2},
    {"mode": "max", "patience": 0, "factor": 0.5},
    {"patience": 0, "threshold": 0.1, "threshold_mode": "abs", "min_lr": 0.02},
    {"mode": "max", "patience": 1, "threshold_mode": "abs", "min_lr": [0.05, 0.001]},
    {"patience": 0, "factor": 0.9, "eps": 0.01},
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES)
def test_reduce_lr_on_plateau(kwargs):
    def run(m):
        opt, _ = two_group_optimizer(m)
        sched = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for metric in PLATEAU_METRICS:
            opt.step()
            sched.step(m.tensor(metric))
            out.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter))
        return out, sched.state_dict()

    assert run(ember) == run(torch)


SCHEDULER_ERRORS = {
    "not_an_optimizer": lambda m: m.optim.lr_scheduler.StepLR(object(), 2),
    "resume_without_initial_lr": lambda m: m.optim.lr_scheduler.StepLR(
        two_group_optimizer(m)[0], 2, last_epoch=3
    ),
    "lambda_count": lambda m: m.optim.lr_scheduler.LambdaLR(
        two_group_optimizer(m)[0], [lambda e: 1.0]
    ),
    "one_cycle_total": lambda m: m.optim.lr_scheduler.OneCycleLR(
        two_group_optimizer(m)[0], 1.0, total_steps=0
    ),
    "one_cycle_neither": lambda m: m.optim.lr_scheduler.OneCycleLR(two_group_optimizer(m)[0], 1.0),
    "one_cycle_epochs": lambda m: m.optim.lr_scheduler.OneCycleLR(
        two_group_optimizer(m)[0], 1.0, epochs=0, steps_per_epoch=3
    ),
    "one_cycle_pct": lambda m: m.optim.lr_scheduler.OneCycleLR(
        two_group_optimizer(m)[0], 1.0, total_steps=10, pct_start=1
    ),
    "one_cycle_strategy": lambda m: m.optim.lr_scheduler.OneCycleLR(
        two_group_optimizer(m)[0], 1.0, total_steps=10, anneal_strategy="exp"
    ),
    "one_cycle_max_lr_count": lambda m: m.optim.lr_scheduler.OneCycleLR(
        two_group_optimizer(m)[0], [1.0], total_steps=10
    ),
    "one_cycle_no_momentum": lambda m: m.optim.lr_scheduler.OneCycleLR(
        m.optim.Adagrad([leaf(m)]), 1.0, total_steps=10
    ),
    "one_cycle_too_many_steps": lambda m: [
        s.step()
        for s in [m.optim.lr_scheduler.OneCycleLR(two_group_optimizer(m)[0], 1.0, 3)]
        for _ in range(4)
    ],  # fmt: skip
    "plateau_factor": lambda m: m.optim.lr_scheduler.ReduceLROnPlateau(
        two_group_optimizer(m)[0], factor=1.0
    ),
    "plateau_mode": lambda m: m.optim.lr_scheduler.ReduceLROnPlateau(
        two_group_optimizer(m)[0], mode="low"
    ),
    "plateau_threshold_mode": lambda m: m.optim.lr_scheduler.ReduceLROnPlateau(
        two_group_optimizer(m)[0], threshold_mode="x"
    ),
    "plateau_min_lrs": lambda m: m.optim.lr_scheduler.ReduceLROnPlateau(
        two_group_optimizer(m)[0], min_lr=[0.1]
    ),
}


@pytest.mark.parametrize("case", SCHEDULER_ERRORS)
def test_scheduler_errors(case, same):
    same(SCHEDULER_ERRORS[case])


def test_import_forms():
    from ember.optim.lr_scheduler import StepLR

    assert ember.optim.lr_scheduler.StepLR is StepLR
    assert issubclass(ember.optim.AdamW, ember.optim.Adam)
    assert issubclass(
        ember.optim.lr_scheduler.ReduceLROnPlateau, ember.optim.lr_scheduler.LRScheduler
    )
