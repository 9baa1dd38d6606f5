"""Every op ember knows, by module: pointwise, reduction, shape, indexing, linalg.

Each module defines its ops with `defop` (see _registry.py), exports the function forms in
`__all__` (re-exported as `ember.<name>`) and lists in `TENSOR_METHODS` the names that are
also Tensor methods.
"""

import warnings

from . import conv, indexing, linalg, nn_ops, pointwise, reduction, shape
from ._util import as_tensor_like, wrap_dim
from .indexing import *  # noqa: F403
from .indexing import getitem, setitem
from .linalg import *  # noqa: F403
from .pointwise import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shape import *  # noqa: F403

# conv and nn_ops are public as ember.nn.functional, not as ember.<name>.
MODULES = (pointwise, reduction, shape, indexing, linalg, conv, nn_ops)

# NumPy reports inf/nan results of its ufuncs as RuntimeWarnings attributed to the calling frame,
# i.e. to ember's op modules; torch returns inf/nan silently. A filter scoped to ember's modules
# does that at no cost per op (an np.errstate block per call costs ~25% of a tiny op).
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"ember\.")
