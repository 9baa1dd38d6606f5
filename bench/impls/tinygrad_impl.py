"""tinygrad: lazy tensors compiled to kernels; every step is realized before it counts."""

from __future__ import annotations

import os
import shutil

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
    Unsupported,
)
from tinygrad import Tensor, dtypes


def _results(loss: Tensor, grads: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {"loss": loss.numpy(), **{k: g.numpy() for k, g in grads.items()}}


def _cross_entropy(z: Tensor, y: Tensor) -> Tensor:
    return z.sparse_categorical_crossentropy(y)


def _sgd_case(loss_fn, workload: str, inp: dict[str, np.ndarray], lr: float) -> Case:
    keys = PARAM_KEYS[workload]
    p = {k: Tensor(inp[k].copy()).realize() for k in keys}

    def step() -> tuple[Tensor, dict[str, Tensor]]:
        loss = loss_fn(p)
        grads = dict(zip(keys, loss.gradient(*(p[k] for k in keys))))
        for k in keys:
            p[k].assign(p[k] - lr * grads[k])
        Tensor.realize(loss, *grads.values(), *p.values())
        return loss, grads

    return Case(step, lambda: _results(*step()))


def build(workload: str, inp: dict[str, np.ndarray]) -> Case:
    """Build `workload` on tinygrad."""
    if not os.environ.get("DEV") and shutil.which(os.environ.get("CC", "clang")) is None:
        raise Unsupported("CPU backend needs `clang` on PATH (not installed)")
    if workload == "tiny-ops":

        def chain() -> tuple[Tensor, dict[str, Tensor]]:
            x = Tensor(inp["x"])
            y = x
            for _ in range(TINY_DEPTH):
                y = (y * TINY_SCALE + TINY_SHIFT).tanh()
            loss = y.sum()
            (g,) = loss.gradient(x)
            Tensor.realize(loss, g)
            return loss, {"x": g}

        return Case(chain, lambda: _results(*chain()))
    if workload in ("mlp-step", "hvp"):
        x, y = Tensor(inp["x"]), Tensor(inp["y"].astype(np.int32), dtype=dtypes.int32)

        def mlp(p: dict) -> Tensor:
            h = (x @ p["W1"].T + p["b1"]).relu()
            h = (h @ p["W2"].T + p["b2"]).relu()
            return _cross_entropy(h @ p["W3"].T + p["b3"], y)

        if workload == "mlp-step":
            return _sgd_case(mlp, workload, inp, LR)
        p = {k: Tensor(inp[k]) for k in PARAM_KEYS["mlp-step"]}
        v = Tensor(inp["v"])

        def hvp() -> tuple[Tensor, dict[str, Tensor]]:
            loss = mlp(p)
            (g,) = loss.gradient(p["W1"])
            (hv,) = (g * v).sum().gradient(p["W1"])
            Tensor.realize(loss, hv)
            return loss, {"hvp": hv}

        return Case(hvp, lambda: _results(*hvp()))
    if workload == "cnn-step":
        x, y = Tensor(inp["x"]), Tensor(inp["y"].astype(np.int32), dtype=dtypes.int32)

        def cnn(p: dict) -> Tensor:
            h = x.conv2d(p["c1w"], p["c1b"], padding=1).relu().max_pool2d(2)
            h = h.conv2d(p["c2w"], p["c2b"], padding=1).relu().max_pool2d(2)
            return _cross_entropy(h.reshape(len(inp["x"]), -1) @ p["fw"].T + p["fb"], y)

        return _sgd_case(cnn, workload, inp, LR)
    if workload == "seed-poly":
        xs = Tensor(inp["x"])
        xx = xs.unsqueeze(-1).pow(Tensor([1.0, 2.0, 3.0])).realize()
        target = xs.sin().realize()

        def seed(p: dict) -> Tensor:
            r = (xx @ p["w"].T + p["b"]).reshape(-1) - target
            return (r * r).sum()

        return _sgd_case(seed, workload, inp, SEED_LR)
    n = int(inp["n"]) // 2

    def deep() -> tuple[Tensor, dict[str, Tensor]]:
        x = Tensor(np.asarray(inp["x"]).reshape(()))
        y = x
        for _ in range(n):
            y = y * CHAIN_SCALE + CHAIN_SHIFT
        (g,) = y.gradient(x)
        Tensor.realize(y, g)
        return y, {"x": g}

    return Case(deep, lambda: _results(*deep()))
