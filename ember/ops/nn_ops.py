"""Neural-network ops: linear, activations, normalisation, dropout, embedding, losses."""

__all__: list = []
TENSOR_METHODS: list = []
