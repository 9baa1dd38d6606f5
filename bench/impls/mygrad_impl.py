"""mygrad: tensors with a recorded graph, NumPy underneath; first-order gradients only.

Constants are given as np.float32: mygrad promotes float32 to float64 when given Python floats.
"""

from __future__ import annotations

import mygrad as mg
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
from mygrad.nnet import conv_nd, max_pool, relu, softmax_crossentropy

F32 = np.float32


def _sgd_case(loss_fn, workload: str, inp: dict[str, np.ndarray], lr: float) -> Case:
    keys = PARAM_KEYS[workload]
    p = {k: mg.tensor(inp[k].copy()) for k in keys}

    def step() -> dict[str, np.ndarray]:
        loss = loss_fn(p)
        loss.backward()
        out = {"loss": loss.data, **{k: p[k].grad for k in keys}}
        for k in keys:
            p[k] = mg.tensor(p[k].data - F32(lr) * p[k].grad)
        return out

    return Case(step, step)


def build(workload: str, inp: dict[str, np.ndarray]) -> Case:
    """Build `workload` on mygrad."""
    if workload == "tiny-ops":
        scale, shift = F32(TINY_SCALE), F32(TINY_SHIFT)

        def step() -> dict[str, np.ndarray]:
            x = mg.tensor(inp["x"])
            y = x
            for _ in range(TINY_DEPTH):
                y = mg.tanh(y * scale + shift)
            loss = mg.sum(y)
            loss.backward()
            return {"loss": loss.data, "x": x.grad}

        return Case(step, step)
    if workload == "mlp-step":
        x, y = inp["x"], inp["y"]

        def mlp(p: dict) -> mg.Tensor:
            h = relu(mg.matmul(x, p["W1"].T) + p["b1"])
            h = relu(mg.matmul(h, p["W2"].T) + p["b2"])
            return softmax_crossentropy(mg.matmul(h, p["W3"].T) + p["b3"], y)

        return _sgd_case(mlp, workload, inp, LR)
    if workload == "cnn-step":
        x, y = inp["x"], inp["y"]

        def cnn(p: dict) -> mg.Tensor:
            h = conv_nd(x, p["c1w"], stride=1, padding=1) + p["c1b"][:, None, None]
            h = max_pool(relu(h), (2, 2), 2)
            h = conv_nd(h, p["c2w"], stride=1, padding=1) + p["c2b"][:, None, None]
            h = max_pool(relu(h), (2, 2), 2)
            z = mg.matmul(h.reshape(len(x), -1), p["fw"].T) + p["fb"]
            return softmax_crossentropy(z, y)

        return _sgd_case(cnn, workload, inp, LR)
    if workload == "hvp":
        raise Unsupported("no higher-order gradients (backward is not differentiable)")
    if workload == "seed-poly":
        xx = inp["x"][:, None] ** np.array([1, 2, 3], F32)
        target = np.sin(inp["x"])

        def seed(p: dict) -> mg.Tensor:
            r = (mg.matmul(xx, p["w"].T) + p["b"])[:, 0] - target
            return mg.sum(r * r)

        return _sgd_case(seed, workload, inp, SEED_LR)
    n = int(inp["n"]) // 2
    scale, shift = F32(CHAIN_SCALE), F32(CHAIN_SHIFT)

    def chain() -> dict[str, np.ndarray]:
        x = mg.tensor(inp["x"])
        y = x
        for _ in range(n):
            y = y * scale + shift
        y.backward()
        return {"loss": y.data, "x": x.grad}

    return Case(chain, chain)
