"""BatchNorm1d and BatchNorm2d (running statistics, momentum, eval mode)."""

__all__: list = []
