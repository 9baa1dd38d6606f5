"""`ember.compat.report(path)`: which torch APIs a script uses, and which of them ember has.

The script is read, never run: its syntax tree gives the imports of torch, torchvision and
torchviz; the attribute chains hanging off the imported names (`torch.nn.functional.relu`,
`nn.Linear`, `F.relu`); the keyword arguments passed to them (`nn.Linear(3, 1, bias=False)` is
`torch.nn.Linear(bias=)`); and, for classes derived from a torch class (`nn.Module`) or
variables assigned an instance of one (`opt = optim.SGD(...)`), the attributes they use without
defining them (`self.parameters`, `opt.zero_grad`). Each name is resolved against ember's
modules (torch -> ember, torchvision -> ember.vision, torchviz -> ember.viz). Tensor methods on
values of unknown type (`x.backward()`) cannot be told apart from other methods statically and
are not listed; `ember run` names them when a run meets one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass, field

from .cli import ember_name

__all__ = ["CompatReport", "Use", "report"]

_MISSING = object()


@dataclass
class Use:
    """One torch API a script uses: its torch name, first line, how often, and ember's support.

    `kind` is "import", "attribute", "keyword" (`api` is then `torch.f(name=)`) or "inherited"
    (an attribute of a torch class used through a subclass or an instance). `supported` is None
    when ember has the function but its signature cannot be read to check a keyword.
    """

    api: str
    line: int
    kind: str
    supported: bool | None
    count: int = 1


@dataclass
class CompatReport:
    """The torch APIs of one script, in order of first use; `str()` is a readable table."""

    path: str
    uses: list = field(default_factory=list)

    @property
    def supported(self) -> bool:
        """True when ember has every API the script uses."""
        return all(u.supported is not False for u in self.uses)

    @property
    def missing(self) -> list:
        """The uses ember lacks."""
        return [u for u in self.uses if u.supported is False]

    def __str__(self) -> str:
        n, missing = len(self.uses), len(self.missing)
        verdict = "all supported by ember" if not missing else f"ember lacks {missing}"
        width = max([len(u.api) for u in self.uses] + [3])
        lines = [
            f"torch APIs used by {self.path}: {n}, {verdict}",
            f"  line  {'api':<{width}}  ember",
        ]
        for u in self.uses:
            mark = {True: "yes", False: "MISSING", None: "?"}[u.supported]
            times = f"  ({u.count} uses)" if u.count > 1 else ""
            lines.append(f"  {u.line:>4}  {u.api:<{width}}  {mark}{times}")
        return "\n".join(lines)


def report(path: str, *, quiet: bool = False) -> CompatReport:
    """Read the script at `path`, print (unless `quiet`) and return its torch API table."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    scan = _Scan()
    scan.collect_classes(tree)
    scan.visit(tree)
    result = CompatReport(path, sorted(scan.uses.values(), key=lambda u: u.line))
    if not quiet:
        print(result)
    return result


