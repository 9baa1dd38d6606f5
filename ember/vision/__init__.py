"""`ember.vision` (`import torchvision` maps here): models with torchvision's architecture."""

from . import models
