"""`ember.autograd.Function`: user-defined ops with a hand-written backward.

A custom Function is a node like any other in the engine's walk: `MyFn.apply(...)` runs the
static `forward(ctx, ...)` without recording, then (if an input requires grad) makes one node
of class `MyFnBackward` whose `apply` calls the static `backward(ctx, *grads)`. As in torch,
`ctx` IS that node, so attributes set on ctx in forward are there in backward. When backward
is written with ember ops, double backward works like for built-in ops.

Saved tensors (`ctx.save_for_backward`) carry their version; reading `ctx.saved_tensors` after
an in-place change, or after a backward without retain_graph freed them, raises torch's error.
An output saved for backward is kept as its array (not the tensor, whose grad_fn is this
node: that would be a reference cycle) and rebuilt on unpack, as torch's SavedVariable does.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from . import forward_ad
from ._where import site
from .grad_mode import STATE, no_grad
from .graph import Node, _seq, accumulator

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable"]


class FunctionCtx:
    """What `forward` can tell `backward`: saved tensors, and which outputs/inputs are special."""

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    "save_for_backward can only save variables, but argument "
                    f"{tensors.index(t)} is of type {type(t).__name__}"
                )
        self._to_save = tensors

    def save_for_forward(self, *tensors: Tensor | None) -> None:
        self._to_save_fwd = tensors

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs that forward modified in place (they then take this node's history)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that never require grad (indices, masks)."""
        self._non_diff = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = value


class BackwardCFunction(FunctionCtx, Node):
    """The node of one `Function.apply` call (subclassed per Function as `<Name>Backward`)."""

    _forward_cls: type

    def __init__(self) -> None:
        Node.__init__(self)
        self._to_save = ()
        self._dirty = ()
        self._non_diff = ()
        self.materialize_grads = True
        self.needs_input_grad: tuple = ()
        self._saved = None
        self._outputs_meta: tuple = ()

    def _num_outputs(self) -> int:
        return len(self._outputs_meta)

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            from ..ops._saved import freed_message

            raise RuntimeError(freed_message(self))
        return tuple(_unpack(self, s) for s in self._saved)

    def __repr__(self) -> str:
        return f"<ember.autograd.function.{type(self).__name__} object at {hex(id(self))}>"

    def apply(self, grads: list) -> list:
        """Call the user's backward; one gradient per forward argument, as torch checks."""
        if self.materialize_grads:
            grads = [
                _zeros(shape, dtype) if g is None else g
                for g, (shape, dtype) in zip(grads, self._outputs_meta)
            ]
        out = self._forward_cls.backward(self, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        metas = self._inputs_meta
        if len(out) != len(metas):
            if len(out) < len(metas) or any(g is not None for g in out[len(metas) :]):
                raise RuntimeError(
                    f"function {self.name()} returned an incorrect number of gradients "
                    f"(expected {len(metas)}, got {len(out)})"
                )
            out = out[: len(metas)]
        result = []
        for i, (g, meta) in enumerate(zip(out, metas)):
            if meta is None:  # not a tensor: no edge
                if g is not None:
                    raise RuntimeError(
                        f"function {self.name()} returned a gradient different than None at "
                        f"position {i + 1}, but the corresponding forward input was not a Variable"
                    )
                continue
            result.append(None if g is None else _fit(self, i, g, *meta))
        return result

    def _release(self) -> None:
        self._saved = None


def _fit(node: Node, i: int, g: Tensor, shape: tuple, dtype: Any) -> Tensor:
    """torch's validate_outputs: sum a broadcast gradient back, refuse other shapes, cast."""
    if tuple(g.shape) != shape:
        try:
            fitted = g.sum_to_size(shape)
        except RuntimeError:
            fitted = g
        if tuple(fitted.shape) != shape:
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {i} - got "
                f"{list(g.shape)} but expected shape compatible with {list(shape)}"
            )
        g = fitted
    return g if g.dtype is dtype else g.to(dtype)


def _zeros(shape: tuple, dtype: Any) -> Tensor:
    from .. import zeros

    return zeros(shape, dtype=dtype)


def _pack(node: BackwardCFunction, t: Tensor | None, outputs: tuple) -> tuple | None:
    if t is None:
        return None
    for nr, o in enumerate(outputs):
        if o is t:  # an output: keep the array, rebuild the tensor on unpack (no cycle)
            return ("out", t._data, t._vc, t._vc[0], nr)
    return ("in", t, t._vc[0])


def _unpack(node: BackwardCFunction, saved: tuple | None) -> Tensor | None:
    # (the registry imports this package, so its helpers are imported on use)
    from ..ops._saved import _modified_message

    if saved is None:
        return None
    if saved[0] == "in":
        _, t, version = saved
        if t._vc[0] != version:
            raise RuntimeError(_modified_message(t, version, node=node))
        return t
    _, data, vc, version, nr = saved
    t = Tensor._make(data)
    t._vc = vc
    if data.dtype.kind in "fc":
        t._requires_grad, t._grad_fn, t._output_nr = True, node, nr
    if vc[0] != version:
        raise RuntimeError(_modified_message(t, version, node=node))
    return t


class _FunctionMeta(type):
    """Gives each Function subclass its node class, named `<Name>Backward` as in torch."""

    def __init__(cls, name: str, bases: tuple, attrs: dict) -> None:
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(
            name + "Backward", (BackwardCFunction,), {"_forward_cls": cls, "__slots__": ()}
        )


