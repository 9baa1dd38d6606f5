"""The op description every op test is generated from (PyTorch's OpInfo, trimmed).

An `OpInfo` names an op and yields `Sample`s of float64 NumPy inputs. `test_ops.py` turns each
sample into ember and torch tensors and checks: forward values, shape and dtype against torch;
the vjp against `torch.autograd.grad` with a random cotangent; the vjp against float64 central
finite differences (independent of torch); the forward-mode jvp against `torch.func.jvp` and
finite differences; double backward against torch; and that no graph is
recorded when nothing requires grad. Entries live in `tests/opdb_<module>.py` as `OPS = [...]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """One call: `args` may hold NumPy arrays (become tensors), lists of arrays (lists of
    tensors), and plain Python values (passed as they are). Floating arrays require grad
    unless listed in `no_grad` (positions in args)."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    no_grad: tuple = ()
    name: str = ""


@dataclass
class OpInfo:
    """How to call an op and what to check.

    - `name`: called as `ember.<name>(*args, **kwargs)` and `torch.<name>(...)`, or as a Tensor
      method `args[0].<name>(*args[1:], **kwargs)` when `method=True`.
    - `fn`: a callable `(module, *args, **kwargs)` used instead, where module is ember or torch,
      e.g. `lambda m, x: x[1:, ::2]` or `lambda m, x, y: x @ y`.
    - `samples(rng)`: list of Samples (float64 arrays; include scalars, broadcasting,
      non-contiguous views, every dim/keepdim form).
    - `grad`, `gradgrad`, `fd`: which gradient checks apply (a reason belongs in a comment).
    - `covers`: registry op names (Op.__name__, e.g. "_add") this entry exercises; computed by
      tracing when empty, listed only to document.
    - `float32`: also run the forward in float32 and compare dtype/values with torch.
    - `torch_grad`: compare gradients with torch's (off only where torch's own gradcheck
      fails; the finite-difference check still runs).
    - `no_torch_jvp`: why torch has no forward-mode AD for this op (then the jvp is checked
      against finite differences only); empty where torch has one, as it should almost always be.
    - `grad_fn_name`: compare `type(out.grad_fn).__name__` with torch's (off only where ember
      records one node for what torch decomposes into several; say so in a comment).
    """

    name: str
    samples: Callable[[np.random.Generator], list]
    method: bool = False
    fn: Callable[..., Any] | None = None
    grad: bool = True
    gradgrad: bool = True
    fd: bool = True
    float32: bool = True
    atol: float = 1e-7
    rtol: float = 1e-7
    covers: tuple = ()
    grad_fn_name: bool = True
    torch_grad: bool = True
    no_torch_jvp: str = ""

    @property
    def id(self) -> str:
        return self.name


def rand(rng: np.random.Generator, *shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """float64 uniform samples in [low, high)."""
    return rng.uniform(low, high, size=shape)


def positive(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """float64 samples in [0.5, 2.5), for log, sqrt, division."""
    return rng.uniform(0.5, 2.5, size=shape)


def noncontig(a: np.ndarray) -> np.ndarray:
    """The same values laid out non-contiguously (a strided view of a larger array)."""
    big = np.empty(tuple(2 * s for s in a.shape) or (), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view
