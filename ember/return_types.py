"""`ember.return_types`: the namedtuples that ops with several results return (torch's names)."""

from .ops.reduction import _max_result as max
from .ops.reduction import _min_result as min

__all__ = ["max", "min"]
