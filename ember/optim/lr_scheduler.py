"""`ember.optim.lr_scheduler`: learning-rate schedules with torch's formulas."""

__all__: list = []
