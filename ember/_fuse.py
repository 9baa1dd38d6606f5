"""Elementwise fusion for `ember.compile(fn, fuse=True)`: runs of pointwise lines in a replay
become one `numexpr` expression (the `ember[fast]` extra), where that is measured faster.

A replay is straight-line NumPy (`v5 = v4 * 1.01`, `v8 = k7(v5)` with `k7 = np.tanh`, ...).
Within a run of consecutive such lines, a local used exactly once is pasted into its user,
so `tanh(v4 * 1.01 + 0.1)` is evaluated in one pass instead of three. Each fused expression
is checked on the trace's own arrays before it is kept:

- numexpr's result must have eager's dtype and shape, and equal eager's values within 1e-6
  of the array's largest magnitude (and put NaN where eager does);
- it must run faster than the NumPy lines it replaces, timed there and then on those arrays
  (numexpr costs about a microsecond per call and uses threads: short chains of large arrays
  and masks often lose).

Anything else (comparisons, `where`, reductions, integer or complex arrays, mixed dtypes)
stays as NumPy. Constants become 0-d arrays of the run's dtype, as NumPy treats a Python
number next to a float array (NEP 50), so float32 stays float32.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable

import numpy as np

from ._compile import _LOCAL  # the replay's locals and arguments

_LINE = re.compile(r"(v\d+) = (.+)")  # a line that assigns a local
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_FUNCS = {
    np.sin: "sin",
    np.cos: "cos",
    np.tan: "tan",
    np.arcsin: "arcsin",
    np.arccos: "arccos",
    np.arctan: "arctan",
    np.sinh: "sinh",
    np.cosh: "cosh",
    np.tanh: "tanh",
    np.exp: "exp",
    np.expm1: "expm1",
    np.log: "log",
    np.log1p: "log1p",
    np.sqrt: "sqrt",
    np.absolute: "abs",
}
_KINDS = {np.dtype(np.float32): float, np.dtype(np.float64): np.float64}  # numexpr's names
_TOLERANCE = 1e-6
# numexpr takes a bounded number of operands; long chains (a 100-layer backward) are cut into
# expressions of at most about this many names and constants each.
_MAX_LEAVES = 24


def available() -> bool:
    try:
        import numexpr  # noqa: F401
    except ImportError:
        return False
    return True


class _Pointwise:
    """One line's right-hand side, if it is elementwise arithmetic numexpr can run."""

    def __init__(self, node: ast.expr, consts: dict, arrays: dict, dtype: np.dtype) -> None:
        self.node, self.consts, self.arrays, self.dtype = node, consts, arrays, dtype
        self.ops = 0
        self.inputs: list[str] = []
        self.ok = self._check(node)

    def _func(self, f: ast.expr) -> str | None:
        if isinstance(f, ast.Name):
            obj = self.consts.get(f.id)
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np":
            obj = getattr(np, f.attr, None)
        else:
            return None
        try:
            return _FUNCS.get(obj)
        except TypeError:  # (an unhashable constant)
            return None

    def _check(self, n: ast.expr) -> bool:
        if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            self.ops += 1
            return self._check(n.left) and self._check(n.right)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            self.ops += 1
            return self._check(n.operand)
        if isinstance(n, ast.Call):
            self.ops += 1
            return (
                self._func(n.func) is not None
                and len(n.args) == 1
                and not n.keywords
                and self._check(n.args[0])
            )
        if isinstance(n, ast.Constant):
            return type(n.value) in (int, float)
        if isinstance(n, ast.Name) and n.id in self.consts:  # a number as a 0-d array
            c = self.consts[n.id]
            return type(c) is np.ndarray and c.ndim == 0 and c.dtype == self.dtype
        if isinstance(n, ast.Name):
            a = self.arrays.get(n.id)
            if type(a) is not np.ndarray or a.dtype != self.dtype:
                return False
            if n.id not in self.inputs:
                self.inputs.append(n.id)
            return True
        return False


def _numexpr_text(n: ast.expr, p: _Pointwise, consts: list) -> str:
    """numexpr's source for a checked tree; constants (numbers, or the names of 0-d arrays)
    are collected into `consts`."""
    if isinstance(n, ast.BinOp):
        op = _BINOPS[type(n.op)]
        return f"({_numexpr_text(n.left, p, consts)} {op} {_numexpr_text(n.right, p, consts)})"
    if isinstance(n, ast.UnaryOp):
        return f"(-{_numexpr_text(n.operand, p, consts)})"
    if isinstance(n, ast.Call):
        return f"{p._func(n.func)}({_numexpr_text(n.args[0], p, consts)})"
    if isinstance(n, ast.Constant) or n.id in p.consts:
        consts.append(n.value if isinstance(n, ast.Constant) else n.id)
        return f"_c{len(consts) - 1}"
    return f"_i{p.inputs.index(n.id)}"  # (positional names: one NumExpr serves every line)


def _best(fn: Callable[[], object], reps: int = 7) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _close(got: object, want: np.ndarray) -> bool:
    if type(got) is not np.ndarray or got.dtype != want.dtype or got.shape != want.shape:
        return False
    nan = np.isnan(want)
    if not np.array_equal(nan, np.isnan(got)):
        return False
    finite = ~nan & np.isfinite(want)
    if not np.array_equal(got[~finite & ~nan], want[~finite & ~nan]):
        return False  # (infinities where eager has them)
    if not finite.any():
        return True
    scale = float(np.abs(want[finite]).max()) or 1.0
    return float(np.abs(got[finite] - want[finite]).max()) <= _TOLERANCE * scale


