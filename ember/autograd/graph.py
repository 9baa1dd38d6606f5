"""The backward graph: `Node`, `AccumulateGrad`, and the backward walk.

A node is one recorded op. `next_functions` holds one edge `(node, output_nr)` per input of
the op (`(None, 0)` for an input that needs no gradient). Every node gets a sequence number
when it is created; since an op's inputs exist before the op runs, ordering the reachable
nodes by decreasing sequence number is a topological order. The walk uses that order (as
torch's engine prefers the most recent ready node), so it is iterative and needs no
dependency counting: a 100,000-node chain is one sort and one loop.
"""

from __future__ import annotations

import itertools
import operator
import weakref
from collections.abc import Callable, Sequence
from sys import getrefcount
from typing import TYPE_CHECKING

from ._where import CURRENT as BACKWARD
from .anomaly_mode import ANOMALY, checked_apply, record
from .grad_mode import STATE

if TYPE_CHECKING:
    from .._tensor import Tensor

_seq = itertools.count()
# Two gradients that reach the same output add up (arrays or tensors); a module name that
# ember.compile's tracer replaces, to record the sum.
add_grads = operator.add
seed_array = operator.attrgetter(
    "_data"
)  # a seed gradient's array (swapped by ember.compile's tracer)
_by_seq = operator.attrgetter("_seq")


