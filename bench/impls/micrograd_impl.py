"""micrograd: Karpathy's scalar `Value` engine (Python floats; ops +, *, **, relu)."""

from __future__ import annotations

import numpy as np
from common import CHAIN_SCALE, CHAIN_SHIFT, Case, Unsupported
from micrograd.engine import Value


def build(workload: str, inp: dict[str, np.ndarray]) -> Case:
    """Build `workload` on micrograd: only the scalar deep-chain fits it."""
    if workload == "tiny-ops":
        raise Unsupported("unsupported op: tanh (Value has +, *, **, relu)")
    if workload != "deep-chain":
        raise Unsupported("scalar-only library (tensor workload)")
    n = int(inp["n"]) // 2

    def chain() -> dict[str, np.ndarray]:
        x = Value(float(inp["x"]))
        y = x
        for _ in range(n):
            y = y * CHAIN_SCALE + CHAIN_SHIFT
        y.backward()
        return {"loss": np.asarray(y.data), "x": np.asarray(x.grad)}

    return Case(chain, chain)
