"""`Module`: the base class of every layer (parameters, buffers, submodules, hooks, state)."""

__all__: list = []
