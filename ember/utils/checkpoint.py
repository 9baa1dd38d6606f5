"""`ember.utils.checkpoint`: activation checkpointing (recompute in backward, keep less memory).

`checkpoint(function, *args)` returns what `function(*args)` returns, but the graph it records
holds only the arguments: the activations inside `function` are recomputed during backward.
Two variants, chosen by `use_reentrant` as in torch:

- `use_reentrant=False` (recommended): `function` runs with grad mode as it is, so everything
  inside behaves as without checkpointing; then its graph is dropped, keeping only one
  `CheckpointBackward` node whose edges are the boundary of that graph: the arguments AND
  whatever else `function` used that needs a gradient (parameters captured by closure, tensors
  computed outside). Its backward recomputes `function` and runs the engine over the fresh
  graph, stopping at that boundary and handing the gradients to the outer walk, so they reach
  parameters through `.backward()` and `ember.autograd.grad` alike (`create_graph=True` too).
- `use_reentrant=True` (torch's default when `use_reentrant` is not given, with a warning):
  torch's Function-based version. `function` runs under `no_grad`; backward recomputes it on
  detached inputs and calls `ember.autograd.backward` inside the outer backward, which writes
  the parameters' `.grad` directly. Hence torch's limits: outputs need an input that requires
  grad, and `autograd.grad` / `backward(inputs=...)` raise.

The default generator's state is stashed at the forward and restored around the recomputation
(`preserve_rng_state`), so dropout draws the same masks twice and the caller's stream is left
as it was.

Differences from torch: the non-reentrant outputs' `grad_fn` is `CheckpointBackward` (torch
shows the last op inside `function`, thanks to saved-tensor hooks); the forward records the
graph of `function` and drops it when `function` returns, so the peak memory of one checkpoint
is that of its own activations, as during its recomputation; `determinism_check="default"`
compares the recomputed outputs' shapes and dtypes (torch compares every saved tensor);
`debug` and `early_stop` are accepted and checked but change nothing.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._random import get_rng_state, set_rng_state
from .._tensor import Tensor
from ..autograd import graph
from ..autograd.function import Function
from ..autograd.grad_mode import STATE, enable_grad
from ..autograd.graph import AccumulateGrad, Node, run_backward
from ..ops._saved import _FREED, _modified_message

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "CheckpointError",
    "CheckpointFunction",
    "check_backward_validity",
    "detach_variable",
    "noop_context_fn",
]

_DETERMINISM_CHECKS = ("default", "none")


class CheckpointError(RuntimeError):
    """The recomputation did not produce what the forward produced."""


def noop_context_fn() -> tuple:
    """The default `context_fn`: no context around the forward nor the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs: tuple) -> tuple:
    """Detached copies of the tensors in `inputs` that keep their `requires_grad` (new leaves)."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            "Only tuple of tensors is supported. Got Unsupported input type: "
            f"{type(inputs).__name__}"
        )
    out = []
    for inp in inputs:
        if isinstance(inp, Tensor):
            x = inp.detach()
            x.requires_grad = inp.requires_grad
            inp = x
        out.append(inp)
    return tuple(out)


def check_backward_validity(inputs: Sequence[Any]) -> None:
    """Warn (as torch does) when no tensor input requires grad: the reentrant checkpoint's
    outputs then need no gradient, and parameters used inside get none."""
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2
        )


@contextlib.contextmanager
def _rng_at(state: Tensor | None) -> Iterator[None]:
    """Run with the default generator at `state`, then put back the caller's state (torch's
    `fork_rng`); with None, leave the generator alone (`preserve_rng_state=False`)."""
    if state is None:
        yield
        return
    outer = get_rng_state()
    set_rng_state(state)
    try:
        yield
    finally:
        set_rng_state(outer)


def _capturing() -> bool:
    """Whether the innermost user's backward walk now running is `autograd.grad` or
    `backward(inputs=...)`: the engine's walk with `capture` (torch's `_is_checkpoint_valid`).

    The engine does not publish this, so it is read from the walk's frame. The walks of
    non-reentrant checkpoints are skipped: in torch they are part of the user's walk.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is run_backward.__code__ and frame.f_back.f_code is not _WALK_INSIDE:
            return frame.f_locals["capture"] is not None
        frame = frame.f_back
    return False


