"""`ember.utils.data`: Dataset, TensorDataset, DataLoader, random_split."""

__all__: list = []
