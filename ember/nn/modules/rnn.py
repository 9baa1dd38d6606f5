"""RNN, LSTM, GRU (batch_first)."""

__all__: list = []