class Function(metaclass=_FunctionMeta):
    """Base class of custom differentiable operations (static forward/backward, `apply`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"{type(self)} should not be instantiated. Methods on autograd functions are all "
            "static, so you should invoke them on the class itself. Instantiating an autograd "
            "function will raise an error in a future version of PyTorch.",
            DeprecationWarning,
            stacklevel=2,
        )

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    setup_context = None  # torch 2 style: forward(*args) plus setup_context(ctx, inputs, output)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        node = cls._backward_cls()
        node.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        level = STATE.fw_level
        tangents = [forward_ad.tangent_of(a) for a in args] if level else ()
        dual = any(t is not None for t in tangents)
        if dual and cls.jvp is Function.jvp:  # (torch checks before running forward)
            Function.jvp(node)
        STATE.fw_level = 0  # forward computes primals only; a dual input's tangent is jvp's
        try:
            with no_grad():
                if cls.setup_context is None:
                    outputs = cls.forward(node, *args, **kwargs)
                else:
                    outputs = cls.forward(*args, **kwargs)
                    cls.setup_context(node, args, outputs)
            single = not isinstance(outputs, tuple)
            outs = (outputs,) if single else outputs
            if STATE.enabled and any(node.needs_input_grad):
                outs = _connect(node, args, outs)
            if dual:
                _set_tangents(cls, node, args, tangents, outs, level)
        finally:
            STATE.fw_level = level
        return outs[0] if single else outs


def _set_tangents(cls, node, args: tuple, tangents: list, outs: tuple, level) -> None:
    """Forward mode: the user's jvp(ctx, *input tangents) gives the outputs' tangents (zeros
    for tensor inputs without one, None for other arguments, as torch passes them)."""
    from .. import zeros_like

    given = [
        (zeros_like(a) if t is None else t) if isinstance(a, Tensor) else None
        for a, t in zip(args, tangents)
    ]
    result = cls.jvp(node, *given)
    result = result if isinstance(result, tuple) else (result,)
    if len(result) != len(outs):
        raise RuntimeError(
            f"function {cls.__name__} jvp returned an incorrect number of tangents "
            f"(expected {len(outs)}, got {len(result)})"
        )
    for o, t in zip(outs, result):
        if isinstance(o, Tensor) and t is not None and (o.is_floating_point() or o.is_complex()):
            o._fw_grad = (level, t)


def _connect(node: BackwardCFunction, args: tuple, outs: tuple) -> tuple:
    """Make `node` the grad_fn of the outputs (edges first, so the sequence order holds)."""
    edges = []  # one per tensor argument (torch leaves other arguments out)
    for a in args:
        if not isinstance(a, Tensor):
            continue
        if a._requires_grad:
            if a._grad_fn is None:
                if any(a is d for d in node._dirty):
                    raise RuntimeError(
                        "a leaf Variable that requires grad has been used in an in-place operation."
                    )
                edges.append((accumulator(a), 0))
            else:
                edges.append((a._grad_fn, a._output_nr))
        else:
            edges.append((None, 0))
    node.next_functions = tuple(edges)
    node._seq = next(_seq)
    node._where, node._lasti = site(2) or (None, 0)  # where, for errors (autograd/_where.py)
    node._inputs_meta = tuple(
        (tuple(a.shape), a.dtype) if isinstance(a, Tensor) else None for a in args
    )
    for d in node._dirty:
        d._vc[0] += 1  # Matches torch: mark_dirty bumps the version once more
    connected = []
    for nr, o in enumerate(outs):
        if not isinstance(o, Tensor):
            connected.append(o)
            continue
        if any(o is a for a in args) and not any(o is d for d in node._dirty):
            o = o.detach()  # Matches torch: an input returned as is becomes a new tensor
        if any(o is n for n in node._non_diff) or o.dtype._cat < 2:
            o._requires_grad = False
        else:
            o._grad_fn, o._output_nr, o._requires_grad = node, nr, True
        connected.append(o)
    node._outputs_meta = tuple(
        (tuple(o.shape), o.dtype) if isinstance(o, Tensor) else ((), None) for o in connected
    )
    node._saved = tuple(_pack(node, t, tuple(connected)) for t in node._to_save)
    node._to_save = ()
    return tuple(connected)


class _DelayedError(Node):
    """Stands in for the graph of a once_differentiable backward: differentiating it raises."""

    __slots__ = ("_msg",)

    def __init__(self, msg: str, edges: tuple) -> None:
        super().__init__()
        self._msg = msg
        self.next_functions = edges

    def apply(self, grads: list) -> list:
        raise RuntimeError(self._msg)


def once_differentiable(backward: Callable) -> Callable:
    """Decorator for a backward that cannot itself be differentiated: it runs without
    recording, and differentiating its results (create_graph) raises torch's error."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            out = backward(ctx, *grads)
        if not STATE.enabled:
            return out
        srcs = [g for g in grads if isinstance(g, Tensor) and g._requires_grad]
        if not srcs:
            return out
        edges = tuple(
            (accumulator(g), 0) if g._grad_fn is None else (g._grad_fn, g._output_nr) for g in srcs
        )
        err = _DelayedError(
            "trying to differentiate twice a function that was marked with @once_differentiable",
            edges,
        )
        single = not isinstance(out, tuple)
        wrapped = []
        for g in (out,) if single else out:
            if isinstance(g, Tensor):
                g = g.detach()
                g._grad_fn, g._requires_grad = err, True
            wrapped.append(g)
        return wrapped[0] if single else tuple(wrapped)

    return wrapper
