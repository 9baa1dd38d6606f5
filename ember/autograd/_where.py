"""Where things happened, so that autograd's errors can say where (issue #4).

A *site* is `(code object, f_lasti)` of the first frame outside the ember package: the user's
line (for an op run inside an ember.nn module, the line that called the module). It keeps no
frame alive (a frame holds its locals and makes reference cycles) and becomes `file:line` only
when a message is built. Sites are recorded at the few moments a later error needs them:

- every recorded node, in `Op._record` (`node._where, node._lasti`: inlined there, as it runs
  once per node; see `node_site`): the op that saved values;
- every in-place change of a version counter (`note_inplace`): the op that modified them;
- `detach()` / `.data`, and results computed under `no_grad` (`Tensor._origin`);
- every backward call (`BackwardCall`), which the nodes it frees remember.

These are diagnostics: the state they use is process-wide, not per thread.
"""

from __future__ import annotations

import linecache
import os
import sys
import weakref

_getframe = sys._getframe
# Every source file of the package, spelled as its code objects' co_filename (this module's
# __file__ is spelled the same way): a frame whose file is in this set is ember's own.
_INSIDE = frozenset(
    os.path.join(root, name)
    for root, _, names in os.walk(os.path.dirname(os.path.dirname(__file__)))
    for name in names
    if name.endswith(".py")
)


def site(depth: int = 1) -> tuple | None:
    """The user's site of the code running `depth` frames above this call's caller."""
    try:
        f = _getframe(depth + 1)
    except ValueError:
        return None
    while f is not None:
        code = f.f_code
        if code.co_filename not in _INSIDE:
            return (code, f.f_lasti)
        f = f.f_back
    return None


def node_site(node: object) -> tuple | None:
    """The site where a node was recorded (None for nodes that do not record one)."""
    code = getattr(node, "_where", None)
    return None if code is None else (code, node._lasti)


def line_of(where: tuple | None) -> tuple | None:
    """`(filename, lineno)` of a site."""
    if where is None:
        return None
    code, lasti = where
    for start, end, lineno in code.co_lines():
        if start <= lasti < end and lineno is not None:
            return (code.co_filename, lineno)
    return (code.co_filename, code.co_firstlineno)


def short_path(filename: str) -> str:
    """The file as a user reads it: relative to the working directory when inside it."""
    here = os.getcwd() + os.sep
    return filename[len(here) :] if filename.startswith(here) else filename


def fmt(where: tuple | None) -> str:
    """`train.py:12 (`loss = model(x)`)`: the site and its source line, when known."""
    loc = line_of(where)
    if loc is None:
        return "an unknown place"
    filename, lineno = loc
    text = linecache.getline(filename, lineno).strip()
    return f"{short_path(filename)}:{lineno}" + (f" (`{text}`)" if text else "")


# ---- in-place modifications ----------------------------------------------------------------
_HISTORY = 16  # in-place sites kept per version counter (a loop of in-place ops keeps no more)


_UNKNOWN = object()


def note_inplace(vc: list, depth: int = 1, where: object = _UNKNOWN) -> None:
    """Remember where the version counter `vc` ([version]) got its current version: as
    `vc[1]`, a {version: site} dict of the latest changes. Called after the bump; `where`
    is that site when the caller has found it already (an optimizer step bumps many)."""
    if len(vc) == 1:
        vc.append({})
    history = vc[1]
    history[vc[0]] = site(depth + 1) if where is _UNKNOWN else where
    if len(history) > _HISTORY:
        del history[next(iter(history))]


def inplace_site(vc: list, version: int) -> tuple | None:
    """Where `vc` was bumped to `version`, if remembered."""
    return vc[1].get(version) if len(vc) > 1 else None


# ---- grad mode and detach ------------------------------------------------------------------
# The reason results computed now do not require grad, when grad mode is off: set by the grad
# mode context managers, read in Op.__call__ (a list, so reading it is one subscript).
NO_GRAD: list = [None]


def grad_mode_entered(kind: str) -> tuple:
    """Called by a grad-mode context manager turning recording off; returns what to restore."""
    prev = NO_GRAD[0]
    NO_GRAD[0] = (kind, site(2))
    return prev


