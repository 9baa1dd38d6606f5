"""`Parameter`: a leaf tensor that a Module registers as one of its parameters; `Buffer`: a
tensor that a Module registers as one of its buffers.

As in torch, a `Parameter` shares its data and version counter with the tensor it wraps (it
is that tensor's detached alias) and requires grad by default, even under `no_grad`. Ops on
a Parameter return plain Tensors. `Buffer(t)` returns a plain detached Tensor flagged
`_is_buffer` (torch's design), which `isinstance(x, Buffer)` recognises.
"""

from __future__ import annotations

from typing import Any

from .._factories import empty
from .._tensor import Tensor

__all__ = ["Buffer", "Parameter"]


def _alias(cls: type, data: Tensor) -> Tensor:
    """A new leaf of class `cls` sharing `data`'s memory and version counter."""
    t = cls._make(data._data)
    t._vc = data._vc
    return t


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning one to a Module attribute registers it."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = empty(0)
        p = _alias(cls, data)
        # Matches torch: an integer Parameter that requires grad raises torch's error.
        if requires_grad and p.dtype._cat < 2:
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        p._requires_grad = requires_grad
        return p

    def __deepcopy__(self, memo: dict) -> Parameter:
        # Matches torch: a deep copy clones the data and the flag, not the gradient.
        if id(self) in memo:
            return memo[id(self)]
        out = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: int) -> tuple:
        return (_rebuild_parameter, (self._data, self._requires_grad))


def _rebuild_parameter(data: Any, requires_grad: bool) -> Parameter:
    return Parameter(Tensor._make(data), requires_grad)


class _BufferMeta(type):
    # Matches torch: `Buffer(t)` is a plain Tensor; isinstance checks the `_is_buffer` flag.
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """A tensor that is module state but not a parameter (BatchNorm's running statistics).

    Assigning one to a Module attribute registers it as a buffer; `persistent=False` keeps it
    out of the module's `state_dict`.
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:
        if data is None:
            data = empty(0)
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t
