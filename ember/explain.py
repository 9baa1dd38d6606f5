"""`ember.explain(z)`: the backward walk of `z.backward()`, printed step by step.

For each node, in the order the engine runs them (decreasing sequence number, graph.py's
`_reachable`): its name and what it computed, the gradient it receives, its local derivative
in words, and what it passes to each input; leaves show what is added to their `.grad`.
This is seed 003's hand-written chain-rule walk-through, produced for any graph.

The walk is a copy of the engine's loop that calls each node's own `apply` (so the numbers are
exactly the engine's) but never applies `AccumulateGrad`, never frees saved values and never
runs tensor hooks: no `.grad` changes and the graph can still be back-propagated. The engine is
untouched, so explain costs nothing when unused.

Tensors are named after the caller's variables (`y`, `z`, ...), as the seed names them; more
names can be given with `names=` (e.g. `model.named_parameters()`); unnamed intermediate
results are called t1, t2, ... in the order the walk meets them. Ops with a handwritten
sentence in `_RULES` (or `_MOVES`) get it; any other node says where its derivative comes from.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping

import numpy as np

from ._tensor import Tensor
from .autograd import _edge, _make_grads
from .autograd.grad_mode import STATE
from .autograd.graph import AccumulateGrad, Node, _reachable
from .ops._saved import SavedUnavailable

__all__ = ["Explanation", "Step", "explain"]

_FREED = "Trying to backward through the graph a second time"
_SHOWN_ELEMENTS = 12  # larger gradients are summarised by shape and statistics


class Step:
    """One node of the walk: the gradients it received and the ones it passed on.

    `incoming` holds `(output name, gradient)` per output of the node; `passed` holds
    `(input position, input name, gradient or None)` per input that needs a gradient. For a
    leaf's AccumulateGrad, `incoming` is what is added to `.grad` and `contributions` says how
    many gradients were summed into it.
    """

    __slots__ = ("index", "node", "incoming", "passed", "contributions")

    def __init__(self, index: int, node: Node, contributions: int = 1) -> None:
        self.index, self.node, self.contributions = index, node, contributions
        self.incoming: list = []
        self.passed: list = []

    @property
    def name(self) -> str:
        """The node's type name as torch prints it (`MulBackward0`, `AccumulateGrad`)."""
        return type(self.node).__name__