class Node:
    """A backward function. Subclasses set `apply(grads) -> grads per edge`."""

    __slots__ = ("next_functions", "_seq", "_hooks", "_retain", "__weakref__")

    def __init__(self, next_functions: tuple = ()) -> None:
        self.next_functions = next_functions
        self._seq = next(_seq)
        # {output_nr: {handle_id: hook}} from Tensor.register_hook, plus "node": pre-hooks and
        # "post": hooks registered on the node itself (register_prehook / register_hook).
        self._hooks = None
        self._retain = None  # {output_nr: weakref to a tensor that retains its grad}
        if ANOMALY.enabled:
            record(self)

    def name(self) -> str:
        return type(self).__name__

    def register_prehook(self, fn: Callable) -> RemovableHandle:
        """`fn(grad_outputs)` runs before this node's backward; a returned tuple replaces them."""
        return self._add_hook("node", fn)

    def register_hook(self, fn: Callable) -> RemovableHandle:
        """`fn(grad_inputs, grad_outputs)` runs after this node's backward; a returned tuple
        replaces grad_inputs (what flows on to the node's inputs)."""
        return self._add_hook("post", fn)

    def _add_hook(self, kind: str, fn: Callable) -> RemovableHandle:
        if self._hooks is None:
            self._hooks = {}
        return add_hook(self._hooks.setdefault(kind, {}), fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def _num_outputs(self) -> int:
        return 1

    def apply(self, grads: list) -> Sequence:
        raise NotImplementedError

    def apply_arrays(self, grads: list) -> list | None:
        """`apply` on NumPy arrays, for a walk that records nothing (create_graph=False); None
        when this node must run `apply` on tensors (no NumPy rules, hooks, freed values)."""
        return None

    def _release(self) -> None:
        """Free saved values after a backward without retain_graph (nothing saved here)."""


class AccumulateGrad(Node):
    """The sink for a leaf: adds the incoming gradient into `variable.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable) -> None:
        super().__init__()
        self.variable = variable

    def name(self) -> str:
        return "ember::autograd::AccumulateGrad"  # torch: torch::autograd::AccumulateGrad

    def apply_arrays(self, grads: list) -> list | None:
        leaf = self.variable
        data = grads[0]
        if leaf._hooks or data.shape != leaf._data.shape:
            return None  # hooks see tensors; a wrong shape raises torch's error there
        if data.dtype != leaf._data.dtype:
            data = data.astype(leaf._data.dtype)
        call = BACKWARD[0]
        if call is not None:  # for explain_missing_grad (autograd/_where.py)
            call.reached.append(weakref.ref(leaf))
        old = leaf._grad
        if old is None:
            # As in `apply`: only the walk holds the array (grads, data, getrefcount's
            # argument), so it can become `.grad` as it is.
            owned = getrefcount(data) <= 3 and data.base is None and data.flags.writeable
            leaf._grad = type(leaf)._make(data if owned else data.copy())
        else:
            old._data += data
            old._vc[0] += 1
        self._post_accumulate(leaf)
        return []

    def _post_accumulate(self, leaf) -> None:
        post = leaf.__dict__.get("_post_accumulate_grad_hooks")
        if post:
            for hook in tuple(post.values()):
                hook(leaf)

    def apply(self, grads: list) -> Sequence:
        g = grads[0]
        leaf = self.variable
        call = BACKWARD[0]
        if call is not None:  # for explain_missing_grad (autograd/_where.py)
            call.reached.append(weakref.ref(leaf))
        if leaf._hooks:
            for hook in tuple(leaf._hooks.values()):
                new = hook(g)
                if new is not None:
                    g = new
        if g.shape != leaf.shape:
            raise RuntimeError(
                f"Function AccumulateGrad returned an invalid gradient at index 0 - got "
                f"{list(g.shape)} but expected shape compatible with {list(leaf.shape)}"
            )
        if g.dtype is not leaf.dtype:
            g = g.to(leaf.dtype)
        old = leaf._grad
        if STATE.enabled:  # create_graph: keep the gradient's own graph
            leaf._grad = g if old is None else old + g
        elif old is None:
            # `.grad` must own its memory: users zero it and optimizers update it in place.
            # Matches torch (AccumulateGrad steals a gradient nothing else uses): when only
            # this walk holds g (the buffer list, the name g, getrefcount's argument) and only
            # g holds its array (g's slot, the name data, the argument), the array becomes
            # `.grad` as it is; otherwise (a gradient shared with another input, kept by a
            # hook, a view) `.grad` gets a copy.
            data = g._data
            if (
                getrefcount(g) <= 3
                and getrefcount(data) == 3
                and data.base is None
                and data.flags.writeable
            ):
                leaf._grad = type(leaf)._make(data)
            else:
                leaf._grad = type(leaf)._make(data.copy())
        else:
            old._data += g._data
            old._vc[0] += 1
        self._post_accumulate(leaf)
        return ()


def accumulator(leaf: Tensor) -> AccumulateGrad:
    """The leaf's one AccumulateGrad node while any graph holds it (weakly cached, no cycle)."""
    ref = leaf._acc
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(leaf)
        leaf._acc = weakref.ref(acc)
    return acc


def _hooked(node: Node, grads: list) -> list:
    """Tensor hooks on the node's outputs, retained grads, then the node's own pre-hooks."""
    hooks = node._hooks
    if hooks:
        for nr, fns in hooks.items():
            if type(nr) is int and grads[nr] is not None:
                for hook in tuple(fns.values()):
                    new = hook(grads[nr])
                    if new is not None:
                        grads[nr] = new
    if node._retain:
        for nr, ref in node._retain.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                g = grads[nr]
                if t._grad is None:
                    t._grad = g if STATE.enabled else type(t)._make(g._data.copy())
                else:
                    t._grad = t._grad + g
    if hooks and "node" in hooks:
        for hook in tuple(hooks["node"].values()):
            grads = _replaced(hook, grads, hook(tuple(grads)))
    return grads


def _post_hooked(node: Node, grad_inputs: list, grad_outputs: list) -> list:
    for hook in tuple(node._hooks["post"].values()):
        grad_inputs = _replaced(hook, grad_inputs, hook(tuple(grad_inputs), tuple(grad_outputs)))
    return grad_inputs


def _replaced(hook: Callable, old: list, new: tuple | None) -> list:
    if new is None:
        return old
    if len(new) != len(old):
        raise RuntimeError(
            f"hook '{getattr(hook, '__name__', hook)}' has returned an incorrect number of values "
            f"(got {len(new)}, but expected {len(old)})"
        )
    return list(new)


def _reachable(roots: Sequence[Node]) -> list:
    """Every node reachable from roots, most recent first (a topological order)."""
    seen = set()
    stack = [r for r in roots if r is not None]
    order = []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    order.sort(key=_by_seq, reverse=True)
    return order


def run_backward(
    roots: Sequence[tuple],
    grads: Sequence,
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[tuple] | None = None,
) -> list:
    """Walk the graph from `roots` (edges `(node, output_nr)`) seeded with `grads`.

    Without `capture`, gradients accumulate into the leaves (`Tensor.backward`). With
    `capture` (the edges of `autograd.grad`'s inputs), returns the total gradient that reached
    each captured edge, touches no `.grad`, and runs only the nodes that lead to a capture.

    A walk that records nothing (create_graph=False) passes NumPy arrays between nodes and runs
    the NumPy rules of the ops that have them (`apply_arrays`), wrapping arrays into tensors
    only for the nodes that need tensors; a recording walk runs the rules written with ember
    ops, so that its gradients have a graph.
    """
    order = _reachable([node for node, _ in roots])
    targets = leads = None
    if capture is not None:
        targets = {node for node, _ in capture}
        leads = set()  # nodes with a path to a target below them
        for node in reversed(order):  # oldest first: children before parents
            for nxt, _ in node.next_functions:
                if nxt in targets or nxt in leads:
                    leads.add(node)
                    break
        order = [n for n in order if n in leads or n in targets]
    checked = ANOMALY.enabled
    arrays = not (create_graph or checked or STATE.fw_level)
    buffers: dict = {}
    for (node, nr), g in zip(roots, grads):
        _add(buffers, node, nr, seed_array(g) if arrays else g)
    captured = {}
    prev = STATE.enabled
    STATE.enabled = create_graph
    try:
        for node in order:
            buf = buffers.pop(node, None)
            if buf is None:
                continue
            if targets is not None and node in targets:
                if node._hooks or node._retain:
                    buf = _hooked_buffer(node, buf, arrays)
                for nr, g in enumerate(buf):
                    captured[(node, nr)] = g
                if node not in leads:
                    continue
                out = _apply(node, buf, arrays, checked, hooked=True)
            elif arrays and node._hooks is None and node._retain is None:
                out = node.apply_arrays(buf)  # (the common case, inlined from `_apply`)
                if out is None:
                    out = _apply(node, buf, arrays, checked, hooked=False)
            else:
                out = _apply(node, buf, arrays, checked, hooked=False)
            if not retain_graph:
                node._release()
            for (nxt, nr), g in zip(node.next_functions, out):
                if nxt is not None and g is not None:
                    buf = buffers.get(nxt)
                    if buf is None:
                        buffers[nxt] = buf = [None] * nxt._num_outputs()
                        buf[nr] = g
                    elif buf[nr] is None:
                        buf[nr] = g
                    else:
                        buf[nr] = add_grads(buf[nr], g)
            out = g = buf = None  # hold no gradient here: AccumulateGrad's steal counts them
    finally:
        STATE.enabled = prev
    if capture is None:
        return []
    got = [captured.get(edge) for edge in capture]
    return [_wrap(g) for g in got] if arrays else got


def _apply(node: Node, buf: list, arrays: bool, checked: bool, hooked: bool) -> Sequence:
    """One node's backward: its hooks (unless `hooked`: already run), then its rules."""
    if arrays:
        if not (node._hooks or node._retain):
            out = node.apply_arrays(buf)
            if out is not None:
                return out
        buf = [_wrap(g) for g in buf]
    if not hooked and (node._hooks or node._retain):
        buf = _hooked(node, buf)
    out = checked_apply(node, buf) if checked else node.apply(buf)
    if node._hooks and "post" in node._hooks:
        out = _post_hooked(node, out, buf)
    if arrays:
        return [None if g is None else g._data for g in out]
    return out


def _hooked_buffer(node: Node, buf: list, arrays: bool) -> list:
    """A captured node's hooks, run before its gradients are captured (as tensors)."""
    if not arrays:
        return _hooked(node, buf)
    return [None if g is None else g._data for g in _hooked(node, [_wrap(g) for g in buf])]


def _wrap(g):
    """An array of an array walk as a tensor (for hooks and nodes without NumPy rules)."""
    return None if g is None else _make(g)


def _make(data):
    global _make
    from .._tensor import Tensor  # (graph.py is imported while _tensor.py is)

    _make = Tensor._make
    return _make(data)


def _add(buffers: dict, node: Node, nr: int, g) -> None:
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node._num_outputs()
    buf[nr] = g if buf[nr] is None else add_grads(buf[nr], g)


class RemovableHandle:
    """Returned by `register_hook`; `remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict) -> None:
        self.id = next(self._ids)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_hook(hooks: dict, fn: Callable) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


class saved_tensors_hooks:
    """Within this context, every value a node saves for backward goes through
    `pack_hook(tensor)` when it is saved and `unpack_hook(packed)` when backward needs it
    (to compress, offload or recompute activations). Only values that a rule reads are
    packed, as in torch; ops recorded outside the context are unaffected. Thread-local."""

    def __init__(self, pack_hook: Callable, unpack_hook: Callable) -> None:
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        if STATE.hooks_disabled is not None:
            raise RuntimeError(STATE.hooks_disabled)
        STATE.saved_hooks = STATE.saved_hooks + ((self.pack_hook, self.unpack_hook),)
        return self

    def __exit__(self, *exc: object) -> None:
        STATE.saved_hooks = STATE.saved_hooks[:-1]


class save_on_cpu(saved_tensors_hooks):
    """torch's hooks that move saved tensors to (pinned) CPU memory. ember's tensors already
    live there: the saved values are kept as copies, and the API is the same."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        super().__init__(lambda t: t.detach().clone(), lambda t: t)


class disable_saved_tensors_hooks:
    """Within this context, entering saved_tensors_hooks raises RuntimeError(error_message)."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self) -> None:
        self._prev = STATE.hooks_disabled
        STATE.hooks_disabled = self.error_message

    def __exit__(self, *exc: object) -> None:
        STATE.hooks_disabled = self._prev
