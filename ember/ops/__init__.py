"""Every op ember knows, by module: pointwise, reduction, shape, indexing, linalg.

Each module defines its ops with `defop` (see _registry.py), exports the function forms in
`__all__` (re-exported as `ember.<name>`) and lists in `TENSOR_METHODS` the names that are
also Tensor methods.
"""

from . import indexing, linalg, pointwise, reduction, shape
from ._util import as_tensor_like, wrap_dim
from .indexing import *  # noqa: F403
from .indexing import getitem, setitem
from .linalg import *  # noqa: F403
from .pointwise import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shape import *  # noqa: F403

MODULES = (pointwise, reduction, shape, indexing, linalg)