class Explanation:
    """What `explain` returns: every step of the walk; `str()` is the printed report."""

    def __init__(self, root: str, steps: list, max_steps: int | None, names: _Names) -> None:
        self.root, self.steps, self.max_steps, self.names = root, steps, max_steps, names

    def __str__(self) -> str:
        lines = [
            f"Backward walk of {self.root}: what {self.root}.backward() computes, node by node,",
            "in the order the engine runs them (explain writes nothing to .grad).",
        ]
        n, steps = self.max_steps, self.steps
        if n is not None and len(steps) > n:
            head, tail = steps[: (n + 1) // 2], steps[len(steps) - n // 2 :]
            for s in head:
                lines += _render(s, self.names)
            skipped = len(steps) - len(head) - len(tail)
            lines.append(f"... {skipped} more steps (explain(..., max_steps=None) shows all) ...")
            steps = tail
        for s in steps:
            lines += _render(s, self.names)
        if self.names.hooked:
            lines.append("(explain does not run the tensor hooks registered on this graph)")
        return "\n".join(_align(line) for line in lines)

    def __repr__(self) -> str:
        return f"<ember.explain of {self.root}: {len(self.steps)} steps>"


def explain(
    output: Tensor,
    gradient: Tensor | None = None,
    *,
    names: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
    max_steps: int | None = 12,
    quiet: bool = False,
) -> Explanation:
    """Print (unless `quiet`) and return the step-by-step backward walk of `output`.

    `gradient` weights a non-scalar output, as in `output.backward(gradient)`. `names` maps
    names to tensors (a dict, or pairs such as `model.named_parameters()`); the caller's
    local variables name the others. Graphs longer than `max_steps` print their first and last
    steps only (`None` prints all; the returned `steps` always hold all of them). Call it
    before `output.backward()`: a backward without `retain_graph=True` frees what it needs.
    """
    root_edge = _edge(output, 0, "output")
    (seed,) = _make_grads((output,), (gradient,))
    caller = sys._getframe(1)
    try:
        table = _Names(output, root_edge, names, caller.f_locals)
    finally:
        del caller  # no reference cycle through the frame
    result = Explanation(table.root, _walk(root_edge, seed, table), max_steps, table)
    if not quiet:
        print(result)
    return result


class _Names:
    """Names of the tensors in the walk: user-given, the caller's variables, or t1, t2, ..."""

    def __init__(self, root: Tensor, root_edge: tuple, given, scope: Mapping) -> None:
        pairs = list(given.items() if isinstance(given, Mapping) else given or ())
        pairs += [(k, v) for k, v in scope.items() if not k.startswith("_")]
        self.by_id: dict = {}  # id(tensor) -> name: leaves and constant inputs
        self.by_edge: dict = {}  # (grad_fn, output_nr) -> name: results of ops
        for name, t in pairs:
            if isinstance(t, Tensor):
                self.by_id.setdefault(id(t), name)
                if t._grad_fn is not None:
                    self.by_edge.setdefault((t._grad_fn, t._output_nr), name)
        self.taken = {name for name, _ in pairs}
        self.count = 0
        self.hooked = False
        if root._grad_fn is None:
            self.by_id.setdefault(id(root), "out")
        else:
            self.by_edge.setdefault(root_edge, "out")
        self.root = self.of_edge(root_edge)

    def of_edge(self, edge: tuple) -> str:
        """The name of the tensor an edge leads to (an op's output or a leaf)."""
        node = edge[0]
        if isinstance(node, AccumulateGrad):
            return self.of_leaf(node.variable)
        name = self.by_edge.get(edge)
        if name is None:
            name = self.by_edge[edge] = self._fresh()
        return name

    def of_leaf(self, t: Tensor) -> str:
        name = self.by_id.get(id(t))
        if name is None:
            name = self.by_id[id(t)] = self._fresh()
        return name

    def of_input(self, node: Node, i: int) -> str:
        """The name of a node's i-th input: a tensor's name, or a constant's value."""
        nxt, nr = node.next_functions[i]
        if nxt is not None:
            return self.of_edge((nxt, nr))
        x = _unpack_inputs(node)[i] if i < len(_unpack_inputs(node)) else None
        if isinstance(x, Tensor):
            return self.by_id.get(id(x), "const")
        if isinstance(x, float):
            return f"{x:g}"
        return "const" if x is None else repr(x)

    def d(self, label: str) -> str:
        """`dz/dy`: the derivative of the root with respect to `label`."""
        return f"d{self.root}/d{label}"

    def _fresh(self) -> str:
        while True:
            self.count += 1
            name = f"t{self.count}"
            if name not in self.taken:
                return name


def _walk(root_edge: tuple, seed: Tensor, names: _Names) -> list:
    """The engine's loop (graph.run_backward) without its side effects, step by step."""
    root, nr = root_edge
    buffers: dict = {root: [None] * root._num_outputs()}
    buffers[root][nr] = seed
    counts: dict = {}  # node -> gradients summed into its buffer
    steps = []
    prev = STATE.enabled
    STATE.enabled = False  # as the engine without create_graph: rules record no graph
    try:
        for node in _reachable([root]):
            buf = buffers.pop(node, None)
            if buf is None:
                continue
            step = Step(len(steps) + 1, node, contributions=counts.get(node, 1))
            steps.append(step)
            leaf = node.variable if isinstance(node, AccumulateGrad) else None
            if node._hooks or (leaf is not None and leaf._hooks):
                names.hooked = True
            if leaf is not None:
                step.incoming = [(names.of_leaf(leaf), buf[0])]
                continue
            step.incoming = [(names.of_edge((node, i)), g) for i, g in enumerate(buf)]
            for i, ((nxt, nnr), g) in enumerate(zip(node.next_functions, _apply(node, buf))):
                if nxt is None:
                    continue
                step.passed.append((i, names.of_input(node, i), g))
                if g is None:
                    continue
                nbuf = buffers.setdefault(nxt, [None] * nxt._num_outputs())
                if nbuf[nnr] is None:
                    nbuf[nnr] = g
                else:
                    nbuf[nnr] = nbuf[nnr] + g
                    counts[nxt] = counts.get(nxt, 1) + 1
    finally:
        STATE.enabled = prev
    return steps


def _apply(node: Node, buf: list) -> list:
    try:
        return list(node.apply(list(buf)))
    except RuntimeError as e:
        if str(e).startswith(_FREED):
            raise RuntimeError(
                f"explain() needs the values that backward() frees ({node.name()} has lost "
                "them): call ember.explain(z) before z.backward(), or back-propagate with "
                "retain_graph=True."
            ) from e
        raise


def _unpack_inputs(node: Node) -> tuple:
    """An op node's inputs (freed ones as shape-only stand-ins); () for other nodes."""
    saved = getattr(node, "_unpack_inputs", None)
    return saved() if saved is not None else ()


# ---- the words --------------------------------------------------------------------------------
# Per node type: (what it computed, its local derivative, what it passes to each input). `{o}`
# is the output's name, `{a}` and `{b}` the inputs', `{g}` the incoming gradient; binary rules
# speak of a and b, which the step's first line names.
_RULES: dict = {
    "AddBackward0": ("{o} = {a} + {b}", "d(a+b)/da = 1, d(a+b)/db = 1", ("{g}", "{g}")),
    "SubBackward0": ("{o} = {a} - {b}", "d(a-b)/da = 1, d(a-b)/db = -1", ("{g}", "-{g}")),
    "RsubBackward0": ("{o} = {b} - {a}", "d(b-a)/da = -1, d(b-a)/db = 1", ("-{g}", "{g}")),
    "RsubBackward1": ("{o} = {b} - {a}", "d(b-a)/da = -1", ("-{g}",)),
    "MulBackward0": ("{o} = {a} * {b}", "d(a*b)/da = b, d(a*b)/db = a", ("{g} * b", "{g} * a")),
    "DivBackward0": (
        "{o} = {a} / {b}",
        "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2",
        ("{g} / b", "-{g} * a/b^2"),
    ),
    "PowBackward0": ("{o} = {a} ** {b}", "d({a}**{b})/d{a} = {dpow}", ("{g} * {dpow}",)),
    "PowBackward1": (
        "{o} = {a} ** {b}",
        "d(a**b)/da = b * a**(b-1), d(a**b)/db = a**b * log(a)",
        ("{g} * b * a**(b-1)", "{g} * a**b * log(a)"),
    ),
    "PowBackward2": ("{o} = {a} ** {b}", "d(a**b)/db = a**b * log(a)", ("", "{g} * {o} * log(a)")),
    "DotBackward0": (
        "{o} = dot({a}, {b})",
        "d dot(a,b)/da = b, d dot(a,b)/db = a",
        ("{g} * b", "{g} * a"),
    ),
    "MmBackward0": (
        "{o} = {a} @ {b}",
        "for a matrix product the gradient is g @ b^T for a and a^T @ g for b",
        ("{g} @ b^T", "a^T @ {g}"),
    ),
    "MvBackward0": (
        "{o} = {a} @ {b}",
        "for a matrix-vector product the gradient is outer(g, b) for a and a^T @ g for b",
        ("outer({g}, b)", "a^T @ {g}"),
    ),
    "NegBackward0": ("{o} = -{a}", "d(-{a})/d{a} = -1", ("-{g}",)),
    "ExpBackward0": ("{o} = exp({a})", "d exp({a})/d{a} = exp({a})", ("{g} * {o}",)),
    "LogBackward0": ("{o} = log({a})", "d log({a})/d{a} = 1/{a}", ("{g} / {a}",)),
    "SinBackward0": ("{o} = sin({a})", "d sin({a})/d{a} = cos({a})", ("{g} * cos({a})",)),
    "CosBackward0": ("{o} = cos({a})", "d cos({a})/d{a} = -sin({a})", ("-{g} * sin({a})",)),
    "SqrtBackward0": ("{o} = sqrt({a})", "d sqrt({a})/d{a} = 1/(2 sqrt({a}))", ("{g} / (2 {o})",)),
    "TanhBackward0": (
        "{o} = tanh({a})",
        "d tanh({a})/d{a} = 1 - tanh({a})^2",
        ("{g} * (1 - {o}^2)",),
    ),
    "SigmoidBackward0": (
        "{o} = sigmoid({a})",
        "d sigmoid({a})/d{a} = sigmoid({a}) * (1 - sigmoid({a}))",
        ("{g} * {o} * (1 - {o})",),
    ),
    "ReluBackward0": (
        "{o} = relu({a})",
        "d relu({a})/d{a} = 1 where {a} > 0, else 0",
        ("{g} where {a} > 0, else 0",),
    ),
    "AbsBackward0": ("{o} = abs({a})", "d abs({a})/d{a} = sign({a})", ("{g} * sign({a})",)),
    "SumBackward0": (
        "{o} = sum({a})",
        "d sum({a})/d{a} = 1 for each of {n} elements",
        ("{g} for each element",),
    ),
    "SumBackward1": (
        "{o} = sum({a}, dim={dim})",
        "d sum({a})/d{a} = 1: each element gets the gradient of the sum it is in",
        ("{g} expanded back to shape {shape}",),
    ),
    "MeanBackward0": (
        "{o} = mean({a})",
        "d mean({a})/d{a} = 1/{n} for each of {n} elements",
        ("{g} * 1/{n} for each element",),
    ),
    "MeanBackward1": (
        "{o} = mean({a}, dim={dim})",
        "d mean({a})/d{a} = 1/{k} for each of the {k} elements of each mean",
        ("{g} / {k}, expanded back to shape {shape}",),
    ),
    "MseLossBackward0": (
        "{o} = mse_loss({a}, {b}, reduction={reduction})",
        "d (a-b)^2/da = 2(a-b), d (a-b)^2/db = -2(a-b){mean}",
        ("{g} * 2(a-b){per}", "-{g} * 2(a-b){per}"),
    ),
}
# Ops that only move values: the gradient moves back the inverse way.
_MOVES = {
    "View": "reshaped back to shape {shape}",
    "Reshape": "reshaped back to shape {shape}",
    "UnsafeView": "reshaped back to shape {shape}",
    "Unsqueeze": "reshaped back to shape {shape}",
    "Squeeze": "reshaped back to shape {shape}",
    "Permute": "permuted back",
    "Transpose": "transposed back",
    "T": "transposed back",
    "Expand": "summed over the expanded dims back to shape {shape}",
    "Select": "placed into zeros of shape {shape} at the selected index",
    "Slice": "placed into zeros of shape {shape} at the slice",
    "Index": "added into zeros of shape {shape} at the indices",
    "Clone": "passed through unchanged",
    "ToCopy": "passed through, cast back to the input's dtype",
}
_BROADCASTING = {"AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0", "PowBackward1"}


def _words(node: Node, labels: list, out: str) -> tuple:
    """(what the node computed, its local derivative, per-input formulas) for a step."""
    name = type(node).__name__
    params = getattr(node, "_params", {})
    xs = _unpack_inputs(node)
    ctx = {"o": out, "a": labels[0] if labels else "", "b": labels[1] if len(labels) > 1 else ""}
    entry = _RULES.get(name)
    if entry is not None and params.get("alpha", 1) == 1:
        if xs and isinstance(xs[0], Tensor):
            shape = list(xs[0].shape)
            ctx["shape"], ctx["n"] = shape, math.prod(shape)
            axes = params.get("axes", ())
            ctx["dim"] = axes[0] if len(axes) == 1 else axes
            ctx["k"] = math.prod(shape[a] for a in axes) if axes else ctx["n"]
        ctx["reduction"] = repr(params.get("reduction"))
        mean = params.get("reduction") == "mean"
        ctx["per"] = f" / {ctx.get('n')}" if mean else ""
        ctx["mean"] = f"; the mean divides both by {ctx.get('n')}" if mean else ""
        if name == "PowBackward0":
            ctx["dpow"] = _power_rule(xs[1], ctx["a"])
        expr, rule = (s.format_map(ctx) for s in entry[:2])
        if name == "MulBackward0" and node.next_functions[0] == node.next_functions[1]:
            rule += f"; here a = b = {labels[0]}, so d{out}/d{labels[0]} = 2{labels[0]}"
            if not isinstance(xs[0], SavedUnavailable):
                rule += f" = {_value(Tensor._make(xs[0]._data * 2))}"
        return expr, rule, tuple(f.replace("{g}", "\0").format_map(ctx) for f in entry[2])
    base = re.sub(r"Backward\d*$", "", name)
    if base in _MOVES and labels:
        shape = list(xs[0].shape) if xs and isinstance(xs[0], Tensor) else "?"
        how = _MOVES[base].format(shape=shape)
        return (
            f"{out} = {base.lower()}({labels[0]})",
            "only moves values, so the gradient moves back: it is " + how,
            ("\0 " + how,),
        )
    return (
        f"{out} = {_fname(node)}({', '.join(labels)})",
        _generic_rule(node),
        (),
    )


def _power_rule(e: object, a: str) -> str:
    """d(a**e)/da written out for a number e: 2 * x, 3 * x**2, 0.5 * x**-0.5."""
    if e == 0:
        return "0"
    if e == 1:
        return "1"
    fe, fe1 = f"{e:g}", f"{e - 1:g}"
    return f"{fe} * {a}" if e - 1 == 1 else f"{fe} * {a}**{fe1}"


def _fname(node: Node) -> str:
    op = getattr(node, "_op", None)
    return op.__name__.lstrip("_") if op is not None else type(node).__name__


def _generic_rule(node: Node) -> str:
    op = getattr(node, "_op", None)
    if op is None:
        return "local derivative from the node's own backward function"
    path = inspect.getsourcefile(op.fwd) or "?"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    where = os.path.relpath(path, root) if path.startswith(root) else path
    return f"local derivative from the op's vjp rule ({op.__name__}.defvjp in {where})"


def _render(step: Step, names: _Names) -> list:
    """The report lines of one step."""
    node = step.node
    summed = f" (the sum of {step.contributions} contributions)" if step.contributions > 1 else ""
    if isinstance(node, AccumulateGrad):
        (label, g), leaf = step.incoming[0], node.variable
        if g.dtype is not leaf.dtype:  # as AccumulateGrad.apply casts it
            g = Tensor._make(g._data.astype(leaf._data.dtype))
        return [
            f"[{step.index}] AccumulateGrad: leaf {label}",
            f"    incoming {names.d(label)} = {_value(g)}{summed}",
            f"    {label}.grad += {_value(g)}",
        ]
    labels = [names.of_input(node, i) for i in range(len(node.next_functions))]
    expr, rule, formulas = _words(node, labels, step.incoming[0][0])
    lines = [f"[{step.index}] {step.name}: {expr}"]
    for label, g in step.incoming:
        if g is not None:
            lines.append(f"    incoming {names.d(label)} = {_value(g)}{summed}")
    lines.append(f"    rule     {rule}")
    g_label = names.d(step.incoming[0][0]) if len(step.incoming) == 1 else "g"
    head = "passes  "
    for i, label, g in step.passed:
        how = formulas[i].replace("\0", g_label) if i < len(formulas) and formulas[i] else ""
        if g is None:
            value = "nothing"
        else:
            if step.name in _BROADCASTING and g.shape != step.incoming[0][1].shape:
                how += f", summed to shape {list(g.shape)}"
            value = _value(g)
        target = type(node.next_functions[i][0]).__name__
        lines.append(f"    {head} {how + ' = ' if how else ''}{value} to {label} ({target})")
        head = " " * len(head)
    return lines


def _value(g: Tensor) -> str:
    """A gradient as torch prints it, or its shape and statistics when it is large."""
    if g.numel() <= _SHOWN_ELEMENTS:
        return repr(g)
    a = g._data
    return (
        f"<tensor of shape {list(g.shape)}: mean {np.mean(a):.4g}, "
        f"min {np.min(a):.4g}, max {np.max(a):.4g}>"
    )


def _align(line: str) -> str:
    """Indent a multi-line tensor's continuation lines under its `tensor(`, as torch does."""
    if "\n" not in line:
        return line
    first, rest = line.split("\n", 1)
    pad = "\n" + " " * first.rfind("tensor(")
    return first + pad + rest.replace("\n", pad)
