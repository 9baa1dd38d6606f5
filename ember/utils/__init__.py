"""`ember.utils`: data loading."""

from . import data
