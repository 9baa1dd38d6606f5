"""Shared definitions of the benchmark suite: workloads, their inputs, and the correctness check.

Every library builds the same workload from the same NumPy inputs (made here from a fixed seed),
so that its loss and gradients can be compared with torch's before anything is timed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WORKLOADS = (
    "tiny-ops",
    "mlp-step",
    "cnn-step",
    "hvp",
    "seed-poly",
    "startup",
    "deep-chain",
)
TIMED_IN_PROCESS = ("tiny-ops", "mlp-step", "cnn-step", "hvp", "deep-chain")

TINY_DEPTH = 100  # tiny-ops: 100 x (mul, add, tanh) + sum = 301 ops
TINY_OPS = 3 * TINY_DEPTH + 1
TINY_SCALE, TINY_SHIFT = 1.01, 0.1
LR = 0.01  # mlp-step and cnn-step SGD
SEED_LR, SEED_STEPS, SEED_POINTS = 1e-6, 2000, 2000
CHAIN_SCALE, CHAIN_SHIFT = 1.00002, 0.00001  # deep-chain: y = y * s + t, repeated


class Unsupported(Exception):
    """The library cannot express this workload (a missing op or feature); the message says why."""


@dataclass
class Case:
    """One workload built on one library.

    `step` runs the timed unit once (to completion: lazy libraries force their results);
    `check` runs it once from the initial state and returns the loss and gradients as NumPy
    arrays, keyed like torch's, for the comparison that precedes timing.
    """

    step: Callable[[], object]
    check: Callable[[], dict[str, np.ndarray]]


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def inputs(workload: str, chain_ops: int = 100_000) -> dict[str, np.ndarray]:
    """The workload's inputs and initial parameters (float32), the same for every library.

    Parameters follow torch's layouts (Linear weight is out x in, Conv2d weight is
    out x in x kh x kw), in the order torch's `model.parameters()` yields them.
    """
    rng = np.random.default_rng(0)
    if workload == "tiny-ops":
        return {"x": _normal(rng, 16)}
    if workload in ("mlp-step", "hvp"):
        d = {
            "W1": _normal(rng, 256, 784, scale=0.05),
            "b1": _normal(rng, 256, scale=0.05),
            "W2": _normal(rng, 256, 256, scale=0.05),
            "b2": _normal(rng, 256, scale=0.05),
            "W3": _normal(rng, 10, 256, scale=0.05),
            "b3": _normal(rng, 10, scale=0.05),
            "x": _normal(rng, 128, 784),
            "y": rng.integers(0, 10, 128),
        }
        if workload == "hvp":
            d["v"] = _normal(rng, 256, 784)
        return d
    if workload == "cnn-step":
        return {
            "c1w": _normal(rng, 8, 1, 3, 3, scale=0.3),
            "c1b": _normal(rng, 8, scale=0.05),
            "c2w": _normal(rng, 16, 8, 3, 3, scale=0.1),
            "c2b": _normal(rng, 16, scale=0.05),
            "fw": _normal(rng, 10, 784, scale=0.05),
            "fb": _normal(rng, 10, scale=0.05),
            "x": _normal(rng, 32, 1, 28, 28),
            "y": rng.integers(0, 10, 32),
        }
    if workload == "seed-poly":
        bound = 1 / math.sqrt(3)  # torch's default Linear(3, 1) init range
        return {
            "x": np.linspace(-math.pi, math.pi, SEED_POINTS, dtype=np.float32),
            "w": rng.uniform(-bound, bound, (1, 3)).astype(np.float32),
            "b": rng.uniform(-bound, bound, 1).astype(np.float32),
        }
    if workload == "deep-chain":
        return {"x": np.float32(0.5), "n": np.int64(chain_ops)}
    raise ValueError(f"no inputs for workload {workload!r}")


PARAM_KEYS = {
    "mlp-step": ("W1", "b1", "W2", "b2", "W3", "b3"),
    "cnn-step": ("c1w", "c1b", "c2w", "c2b", "fw", "fb"),
    "seed-poly": ("w", "b"),
}


def compare(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> str | None:
    """None when every array of `got` matches torch's `ref` to float32 precision, else why not.

    An array matches when max|got - ref| <= 1e-3 * max|ref| (relative to its own scale, since
    rounding differences in sums and matmuls scale with the largest entries).
    """
    for key, r in ref.items():
        if key not in got:
            return f"no result for {key!r}"
        g = np.asarray(got[key], dtype=np.float64)
        if g.shape != r.shape:
            return f"{key}: shape {g.shape} != torch's {r.shape}"
        if not np.all(np.isfinite(g)):
            bad = "NaN" if np.isnan(g).any() else "inf"
            return f"numerical failure: {key} has {bad}"
        scale = float(np.max(np.abs(r))) or 1.0
        err = float(np.max(np.abs(g - r))) / scale
        if err > 1e-3:
            zero = " (all zero)" if not np.any(g) else ""
            return f"numerical failure: {key} differs from torch by {err:.1e} of its scale{zero}"
    return None
