"""ember: PyTorch's autograd, rebuilt in pure Python on NumPy. `import ember as torch`."""

from . import _dtype, _malloc
from ._device import device
from ._dtype import (
    bool_ as bool,
    complex64,
    complex128,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from . import _factories
from ._factories import *  # noqa: F403
from ._printing import *  # noqa: F403
from ._random import *  # noqa: F403
from ._tensor import Size, Tensor
from .ops import *  # noqa: F403
from . import autograd  # noqa: E402
from . import return_types  # noqa: E402
from .explain import explain  # noqa: E402
from ._compile import compile  # noqa: E402
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled  # noqa: E402
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
cfloat = complex64
cdouble = complex128

__version__ = "0.1.0"

_malloc.tune()

for _name in getattr(_factories, "TENSOR_METHODS", ()):
    setattr(Tensor, _name, getattr(_factories, _name))


_SUBMODULES = ("nn", "optim", "utils", "vision", "func")


def __getattr__(name: str):
    """`ember.nn`, `ember.optim`, ... load on first use, so `import ember` stays light."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"ember.{name}")
    if name in ("save", "load"):
        from . import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module 'ember' has no attribute '{name}'")