# ---- use_reentrant=True: torch's CheckpointFunction ------------------------------------------
class CheckpointFunction(Function):
    """The reentrant checkpoint: a custom Function that saves only its tensor arguments."""

    @staticmethod
    def forward(ctx: Any, run_function: Callable, preserve_rng_state: bool, *args: Any) -> Any:
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.fwd_rng_state = get_rng_state() if preserve_rng_state else None
        # Tensors go through save_for_backward (version-checked); the rest is kept as is.
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*(args[i] for i in ctx.tensor_indices))
        return run_function(*args)  # Function.apply runs forward under no_grad

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> tuple:
        if _capturing():
            raise RuntimeError(
                "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() "
                "or passing an `inputs` parameter to .backward(). To resolve this error, you "
                "can either set use_reentrant=False, or call .backward() without passing the "
                "`inputs` argument."
            )
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        with _rng_at(ctx.fwd_rng_state):
            detached = detach_variable(tuple(inputs))
            with enable_grad():
                outputs = ctx.run_function(*detached)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        pairs = [
            (o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad
        ]
        if not pairs:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        from .. import autograd

        # Matches torch: a backward inside the backward; parameters get their .grad here.
        autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(t.grad if isinstance(t, Tensor) else None for t in detached)


# ---- use_reentrant=False ---------------------------------------------------------------------
def _map_tensors(obj: Any, fn: Callable[[Tensor], Any]) -> Any:
    """`obj` with each tensor t inside (tuples, namedtuples, lists, dicts) replaced by fn(t),
    visited in a fixed order."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_map_tensors(o, fn) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _map_tensors(v, fn)) for k, v in obj.items())
    return obj


def _tensors(obj: Any) -> list:
    """The tensors inside `obj`, in `_map_tensors`'s order."""
    found: list = []
    _map_tensors(obj, found.append)
    return found


def _made_after(t: Tensor, start: int) -> bool:
    """Whether t was computed by an op recorded since sequence number `start`."""
    return t._grad_fn is not None and t._grad_fn._seq >= start


def _inside(node: Node | None, start: int) -> bool:
    """Nodes of ops recorded since `start`; leaves' AccumulateGrad (possibly created since,
    on first use of the leaf) belong to the outside."""
    return node is not None and node._seq >= start and not isinstance(node, AccumulateGrad)


def _boundary(roots: list, start: int) -> tuple[list, dict]:
    """The nodes recorded since `start` that `roots` reach, and the edges by which they leave
    that subgraph: {edge: None}, an ordered set, first seen first."""
    inner, edges, stack, seen = [], {}, list(roots), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        inner.append(node)
        for nxt, nr in node.next_functions:
            if _inside(nxt, start):
                stack.append(nxt)
            elif nxt is not None:
                edges[(nxt, nr)] = None
    return inner, edges


class _Sink(Node):
    """Stands for an outside node during a recomputation's walk: the gradient stops here."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self._seq = -1  # no edges out: last in the walk's order


class CheckpointBackward(Node):
    """The node of one non-reentrant checkpoint: its edges are the boundary of `function`'s
    graph, its backward recomputes `function` and differentiates the fresh graph."""

    __slots__ = ("_call", "_versions", "_rng", "_recompute_ctx", "_meta", "_check", "_edges")

    def __init__(self, call: tuple, rng: Tensor | None, recompute_ctx: Any, check: bool) -> None:
        super().__init__()
        self._call = call  # (function, args, kwargs); None once freed
        args, kwargs = call[1], call[2]
        self._versions = [(t, t._vc[0]) for t in (*args, *kwargs.values()) if isinstance(t, Tensor)]
        self._rng = rng
        self._recompute_ctx = recompute_ctx
        self._check = check
        self._meta: list = []  # (position among the output tensors, _metadata) per output
        # The boundary edges, also kept apart from next_functions: an enclosing checkpoint's
        # walk points next_functions at its sinks while this node runs.
        self._edges: tuple = ()

    def _num_outputs(self) -> int:
        return len(self._meta)

    def _release(self) -> None:
        self._call = self._versions = None

    def apply(self, grads: list) -> list:
        if self._call is None:
            raise RuntimeError(_FREED)
        for t, version in self._versions:
            if t._vc[0] != version:
                raise RuntimeError(_modified_message(t, version))
        create_graph = STATE.enabled  # the engine runs backward rules with grad iff create_graph
        function, args, kwargs = self._call
        start = next(graph._seq)
        with _rng_at(self._rng), enable_grad(), self._recompute_ctx:
            recomputed = _tensors(function(*args, **kwargs))
        roots, seeds = [], []
        for (pos, saved), g in zip(self._meta, grads):
            t = recomputed[pos] if pos < len(recomputed) else None
            meta = _metadata(t)
            if self._check and meta != saved:
                raise CheckpointError(
                    "torch.utils.checkpoint: Recomputed values for the following tensors have "
                    "different metadata than during the forward pass.\n"
                    f"output tensor at position {pos}:\n"
                    f"saved metadata: {saved}\n"
                    f"recomputed metadata: {meta}"
                )
            if g is not None and t is not None and _made_after(t, start):
                roots.append((t._grad_fn, t._output_nr))
                seeds.append(g)
        if not roots:
            return [None] * len(self._edges)
        return _walk_inside(roots, seeds, start, self._edges, create_graph)


def _metadata(t: Tensor | None) -> dict | None:
    """What `determinism_check="default"` compares (None: the output was not recomputed)."""
    if t is None:
        return None
    return {"shape": t.shape, "dtype": t.dtype, "requires_grad": t.requires_grad}


def _walk_inside(roots: list, seeds: list, start: int, edges: tuple, create_graph: bool) -> list:
    """The gradients that reach `edges` from the recomputed graph (nodes since `start`).

    Its edges to the outside are pointed at sinks for the walk, so the gradient stops at the
    boundary (the outer walk carries it on; going further here would count it twice), then put
    back, so that a graph made with `create_graph` leads to the real outside.
    """
    inner, _ = _boundary([node for node, _ in roots], start)
    sinks: dict = {}
    original = [(node, node.next_functions) for node in inner]
    for node in inner:
        node.next_functions = tuple(
            e if e[0] is None or _inside(e[0], start) else (sinks.setdefault(e, _Sink()), 0)
            for e in node.next_functions
        )
    try:
        capture = [(sinks.get(e) or _Sink(), 0) for e in edges]
        return run_backward(roots, seeds, create_graph, create_graph, capture=capture)
    finally:
        for node, nexts in original:
            node.next_functions = nexts


_WALK_INSIDE = _walk_inside.__code__


def _checkpoint_without_reentrant(
    function: Callable,
    args: tuple,
    kwargs: dict,
    preserve_rng_state: bool,
    context_fn: Callable,
    determinism_check: str,
    debug: bool,
) -> Any:
    """`checkpoint(..., use_reentrant=False)`: run `function` as is, then keep, instead of its
    graph, one `CheckpointBackward` node over that graph's boundary."""
    if debug and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(
            f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, "
            f"but got {determinism_check}"
        )
    forward_ctx, recompute_ctx = context_fn()
    if not STATE.enabled:
        return function(*args, **kwargs)  # Matches torch: nothing to save, no context entered
    rng = get_rng_state() if preserve_rng_state else None
    start = next(graph._seq)
    with forward_ctx:
        out = function(*args, **kwargs)
    inside = [_made_after(t, start) for t in _tensors(out)]
    if not any(inside):  # nothing computed inside needs a gradient
        return out
    node = CheckpointBackward(
        (function, args, kwargs), rng, recompute_ctx, determinism_check == "default"
    )
    flags = iter(enumerate(inside))
    roots = []

    def attach(t: Tensor) -> Tensor:
        # Outputs computed inside become outputs of the node; inputs or outside tensors
        # returned as they are stay themselves (as in torch).
        pos, made_inside = next(flags)
        if not made_inside:
            return t
        node._meta.append((pos, _metadata(t)))
        roots.append(t._grad_fn)
        alias = t.detach()
        alias._requires_grad, alias._grad_fn, alias._output_nr = True, node, len(node._meta) - 1
        return alias

    out = _map_tensors(out, attach)
    node.next_functions = node._edges = tuple(_boundary(roots, start)[1])
    return out  # the forward graph goes with `roots`: only its boundary is kept


# ---- public functions ------------------------------------------------------------------------
def checkpoint(
    function: Callable,
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], tuple] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """`function(*args, **kwargs)`, recording only the arguments: the activations inside are
    recomputed during backward (same gradients, less memory kept between forward and backward).

    `use_reentrant` should be given; without it torch 2.13 warns and uses the reentrant variant.
    `context_fn` returns two context managers, entered around the forward and around the
    recomputation (non-reentrant only, as `debug`); keyword arguments need the non-reentrant
    variant. See the module docstring for how the variants differ.
    """
    if use_reentrant is None:
        # Matches torch 2.13: still a warning and the reentrant default, not yet an error.
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise an "
            "exception. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    if not use_reentrant:
        return _checkpoint_without_reentrant(
            function, args, kwargs, preserve_rng_state, context_fn, determinism_check, debug
        )
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if context_fn is not noop_context_fn or debug is not False:
        raise ValueError(
            "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
        )
    return CheckpointFunction.apply(function, preserve_rng_state, *args)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Tensor,
    use_reentrant: bool | None = None,
    *,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Tensor:
    """Run `functions` (an `nn.Sequential` or a list of callables) one after the other on
    `input`, split into `segments` chunks; every chunk but the last is checkpointed."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be "
            "passed explicitly. In version 2.9 we will raise an exception if use_reentrant is "
            "not passed. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    from ..nn import Sequential

    if isinstance(functions, Sequential):
        functions = list(functions.children())

    def run(start: int, end: int) -> Callable:
        def forward(x: Any) -> Any:
            for f in functions[start : end + 1]:
                x = f(x)
            return x

        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(
            run(start, end),
            input,
            use_reentrant=use_reentrant,
            preserve_rng_state=preserve_rng_state,
        )
    return run(end + 1, len(functions) - 1)(input)
