"""Pictures of the autograd graph: torchviz's `make_dot`, plus the gradients on its edges.

`import torchviz` code runs unchanged on `ember.viz`: `make_dot(var, params, show_attrs,
show_saved, max_attr_chars)` returns a `graphviz.Digraph` whose DOT source is what torchviz
writes for the same program under torch (ids aside): leaves are lightblue boxes `name\\n (shape)`
feeding their `AccumulateGrad`, backward nodes are labelled with their type name
(`MulBackward0`), saved tensors are orange, outputs darkolivegreen1, the base of an output view
darkolivegreen3 with a dotted edge to the view, and edges run from an input's node to its
consumer along `next_functions`. Node ids are `str(id(obj))`.

Beyond torchviz, `show_grads=True` writes on every gradient-carrying edge the gradient of the
output with respect to the tensor that edge carries (see `make_dot`), so the chain rule can be
read off the picture.

Coupling, on purpose and only here: torch exposes what a node saved as `grad_fn._saved_<name>`;
ember's nodes do not, so `saved_attrs` reads an `OpNode`'s recorded call (`_inputs`, `_params`,
the saved output via `_unpack_out()`) and its op's rules from `ember/ops/_registry.py`, and
`show_grads` drives the engine's `run_backward` with `capture` (through `_reachable`, and
`ember.autograd`'s `_edge` and `_make_grads`, so that roots and seeds are exactly backward's).
Neither adds work to the engine's hot path: nothing here runs unless a picture is drawn.

`graphviz` (the Python package, `pip install ember[viz]`) is imported lazily inside the
functions that need it; rendering to PNG/SVG also needs Graphviz's `dot` program.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from ._tensor import Tensor
from .autograd.saved import saved_attrs

if TYPE_CHECKING:
    import graphviz

__all__ = ["make_dot", "make_dot_from_trace", "render", "saved_attrs", "svg"]

# torchviz's attributes, copied so that the DOT source matches torchviz's byte for byte.
_NODE_ATTR = {
    "style": "filled",
    "shape": "box",
    "align": "left",
    "fontsize": "10",
    "ranksep": "0.1",
    "height": "0.2",
    "fontname": "monospace",
}
_GRAD_EDGE_ATTR = {"fontsize": "8", "fontname": "monospace", "fontcolor": "firebrick"}
_MAX_VALUES = 6  # show_grads prints the values of gradients with at most this many elements

_NO_GRAPHVIZ = (
    "ember.viz needs the `graphviz` Python package to build pictures of the graph: "
    "pip install ember[viz]  (or: pip install graphviz). Rendering them to PNG/SVG also needs "
    "Graphviz's `dot` program (apt-get install graphviz / brew install graphviz / "
    "conda install -c conda-forge graphviz)."
)
_NO_DOT = (
    "Rendering the graph needs Graphviz's `dot` program, which was not found on PATH. Install "
    "Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), or "
    "`conda install -c conda-forge graphviz`, then retry. Without it, make_dot(...).source "
    "still gives the DOT text."
)
_FREED_FOR_GRADS = (
    "make_dot(show_grads=True) recomputes the gradients along the graph and needs the values "
    "it saved, but a backward pass without retain_graph=True has freed them. Draw before "
    "calling backward(), or call backward(retain_graph=True)."
)


def _graphviz():
    """The `graphviz` module, imported on first use so that `import ember` never needs it."""
    try:
        import graphviz
    except ImportError:
        raise ImportError(_NO_GRAPHVIZ) from None
    return graphviz


def make_dot(
    var: Tensor | Sequence[Tensor],
    params: dict[str, Tensor] | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    show_grads: bool = False,
    gradient: Tensor | Sequence[Tensor | None] | None = None,
) -> graphviz.Digraph:
    """The autograd graph behind `var` (a tensor, or a tuple/list of them) as a Digraph.

    Same arguments and picture as torchviz: `params` names tensors (`{'x': x}`), `show_attrs`
    lists each node's saved values in its box, `show_saved` draws saved tensors as orange
    boxes, `max_attr_chars` truncates long attribute values.

    `show_grads=True` (ember only) labels each gradient-carrying edge with the gradient of the
    outputs with respect to the tensor the edge carries: its shape, and its values when it has
    at most 6 elements. An edge from node `u` to its consumer carries output `nr` of `u`, so the
    label is d(outputs)/d(that tensor), summed over all its uses; that is what reaches `.grad`
    for a leaf, so a tensor used twice (`x * x`) shows the sum on both of its edges. The output
    edges show the seed: ones for a scalar output, else `gradient` (as in
    `backward(gradient)`). The gradients are recomputed, with the graph retained and without
    touching any `.grad` (tensor hooks run, as in `autograd.grad`), so the graph's saved values
    must still be there: draw before `backward()` or after `backward(retain_graph=True)`.
    """
    gv = _graphviz()
    if params is not None:
        for name, p in params.items():
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"make_dot: params must map names to tensors; {name!r} is {type(p).__name__}"
                )
        param_map = {id(v): k for k, v in params.items()}
    else:
        param_map = {}
    outputs = tuple(var) if isinstance(var, (tuple, list)) else (var,)
    grads = _edge_gradients(outputs, gradient) if show_grads else None
    dot = gv.Digraph(node_attr=dict(_NODE_ATTR), graph_attr={"size": "12,12"})
    _Drawing(dot, param_map, show_attrs, show_saved, max_attr_chars, grads).draw(outputs)
    _resize_graph(dot)
    return dot


def make_dot_from_trace(trace: Any) -> NoReturn:
    """torchviz draws a `torch.jit.trace` graph here; ember has no JIT tracer, so it raises."""
    raise NotImplementedError(
        "make_dot_from_trace draws a torch.jit trace, and ember has no JIT tracer. Draw the "
        "autograd graph of the output instead: "
        "make_dot(output, params=dict(model.named_parameters()))."
    )


def render(
    var_or_dot: Tensor | Sequence[Tensor] | graphviz.Digraph,
    path: str | Path,
    format: str = "png",
) -> Path:
    """Write the picture of a graph (a tensor's, or a Digraph from `make_dot`) to `path`.

    Runs Graphviz's `dot`; when it is missing, raises a RuntimeError that says how to install
    it (graphviz's own error only says it is not on PATH). Returns the path written.
    """
    path = Path(path)
    path.write_bytes(_pipe(_as_dot(var_or_dot), format))
    return path


def svg(var: Tensor | Sequence[Tensor] | graphviz.Digraph) -> str:
    """The graph as SVG text: what a notebook shows for `Tensor._repr_svg_`."""
    return _pipe(_as_dot(var), "svg").decode("utf-8")


def _as_dot(var_or_dot: Any) -> graphviz.Digraph:
    if isinstance(var_or_dot, (Tensor, tuple, list)):
        return make_dot(var_or_dot)
    return var_or_dot


def _pipe(dot: graphviz.Digraph, format: str) -> bytes:
    gv = _graphviz()
    try:
        return dot.pipe(format=format)
    except gv.ExecutableNotFound as exc:
        raise RuntimeError(_NO_DOT) from exc


def _resize_graph(dot: graphviz.Digraph, size_per_element: float = 0.15, min_size: int = 12):
    """torchviz's sizing: the page grows with the number of DOT statements."""
    size = max(min_size, len(dot.body) * size_per_element)
    dot.graph_attr.update(size=f"{size},{size}")


class _Drawing:
    """One `make_dot` call: torchviz's walk, made iterative (no recursion limit on depth)."""

    def __init__(self, dot, param_map, show_attrs, show_saved, max_attr_chars, grads):
        self.dot = dot
        self.param_map = param_map
        self.show_attrs = show_attrs
        self.show_saved = show_saved
        self.max_attr_chars = max_attr_chars
        self.grads = grads  # {(node, output_nr): gradient} with show_grads, else None
        # id -> object, holding every object drawn so that no id is reused while drawing
        # (saved outputs are unpacked into fresh tensors, as torch's `_saved_result` is).
        self.seen: dict[int, object] = {}

    def draw(self, outputs: tuple) -> None:
        for v in outputs:
            self.add_base_tensor(v)

    def add_base_tensor(self, var: Tensor, color: str = "darkolivegreen1") -> None:
        if self._mark(var):
            return
        dot = self.dot
        dot.node(str(id(var)), self.var_name(var), fillcolor=color)
        fn = var.grad_fn
        if fn is not None:
            self.add_nodes(fn)
            dot.edge(str(id(fn)), str(id(var)), **self.grad_attrs(fn, var.output_nr))
        if var._is_view():
            self.add_base_tensor(var._base, color="darkolivegreen3")
            dot.edge(str(id(var._base)), str(id(var)), style="dotted")

    def add_nodes(self, root) -> None:
        """Depth-first from `root` in torchviz's order (a node, then each input's subgraph)."""
        if self._mark(root):
            return
        stack = [self.visit(root)]
        while stack:
            fn, inputs = stack[-1]
            for u, nr in inputs:
                if u is None:
                    continue
                self.dot.edge(str(id(u)), str(id(fn)), **self.grad_attrs(u, nr))
                if not self._mark(u):
                    stack.append(self.visit(u))
                    break
            else:
                stack.pop()

    def visit(self, fn) -> tuple[Any, Iterator]:
        """Draw `fn`'s own box (saved values and leaf first); return its pending input edges."""
        dot, fid = self.dot, str(id(fn))
        if self.show_saved:
            for attr, val in saved_attrs(fn).items():
                self._mark(val)
                if isinstance(val, Tensor):
                    tensors = [(attr, val)]
                elif isinstance(val, tuple):
                    tensors = [
                        (f"{attr}[{i}]", t) for i, t in enumerate(val) if isinstance(t, Tensor)
                    ]
                else:
                    tensors = []
                for name, t in tensors:
                    dot.edge(fid, str(id(t)), dir="none")
                    dot.node(str(id(t)), self.var_name(t, name), fillcolor="orange")
        leaf = getattr(fn, "variable", None)
        if leaf is not None:
            self._mark(leaf)
            dot.node(str(id(leaf)), self.var_name(leaf), fillcolor="lightblue")
            dot.edge(str(id(leaf)), fid, **self.grad_attrs(fn, 0))
        dot.node(fid, self.fn_name(fn))
        return fn, iter(fn.next_functions)

    def _mark(self, obj: object) -> bool:
        """Record `obj` as drawn; True if it already was."""
        if id(obj) in self.seen:
            return True
        self.seen[id(obj)] = obj
        return False

    def var_name(self, var: Tensor, name: str | None = None) -> str:
        if not name:
            name = self.param_map.get(id(var), "")
        return f"{name}\n ({', '.join(str(int(s)) for s in var.shape)})"

    def fn_name(self, fn) -> str:
        """torchviz's box label: the type name, with `show_attrs` a table of saved values."""
        name = type(fn).__name__
        if not self.show_attrs:
            return name
        attrs = {}
        for attr, val in saved_attrs(fn).items():
            if isinstance(val, Tensor):
                attrs[attr] = "[saved tensor]"
            elif isinstance(val, tuple) and any(isinstance(t, Tensor) for t in val):
                attrs[attr] = "[saved tensors]"
            else:
                attrs[attr] = str(val)
        if not attrs:
            return name
        max_chars = max(self.max_attr_chars, 3)
        col1 = max(len(k) for k in attrs)
        col2 = min(max(len(v) for v in attrs.values()), max_chars)
        sep = "-" * max(col1 + col2 + 2, len(name))
        rows = (f"{k:<{col1}}: {_truncate(v, col2):>{col2}}" for k, v in attrs.items())
        return name + "\n" + sep + "\n" + "\n".join(rows)

    def grad_attrs(self, node, nr: int) -> dict:
        """Edge attributes for the tensor `(node, nr)` carries: its gradient with show_grads."""
        if self.grads is None or (node, nr) not in self.grads:
            return {}
        return {"label": _grad_label(self.grads[(node, nr)]), **_GRAD_EDGE_ATTR}


def _truncate(s: str, width: int) -> str:
    return s[: width - 3] + "..." if len(s) > width else s


def _grad_label(g: Tensor | None) -> str:
    """`(3)` then the values when there are at most 6 of them; `None` for no gradient."""
    if g is None:
        return "None"
    label = f"({', '.join(str(int(s)) for s in g.shape)})"
    if g.numel() <= _MAX_VALUES:
        fmt = {"float_kind": "{:.4g}".format, "complex_kind": "{:.4g}".format}
        label += "\n" + np.array2string(g.detach().numpy(), separator=", ", formatter=fmt)
    return label


def _edge_gradients(outputs: tuple, gradient) -> dict:
    """{(node, output_nr): d(outputs)/d(that tensor)} for every tensor carried in the graph.

    One backward pass through the engine, capturing every edge (the engine sums each one's
    gradient over its uses); retained values stay (retain_graph) and retained grads are set
    aside for the pass so that drawing changes no `.grad`.
    """
    from .autograd import _edge, _make_grads
    from .autograd.graph import _reachable, run_backward
    from .ops._registry import OpNode
    from .ops._saved import _Released

    if gradient is None or isinstance(gradient, Tensor):
        gradient = (gradient,) * len(outputs) if gradient is None else (gradient,)
    gradient = tuple(gradient)
    if len(gradient) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(gradient)} gradients")
    pairs = [(t, g) for t, g in zip(outputs, gradient) if t.grad_fn is not None]
    if not pairs:
        return {}
    roots = [_edge(t, i, "output") for i, (t, _) in enumerate(pairs)]
    seeds = _make_grads(tuple(t for t, _ in pairs), tuple(g for _, g in pairs))
    nodes = _reachable([node for node, _ in roots])
    if any(isinstance(n, OpNode) and type(n._inputs) is _Released for n in nodes):
        raise RuntimeError(_FREED_FOR_GRADS)
    edges = dict.fromkeys(roots)
    for node in nodes:
        edges.update(dict.fromkeys(e for e in node.next_functions if e[0] is not None))
    capture = list(edges)
    retained = {n: n._retain for n in nodes if n._retain}
    try:
        for n in retained:
            n._retain = None
        got = run_backward(roots, seeds, retain_graph=True, create_graph=False, capture=capture)
    finally:
        for n, r in retained.items():
            n._retain = r
    return dict(zip(capture, got))