def mark_detached(t: object, source: object, how: str) -> None:
    """`t` was made from `source` by `how` ('detach()' or '.data') here."""
    t._origin = (how, site(2), weakref.ref(source))


def inherited(tag: tuple) -> tuple:
    """The origin of a result computed (with grad mode on) from an input of origin `tag` that
    does not require grad: ("from", the input's own origin), so that "does not require grad"
    can name the no_grad block or detach() further up. Called by Op.__call__."""
    return tag if tag[0] == "from" else ("from", tag)


def origin(t: object) -> tuple | None:
    return getattr(t, "_origin", None)


# ---- backward calls ------------------------------------------------------------------------
class BackwardCall:
    """One call of backward() or autograd.grad(): where, and from which outputs."""

    __slots__ = ("kind", "site", "roots", "root_sites", "inputs", "reached")

    def __init__(self, kind: str, roots: list, inputs: list | None) -> None:
        self.kind = kind  # "backward" or "grad"
        self.site = site(3)
        self.roots = [weakref.ref(n) for n, _ in roots]
        self.root_sites = [node_site(n) for n, _ in roots]
        # weak references to the tensors given as `inputs` (backward) / `inputs` (grad)
        self.inputs = None if inputs is None else [weakref.ref(t) for t in inputs]
        self.reached = []  # weak references to the leaves whose .grad it accumulated into

    def reached_leaves(self) -> list:
        return [t for t in (r() for r in self.reached) if t is not None]

    def live_roots(self) -> list:
        return [n for n in (r() for r in self.roots) if n is not None]


CURRENT: list = [None]  # the backward call running now
LAST: list = [None]  # the latest backward call (finished or running)


def begin_backward(kind: str, roots: list, inputs: list | None = None) -> BackwardCall | None:
    call = BackwardCall(kind, roots, inputs)
    prev = CURRENT[0]
    CURRENT[0] = LAST[0] = call
    return prev


def end_backward(prev: BackwardCall | None) -> None:
    CURRENT[0] = prev


# ---- messages ------------------------------------------------------------------------------
def freed_by(node: object) -> BackwardCall | None:
    """The backward call that freed `node`'s saved values (None if not freed or not known).
    Only a released node's `_inputs` (ops/_saved.py `_Released`) has a `by`."""
    return getattr(getattr(node, "_inputs", None), "by", None)


def modified_suffix(vc: list, expected: int, current: int, node: object | None) -> str:
    """What follows torch's "modified by an inplace operation" message: who saved the value
    and which in-place op changed it, when known."""
    saved = node_site(node)
    first = inplace_site(vc, expected + 1)
    last = inplace_site(vc, current)
    parts = []
    if saved is not None:
        parts.append(f"The value was saved for backward by {node.name()} at {fmt(saved)}")
    if first is not None:
        verb = "then modified in place" if parts else "The value was modified in place"
        if current - expected > 1:
            more = f"{current - expected} times since it was saved, first at {fmt(first)}"
            if last is not None:
                more += f", last at {fmt(last)}"
            parts.append(f"{verb} {more}")
        else:
            parts.append(f"{verb} at {fmt(first)}")
    elif last is not None:
        parts.append(f"last modified in place at {fmt(last)}")
    if not parts:
        return ""
    return "\n" + " and ".join(parts) + "."


