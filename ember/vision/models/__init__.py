"""`ember.vision.models`: ResNet-18/34/50 with torchvision's parameter names."""

__all__: list = []
