"""Indexing: __getitem__/__setitem__, gather, scatter, index_select, masked_fill."""

from __future__ import annotations

__all__ = []
TENSOR_METHODS = []
