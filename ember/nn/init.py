"""`ember.nn.init`: in-place initialisation of parameters with torch's fan/gain rules."""

__all__: list = []
