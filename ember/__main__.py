"""`python -m ember [--out DIR]`: a guided tour of the founding tutorials' autograd examples.

Each stop prints the code it runs (PyTorch code: `import ember as torch`) and what it prints,
which is what PyTorch prints; the backward walk of the stop's graph as `ember.explain` tells it;
and a picture of the graph from `ember.viz.make_dot` with the gradients on its edges, written
to DIR (default `./ember-tour/`): PNG when Graphviz's `dot` is installed, the DOT source
(`.dot`) otherwise. Without the `graphviz` Python package the tour says so once and goes on:
it needs nothing but NumPy.

`python -m ember run script.py [args]` and `python -m ember compat script.py` are the command
line of ember.cli.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ember as torch
from ember.explain import explain


@dataclass
class Stop:
    """One example: code run before the picture (forward, explain), the picture, code after."""

    title: str
    code: str
    picture: tuple[str, str, str] | None = None  # (file name, output expression, params)
    then: str = ""


STOPS = [
    Stop(
        "Seed 000: a tensor records what is done to it once it requires grad",
        """
        x = torch.arange(4.0)
        x.requires_grad_(True)
        y = 2 * torch.dot(x, x)
        print(y)
        explain(y)
        """,
        ("seed000_dot", "y", "{'x': x, 'y': y}"),
        """
        y.backward()
        print(x.grad)
        print(x.grad == 4 * x)
        """,
    ),
    Stop(
        "Seed 002: the chain rule, z = 3 * x**2 + 1",
        """
        x = torch.tensor([2.0], requires_grad=True)
        y = x ** 2
        z = 3 * y + 1
        explain(z)
        """,
        ("seed002_chain", "z", "{'x': x, 'y': y, 'z': z}"),
        """
        z.backward()
        print(x.grad)
        """,
    ),
    Stop(
        "Seed 003: the chain rule node by node, z = mean(x * x)",
        """
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * x
        z = y.mean()
        explain(z)
        """,
        ("seed003_mean", "z", "{'x': x, 'y': y, 'z': z}"),
        """
        z.backward()
        print(x.grad)   # dz/dx = 2x / 3
        """,
    ),
    Stop(
        "Seed 003: a model's forward, sigmoid(w * x + b), and the gradients of x, w, b",
        """
        class MyModel(torch.nn.Module):
            def forward(self, x, w, b):
                return 1 / (torch.exp(-(w * x + b)) + 1)
        x = torch.tensor(1.0, requires_grad=True)
        w = torch.tensor(0.0, requires_grad=True)
        b = torch.tensor(0.0, requires_grad=True)
        output = MyModel()(x, w, b)
        explain(output, max_steps=4)
        """,
        ("seed003_sigmoid", "output", "{'x': x, 'w': w, 'b': b}"),
        """
        output.backward()
        print(output, x.grad, w.grad, b.grad)
        """,
    ),
    Stop(
        "Seed 001: a non-scalar output needs a gradient to weight it",
        """
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        try:
            y.backward()
        except RuntimeError as e:
            print("RuntimeError:", e)
        y.backward(torch.tensor([1, 2, 2]))
        print(x.grad)
        """,
    ),
    Stop(
        "Seed 001: fit sin(x) with a cubic polynomial, as a Linear layer (2000 steps)",
        """
        import math
        x = torch.linspace(-math.pi, math.pi, 2000)
        xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
        model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor([[0.1, -0.2, 0.05]]))
            model[0].bias.fill_(0.3)
        loss_fn = torch.nn.MSELoss(reduction='sum')
        loss = loss_fn(model(xx), torch.sin(x))
        explain(loss, names=model.named_parameters())
        """,
        ("seed001_fit", "loss", "dict(model.named_parameters())"),
        """
        for t in range(2000):
            loss = loss_fn(model(xx), torch.sin(x))
            if t % 500 == 499:
                print(t, round(loss.item(), 2))
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for param in model.parameters():
                    param -= 1e-6 * param.grad
        w, b = model[0].weight[0].tolist(), model[0].bias.item()
        print(f"y = {b:.4f} + {w[0]:.4f} x + {w[1]:.4f} x^2 + {w[2]:.4f} x^3")
        """,
    ),
    Stop(
        "Seed 004: retain_graph to go back twice, create_graph for a second derivative",
        """
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x ** 3).sum()
        y.backward(retain_graph=True)
        y.backward()
        print(x.grad)   # 3x^2, twice
        (g,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
        print(g)
        x.grad = None
        g.sum().backward()
        print(x.grad)   # 6x
        """,
    ),
]


class _Pictures:
    """Writes each stop's graph to the output directory, or says once why it cannot."""

    def __init__(self, out: Path) -> None:
        self.out = out
        try:
            import graphviz  # noqa: F401 - only asking whether it is installed
        except ImportError:
            self.enabled = False
        else:
            self.enabled = True
        self.png = shutil.which("dot") is not None

    def intro(self) -> str:
        if not self.enabled:
            return (
                "Pictures of the graphs need the graphviz Python package: pip install ember[viz]"
                " (the tour goes on without them)."
            )
        kind = "PNG" if self.png else "DOT source (.dot; install Graphviz's `dot` for PNG)"
        return f"Pictures of the graphs go to {self.out}/ as {kind}."

    def draw(self, name: str, var: torch.Tensor, params: dict) -> Path | None:
        if not self.enabled:
            return None
        from ember.viz import make_dot, render

        dot = make_dot(var, params=params, show_grads=True)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.png:
            return render(dot, self.out / f"{name}.png")
        path = self.out / f"{name}.dot"
        path.write_text(dot.source, encoding="utf-8")
        return path


def _show_and_run(code: str, scope: dict) -> None:
    """Print each statement as the interactive prompt shows it, then run it (its output follows)."""
    code = textwrap.dedent(code).strip()
    lines = code.splitlines()
    for stmt in ast.parse(code).body:
        first, *rest = lines[stmt.lineno - 1 : stmt.end_lineno]
        print("\n".join([">>> " + first, *("... " + line for line in rest)]))
        exec(compile(ast.Module([stmt], type_ignores=[]), "<ember tour>", "exec"), scope)


def tour(out: Path) -> None:
    """Run every stop, printing code, results, walk-throughs and where each picture went."""
    pictures = _Pictures(out.resolve())
    print("ember: PyTorch's autograd on NumPy. The code below is PyTorch code run on ember with")
    print("`import ember as torch` and `from ember.explain import explain`.")
    print(pictures.intro())
    print()
    scope: dict = {"torch": torch, "explain": explain, "__name__": "ember_tour"}
    for i, stop in enumerate(STOPS, 1):
        print(f"--- {i}. {stop.title}")
        _show_and_run(stop.code, scope)
        if stop.picture is not None:
            name, var, params = stop.picture
            path = pictures.draw(name, eval(var, scope), eval(params, scope))
            if path is not None:
                print(f"(picture of the graph: {path})")
        if stop.then:
            _show_and_run(stop.then, scope)
        print()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ember [--out DIR]` runs the tour; `python -m ember run|compat ...` the CLI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("run", "compat"):
        from ember.cli import main as cli_main

        return cli_main(argv)
    parser = argparse.ArgumentParser(
        prog="python -m ember",
        description="A guided tour of ember. `python -m ember run script.py` runs a PyTorch "
        "script on ember; `python -m ember compat script.py` lists the torch APIs it uses.",
    )
    parser.add_argument(
        "--out", default="ember-tour", help="directory for the graph pictures (./ember-tour)"
    )
    tour(Path(parser.parse_args(argv).out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