def freed_suffix(node: object) -> str:
    """What follows torch's "backward through the graph a second time" message: where the
    freed value was saved, which backward call freed it and where that graph's output was
    made; and, when the current graph reaches the freed one through a tensor made by a line
    that also built the current graph, that it is carried across loop iterations."""
    lines = []
    saved = node_site(node)
    if saved is not None:
        lines.append(f"The freed value was saved by {node.name()} at {fmt(saved)}.")
    earlier = freed_by(node)
    if earlier is not None:
        text = f"Its graph was freed by the {_call_name(earlier)} at {fmt(earlier.site)}"
        out = next((s for s in earlier.root_sites if s is not None), None)
        if out is not None:
            text += f", whose output was created at {fmt(out)}"
        lines.append(text + ".")
        carried, where = _carried(earlier, CURRENT[0])
        if carried:
            what = f"the tensor created at {fmt(where)}" if where is not None else "a tensor"
            lines.append(
                f"This graph reaches that freed graph through {what}, which the same code made "
                "for both: a value carried across loop iterations (RNN state, a running total "
                "such as `total_loss += loss`). The usual fix is to detach it at the end of "
                "each iteration (`h = h.detach()`; for a total, `total_loss += loss.item()`), "
                "not retain_graph=True, which keeps every iteration's graph alive and "
                "backpropagates through all of them."
            )
    return "\n" + "\n".join(lines) if lines else ""


def _call_name(call: BackwardCall) -> str:
    return "autograd.grad() call" if call.kind == "grad" else "backward() call"


def _carried(earlier: BackwardCall, current: BackwardCall | None) -> tuple:
    """(carried?, site of the carried tensor): does `current`'s graph reach the graph that
    `earlier` freed through a node made by a line that also made a node of `current`'s own
    graph, or did both calls start from outputs made by the same line?"""
    if current is None or current is earlier:
        return False, None
    roots = current.live_roots()
    seen, stack, lines, boundary = set(), list(roots), set(), []
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        by = freed_by(n)
        if by is not None and by is not current:  # freed before this call: the old graph
            boundary.append(n)
            continue
        where = node_site(n)
        if where is not None:
            lines.add(line_of(where))
        stack.extend(nxt for nxt, _ in n.next_functions if nxt is not None)
    for n in boundary:
        where = node_site(n)
        if where is not None and line_of(where) in lines:
            return True, where
    old = {line_of(s) for s in earlier.root_sites if s is not None}
    new = {line_of(s) for s in current.root_sites if s is not None}
    same_root = any(r() in roots for r in earlier.roots)
    if old & new and not same_root:
        return True, None
    return False, None


def no_grad_reason(t: object) -> str:
    """Why `t` does not require grad, as the end of a sentence starting "it ..."."""
    dt = t.dtype
    if not (dt.is_floating_point or dt.is_complex):
        return (
            f"is {'a bool' if dt.name == 'bool' else 'an integer'} tensor ({dt!r}): only "
            "floating-point and complex tensors can require gradients"
        )
    tag = origin(t)
    if tag is None:
        return (
            "has requires_grad=False, and so did every tensor it was computed from: set "
            "requires_grad=True on the leaves you want gradients for (e.g. "
            "`w = ember.randn(3, requires_grad=True)` or `w.requires_grad_()`)"
        )
    via = tag[0] == "from"
    if via:
        tag = tag[1]
    how, where = tag[0], tag[1]
    if how in ("detach()", ".data"):
        what = "a tensor that was cut" if via else "was cut"
        return (
            f"{'was computed from ' if via else ''}{what} from its graph by {how} at "
            f"{fmt(where)}; use the original tensor, or make the detached copy a new leaf "
            "with .requires_grad_()"
        )
    return (
        f"was computed {'from a tensor computed ' if via else ''}under {how} (entered at "
        f"{fmt(where)}), where operations record no graph"
    )


def no_grad_suffix(t: object, i: int) -> str:
    """What follows torch's "element i of tensors does not require grad" message."""
    return f"\nElement {i} {no_grad_reason(t)}."


# ---- explain_missing_grad ------------------------------------------------------------------
_SEARCH_LIMIT = 100_000  # nodes visited when looking through a graph for an explanation


