"""The floor: each workload's forward and backward written by hand in NumPy, no framework.

The same arithmetic as the frameworks do, in the same float32, so the gap between this and a
library is that library's overhead (recording, dispatch, allocation of its own objects).
"""

from __future__ import annotations

import ctypes

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
from numpy.lib.stride_tricks import sliding_window_view

F32 = np.float32


def _tune_malloc() -> None:
    """Keep freed multi-MB temporaries in the heap, as ember does at import (PERF_NOTES: glibc
    otherwise returns them to the OS and page-faults them back every step)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD


def _tiny(inp: dict[str, np.ndarray]) -> Case:
    x0 = inp["x"]
    scale, shift = F32(TINY_SCALE), F32(TINY_SHIFT)

    def step() -> dict[str, np.ndarray]:
        outs = []
        y = x0
        for _ in range(TINY_DEPTH):
            y = np.tanh(y * scale + shift)
            outs.append(y)
        loss = y.sum()
        g = np.ones_like(y)
        for t in reversed(outs):
            g = g * (1 - t * t) * scale
        return {"loss": loss, "x": g}

    return Case(step, step)


def _softmax_ce(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean cross-entropy of logits `z`; returns (loss, probabilities, dloss/dz)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = -np.log(p[rows, y]).mean(dtype=F32)
    gz = p.copy()
    gz[rows, y] -= 1
    gz /= F32(len(y))
    return loss, p, gz


class _MLP:
    """784-256-256-10 ReLU network with a hand-written backward (and its forward-mode R-op)."""

    def __init__(self, inp: dict[str, np.ndarray]) -> None:
        self.p = {k: inp[k].copy() for k in PARAM_KEYS["mlp-step"]}
        self.x, self.y = inp["x"], inp["y"]

    def grads(self) -> dict[str, np.ndarray]:
        p, x = self.p, self.x
        h1p = x @ p["W1"].T + p["b1"]
        h1 = np.maximum(h1p, 0)
        h2p = h1 @ p["W2"].T + p["b2"]
        h2 = np.maximum(h2p, 0)
        loss, _, gz = _softmax_ce(h2 @ p["W3"].T + p["b3"], self.y)
        gh2 = (gz @ p["W3"]) * (h2p > 0)
        gh1 = (gh2 @ p["W2"]) * (h1p > 0)
        return {
            "loss": loss,
            "W1": gh1.T @ x,
            "b1": gh1.sum(0),
            "W2": gh2.T @ h1,
            "b2": gh2.sum(0),
            "W3": gz.T @ h2,
            "b3": gz.sum(0),
        }

    def hvp(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """d/de grad_W1(loss)(W1 + e v): forward-mode through the forward and backward passes."""
        p, x = self.p, self.x
        h1p = x @ p["W1"].T + p["b1"]
        m1 = h1p > 0
        h1 = h1p * m1
        h2p = h1 @ p["W2"].T + p["b2"]
        m2 = h2p > 0
        h2 = h2p * m2
        loss, prob, gz = _softmax_ce(h2 @ p["W3"].T + p["b3"], self.y)
        dh1 = (x @ v.T) * m1
        dh2 = (dh1 @ p["W2"].T) * m2
        dz = dh2 @ p["W3"].T
        dgz = prob * (dz - (prob * dz).sum(axis=1, keepdims=True)) / F32(len(self.y))
        dgh2 = (dgz @ p["W3"]) * m2
        dgh1 = (dgh2 @ p["W2"]) * m1
        return {"loss": loss, "hvp": dgh1.T @ x}


def _mlp(inp: dict[str, np.ndarray]) -> Case:
    net = _MLP(inp)

    def step() -> dict[str, np.ndarray]:
        g = net.grads()
        for k, w in net.p.items():
            w -= F32(LR) * g[k]
        return g

    return Case(step, step)


def _hvp(inp: dict[str, np.ndarray]) -> Case:
    net, v = _MLP(inp), inp["v"]
    return Case(lambda: net.hvp(v), lambda: net.hvp(v))


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 convolution, padding 1; returns the output and the im2col view kept for backward."""
    cols = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    out = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return out + b[:, None, None], cols