def resolve(api: str) -> object:
    """The ember object serving a torch name (`torch.nn.Linear`), or `_MISSING`."""
    real = ember_name(api)
    if real is None:
        return _MISSING
    parts = real.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _accepts(obj: object, keyword: str) -> bool | None:
    """Does calling `obj` accept `keyword`? None when its signature cannot be read."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = sig.parameters.values()
    return keyword in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in params)


class _Scan(ast.NodeVisitor):
    """One pass over the script, in source order, recording each torch API use once."""

    def __init__(self) -> None:
        self.aliases: dict = {}  # local name -> torch name ("nn" -> "torch.nn")
        self.classes: dict = {}  # user class -> (torch base, names it defines)
        self.instances: dict = {}  # variable -> (torch class, names its class defines)
        self.current: tuple | None = None  # the torch subclass being visited
        self.uses: dict = {}

    def add(self, api: str, line: int, kind: str, supported: bool | None = None) -> None:
        if api in self.uses:
            self.uses[api].count += 1
            return
        if supported is None and kind != "keyword":
            supported = resolve(api) is not _MISSING
        self.uses[api] = Use(api, line, kind, supported)

    # -- names ----------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if ember_name(a.name) is not None:
                self.add(a.name, node.lineno, "import")
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or node.module is None or ember_name(node.module) is None:
            return
        for a in node.names:
            if a.name == "*":
                self.add(node.module, node.lineno, "import")
                continue
            api = f"{node.module}.{a.name}"
            self.add(api, node.lineno, "import")
            self.aliases[a.asname or a.name] = api

    def torch_path(self, node: ast.expr) -> str | None:
        """`nn.functional.relu` -> "torch.nn.functional.relu" when it starts at a torch name."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not (isinstance(node, ast.Name) and node.id in self.aliases):
            return None
        path = [self.aliases[node.id]]
        for attr in reversed(attrs):
            if _is_dunder(attr) and attr != "__version__":
                break  # `torch.f.__module__` is Python's, not torch's
            path.append(attr)
        return ".".join(path)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = self.torch_path(node)
        if path is not None:
            self.add(path, node.lineno, "attribute")
            return
        owner = self.owner_of(node.value)
        if owner is not None:
            base, defined = owner
            if node.attr not in defined and not _is_dunder(node.attr):
                self.add(f"{base}.{node.attr}", node.lineno, "inherited")
        self.generic_visit(node)

    def owner_of(self, node: ast.expr) -> tuple | None:
        """(torch class, names defined on top of it) for `self`/`super()` in a torch subclass,
        or a variable holding an instance of a torch class."""
        if isinstance(node, ast.Name) and node.id in self.instances:
            return self.instances[node.id]
        if isinstance(node, ast.Name) and node.id == "self" and self.current is not None:
            return self.current
        is_super = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "super"
        if is_super and self.current is not None:
            return self.current[0], set()
        return None

    # -- calls, classes, instances ------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        self.visit(node.func)  # the function is listed before its keywords
        path = self.torch_path(node.func)
        if path is not None:
            target = resolve(path)
            for kw in node.keywords:
                if kw.arg is not None:
                    ok = False if target is _MISSING else _accepts(target, kw.arg)
                    self.add(f"{path}({kw.arg}=)", kw.value.lineno, "keyword", ok)
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            self.visit(arg)

    def collect_classes(self, tree: ast.Module) -> None:
        """First pass: the script's classes that derive from a torch class, and what they define
        (so `self.fc` assigned in `__init__` is not mistaken for a torch attribute)."""
        self.visit_imports_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [self.torch_path(b) for b in node.bases] + [
                    self.classes[b.id][0]
                    for b in node.bases
                    if isinstance(b, ast.Name) and b.id in self.classes
                ]
                base = next((b for b in bases if b), None)
                if base is not None:
                    self.classes[node.name] = (base, _defined_names(node))
        self.aliases.clear()
        self.uses.clear()

    def visit_imports_only(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer, self.current = self.current, self.classes.get(node.name)
        self.generic_visit(node)
        self.current = outer

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.instances.pop(target.id, None)
                kind = self.instance_kind(node.value)
                if kind is not None:
                    self.instances[target.id] = kind

    def instance_kind(self, value: ast.expr) -> tuple | None:
        """(torch class, names defined on top of it) if `value` constructs a torch object."""
        if not isinstance(value, ast.Call):
            return None
        if isinstance(value.func, ast.Name) and value.func.id in self.classes:
            return self.classes[value.func.id]
        path = self.torch_path(value.func)
        if path is not None and isinstance(resolve(path), type):
            return path, set()
        return None


def _defined_names(cls: ast.ClassDef) -> set:
    """Methods and class attributes of a class, and every `self.X = ...` in its methods."""
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node in cls.body:
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
    for stmt in cls.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            for t in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(t, ast.Name):
                    names.add(t.id)
    return names


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")
