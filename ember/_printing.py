"""PyTorch-identical tensor printing (placeholder until the printing module lands)."""

__all__ = []


def tensor_repr(t) -> str:
    return f"tensor({t._data!r})"
