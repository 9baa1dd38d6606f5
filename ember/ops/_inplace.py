"""In-place ops (`x.add_(y)`) and the view bookkeeping they need: torch's semantics for
version counters, leaf checks, CopySlices on a view's base, and views replayed after their
base changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype
from .._tensor import Tensor
from ..autograd._where import note_inplace
from ..autograd.grad_mode import STATE

if TYPE_CHECKING:
    from ._registry import Op


def apply_inplace(op: Op, self: Tensor, *others, **params) -> Tensor:
    """Run `op(self, *others)` and write the result into `self`, as torch's `op_` does.

    When the graph is recorded, the node takes the old value of `self` (a copy) as its input
    and becomes `self.grad_fn`; the version counter (shared with views) is bumped so that
    nodes which saved the old value detect the change. On a view, as in torch, the base's
    history moves onto a CopySlices node (the result scattered into the base) and the view
    becomes a strided window of the base's new history.
    """
    recording = STATE.enabled and (
        self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)
    )
    base = geometry = None
    if recording:
        if self._requires_grad and self._grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        if self._base is not None:
            base, geometry = self._base, _view_geometry(self)
            if self._requires_grad and base._grad_fn is not self._base_fn:
                refresh_view(self)
        old = Tensor._make(snapshot(self))
        old._requires_grad, old._grad_fn, old._output_nr = (
            self._requires_grad,
            self._grad_fn,
            self._output_nr,
        )
        if STATE.fw_level:
            old._fw_grad = getattr(self, "_fw_grad", None)
        r = op(old, *others, **params)
    else:
        r = op(self, *others, **params)
    if r.dtype._cat > self.dtype._cat:
        raise RuntimeError(
            f"result type {_scalar_name(r.dtype)} can't be cast to the desired output type "
            f"{_scalar_name(self.dtype)}"
        )
    if not self._data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if r._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(r.shape)}"
        )
    write(self, r._data)
    note_inplace(self._vc)  # where, for the "modified by an inplace operation" error
    if recording and r._grad_fn is not None:
        # (A non-differentiable result, e.g. logical_not_ on floats, leaves the history as it
        # was: torch does the same.)
        node = r._grad_fn
        if node._outv is not None:
            node._out = self._data
            node._outv = (self._vc, self._vc[0])
        if base is None:
            self._grad_fn, self._output_nr, self._requires_grad = node, 0, True
        else:
            _rebase_onto_copy_slices(base, r, geometry)
            refresh_view(self)
    if STATE.fw_level:
        from ..autograd.forward_ad import set_inplace_tangent

        set_inplace_tangent(self, r)
    return self


# The two array steps of an in-place op, as module functions that ember.compile's tracer
# replaces to record them: the old value kept for the graph, and the write itself.
def snapshot(t: Tensor) -> np.ndarray:
    """A copy of `t`'s values (the input the graph keeps when `t` is overwritten)."""
    return t._data.copy()


def write(t: Tensor, values: np.ndarray) -> None:
    """Write `values` into `t`'s memory (casting to its dtype) and bump its version."""
    np.copyto(t._data, values, casting="unsafe")
    t._vc[0] += 1


def _view_geometry(view: Tensor) -> tuple:
    from .shape import view_geometry

    base = view._base
    if base._requires_grad and base._grad_fn is None:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    geometry = view_geometry(base, view)
    if geometry is None:
        raise NotImplementedError(
            "ember cannot differentiate an in-place operation on a view of a tensor whose own "
            "memory is not contiguous, or on a view that reads it as another dtype "
            "(view_as_real, view_as_complex); clone() the base first or apply the op out of "
            "place."
        )
    return geometry


def _rebase_onto_copy_slices(base: Tensor, result: Tensor, geometry: tuple) -> None:
    """base's history becomes CopySlices(old history, result) (its values are already new)."""
    from .shape import _copy_slices_view

    size, stride, offset = geometry
    old = Tensor._make(base._data)  # CopySlices' rules read no values
    old._requires_grad, old._grad_fn, old._output_nr = (
        base._requires_grad,
        base._grad_fn,
        base._output_nr,
    )
    node = _copy_slices_view(old, result, size=size, stride=stride, offset=offset)._grad_fn
    base._grad_fn, base._output_nr, base._requires_grad = node, 0, True


def refresh_view(view: Tensor) -> None:
    """torch's view replay: a view whose base's history changed since the view was taken (an
    in-place op on the base or on another view of it) gets as grad_fn a strided window
    (AsStridedBackward0) of the base's current history, so its gradient stays right."""
    from .shape import replay_view, view_geometry

    base = view._base
    geometry = view_geometry(base, view)
    if geometry is None:
        raise RuntimeError(
            "ember cannot differentiate through this view: its base was modified in place after "
            "the view was taken, and ember replays views only of tensors whose own memory is "
            "contiguous. Take the view again after the in-place operation, or clone() the base."
        )
    prev = STATE.enabled
    STATE.enabled = True
    try:
        fn = replay_view(base, geometry)
    finally:
        STATE.enabled = prev
    view._grad_fn, view._output_nr, view._requires_grad = fn, 0, fn is not None
    view._base_fn = base._grad_fn


def _scalar_name(d: _dtype.dtype) -> str:
    """c10's name of a dtype, as torch's messages print it ('Float', 'Long')."""
    return _dtype.SCALAR_NAMES[d.name]
