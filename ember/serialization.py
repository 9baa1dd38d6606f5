"""`ember.save` / `ember.load`: tensors and state dicts to a documented file format."""

__all__: list = []
