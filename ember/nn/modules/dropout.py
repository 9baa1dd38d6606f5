"""Dropout: zero each element with probability p in training mode, scaling the rest by 1/(1-p).

In eval mode it is the identity. The mask comes from ember's generator, so it is reproducible
after `ember.manual_seed` but is not torch's mask bit for bit.
"""

from __future__ import annotations

import ember

from .. import functional as F
from .module import Module

__all__ = ["Dropout"]

Tensor = ember.Tensor


class _DropoutNd(Module):
    """What the dropout modules share: `p`, `inplace`, their check and repr."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Elementwise dropout (active only while `self.training`)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)