def _conv_back(
    g: np.ndarray, cols: np.ndarray, w: np.ndarray, need_x: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of the input (if needed), weight and bias of `_conv`."""
    gw = np.tensordot(g, cols, axes=([0, 2, 3], [0, 2, 3]))
    gb = g.sum(axis=(0, 2, 3))
    if not need_x:
        return None, gw, gb
    n, _, h, wd = g.shape
    gxp = np.zeros((n, w.shape[1], h + 2, wd + 2), F32)
    for i in range(3):
        for j in range(3):
            gxp[:, :, i : i + h, j : j + wd] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return gxp[:, :, 1:-1, 1:-1], gw, gb


def _pool(x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """2x2 max-pooling as the max of four strided views; returns the output and the argmax masks
    (the first maximum wins, as in torch)."""
    views = [x[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
    out = np.maximum(np.maximum(views[0], views[1]), np.maximum(views[2], views[3]))
    taken = np.zeros(out.shape, bool)
    masks = []
    for v in views:
        m = (v == out) & ~taken
        taken |= m
        masks.append(m)
    return out, masks


def _pool_back(g: np.ndarray, masks: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    gx = np.empty(shape, F32)
    for (i, j), m in zip([(0, 0), (0, 1), (1, 0), (1, 1)], masks):
        gx[..., i::2, j::2] = g * m
    return gx


def _cnn(inp: dict[str, np.ndarray]) -> Case:
    p = {k: inp[k].copy() for k in PARAM_KEYS["cnn-step"]}
    x, y = inp["x"], inp["y"]

    def step() -> dict[str, np.ndarray]:
        a1, cols1 = _conv(x, p["c1w"], p["c1b"])
        r1 = np.maximum(a1, 0)
        q1, m1 = _pool(r1)
        a2, cols2 = _conv(q1, p["c2w"], p["c2b"])
        r2 = np.maximum(a2, 0)
        q2, m2 = _pool(r2)
        flat = q2.reshape(len(x), -1)
        loss, _, gz = _softmax_ce(flat @ p["fw"].T + p["fb"], y)
        g = {"loss": loss, "fw": gz.T @ flat, "fb": gz.sum(0)}
        gq2 = (gz @ p["fw"]).reshape(q2.shape)
        ga2 = _pool_back(gq2, m2, r2.shape) * (a2 > 0)
        gq1, g["c2w"], g["c2b"] = _conv_back(ga2, cols2, p["c2w"], need_x=True)
        ga1 = _pool_back(gq1, m1, r1.shape) * (a1 > 0)
        _, g["c1w"], g["c1b"] = _conv_back(ga1, cols1, p["c1w"], need_x=False)
        for k, w in p.items():
            w -= F32(LR) * g[k]
        return g

    return Case(step, step)


def _seed_poly(inp: dict[str, np.ndarray]) -> Case:
    x = inp["x"]
    y = np.sin(x)
    xx = x[:, None] ** np.array([1, 2, 3], F32)
    w, b = inp["w"].copy(), inp["b"].copy()
    lr = F32(SEED_LR)

    def step() -> dict[str, np.ndarray]:
        r = (xx @ w.T + b)[:, 0] - y
        g = {"loss": (r * r).sum(), "w": (2 * r) @ xx, "b": (2 * r).sum(keepdims=True)}
        g["w"] = g["w"][None, :]
        w[...] -= lr * g["w"]
        b[...] -= lr * g["b"]
        return g

    return Case(step, step)


def _deep_chain(inp: dict[str, np.ndarray]) -> Case:
    n = int(inp["n"]) // 2
    scale, shift = F32(CHAIN_SCALE), F32(CHAIN_SHIFT)

    def step() -> dict[str, np.ndarray]:
        y = inp["x"]
        tape = []
        for _ in range(n):
            tape.append(("mul", scale))
            y = y * scale
            tape.append(("add", shift))
            y = y + shift
        g = F32(1.0)
        for op, c in reversed(tape):
            if op == "mul":
                g = g * c
        return {"loss": np.asarray(y), "x": np.asarray(g)}

    return Case(step, step)


def build(workload: str, inp: dict[str, np.ndarray]) -> Case:
    """Build `workload` by hand in NumPy."""
    _tune_malloc()
    return {
        "tiny-ops": _tiny,
        "mlp-step": _mlp,
        "cnn-step": _cnn,
        "hvp": _hvp,
        "seed-poly": _seed_poly,
        "deep-chain": _deep_chain,
    }[workload](inp)
