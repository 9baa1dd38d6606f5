"""`ember.nn` modules, one file per family (torch.nn.modules' layout)."""

from .module import *  # noqa: F403
from .container import *  # noqa: F403
from .linear import *  # noqa: F403
from .flatten import *  # noqa: F403
from .conv import *  # noqa: F403
from .pooling import *  # noqa: F403
from .activation import *  # noqa: F403
from .loss import *  # noqa: F403
from .normalization import *  # noqa: F403
from .batchnorm import *  # noqa: F403
from .dropout import *  # noqa: F403
from .sparse import *  # noqa: F403
from .rnn import *  # noqa: F403
from .attention import *  # noqa: F403
