"""Products: dot, mv, mm, bmm, matmul, outer, einsum."""

from __future__ import annotations

__all__ = []
TENSOR_METHODS = []