def fuse(
    lines: list[str], arrays: dict[str, np.ndarray], consts: dict, bind: Callable[[object], str]
) -> list[str]:
    """`lines` with runs of pointwise lines fused where checked and faster (see the module
    docstring). `arrays` holds the trace's array for each local, `consts` the objects bound
    as constants (by name), and `bind` names a new one."""
    uses: dict[str, int] = {}
    for line in lines:
        m = _LINE.fullmatch(line)
        for name in _LOCAL.findall(m.group(2) if m else line):
            uses[name] = uses.get(name, 0) + 1
    placed: list[tuple[int, list[str]]] = []  # (where, lines), sorted at the end
    run: dict[str, tuple[ast.expr, list[int]]] = {}  # local -> its pasted tree, its lines
    absorbed: set[str] = set()
    fuser = _Fuser(lines, arrays, consts, bind)

    def flush() -> None:
        # An output is placed at its own line (the run's lines before it are pure, so what
        # it reads is unchanged there); a local pasted into it goes with it.
        for name, (node, idx) in run.items():
            if name not in absorbed:
                placed.append((max(idx), fuser.emit(name, node, idx)))
        run.clear()
        absorbed.clear()

    for i, line in enumerate(lines):
        m = _LINE.fullmatch(line)
        node = fuser.pointwise(m) if m else None
        if node is None:
            flush()
            placed.append((i, [line]))
            continue
        paste = _Paste(run, uses, absorbed, i)
        run[m.group(1)] = (paste.visit(node), paste.idx)
    flush()
    placed.sort(key=lambda e: e[0])
    return [line for _, group in placed for line in group]


class _Paste(ast.NodeTransformer):
    """Put the run's single-use locals into a line's tree, noting the lines they came from."""

    def __init__(self, run: dict, uses: dict, absorbed: set, line: int) -> None:
        self.run, self.uses, self.absorbed, self.idx = run, uses, absorbed, [line]

    def visit_Name(self, n: ast.Name) -> ast.expr:
        got = self.run.get(n.id)
        if got is None or self.uses.get(n.id) != 1 or _leaves(got[0]) > _MAX_LEAVES:
            return n
        self.absorbed.add(n.id)
        self.idx.extend(got[1])
        return got[0]


def _leaves(node: ast.expr) -> int:
    return sum(isinstance(n, (ast.Name, ast.Constant)) for n in ast.walk(node))


class _Fuser:
    """Checks, times and names fused expressions (one decision per expression and shapes)."""

    def __init__(self, lines: list[str], arrays: dict, consts: dict, bind: Callable) -> None:
        from numexpr.necompiler import NumExpr

        self.NumExpr = NumExpr
        self.lines, self.arrays, self.consts, self.bind = lines, arrays, consts, bind
        self.decided: dict[tuple, object] = {}  # -> its NumExpr (None: NumPy); constants

    def pointwise(self, m: re.Match) -> ast.expr | None:
        want = self.arrays.get(m.group(1))
        if type(want) is not np.ndarray or want.dtype not in _KINDS:
            return None
        try:
            node = ast.parse(m.group(2), mode="eval").body
        except SyntaxError:
            return None
        return node if _Pointwise(node, self.consts, self.arrays, want.dtype).ok else None

    def emit(self, name: str, node: ast.expr, idx: list[int]) -> list[str]:
        original = [self.lines[i] for i in sorted(idx)]
        want = self.arrays[name]
        p = _Pointwise(node, self.consts, self.arrays, want.dtype)
        if (len(idx) < 2 and p.ops < 2) or want.ndim == 0:
            return original
        cs: list = []
        text = _numexpr_text(node, p, cs)
        ins = [self.arrays[n] for n in p.inputs]
        ins += [self.consts[c] if type(c) is str else np.array(c, want.dtype) for c in cs]
        key = (text, tuple((a.shape, a.dtype.str) for a in ins))
        if key not in self.decided:
            self.decided[key] = self._decide(text, p, len(cs), ins, node, want)
        nex = self.decided[key]
        if nex is None:
            return original
        args = p.inputs + [c if type(c) is str else self._constant(c, want.dtype) for c in cs]
        return [f"{name} = {self.bind(nex)}({', '.join(args)})"]

    def _constant(self, c: float, dtype: np.dtype) -> str:
        key = ("const", type(c), repr(c), dtype.str)  # (repr: 0.0 is not -0.0)
        if key not in self.decided:
            self.decided[key] = self.bind(np.array(c, dtype))
        return self.decided[key]

    def _decide(self, text, p, n_consts, ins, node, want) -> object:
        kind = _KINDS[want.dtype]
        names = [f"_i{i}" for i in range(len(p.inputs))] + [f"_c{i}" for i in range(n_consts)]
        try:
            nex = self.NumExpr(text, signature=[(n, kind) for n in names])
            got = nex(*ins)
        except Exception:  # noqa: BLE001 -- numexpr refused it: it stays NumPy
            return None
        if not _close(got, want):
            return None
        src = f"lambda {', '.join(p.inputs)}: {ast.unparse(node)}"
        lam = eval(compile(src, "<ember.compile fuse>", "eval"), {"np": np, **self.consts})
        return nex if faster(lambda: nex(*ins), lambda: lam(*ins[: len(p.inputs)])) else None


def faster(fused: Callable[[], object], numpy: Callable[[], object]) -> bool:
    """Whether the fused call beats the NumPy lines by 10%, on the trace's own arrays (the
    tests replace this to fuse every expression that passes the value check)."""
    return _best(fused) < 0.9 * _best(numpy)
