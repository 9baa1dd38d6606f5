"""torch and ember: the same PyTorch-style code, run on whichever module is passed in.

`jit` wraps each workload's step function: identity for eager runs, `ember.compile` for the
"ember-compiled" library (the step is compiled as written, closures and all).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
from common import (
    CHAIN_SCALE,
    CHAIN_SHIFT,
    LR,
    PARAM_KEYS,
    SEED_LR,
    TINY_DEPTH,
    TINY_SCALE,
    TINY_SHIFT,
    Case,
)

Jit = Callable[[Callable], Callable]


def _eager(step: Callable) -> Callable:
    return step


def _load(m: ModuleType, model: object, inp: dict[str, np.ndarray], keys: tuple[str, ...]) -> None:
    """Copy the shared initial parameters into `model`, in `parameters()` order."""
    with m.no_grad():
        for p, key in zip(model.parameters(), keys, strict=True):
            p.copy_(m.from_numpy(inp[key].copy()))


def _grads(model: object, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {k: p.grad.numpy().copy() for k, p in zip(keys, model.parameters(), strict=True)}


def _tiny(m: ModuleType, inp: dict[str, np.ndarray], jit: Jit) -> Case:
    x0 = m.from_numpy(inp["x"])

    @jit
    def step() -> tuple[object, object]:
        x = x0.clone().requires_grad_(True)
        y = x
        for _ in range(TINY_DEPTH):
            y = (y * TINY_SCALE + TINY_SHIFT).tanh()
        loss = y.sum()
        loss.backward()
        return loss, x.grad

    def check() -> dict[str, np.ndarray]:
        loss, grad = step()
        return {"loss": loss.detach().numpy(), "x": grad.numpy()}

    return Case(step, check)


def _mlp(m: ModuleType) -> object:
    nn = m.nn
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def _cnn(m: ModuleType) -> object:
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(784, 10),
    )


def _train_step(m: ModuleType, workload: str, inp: dict[str, np.ndarray], jit: Jit) -> Case:
    keys = PARAM_KEYS[workload]
    model = _mlp(m) if workload == "mlp-step" else _cnn(m)
    _load(m, model, inp, keys)
    x, y = m.from_numpy(inp["x"]), m.from_numpy(inp["y"])
    opt = m.optim.SGD(model.parameters(), lr=LR)
    cross_entropy = m.nn.functional.cross_entropy

    @jit
    def step() -> object:
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def check() -> dict[str, np.ndarray]:
        loss = step()
        return {"loss": loss.detach().numpy(), **_grads(model, keys)}

    return Case(step, check)


def _hvp(m: ModuleType, inp: dict[str, np.ndarray], jit: Jit) -> Case:
    model = _mlp(m)
    _load(m, model, inp, PARAM_KEYS["mlp-step"])
    x, y, v = m.from_numpy(inp["x"]), m.from_numpy(inp["y"]), m.from_numpy(inp["v"])
    w1 = model[0].weight
    cross_entropy, grad = m.nn.functional.cross_entropy, m.autograd.grad

    @jit
    def step() -> tuple[object, object]:
        loss = cross_entropy(model(x), y)
        (g,) = grad(loss, w1, create_graph=True)
        (hv,) = grad((g * v).sum(), w1)
        return loss.detach(), hv  # (the loss's graph is still alive: create_graph kept it)

    def check() -> dict[str, np.ndarray]:
        loss, hv = step()
        return {"loss": loss.numpy(), "hvp": hv.numpy()}

    return Case(step, check)


def _seed_poly(m: ModuleType, inp: dict[str, np.ndarray], jit: Jit) -> Case:
    """The founding document's program (examples/fit_sine.py), one iteration per step."""
    x = m.from_numpy(inp["x"])
    y = m.sin(x)
    xx = x.unsqueeze(-1).pow(m.tensor([1, 2, 3]))
    model = m.nn.Sequential(m.nn.Linear(3, 1), m.nn.Flatten(0, 1))
    _load(m, model, inp, PARAM_KEYS["seed-poly"])
    loss_fn = m.nn.MSELoss(reduction="sum")

    @jit
    def step() -> object:
        loss = loss_fn(model(xx), y)
        model.zero_grad()
        loss.backward()
        with m.no_grad():
            for param in model.parameters():
                param -= SEED_LR * param.grad
        return loss

    def check() -> dict[str, np.ndarray]:
        loss = step()
        return {"loss": loss.detach().numpy(), **_grads(model, PARAM_KEYS["seed-poly"])}

    return Case(step, check)


def _deep_chain(m: ModuleType, inp: dict[str, np.ndarray], jit: Jit) -> Case:
    n = int(inp["n"]) // 2
    x0 = float(inp["x"])

    @jit
    def step() -> tuple[object, object]:
        x = m.tensor(x0, requires_grad=True)
        y = x
        for _ in range(n):
            y = y * CHAIN_SCALE + CHAIN_SHIFT
        y.backward()
        return y, x.grad

    def check() -> dict[str, np.ndarray]:
        y, g = step()
        return {"loss": y.detach().numpy(), "x": g.numpy()}

    return Case(step, check)


def build(m: ModuleType, workload: str, inp: dict[str, np.ndarray], jit: Jit = _eager) -> Case:
    """Build `workload` on torch or ember (`m`), its step wrapped by `jit`."""
    if workload == "tiny-ops":
        return _tiny(m, inp, jit)
    if workload in ("mlp-step", "cnn-step"):
        return _train_step(m, workload, inp, jit)
    if workload == "hvp":
        return _hvp(m, inp, jit)
    if workload == "seed-poly":
        return _seed_poly(m, inp, jit)
    return _deep_chain(m, inp, jit)
