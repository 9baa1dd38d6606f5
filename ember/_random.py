"""Random numbers (placeholder until the generator module lands)."""

__all__ = []
