"""`ember.optim`: optimizers with torch's update rules, param groups and state dicts."""

__all__: list = []
