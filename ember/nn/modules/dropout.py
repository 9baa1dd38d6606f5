"""Dropout."""

__all__: list = []
