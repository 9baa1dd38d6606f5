"""HIPS autograd: functional `grad` of plain autograd.numpy code (supports double backward)."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad, value_and_grad
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


def cross_entropy(z: anp.ndarray, y: np.ndarray) -> anp.ndarray:
    """Mean cross-entropy of logits `z` against class indices `y`."""
    zmax = anp.max(z, axis=1, keepdims=True)
    lse = anp.log(anp.sum(anp.exp(z - zmax), axis=1)) + zmax[:, 0]
    return anp.mean(lse - z[np.arange(len(y)), y])


def mlp_loss(p: dict, x: np.ndarray, y: np.ndarray) -> anp.ndarray:
    h = anp.maximum(anp.dot(x, p["W1"].T) + p["b1"], 0)
    h = anp.maximum(anp.dot(h, p["W2"].T) + p["b2"], 0)
    return cross_entropy(anp.dot(h, p["W3"].T) + p["b3"], y)


def conv3x3(x: anp.ndarray, w: anp.ndarray, b: anp.ndarray) -> anp.ndarray:
    """3x3 convolution with padding 1, as nine shifted einsums."""
    xp = anp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="constant")
    h, wd = x.shape[2], x.shape[3]
    out = sum(
        anp.einsum("nchw,oc->nohw", xp[:, :, i : i + h, j : j + wd], w[:, :, i, j])
        for i in range(3)
        for j in range(3)
    )
    return out + b[:, None, None]


def pool2(x: anp.ndarray) -> anp.ndarray:
    """2x2 max-pooling as the elementwise max of four strided views."""
    a = anp.maximum(x[:, :, ::2, ::2], x[:, :, ::2, 1::2])
    return anp.maximum(a, anp.maximum(x[:, :, 1::2, ::2], x[:, :, 1::2, 1::2]))


def cnn_loss(p: dict, x: np.ndarray, y: np.ndarray) -> anp.ndarray:
    h = pool2(anp.maximum(conv3x3(x, p["c1w"], p["c1b"]), 0))
    h = pool2(anp.maximum(conv3x3(h, p["c2w"], p["c2b"]), 0))
    return cross_entropy(anp.dot(anp.reshape(h, (len(x), -1)), p["fw"].T) + p["fb"], y)


def _sgd_case(loss_fn, workload: str, inp: dict[str, np.ndarray], lr: float) -> Case:
    p = {k: inp[k].copy() for k in PARAM_KEYS[workload]}
    vg = value_and_grad(loss_fn)
    args = (inp["x"], inp["y"]) if "y" in inp else ()

    def step() -> dict[str, np.ndarray]:
        loss, g = vg(p, *args)
        for k in p:
            p[k] -= np.float32(lr) * g[k]
        return {"loss": loss, **g}

    return Case(step, step)


def build(workload: str, inp: dict[str, np.ndarray]) -> Case:
    """Build `workload` on HIPS autograd."""
    if workload == "tiny-ops":

        def chain(x: anp.ndarray) -> anp.ndarray:
            for _ in range(TINY_DEPTH):
                x = anp.tanh(x * TINY_SCALE + TINY_SHIFT)
            return anp.sum(x)

        vg = value_and_grad(chain)

        def step() -> dict[str, np.ndarray]:
            loss, g = vg(inp["x"])
            return {"loss": loss, "x": g}

        return Case(step, step)
    if workload == "mlp-step":
        return _sgd_case(mlp_loss, workload, inp, LR)
    if workload == "cnn-step":
        return _sgd_case(cnn_loss, workload, inp, LR)
    if workload == "hvp":
        p = {k: inp[k] for k in PARAM_KEYS["mlp-step"]}
        x, y, v = inp["x"], inp["y"], inp["v"]

        def loss_w1(w1: anp.ndarray) -> anp.ndarray:
            return mlp_loss({**p, "W1": w1}, x, y)

        g1 = grad(loss_w1)
        hvp = grad(lambda w1: anp.sum(g1(w1) * v))

        def step() -> dict[str, np.ndarray]:
            return {"loss": loss_w1(p["W1"]), "hvp": hvp(p["W1"])}

        return Case(step, step)
    if workload == "seed-poly":
        x = inp["x"]
        target = np.sin(x)
        xx = x[:, None] ** np.array([1, 2, 3], np.float32)

        def seed_loss(q: dict) -> anp.ndarray:
            r = (anp.dot(xx, q["w"].T) + q["b"])[:, 0] - target
            return anp.sum(r * r)

        return _sgd_case(seed_loss, workload, {**inp, "x": xx}, SEED_LR)
    n = int(inp["n"]) // 2

    def deep(x: anp.ndarray) -> anp.ndarray:
        for _ in range(n):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        return x

    vg = value_and_grad(deep)

    def chain_step() -> dict[str, np.ndarray]:
        loss, g = vg(inp["x"])
        return {"loss": np.asarray(loss), "x": np.asarray(g)}

    return Case(chain_step, chain_step)
