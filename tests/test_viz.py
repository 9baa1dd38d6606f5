"""ember.viz: torchviz's `make_dot` on ember graphs, gradients on edges, rendering, errors.

The reference is torchviz's own algorithm (`_torchviz_make_dot`, torchviz 0.0.2/0.0.3 as
published) run on the REAL torch graph of the same program: ember's DOT source must equal it
once object ids are renamed in order of first appearance.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings

import graphviz
import pytest
import torch

import ember
from ember import viz

_SAVED = "_saved_"


def _torchviz_make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """torchviz.make_dot, as published, for torch tensors (the oracle; torchviz itself is not
    installed)."""
    param_map = {id(v): k for k, v in params.items()} if params else {}
    node_attr = dict(
        style="filled",
        shape="box",
        align="left",
        fontsize="10",
        ranksep="0.1",
        height="0.2",
        fontname="monospace",
    )
    dot = graphviz.Digraph(node_attr=node_attr, graph_attr=dict(size="12,12"))
    seen = set()

    def get_fn_name(fn):
        name = str(type(fn).__name__)
        if not show_attrs:
            return name
        attrs = {}
        for attr in dir(fn):
            if not attr.startswith(_SAVED):
                continue
            val = getattr(fn, attr)
            attr = attr[len(_SAVED) :]
            if torch.is_tensor(val):
                attrs[attr] = "[saved tensor]"
            elif isinstance(val, tuple) and any(torch.is_tensor(t) for t in val):
                attrs[attr] = "[saved tensors]"
            else:
                attrs[attr] = str(val)
        if not attrs:
            return name
        width = max(max_attr_chars, 3)
        col1 = max(len(k) for k in attrs)
        col2 = min(max(len(str(v)) for v in attrs.values()), width)
        sep = "-" * max(col1 + col2 + 2, len(name))
        fmt = "%-" + str(col1) + "s: %" + str(col2) + "s"

        def truncate(s):
            return s[: col2 - 3] + "..." if len(s) > col2 else s

        return (
            name + "\n" + sep + "\n" + "\n".join(fmt % (k, truncate(v)) for k, v in attrs.items())
        )

    def get_var_name(var, name=None):
        if not name:
            name = param_map.get(id(var), "")
        return f"{name}\n ({', '.join(str(int(v)) for v in var.size())})"

    def add_nodes(fn):
        if fn in seen:
            return
        seen.add(fn)
        if show_saved:
            for attr in dir(fn):
                if not attr.startswith(_SAVED):
                    continue
                val = getattr(fn, attr)
                seen.add(val)
                attr = attr[len(_SAVED) :]
                if torch.is_tensor(val):
                    dot.edge(str(id(fn)), str(id(val)), dir="none")
                    dot.node(str(id(val)), get_var_name(val, attr), fillcolor="orange")
                if isinstance(val, tuple):
                    for i, t in enumerate(val):
                        if torch.is_tensor(t):
                            dot.edge(str(id(fn)), str(id(t)), dir="none")
                            dot.node(
                                str(id(t)), get_var_name(t, f"{attr}[{i}]"), fillcolor="orange"
                            )
        if hasattr(fn, "variable"):
            leaf = fn.variable
            seen.add(leaf)
            dot.node(str(id(leaf)), get_var_name(leaf), fillcolor="lightblue")
            dot.edge(str(id(leaf)), str(id(fn)))
        dot.node(str(id(fn)), get_fn_name(fn))
        for u in fn.next_functions:
            if u[0] is not None:
                dot.edge(str(id(u[0])), str(id(fn)))
                add_nodes(u[0])

    def add_base_tensor(var, color="darkolivegreen1"):
        if var in seen:
            return
        seen.add(var)
        dot.node(str(id(var)), get_var_name(var), fillcolor=color)
        if var.grad_fn:
            add_nodes(var.grad_fn)
            dot.edge(str(id(var.grad_fn)), str(id(var)))
        if var._is_view():
            add_base_tensor(var._base, color="darkolivegreen3")
            dot.edge(str(id(var._base)), str(id(var)), style="dotted")

    for v in var if isinstance(var, tuple) else (var,):
        add_base_tensor(v)
    size = max(12, len(dot.body) * 0.15)
    dot.graph_attr.update(size=str(size) + "," + str(size))
    return dot


def _canon(source: str) -> str:
    """DOT source with object ids renamed N0, N1, ... in order of first appearance."""
    ids: dict[str, str] = {}
    return re.sub(r"\b\d{9,}\b", lambda m: ids.setdefault(m.group(), f"N{len(ids)}"), source)


# Each program builds a graph with `lib` (torch or ember) and returns (var, params).
def _seed003(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    z = y.mean()
    return z, {"x": x, "y": y, "z": z}


def _mlp(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = lib.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]], requires_grad=True)
    b = lib.tensor([0.1, -0.1], requires_grad=True)
    return (w @ x + b).tanh().sum(), {"W": w, "b": b, "x": x}


def _view_of_result(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    return (x * 2).view(3, 1), None


def _view_of_leaf(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    return x.view(3, 1), {"x": x}


def _tuple_of_views(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a, _, c = x.exp().unbind()
    return (a, c), {"x": x}


def _saved_values(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    return (x * w).exp().tanh(), {"x": x, "w": w}


def _sum_dim(lib):
    x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    return (x * w).sum(0), {"w": w}


def _shared_subgraph(lib):
    x = lib.tensor([1.0, -2.0], requires_grad=True)
    h = x.sigmoid()
    return (h * h + h).relu().sum(), None


PLAIN = [_seed003, _mlp, _view_of_result, _view_of_leaf, _tuple_of_views, _saved_values]
PLAIN += [_sum_dim, _shared_subgraph]
# Programs whose nodes save in torch exactly what ember's rules read (see saved_attrs).
SAVED = [_view_of_leaf, _saved_values, _sum_dim]


def _both(program, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tvar, tparams = program(torch)
        evar, eparams = program(ember)
        want = _canon(_torchviz_make_dot(tvar, tparams, **kwargs).source)
        got = _canon(viz.make_dot(evar, eparams, **kwargs).source)
    return got, want


@pytest.mark.parametrize("program", PLAIN, ids=lambda p: p.__name__.strip("_"))
def test_dot_source_matches_torchviz_on_torch(program):
    got, want = _both(program)
    assert got == want


@pytest.mark.parametrize("program", SAVED, ids=lambda p: p.__name__.strip("_"))
@pytest.mark.parametrize(
    "options",
    [
        {"show_saved": True},
        {"show_attrs": True},
        {"show_attrs": True, "max_attr_chars": 5},
        {"show_attrs": True, "show_saved": True},
    ],
    ids=["saved", "attrs", "attrs5", "both"],
)
def test_saved_values_match_torchviz_on_torch(program, options):
    got, want = _both(program, **options)
    assert got == want


def test_seed003_picture():
    var, params = _seed003(ember)
    var.backward()
    dot = viz.make_dot(var, params)
    assert isinstance(dot, graphviz.Digraph)
    src = dot.source
    assert "fillcolor=lightblue" in src and "x\n (3)" in src and "z\n ()" in src
    for name in ("MeanBackward0", "MulBackward0", "AccumulateGrad"):
        assert f"[label={name}]" in src
    assert dot.node_attr == {
        "style": "filled",
        "shape": "box",
        "align": "left",
        "fontsize": "10",
        "ranksep": "0.1",
        "height": "0.2",
        "fontname": "monospace",
    }
    assert dot.graph_attr == {"size": "12,12"}


def test_long_chain_draws_without_recursion():
    x = ember.ones(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    dot = viz.make_dot(y)
    assert dot.source.count("[label=MulBackward0]") == 3000
    assert len(dot.body) == 6005  # 3000 x (node, edge) + leaf, its edge, output, its edge, acc
    assert dot.graph_attr == {"size": "900.75,900.75"}  # torchviz's resize: 0.15 a statement


def test_saved_attrs_after_backward_raise_torchs_error():
    var, params = _seed003(ember)
    tvar, _ = _seed003(torch)
    var.backward()
    tvar.backward()
    with pytest.raises(RuntimeError) as got:
        viz.make_dot(var, show_saved=True)
    with pytest.raises(RuntimeError) as want:
        _ = tvar.grad_fn.next_functions[0][0]._saved_self
    # torch's message, then where the freed value was saved (tests/test_error_locations.py)
    first, where = str(got.value).split("\n", 1)
    assert first == str(want.value)
    assert where.startswith("The freed value was saved by MeanBackward0 at ")


def test_sizes_survive_backward_as_in_torch():
    x = ember.tensor([[1.0, 2.0]], requires_grad=True)
    y = x.sum(1)
    y.backward(ember.ones(1))
    assert viz.saved_attrs(y.grad_fn) == {"dim": (1,), "keepdim": False, "self_sym_sizes": (1, 2)}


def _edge_labels(dot) -> dict:
    """{(tail label, head label): [edge labels]} for labelled edges."""
    names = dict(re.findall(r'\t(\d+) \[label="?([^"\]]*)"?', dot.source))
    labels: dict = {}
    for tail, head, label in re.findall(r'\t(\d+) -> (\d+) \[label="([^"]*)"', dot.source):
        labels.setdefault((names[tail].strip(), names[head].strip()), []).append(label)
    return labels


def test_show_grads_on_seed003():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    z = y.mean()
    labels = _edge_labels(viz.make_dot(z, {"x": x}, show_grads=True))
    third = "(3)\n[0.3333, 0.3333, 0.3333]"
    two_x_over_3 = "(3)\n[0.6667, 1.333, 2]"  # d mean(x*x) / dx = 2x/3, summed over both uses
    assert labels[("MulBackward0", "MeanBackward0")] == [third]
    assert labels[("AccumulateGrad", "MulBackward0")] == [two_x_over_3, two_x_over_3]
    assert labels[("x\n (3)", "AccumulateGrad")] == [two_x_over_3]
    assert labels[("MeanBackward0", "()")] == ["()\n1"]
    assert x.grad is None and y.grad is None  # drawing touched no .grad
    z.backward(retain_graph=True)
    assert _edge_labels(viz.make_dot(z, {"x": x}, show_grads=True)) == labels
    assert x.grad.tolist() == pytest.approx([2 / 3, 4 / 3, 2.0])


def test_show_grads_values_agree_with_autograd():
    w = ember.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]], requires_grad=True)
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w @ x
    out = (h.tanh() * 3).sum()
    gh, gw = ember.autograd.grad(out, [h, w], retain_graph=True)
    labels = _edge_labels(viz.make_dot(out, show_grads=True))
    assert labels[("MvBackward0", "TanhBackward0")] == [
        "(2)\n[" + ", ".join(f"{v:.4g}" for v in gh.tolist()) + "]"
    ]
    rows = ", ".join("[" + ", ".join(f"{v:.4g}" for v in row) + "]" for row in gw.tolist())
    assert labels[("AccumulateGrad", "MvBackward0")][0].replace("\n ", " ") == f"(2, 3)\n[{rows}]"
    big = ember.ones(7, requires_grad=True)
    assert _edge_labels(viz.make_dot((big * 2).sum(), show_grads=True))[
        ("AccumulateGrad", "MulBackward0")
    ] == ["(7)"]  # more than 6 values: the shape only


def test_show_grads_needs_a_seed_for_non_scalar_outputs_and_a_live_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        viz.make_dot(y, show_grads=True)
    labels = _edge_labels(viz.make_dot(y, show_grads=True, gradient=ember.tensor([1.0, 10.0])))
    assert labels[("AccumulateGrad", "MulBackward0")] == ["(2)\n[2, 40]"] * 2
    y.sum().backward()
    with pytest.raises(RuntimeError, match=r"backward\(retain_graph=True\)"):
        viz.make_dot(y, show_grads=True, gradient=ember.ones(2))


def test_show_grads_off_adds_nothing():
    var, _ = _mlp(ember)
    assert 'label="(' not in viz.make_dot(var).source.replace('label="\n', "")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_render_runs_dot(tmp_path):
    var, params = _seed003(ember)
    path = viz.render(var, tmp_path / "graph.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert viz.render(viz.make_dot(var, params), tmp_path / "g.svg", format="svg").exists()
    assert "<svg" in viz.svg(var) and "MulBackward0" in viz.svg(var)


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on PATH
    var, _ = _seed003(ember)
    with pytest.raises(graphviz.ExecutableNotFound):
        viz.make_dot(var).pipe(format="png")  # what graphviz itself says
    with pytest.raises(RuntimeError) as err:
        viz.render(var, tmp_path / "graph.png")
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install"):
        assert hint in str(err.value)
    assert isinstance(err.value.__cause__, graphviz.ExecutableNotFound)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.svg(var)


def test_missing_graphviz_package_says_pip_install_ember_viz(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    var, _ = _seed003(ember)
    for call in (lambda: viz.make_dot(var), lambda: viz.render(var, "unused.png")):
        with pytest.raises(ImportError, match=r"pip install ember\[viz\]"):
            call()


def test_import_ember_does_not_import_graphviz():
    code = "import sys, ember, ember.viz; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_dot_from_trace_and_bad_params():
    with pytest.raises(NotImplementedError, match="no JIT tracer"):
        viz.make_dot_from_trace(None)
    var, _ = _seed003(ember)
    with pytest.raises(TypeError, match="'lr' is float"):
        viz.make_dot(var, {"lr": 0.1})


def test_tensor_svg_repr_for_jupyter():
    x = ember.ones(2, requires_grad=True)
    assert x._repr_svg_() is None  # a leaf has no graph to show
    y = (x * x).sum()
    svg = y._repr_svg_()
    if shutil.which("dot") is None:
        assert svg is None  # no Graphviz: Jupyter falls back to the text repr
    else:
        assert svg.lstrip().startswith("<?xml") and "MulBackward0" in svg
