"""`ember.nn.functional` (`F`): the function form of every layer, activation and loss.

The ops themselves live in ember/ops/conv.py and ember/ops/nn_ops.py (forward and derivative
side by side, like every op); this module is their public surface.
"""

from ..ops.conv import *  # noqa: F403
from ..ops.nn_ops import *  # noqa: F403
