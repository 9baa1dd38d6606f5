"""JAX: functional `grad`, run eagerly (op by op) or compiled whole with `jax.jit`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
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
from jax import lax


def cross_entropy(z: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy of logits `z` against class indices `y`."""
    logp = jax.nn.log_softmax(z)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def mlp_loss(p: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    h = jax.nn.relu(x @ p["W1"].T + p["b1"])
    h = jax.nn.relu(h @ p["W2"].T + p["b2"])
    return cross_entropy(h @ p["W3"].T + p["b3"], y)


def _conv(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1))) + b[:, None, None]


def _pool(x: jax.Array) -> jax.Array:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def cnn_loss(p: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    h = _pool(jax.nn.relu(_conv(x, p["c1w"], p["c1b"])))
    h = _pool(jax.nn.relu(_conv(h, p["c2w"], p["c2b"])))
    return cross_entropy(h.reshape(len(x), -1) @ p["fw"].T + p["fb"], y)


def seed_loss(p: dict, xx: jax.Array, target: jax.Array) -> jax.Array:
    r = (xx @ p["w"].T + p["b"])[:, 0] - target
    return jnp.sum(r * r)


def _results(loss: jax.Array, grads: dict | jax.Array) -> dict[str, np.ndarray]:
    g = grads if isinstance(grads, dict) else {"x": grads}
    return {"loss": np.asarray(loss), **{k: np.asarray(v) for k, v in g.items()}}


def _sgd_case(loss_fn, workload: str, args: tuple, lr: float, jit: bool) -> Case:
    def update(p: dict, *a: jax.Array) -> tuple[dict, jax.Array, dict]:
        loss, g = jax.value_and_grad(loss_fn)(p, *a)
        return jax.tree.map(lambda w, gw: w - lr * gw, p, g), loss, g

    fn = jax.jit(update) if jit else update
    state = {"p": None}

    def reset(inp: dict[str, np.ndarray]) -> None:
        state["p"] = {k: jnp.asarray(inp[k]) for k in PARAM_KEYS[workload]}

    def step() -> tuple[jax.Array, dict]:
        state["p"], loss, g = fn(state["p"], *args)
        return jax.block_until_ready((loss, g))

    def check() -> dict[str, np.ndarray]:
        return _results(*step())

    return Case(step, check), reset


def build(workload: str, inp: dict[str, np.ndarray], jit: bool) -> Case:
    """Build `workload` on JAX, compiled whole when `jit`."""
    wrap = jax.jit if jit else (lambda f: f)
    if workload == "tiny-ops":

        def chain(x: jax.Array) -> jax.Array:
            for _ in range(TINY_DEPTH):
                x = jnp.tanh(x * TINY_SCALE + TINY_SHIFT)
            return jnp.sum(x)

        return _functional(wrap(jax.value_and_grad(chain)), jnp.asarray(inp["x"]))
    if workload in ("mlp-step", "cnn-step", "seed-poly"):
        if workload == "seed-poly":
            x = jnp.asarray(inp["x"])
            args = (x[:, None] ** jnp.array([1, 2, 3], jnp.float32), jnp.sin(x))
            loss_fn, lr = seed_loss, SEED_LR
        else:
            args = (jnp.asarray(inp["x"]), jnp.asarray(inp["y"]))
            loss_fn, lr = (mlp_loss if workload == "mlp-step" else cnn_loss), LR
        case, reset = _sgd_case(loss_fn, workload, args, lr, jit)
        reset(inp)
        return case
    if workload == "hvp":
        p = {k: jnp.asarray(inp[k]) for k in PARAM_KEYS["mlp-step"]}
        x, y, v = (jnp.asarray(inp[k]) for k in ("x", "y", "v"))

        def loss_w1(w1: jax.Array) -> jax.Array:
            return mlp_loss({**p, "W1": w1}, x, y)

        def hvp(w1: jax.Array) -> tuple[jax.Array, jax.Array]:
            return loss_w1(w1), jax.grad(lambda w: jnp.sum(jax.grad(loss_w1)(w) * v))(w1)

        fn = wrap(hvp)

        def step() -> tuple[jax.Array, jax.Array]:
            return jax.block_until_ready(fn(p["W1"]))

        return Case(step, lambda: dict(zip(("loss", "hvp"), map(np.asarray, step()))))
    n = int(inp["n"]) // 2

    def deep(x: jax.Array) -> jax.Array:
        for _ in range(n):
            x = x * CHAIN_SCALE + CHAIN_SHIFT
        return x

    return _functional(wrap(jax.value_and_grad(deep)), jnp.asarray(inp["x"]))


def _functional(fn, x: jax.Array) -> Case:
    """A case whose step is `fn(x) -> (loss, grad)`."""

    def step() -> tuple[jax.Array, jax.Array]:
        return jax.block_until_ready(fn(x))

    return Case(step, lambda: _results(*step()))