def explain_missing_grad(tensor: object) -> str:
    """Why `tensor.grad` is None, in a few sentences that name the file:line responsible.

    The usual reasons: `tensor` does not require grad (an integer tensor; computed under
    `no_grad` at file:line; cut from its graph by `detach()` at file:line; or requires_grad
    was never set); it is not a leaf (made by `.to()` or another op at file:line, and backward
    fills `.grad` only for leaves unless `retain_grad()` was called); or it is a leaf that the
    last backward did not reach (that call's file:line, and a tensor of that graph which looks
    like a copy of it), or reached and whose `.grad` was reset to None since.
    """
    from .._tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"explain_missing_grad() expects a Tensor, not {type(tensor).__name__}")
    t = tensor
    if t._grad is not None:
        return f"t.grad is not None: it holds a gradient of shape {list(t._grad.shape)}."
    if not t._requires_grad:
        return f"t.grad is None because t does not require grad: it {no_grad_reason(t)}."
    fn = t._grad_fn
    if fn is not None and not t.retains_grad:
        made = node_site(fn)
        at = f" at {fmt(made)}" if made is not None else ""
        how = "a copy made by .to()" if fn.name().startswith("ToCopyBackward") else "computed"
        leaves = _leaves([fn])
        src = ""
        if len(leaves) == 1:
            (leaf,) = leaves
            src = f" from a leaf of shape {list(leaf.shape)} ({leaf.dtype!r})"
        elif leaves:
            src = f" from {len(leaves)} leaf tensors"
        return (
            f"t.grad is None because t is not a leaf: it is {how} ({fn.name()}){at}{src}. "
            "backward() stores gradients in .grad only for leaves (tensors created with "
            "requires_grad=True); read the gradient from the leaf instead, or call "
            "t.retain_grad() before backward() to keep t's own."
        )
    return _not_reached(t)


def _not_reached(t: object) -> str:
    """t requires grad and is a leaf (or retains grad): what the last backward call did."""
    call = LAST[0]
    if call is None:
        return "t.grad is None because no backward() or autograd.grad() call has run yet."
    at = fmt(call.site)
    if call.kind == "grad":
        return (
            f"t.grad is None: the last backward pass, autograd.grad() at {at}, returns the "
            "gradients instead of storing them in .grad."
        )
    if call.inputs is not None and not any(r() is t for r in call.inputs):
        return (
            f"t.grad is None: the last backward() call, at {at}, was given inputs= without t, "
            "so it stored gradients only for those inputs."
        )
    leaves = call.reached_leaves()
    if any(v is t for v in leaves):
        return (
            f"t.grad is None although the last backward() call, at {at}, reached t: its "
            "gradient was stored and has been reset to None since (optimizer.zero_grad() does "
            "this by default, and so does `t.grad = None`)."
        )
    out = next((s for s in call.root_sites if s is not None), None)
    text = f"t.grad is None because the last backward() call, at {at}, did not reach t: "
    if out is not None and line_of(out) != line_of(call.site):
        text += f"the graph of its output (created at {fmt(out)}) was built from other tensors."
    else:
        text += "that graph was built from other tensors."
    if t._grad_fn is None and t._acc is None:
        text += " t has not been used by any operation that records a graph."
    like = _look_alike(t, leaves)
    if like:
        text += " " + like
    return text


def _nodes(roots: list) -> set:
    seen, stack = set(), list(roots)
    while stack and len(seen) < _SEARCH_LIMIT:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(nxt for nxt, _ in n.next_functions if nxt is not None)
    return seen


def _leaves(roots: list) -> list:
    out = []
    for n in _nodes(roots):
        v = getattr(n, "variable", None)
        if v is not None and all(v is not o for o in out):
            out.append(v)
    return out


def _look_alike(t: object, leaves: list) -> str:
    """A leaf of the graph that was derived from t, or failing that has t's shape."""
    for v in leaves:
        tag = origin(v)
        if tag is not None and tag[0] == "from":
            tag = tag[1]
        if tag is not None and len(tag) > 2 and tag[2]() is t:
            return (
                f"It used a copy of t instead, cut from it by {tag[0]} at {fmt(tag[1])}: use "
                "t itself, or read the gradient from that copy."
            )
    same = [v for v in leaves if v.shape == t.shape]
    if same:
        v = same[0]
        kind = "the same dtype" if v.dtype is t.dtype else repr(v.dtype)
        return (
            f"That graph has a leaf of t's shape {list(t.shape)} ({kind}) that is not t: was t "
            "copied or rebuilt (with .to(), .clone().detach(), ember.tensor(t), a new "
            "nn.Parameter) and the copy used instead?"
        )
    return ""
