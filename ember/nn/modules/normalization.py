"""LayerNorm and GroupNorm."""

__all__: list = []
