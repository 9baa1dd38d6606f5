"""Convolution and pooling ops (im2col / stride tricks + BLAS, no Python loops over pixels)."""

__all__: list = []
TENSOR_METHODS: list = []
