"""`ember.nn`: neural-network modules and functions with torch.nn's names and behaviour."""

from . import functional, init, utils
from .modules import *  # noqa: F403
from .parameter import *  # noqa: F403
