"""`ember.vision.models` (`torchvision.models` maps here): ResNet-18/34/50 with torchvision's
architecture, parameter names and weight handling (local files only; see _weights.py)."""

from .resnet import *  # noqa: F403
from .resnet import __all__ as _resnet_all

__all__ = list(_resnet_all)
