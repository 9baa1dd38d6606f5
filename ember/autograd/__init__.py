"""`ember.autograd`: reverse-mode differentiation over the recorded graph.

`backward` accumulates gradients into leaves' `.grad`; `grad` returns them instead. Both
walk the graph with the engine in graph.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._tensor import Tensor
from . import grad_mode
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .graph import AccumulateGrad, Node, accumulator, run_backward
from . import _where
from ._where import explain_missing_grad
from . import anomaly_mode, function
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .function import Function, once_differentiable
from .variable import Variable
from . import functional
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "functional",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "detect_anomaly",
    "set_detect_anomaly",
    "Function",
    "function",
    "once_differentiable",
    "backward",
    "grad",
    "Variable",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "grad_mode",
    "Node",
    "explain_missing_grad",
]


def _tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _edge(t: Tensor, i: int, role: str) -> tuple:
    if not t._requires_grad:
        if role == "output":
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
                + _where.no_grad_suffix(t, i)
            )
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    if t._grad_fn is None:
        return (accumulator(t), 0)
    if t._base is not None and t._base._grad_fn is not t._base_fn:
        from ..ops._inplace import refresh_view

        refresh_view(t)
    return (t._grad_fn, t._output_nr)


def _make_grads(outputs: tuple, grads: tuple) -> list:
    """The seed gradient of each output: ones for scalars, else the given tensor, cast."""
    from .. import ones_like

    out = []
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not t.dtype.is_floating_point:
                raise RuntimeError(
                    "grad can be implicitly created only for real scalar outputs but got "
                    f"{t.dtype!r}"
                )
            g = ones_like(t)
        elif not isinstance(g, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
        else:
            if g.shape != t.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape!r} and "
                    f"output[{i}] has a shape of {t.shape!r}."
                )
            if g.dtype is not t.dtype:
                if g.dtype.is_complex != t.dtype.is_complex:
                    raise RuntimeError(
                        "For complex Tensors, both grad_output and output are required to have "
                        f"the same dtype. Mismatch in dtype: grad_output[{i}] has a dtype of "
                        f"{g.dtype!r} and output[{i}] has a dtype of {t.dtype!r}."
                    )
                g = g.to(t.dtype)
        out.append(g)
    if len(grads) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    return out


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: None = None,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """Accumulate the gradients of `tensors` (weighted by `grad_tensors`) into the leaves.

    `retain_graph` defaults to `create_graph`; without it, saved values are freed.
    With `inputs`, only those tensors' `.grad` are accumulated into (leaves or not).
    """
    outputs = _tuple(tensors)
    if grad_variables is not None:
        grad_tensors = grad_variables
    grads = _tuple(grad_tensors) if grad_tensors is not None else (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_edge(t, i, "output") for i, t in enumerate(outputs)]
    seeds = _make_grads(outputs, grads)
    if inputs is None:
        prev = _where.begin_backward("backward", roots)
        try:
            run_backward(roots, seeds, retain_graph, create_graph)
        finally:
            _where.end_backward(prev)
        return
    inputs = _tuple(inputs)
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    edges = [_edge(t, i, "input") for i, t in enumerate(inputs)]
    prev = _where.begin_backward("backward", roots, inputs)
    try:
        got = run_backward(roots, seeds, retain_graph, create_graph, capture=edges)
    finally:
        _where.end_backward(prev)
    prev = grad_mode.STATE.enabled
    grad_mode.STATE.enabled = create_graph
    try:
        for t, g in zip(inputs, got):
            if g is not None:
                AccumulateGrad(t).apply([g])
    finally:
        grad_mode.STATE.enabled = prev


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """The gradients of `outputs` with respect to `inputs`, returned (no `.grad` is touched)."""
    if is_grads_batched:
        raise NotImplementedError("ember.autograd.grad: is_grads_batched=True is not supported yet")
    if allow_unused is None:
        allow_unused = materialize_grads
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
            "allow_unused=False."
        )
    outs = _tuple(outputs)
    ins = _tuple(inputs)
    grads = _tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_edge(t, i, "output") for i, t in enumerate(outs)]
    seeds = _make_grads(outs, grads)
    edges = [_edge(t, i, "input") for i, t in enumerate(ins)]
    prev = _where.begin_backward("grad", roots, ins)
    try:
        got = run_backward(roots, seeds, retain_graph, create_graph, capture=edges)
    finally:
        _where.end_backward(prev)
    result = []
    for i, (t, g) in enumerate(zip(ins, got)):
        if g is None:
            if materialize_grads:
                from .. import zeros_like

                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    return tuple(result)
