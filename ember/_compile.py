"""`ember.compile`: run a function once while recording the array work ember does, then replay
that record as straight-line NumPy.

The first call with given inputs runs the function eagerly (it *is* an eager call: results,
gradients and side effects are those of eager code) while a tracer watches the few places
where ember turns arrays into arrays or writes state:

- every op's NumPy forward (`Op.__call__`), with the casts `_prepare` made;
- every NumPy vjp rule the backward walk runs (`_registry.np_backward`), and the sums of
  gradients that meet (`graph.add_grads`); a recording walk (create_graph) runs ember ops;
- the writes: in-place ops (`_inplace.snapshot` / `write`), gradients reaching leaves
  (`AccumulateGrad`), assignments to `.grad` and `.data`, and optimizer / lr-scheduler
  steps, which are replayed by calling the real `step()` (their state lives in Python),
  except a plain SGD step (`p -= lr * p.grad`), which the replay does itself while it stays
  plain, reading the current lr;
- every read of a value into Python (`bool(t)`, `t.item()`, `float(t)`, `tolist()`), which
  becomes a guard: a later call whose value differs is traced again.

From the record it writes one Python function over NumPy arrays (`step.source`): trivial
forwards and rules are inlined from their own source (a `return <expr>` body), the rest are
called by name. Later calls whose inputs match (shapes, dtypes, requires_grad of the tensor
arguments, equal Python arguments) and whose entry guards hold (the tensors reached through
closures keep their shapes and requires_grad, modules their `training` flag, `.grad`
attributes the trace read their None-ness) run that function instead of the eager code.

Whatever the tracer cannot account for makes the call's key run eagerly, with one warning
that says why: an array that no recorded step produced (NumPy work on `.numpy()`, random
sampling), a returned tensor whose graph is still needed, a value read after a state write
(the replay could not undo the write when that guard fails).
"""

from __future__ import annotations

import ast
import builtins
import copy
import dis
import functools
import inspect
import itertools
import linecache
import math
import operator
import os
import re
import sys
import sysconfig
import textwrap
import threading
import time
import types
import warnings
from collections.abc import Callable
from sys import getrefcount
from typing import Any

import numpy as np

from . import _factories, _random
from ._tensor import Tensor
from .autograd import _where as _sites
from .autograd import graph
from .autograd.grad_mode import STATE
from .ops import _inplace, _registry
from .ops._registry import Op
from .ops._saved import SavedUnavailable
from .ops._util import refuse_complex
from .optim.optimizer import bump_at

__all__ = ["compile"]

_ACTIVE: list = [None]  # the tracer of the trace in progress (one at a time, one thread)
_EMBER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# ops whose output shape depends on input values: the replay checks it (a value guard)
_VALUE_SHAPED = {"nonzero", "masked_select", "argwhere"}
MAX_TRACES = 8


class _Unsupported(Exception):
    """Something the tracer cannot record: this input key runs eagerly (the message says why)."""


class _Retrace(Exception):
    """A guard failed while replaying, before any state was written."""


# ---- the tracer ------------------------------------------------------------------------------
class _Tracer:
    """The record of one eager call: generated lines, and what each array is called in them."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pure: set[int] = set()  # lines that may go when their result is unused
        self.rendered: dict = {}  # pasted rule bodies, with placeholders for locals
        self.slots: dict[int, str] = {}  # id(array) -> the local that holds it at replay
        self.arrays: dict[str, object] = {}  # a local -> its array in the trace (for fusion)
        self.keep: list = []  # everything whose id is a key above, alive until the trace ends
        self.consts: dict[int, str] = {}  # id(object) -> its closure name
        self.scalars: dict[tuple, str] = {}  # (type, repr, dtype) -> its 0-d array's name
        self.bound: list[tuple[str, object]] = []
        self.texpr: dict[int, str] = {}  # id(tensor) -> how the replay names it ("a0", "k3._grad")
        self.born: set[int] = set()  # tensors created during the trace
        self.factory: set[int] = set()  # arrays made by factories (constants of the trace)
        self.static: set[int] = set()  # arrays computed from shapes alone (shape_const)
        self.external: dict[int, tuple[str, Tensor, tuple]] = {}  # tensors read from outside
        self.roots: list[tuple[str, str, object]] = []  # the function's globals and cells
        self.grad_state: dict[int, tuple[str, bool]] = {}  # `.grad is None`, read from outside
        self.grad_set: set[int] = set()  # tensors whose .grad this trace assigned
        self.grad_of: dict[int, Tensor] = {}  # id(a .grad named "k._grad") -> its tensor
        self.modules: dict[int, tuple[str, bool]] = {}
        self.guards: list[str] = []  # what each guard checks, for explain and warnings
        self.first_effect: int | None = None  # line of the first write to outside state
        self.value_guard_lines: list[int] = []
        self.side_effects: list[str] = []
        self.failed: str | None = None
        self.paused = 0
        self.writes = 0
        self.ops = 0
        self.thread = threading.get_ident()
        self.args: list[Tensor] = []
        self._n = itertools.count()

    # -- names
    def name(self, prefix: str = "v") -> str:
        return f"{prefix}{next(self._n)}"

    def const(self, obj: object) -> str:
        name = self.consts.get(id(obj))
        if name is None:
            name = self.consts[id(obj)] = self.name("k")
            self.bound.append((name, obj))
        return name

    def scalar(self, x: int | float, dtype: np.dtype) -> str:
        """A bound 0-d array holding the number `x` as `dtype` (one per value and dtype)."""
        key = (type(x), repr(x), dtype.str)  # (repr: 0.0 and -0.0 are different constants)
        name = self.scalars.get(key)
        if name is None:
            name = self.scalars[key] = self.const(np.array(x, dtype))
        return name

    def literal(self, x: object) -> str:
        """Source for a Python value: itself when it prints as code, else a bound constant."""
        if x is None or type(x) in (bool, int, str):
            return repr(x)
        if type(x) is float:
            return repr(x) if math.isfinite(x) else self.const(x)
        if type(x) is complex:
            return repr(x) if math.isfinite(x.real) and math.isfinite(x.imag) else self.const(x)
        if type(x) is slice:
            return f"slice({self.literal(x.start)}, {self.literal(x.stop)}, {self.literal(x.step)})"
        if x is Ellipsis:
            return "..."
        return self.const(x)

    def value(self, x: object) -> str:
        """Source for an argument of a recorded call: arrays by their local, containers
        element by element, other values as literals."""
        if type(x) is np.ndarray or (isinstance(x, np.generic) and id(x) in self.slots):
            return self.array(x)  # (a sum of 0-d gradients is a NumPy scalar)
        if type(x) is tuple:
            return "(" + "".join(self.value(e) + ", " for e in x) + ")"
        if type(x) is list:
            return "[" + ", ".join(self.value(e) for e in x) + "]"
        if isinstance(x, Tensor):  # a tensor parameter (where's condition): its values, wrapped
            return f"_make({self.tensor(x)})"
        return self.literal(x)

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def derive(self, arr: object, expr: str, pure: bool = False) -> str:
        """A new local for `arr`, computed by `expr` (no line when `expr` is a local: a rule
        that passes its gradient on unchanged). A `pure` line (a backward rule, a sum, a
        read, a cast: nothing that can raise or write) is dropped when nothing uses it."""
        if expr.isidentifier() and expr[0] == "v":
            self.slots[id(arr)] = expr
            self.keep.append(arr)
            return expr
        name = self.name()
        self.slots[id(arr)] = name
        self.arrays[name] = arr
        self.keep.append(arr)
        if pure:
            self.pure.add(len(self.lines))
        self.emit(f"{name} = {expr}")
        return name

    def effect(self) -> None:
        if self.first_effect is None:
            self.first_effect = len(self.lines)

    # -- resolving arrays and tensors
    def array(self, a: np.ndarray) -> str:
        name = self.slots.get(id(a))
        if name is not None:
            return name
        if id(a) in self.factory:
            return self.derive(a, f"{self.const(a)}.copy()", pure=True)
        if id(a) in self.static:  # read only, never written: the constant itself
            return self.const(a)
        for t in self.args:  # an argument's array handed to an op as a parameter (targets)
            if t._data is a:
                return self.tensor(t)
        raise _Unsupported(
            "an array that no recorded step produced reached an op (computed with NumPy "
            "outside ember's ops, sampled at random, or kept from before the call)"
        )

    def tensor(self, t: Tensor) -> str:
        """The local holding `t`'s current values, reading them in if this is the first use."""
        a = t._data
        name = self.slots.get(id(a))
        if name is not None:
            return name
        expr = self.outside(t)
        if expr is None:
            return self.array(a)
        return self.derive(a, f"{expr}._data", pure=True)

    def outside(self, t: Tensor) -> str | None:
        """How the replay names a tensor that is not the trace's own (an argument, a tensor
        reached through a closure or a module, a `.grad` of one); None for the trace's own."""
        expr = self.texpr.get(id(t))
        if expr is not None:
            return expr
        if id(t) in self.born:
            return None
        k = self.const(t)
        self.external[id(t)] = (k, t, (t._data.shape, t._data.dtype, t._requires_grad))
        self.keep.append(t)
        return k

    def value_guard(self, check: str, what: str) -> None:
        """A guard on a value computed inside the trace (checked where it was read)."""
        i = len(self.guards)
        self.guards.append(what)
        self.value_guard_lines.append(len(self.lines))
        self.emit(f"if {check}: raise _Retrace({i})")

    def fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why


def _active() -> _Tracer | None:
    tr = _ACTIVE[0]
    if tr is None or tr.paused or tr.failed or threading.get_ident() != tr.thread:
        return None
    return tr


def _where() -> str:
    """The user's file:line that is running (the first frame outside ember), as the
    autograd errors find it."""
    loc = _sites.line_of(_sites.site())
    return "?" if loc is None else f"{os.path.basename(loc[0])}:{loc[1]}"


# ---- inlining a function's `return <expr>` ---------------------------------------------------
_SCOPED = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)
_FILES: dict[str, dict | None] = {}  # a file's lambdas and defs (see _index)
_TEMPLATES: dict[Callable, _Template | None] = {}


class _Template:
    """A function whose body is one expression, to be pasted with its arguments substituted.
    Checks before it that read only the arguments' dtypes and shapes (`if x.dtype ==
    np.bool_: raise ...`, `refuse_complex(...)`) are left out: they passed at trace time, and
    the entry guards fix those dtypes and shapes for every replay."""

    def __init__(self, fn: types.FunctionType, expr: ast.expr, checks: list[ast.stmt]) -> None:
        code = fn.__code__
        n = code.co_argcount
        self.pos = code.co_varnames[:n]
        self.kwonly = code.co_varnames[n : n + code.co_kwonlyargcount]
        defaults = fn.__defaults__ or ()
        self.defaults = dict(zip(self.pos[n - len(defaults) :], defaults))
        self.defaults.update(fn.__kwdefaults__ or {})
        self.expr = expr
        params = set(self.pos) | set(self.kwonly)
        cells = dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))

        def resolve(name: str) -> object:
            if name in cells:
                return cells[name]
            if name in fn.__globals__:
                return fn.__globals__[name]
            if hasattr(builtins, name):
                return None  # a builtin keeps its name
            raise ValueError(f"unknown name {name}")

        # the arguments whose dtype or shape a check reads: arrays at every render, or no paste
        self.checked = set().union(*(_static_reads(c, params, resolve) for c in checks))
        self.free: dict[str, object] = {}
        for node in ast.walk(expr):
            if isinstance(node, _SCOPED):
                raise ValueError("a nested scope")
            if isinstance(node, ast.Name) and node.id not in params:
                self.free[node.id] = resolve(node.id)
        self.expr = _Inline(self.free, params).visit(expr)
        used = {n.id for n in ast.walk(self.expr) if isinstance(n, ast.Name)}
        self.free = {n: obj for n, obj in self.free.items() if n in used}

    def render(self, tr: _Tracer, args: list[str], params: dict, values: tuple) -> str | None:
        """The body with `args` (sources) and `params` pasted in; `values` are the arguments'
        values in this call, whose shapes are constants of the trace (the entry guards fix
        them), so `x.shape`, `x.ndim`, `x.size` and `x.dtype` of an array become literals and
        the branches they decide fold away."""
        if len(args) > len(self.pos):
            return None
        names = dict(zip(self.pos, args))
        known = {p: v for p, v in zip(self.pos, values) if type(v) is np.ndarray}
        if not self.checked <= known.keys():
            return None
        for p in self.pos[len(args) :] + self.kwonly:
            if p in params:
                names[p] = tr.value(params[p])
            elif p in self.defaults:
                names[p] = tr.value(self.defaults[p])
            else:
                return None
        if any(p not in names for p in params):
            return None
        for n, obj in self.free.items():
            names[n] = n if obj is None else "np" if obj is np else tr.const(obj)
        # The same rule with the same shapes renders the same text up to its locals: render
        # once per trace with placeholders (a 100,000-op chain pastes one body 100,000 times).
        seen: list[str] = []

        def hole(m: re.Match) -> str:
            if m.group() not in seen:
                seen.append(m.group())
            return f"_P{seen.index(m.group())}_"

        canon = {n: _LOCAL.sub(hole, s) for n, s in names.items()}
        statics = tuple((p, v.shape, v.dtype.str) for p, v in known.items())
        key = (id(self), tuple(canon.items()), statics)
        text = tr.rendered.get(key)
        if text is None:
            text = tr.rendered[key] = self._paste(tr, canon, known)
        return _HOLE.sub(lambda m: seen[int(m.group(1))], text)

    def _paste(self, tr: _Tracer, names: dict, known: dict) -> str:
        subst = {n: ast.parse(s, mode="eval").body for n, s in names.items()}

        class Paste(_Subst):
            def visit_Compare(self, node: ast.Compare) -> ast.expr:
                # `b is None` of an array argument (an optional bias) is a constant too
                left, op, right = node.left, node.ops[0], node.comparators[-1]
                if (
                    len(node.ops) == 1
                    and isinstance(left, ast.Name)
                    and left.id in known
                    and isinstance(op, (ast.Is, ast.IsNot))
                    and isinstance(right, ast.Constant)
                    and right.value is None
                ):
                    return ast.Constant(isinstance(op, ast.IsNot))
                return self.generic_visit(node)

            def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
                v = node.value
                if isinstance(v, ast.Name) and v.id in known and node.attr in _STATIC:
                    got = getattr(known[v.id], node.attr)
                    text = tr.const(got) if node.attr == "dtype" else repr(got)
                    return ast.parse(text, mode="eval").body
                return self.generic_visit(node)

        tree = _Fold().visit(Paste(subst).visit(_clone(self.expr)))
        dtypes = {names[p]: v.dtype for p, v in known.items() if names[p].isidentifier()}
        return ast.unparse(_Typed(dtypes, tr.scalar).visit(tree))


def _static_reads(check: ast.stmt, params: set, resolve: Callable[[str], object]) -> set:
    """The arguments a check reads, if it reads them only through `.dtype`, `.shape`, `.ndim`
    or `.size`, calls only NumPy, `len` and `isinstance`, or is `refuse_complex(...)` (which
    reads dtypes): then its outcome is fixed by the entry guards. ValueError if it is not."""
    if isinstance(check, ast.Expr):  # a bare call: refuse_complex(kernel, x, ...)
        call = check.value
        if not isinstance(call.func, ast.Name) or resolve(call.func.id) is not refuse_complex:
            raise ValueError("a call before the return")
        for a in [*call.args, *(k.value for k in call.keywords)]:
            if not (isinstance(a, ast.Name) and a.id in params):
                _inert_expr(a, params, resolve, set())
        return set()
    reads, static = set(), set()
    for node in ast.walk(check.test):
        if isinstance(node, ast.Attribute) and node.attr in _STATIC:
            if isinstance(node.value, ast.Name) and node.value.id in params:
                static.add(id(node.value))
                reads.add(node.value.id)
    _inert_expr(check.test, params, resolve, static)
    return reads


def _inert_expr(e: ast.expr, params: set, resolve: Callable[[str], object], ok: set) -> None:
    """ValueError unless `e` reads only the names in `ok` (argument nodes under a static
    attribute) and values that mean the same at every replay, and calls only NumPy
    functions, `len` and `isinstance`."""
    for node in ast.walk(e):
        if isinstance(node, (*_SCOPED, ast.Starred, ast.NamedExpr)):
            raise ValueError("not a plain check")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                allowed = f.id in ("len", "isinstance") and resolve(f.id) is None
            else:
                while isinstance(f, ast.Attribute):
                    f = f.value
                allowed = isinstance(f, ast.Name) and f.id not in params and resolve(f.id) is np
            if not allowed:
                raise ValueError("a call in a check")
        elif isinstance(node, ast.Name) and id(node) not in ok:
            if node.id in params or not _inert(resolve(node.id)):
                raise ValueError(f"a check reads {node.id}")


def _inert(obj: object) -> bool:
    """A value a check may read besides dtypes and shapes: a module, class, dtype, builtin
    or constant, which means the same at every replay."""
    if obj is None or isinstance(obj, (types.ModuleType, type, np.dtype, int, float, str)):
        return True
    return type(obj) is tuple and all(_inert(x) for x in obj)


def _clone(node: Any) -> Any:
    """A copy of an expression tree for a transformer to rewrite (fields only, no positions:
    it is unparsed, never compiled); several times faster than `copy.deepcopy`."""
    if isinstance(node, ast.AST):
        new = node.__class__()
        for f in node._fields:
            setattr(new, f, _clone(getattr(node, f, None)))
        return new
    if type(node) is list:
        return [_clone(n) for n in node]
    return node


class _Inline(ast.NodeTransformer):
    """`op.fwd(a, b)` inside a rule (tanh's NumPy rule is `_tanh_backward.fwd(g, out)`), or a
    helper function's call (`_rows(g)`) -> that function's own expression with `a`, `b` in
    place, so the replay runs the arithmetic instead of calling a function for it. Only where
    the arguments are names or constants (pasting one twice costs nothing), the function's
    free names mean the same here, and it has no checks whose arguments must be arrays."""

    def __init__(self, free: dict, params: set) -> None:
        self.free, self.params = free, params

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        f = node.func
        if node.keywords or not all(map(_plain_arg, node.args)):
            return node
        if (
            isinstance(f, ast.Attribute)
            and f.attr == "fwd"
            and isinstance(f.value, ast.Name)
            and isinstance(self.free.get(f.value.id), Op)
        ):
            inner = _template(self.free[f.value.id].fwd)
        elif isinstance(f, ast.Name) and type(self.free.get(f.id)) is types.FunctionType:
            inner = _template(self.free[f.id])  # a helper (`_rows(g)`)
        else:
            return node
        if inner is None or inner.kwonly or inner.checked or len(node.args) != len(inner.pos):
            return node
        subst = dict(zip(inner.pos, node.args))
        for n, obj in inner.free.items():
            if n in subst or n in self.params or self.free.get(n, obj) is not obj:
                return node  # (a name that would mean something else here)
        for n, obj in inner.free.items():
            self.free[n] = obj

        return _Subst(subst).visit(_clone(inner.expr))


def _plain_arg(a: ast.expr) -> bool:
    """A name, a constant or an attribute of a name (`np.add`): pasting it twice costs nothing."""
    while isinstance(a, ast.Attribute):
        a = a.value
    return isinstance(a, (ast.Name, ast.Constant))


class _Subst(ast.NodeTransformer):
    """Names replaced by (copies of) the expressions `subst` gives for them."""

    def __init__(self, subst: dict[str, ast.expr]) -> None:
        self.subst = subst

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return _clone(self.subst[node.id]) if node.id in self.subst else node


_STATIC = ("shape", "ndim", "size", "dtype")
_LOCAL = re.compile(r"\b[var]\d+\b")  # the replay's locals and arguments
_HOLE = re.compile(r"_P(\d+)_")
_ASSIGN = re.compile(r"([vr]\d+) = ")


_FLOATS = {np.dtype(d).str: np.dtype(d) for d in (np.float32, np.float64)}
_WEAK = "weak"  # the kind of a Python number (NEP 50: it takes its array partner's dtype)
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def _number(n: ast.expr) -> int | float | None:
    """The value of a number literal (`2`, `1.01`, `-0.5`), else None."""
    sign = 1
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(n.op, ast.USub) else 1
        n = n.operand
    if not isinstance(n, ast.Constant) or type(n.value) not in (int, float):
        return None
    if type(n.value) is int and abs(n.value) > 2**24:
        return None  # (exact in float32 below this; above it, left to NumPy)
    return sign * n.value


class _Typed(ast.NodeTransformer):
    """A Python number beside a float32/float64 array, in `+ - * /` or a comparison, -> a
    0-d array of that dtype (`v4 * 1.01` -> `v4 * k9`, `k9 = array(1.01, dtype=float32)`).
    NumPy converts the number to the array's dtype on every call (NEP 50), which costs
    about as much as the arithmetic on a small array; the 0-d array is that conversion
    done once, so the result is bit for bit the same. `dtypes` gives the locals' dtypes."""

    def __init__(self, dtypes: dict[str, np.dtype], scalar: Callable[[object, np.dtype], str]):
        self.dtypes, self.scalar = dtypes, scalar

    def kind(self, n: ast.expr) -> object:
        """The dtype of `n`'s value as a key of _FLOATS (or another dtype's `.str`), _WEAK
        for a Python number, else None. (Strings: `np.dtype(...) == None` is True.)"""
        if isinstance(n, ast.Name):
            d = self.dtypes.get(n.id)
            return None if d is None else d.str
        if _number(n) is not None:
            return _WEAK
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return self.kind(n.operand)
        if isinstance(n, ast.BinOp) and isinstance(n.op, _ARITH):
            a, b = self.kind(n.left), self.kind(n.right)
            return a if a == b or b is _WEAK else b if a is _WEAK else None
        if isinstance(n, ast.Call) and _np_call(n):
            ufunc = getattr(np, n.func.attr)
            d = self.kind(n.args[0])
            if isinstance(ufunc, np.ufunc) and ufunc.nin == ufunc.nout == 1 and d in _FLOATS:
                out = ufunc.resolve_dtypes((_FLOATS[d], None))[1]
                return d if out.str == d else None
        return None

    def typed(self, n: ast.expr, partner: ast.expr) -> ast.expr:
        x = _number(n)
        d = self.kind(partner)
        if x is None or d not in _FLOATS:
            return n
        return ast.Name(self.scalar(x, _FLOATS[d]), ast.Load())

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, _ARITH):
            node.left, node.right = (
                self.typed(node.left, node.right),
                self.typed(node.right, node.left),
            )
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.comparators) == 1:
            a, b = node.left, node.comparators[0]
            node.left, node.comparators = self.typed(a, b), [self.typed(b, a)]
        return node


def _np_call(n: ast.Call) -> bool:
    f = n.func
    return (
        isinstance(f, ast.Attribute)
        and isinstance(f.value, ast.Name)
        and f.value.id == "np"
        and len(n.args) == 1
        and not n.keywords
    )


class _Fold(ast.NodeTransformer):
    """`a if <constant test> else b` -> the branch taken (a parameter's default, pasted in)."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        if any(isinstance(n, (ast.Name, ast.Call, ast.Attribute)) for n in ast.walk(node.test)):
            return node
        try:
            test = ast.fix_missing_locations(ast.Expression(node.test))  # (_clone drops them)
            taken = eval(builtins_compile(test, "<fold>", "eval"), {})
        except Exception:  # noqa: BLE001 -- left as it is
            return node
        return node.body if taken else node.orelse


def _template(fn: Callable) -> _Template | None:
    try:
        return _TEMPLATES[fn]
    except (KeyError, TypeError):
        pass
    t = None
    try:
        _TEMPLATES[fn] = None  # (while it is built: a function that calls itself is not pasted)
        found = _body_expr(fn)
        if found is not None:
            t = _Template(fn, found[1], found[0])
    except (OSError, SyntaxError, ValueError, TypeError, AttributeError):
        t = None
    try:
        _TEMPLATES[fn] = t
    except TypeError:
        pass
    return t


def _body_expr(fn: Callable) -> tuple[list[ast.stmt], ast.expr] | None:
    """The expression a plain function or lambda returns, and the checks before it (see
    `_is_check`). Found by parsing only the lines its code spans, checked by compiling them
    back to the same bytecode; where that fails (a lambda among others on its line, a body in
    parentheses), by parsing its whole file once."""
    if type(fn) is not types.FunctionType:
        return None
    code = fn.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR):
        return None
    if any(type(c) is types.CodeType for c in code.co_consts):
        return None  # a nested scope: no pasting (see _SCOPED)
    found = _snippet(fn)
    if found is None:
        found = _from_file(code)
    if isinstance(found, ast.Lambda):
        return [], found.body
    if isinstance(found, ast.FunctionDef):
        body = found.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        if body and isinstance(body[-1], ast.Return) and body[-1].value:
            if all(_is_check(stmt) for stmt in body[:-1]):
                return body[:-1], body[-1].value
    return None


def _is_check(stmt: ast.stmt) -> bool:
    """`if <test>: raise ...` or a bare call (`refuse_complex(...)`): what may come before a
    pasted body's `return` (`_Template` then decides whether it depends on dtypes alone)."""
    if isinstance(stmt, ast.If):
        return not stmt.orelse and len(stmt.body) == 1 and isinstance(stmt.body[0], ast.Raise)
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)


def _snippet(fn: types.FunctionType) -> ast.Lambda | ast.FunctionDef | None:
    """`fn`'s lambda or def parsed from the lines its code spans, if they compile to it."""
    code = fn.__code__
    lines = linecache.getlines(code.co_filename)
    # (every instruction's source span; RESUME's and a lambda's RETURN's are empty)
    spans = [p for p in code.co_positions() if None not in p and (p[0], p[2]) < (p[1], p[3])]
    if not lines or not spans:
        return None
    first = code.co_firstlineno
    end = max((p[1], p[3]) for p in spans)
    if code.co_name == "<lambda>":
        head = lines[first - 1].encode()
        start = min((p[0], p[2]) for p in spans)
        stop = start[1] if start[0] == first else len(head)
        col = head.rfind(b"lambda", 0, stop)
        if col < 0:
            return None
        text = b"".join(x.encode() for x in lines[first - 1 : end[0]])
        text = text[col : len(text) - len(lines[end[0] - 1].encode()) + end[1]]
        try:
            tree = ast.parse(b"(" + text + b"\n)", mode="eval").body
        except SyntaxError:
            return None
        return tree if isinstance(tree, ast.Lambda) and _same_code(tree, fn) else None
    try:
        tree = ast.parse(textwrap.dedent("".join(lines[first - 1 : end[0]]))).body[0]
    except (SyntaxError, IndexError):
        return None
    ok = isinstance(tree, ast.FunctionDef) and tree.name == code.co_name
    return tree if ok and _same_code(tree, fn) else None


def _same_code(node: ast.Lambda | ast.FunctionDef, fn: types.FunctionType) -> bool:
    """Whether `node`, compiled where `fn`'s free variables are closure cells and its
    imported globals come from imports, gives `fn`'s bytecode, names and constants: the
    parsed text is the function's own. (Imports matter: CPython 3.11 calls a method of an
    imported name with LOAD_ATTR, of anything else with LOAD_METHOD.)"""
    code = fn.__code__
    free = [ast.Assign([ast.Name(v, ast.Store())], ast.Constant(None)) for v in code.co_freevars]
    g = fn.__globals__
    imported = [
        ast.Import([ast.alias("sys", name)])
        for name in code.co_names
        if name in g
        and (
            isinstance(g[name], types.ModuleType)
            or isinstance(g[name], (type, types.FunctionType))
            and g[name].__module__ != fn.__module__
        )
    ]
    if isinstance(node, ast.Lambda):
        inner: ast.stmt = ast.Return(node)
    else:
        inner = copy.copy(node)
        inner.decorator_list = []  # (evaluated around the function, not in its code)
    no_args = ast.arguments([], [], None, [], [], None, [])
    outer = ast.FunctionDef("_outer", no_args, [*free, inner], [])
    mod = ast.fix_missing_locations(ast.Module([*imported, outer], []))
    try:
        made = builtins_compile(mod, code.co_filename, "exec")
    except (SyntaxError, ValueError):
        return False
    outer_code = next(c for c in made.co_consts if isinstance(c, types.CodeType))
    got = [c for c in outer_code.co_consts if isinstance(c, types.CodeType)]
    return len(got) == 1 and all(
        getattr(got[0], a) == getattr(code, a)
        for a in ("co_code", "co_consts", "co_names", "co_varnames", "co_freevars", "co_argcount")
    )


def _from_file(code: types.CodeType) -> ast.Lambda | ast.FunctionDef | None:
    """`code`'s lambda or def found in its whole file's syntax tree (indexed by line once)."""
    path = code.co_filename
    if path not in _FILES:
        try:
            with open(path, encoding="utf-8") as f:
                _FILES[path] = _index(ast.parse(f.read()))
        except (OSError, SyntaxError):
            _FILES[path] = None
    index = _FILES[path]
    if index is None:
        return None
    line = code.co_firstlineno
    if code.co_name == "<lambda>":
        found = index.get(("<lambda>", line), [])
        if len(found) > 1:  # several lambdas on a line: the one whose columns hold the code
            cols = [p[2] for p in code.co_positions() if p[0] == line and p[2] is not None]
            found = [
                n
                for n in found
                if cols and n.col_offset <= min(cols) and max(cols) <= (n.end_col_offset or 0)
            ]
            found = [n for n in found if not any(m is not n and _inside(m, n) for m in found)]
        return found[0] if len(found) == 1 else None
    found = index.get((code.co_name, line), [])
    return found[0] if found else None


def _index(tree: ast.Module) -> dict[tuple[str, int], list]:
    """A file's lambdas and defs by (name, line): a def under both its own line and its first
    decorator's (which is what its code's co_firstlineno says)."""
    index: dict[tuple[str, int], list] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Lambda):
            index.setdefault(("<lambda>", n.lineno), []).append(n)
        elif isinstance(n, ast.FunctionDef):
            lines = {n.lineno, n.decorator_list[0].lineno if n.decorator_list else n.lineno}
            for line in lines:
                index.setdefault((n.name, line), []).append(n)
    return index


def _inside(inner: ast.AST, outer: ast.AST) -> bool:
    return any(n is inner for n in ast.walk(outer))


def _call(tr: _Tracer, fn: Callable, args: list[str], params: dict, values: tuple) -> str:
    """Source that calls `fn(*args, **params)`: its body pasted in, or a call by name
    (`values`: the arguments' values in the traced call)."""
    t = _template(fn)
    if t is not None:
        src = t.render(tr, args, params, values)
        if src is not None:
            return src
    kw = "".join(f", {k}={tr.value(v)}" for k, v in params.items())
    return f"{tr.const(fn)}({', '.join(args)}{kw})"


def _finish(tr: _Tracer, raw: object, final: np.ndarray, expr: str) -> str:
    """`expr` (whose result was `raw`) with the conversions that turned it into `final`."""
    if raw is final:
        return expr
    if type(raw) is not np.ndarray:
        expr = f"np.asarray({expr})"
        raw = np.asarray(raw)
    if raw.shape != final.shape:  # (_registry._sum_to_shape, its axes found now)
        axes = _registry.sum_axes(raw.shape, final.shape)
        if _registry.leading_only(axes, raw.ndim, final.shape):
            expr = f"_sum_leading({expr}, {len(axes)})"
        else:
            summed = f"{_atom(expr)}.sum(axis={axes!r}, keepdims=True)" if axes else _atom(expr)
            expr = f"{summed}.reshape({final.shape!r})"
    if raw.dtype != final.dtype:
        expr = f"{_atom(expr)}.astype({tr.const(final.dtype)}, copy=False)"
    return expr


def _atom(expr: str) -> str:
    """`expr`, in parentheses unless a method called on it would apply to all of it."""
    node = ast.parse(expr, mode="eval").body
    return (
        expr
        if isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript))
        else f"({expr})"
    )


# ---- the hooks installed while tracing -------------------------------------------------------
def _traced_call(op: Op, *inputs, **params):
    tr = _active()
    if tr is None:
        return Op._plain_call(op, *inputs, **params)
    fwd = op.fwd
    seen = []

    def spy(*datas, **kw):
        out = fwd(*datas, **kw)
        seen.append((datas, out))
        return out

    op.fwd = spy
    try:
        result = Op._plain_call(op, *inputs, **params)
    finally:
        op.fwd = fwd
    try:
        _record_op(tr, op, fwd, inputs, params, seen, result)
    except _Unsupported as e:
        tr.fail(f"{op.__name__} at {_where()}: {e}")
    return result


def _record_op(tr: _Tracer, op: Op, fwd, inputs, params, seen, result) -> None:
    if len(seen) != 1:
        raise _Unsupported("its forward did not run exactly once")
    datas, raw = seen[0]
    tr.ops += 1
    args = []
    for x, d in zip(inputs, datas):
        if isinstance(x, Tensor):
            name = tr.tensor(x)
            if d is not x._data:  # cast to the common dtype by _prepare
                name = tr.derive(d, f"{name}.astype({tr.const(d.dtype)})", pure=True)
        elif d is x:
            name = tr.literal(x)
        else:  # a Python int made an array of the common dtype
            name = tr.const(d)
        args.append(name)
    call = _call(tr, fwd, args, params, datas)
    if op.nout == 1:
        out = result._data
        name = tr.derive(out, _finish(tr, raw, out, call), pure=True)
        if op.__name__ in _VALUE_SHAPED or (
            op.__name__ == "_index" and any(type(k) is np.ndarray for k in params.get("path", ()))
        ):
            tr.value_guard(f"{name}.shape != {out.shape!r}", f"the shape {out.shape} {op.__name__}")
        return
    tmp = tr.name("r")
    tr.pure.add(len(tr.lines))
    tr.emit(f"{tmp} = {call}")
    for i, (r, t) in enumerate(zip(raw, result)):
        tr.derive(t._data, _finish(tr, r, t._data, f"{tmp}[{i}]"), pure=True)


def _traced_np_backward(rules, edges, g, out, datas, params):
    tr = _active()
    if tr is None:
        return _ORIGINAL["np_backward"](rules, edges, g, out, datas, params)
    seen = []

    def spying(rule):
        def spy(*a, **k):
            r = rule(*a, **k)
            seen.append((rule, r))
            return r

        return spy

    spies = tuple(None if r is None else spying(r) for r in rules)
    result = _ORIGINAL["np_backward"](spies, edges, g, out, datas, params)
    try:
        args = [tr.value(g), tr.value(out)] + [tr.value(d) for d in datas]
        values = (g, out, *datas)
        it = iter(seen)
        for (nxt, _), gx in zip(edges, result):
            if nxt is None:
                continue
            rule, raw = next(it)
            if gx is None:
                continue
            tr.derive(gx, _finish(tr, raw, gx, _call(tr, rule, args, params, values)), pure=True)
    except _Unsupported as e:
        tr.fail(f"a backward rule: {e}")
    return result


def _traced_node_apply(node, grads):
    """An op node's rules written with tensor ops, run by a walk that records nothing (ops
    without NumPy rules, such as max's, which compute masks in NumPy): each rule becomes one
    replayed call of that rule (`_tensor_rule`), its inside unrecorded."""
    tr = _active()
    if tr is None or STATE.enabled:
        return _ORIGINAL["node_apply"](node, grads)
    op = node._op
    xs = node._unpack_inputs()
    out = node._unpack_out() if op.uses_out else None
    tr.paused += 1
    try:
        result = _ORIGINAL["node_apply"](node, grads)
    finally:
        tr.paused -= 1
    try:
        if op.conj_saved and any(isinstance(x, Tensor) and x.is_complex() for x in xs):
            raise _Unsupported("complex saved values")

        def src(x):
            if x is None:
                return "None"
            if type(x) is tuple:
                return "(" + "".join(src(e) + ", " for e in x) + ")"
            if type(x) is SavedUnavailable:  # (modified in place: raises if a rule reads it)
                return tr.const(x)
            return f"_make({tr.tensor(x)})" if isinstance(x, Tensor) else tr.value(x)

        g = src(grads[0] if op.nout == 1 else tuple(grads))
        args = ", ".join([g, src(out)] + [src(x) for x in xs])
        kw = "".join(f", {k}={tr.value(v)}" for k, v in node._params.items())
        vjps = op.vjps
        for i, gx in enumerate(result):
            if gx is None:
                continue
            rule = vjps[i] if i < len(vjps) else op.each(i)
            call = f"{tr.const(rule)}({args}{kw})"
            tr.derive(gx._data, f"_tensor_rule({call}, {src(xs[i])})", pure=True)
    except _Unsupported as e:
        tr.fail(f"the backward of {op.__name__}: {e}")
    return result


def _traced_add_grads(a, b):
    r = a + b
    tr = _active()
    if tr is not None and isinstance(a, (np.ndarray, np.generic)):
        try:
            tr.derive(r, f"{tr.array(a)} + {tr.array(b)}", pure=True)
        except _Unsupported as e:
            tr.fail(f"summing gradients: {e}")
    return r


def _traced_replayed(fn: Callable, args: tuple, writes: bool) -> None:
    """A `_registry.replayed` call (a check of index values, an update of running
    statistics): the replay makes it again on its own values, where the trace made it."""
    tr = _active()
    if tr is None:
        return
    try:
        srcs = []
        for a in args:
            if isinstance(a, Tensor):  # written in place: the tensor itself, or the array of
                name = tr.outside(a)  # one made inside the call
                srcs.append(f"_make({tr.tensor(a)})" if name is None else name)
            else:
                srcs.append(tr.value(a))
    except _Unsupported as e:
        tr.fail(f"{fn.__name__} at {_where()}: {e}")
        return
    if writes:
        tr.effect()
    tr.emit(f"{tr.const(fn)}({', '.join(srcs)})")


def _traced_snapshot(t: Tensor) -> np.ndarray:
    r = _ORIGINAL["snapshot"](t)
    tr = _active()
    if tr is not None:
        try:
            tr.derive(r, f"{tr.tensor(t)}.copy()")
        except _Unsupported as e:
            tr.fail(f"an in-place op: {e}")
    return r


def _traced_write(t: Tensor, values: np.ndarray) -> None:
    tr = _active()
    if tr is None:
        return _ORIGINAL["write"](t, values)
    tr.writes += 1
    try:
        dst, src = tr.tensor(t), tr.array(values)
    except _Unsupported as e:
        tr.fail(f"an in-place op at {_where()}: {e}")
        return _ORIGINAL["write"](t, values)
    _ORIGINAL["write"](t, values)
    tr.effect()
    tr.emit(f"np.copyto({dst}, {src}, casting='unsafe')")
    outside = tr.outside(t) if id(t) not in tr.born else None
    if outside is not None:
        tr.emit(f"{outside}._vc[0] += 1")


def _traced_leaf(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = _ORIGINAL["leaf"](arr, requires_grad)
    tr = _ACTIVE[0]
    if tr is not None:
        tr.factory.add(id(arr))
        tr.keep.append(arr)
    return t


def _traced_data_of(t: Tensor, dtype: type | None = None, copy: bool = False) -> np.ndarray:
    """A tensor's array handed to an op as a parameter: named after its tensor (cast if it
    was), since the tensor may be one the trace has not met (a target in a closure)."""
    arr = _ORIGINAL["data_of"](t, dtype, copy)
    tr = _active()
    if tr is not None:
        try:
            name = tr.tensor(t)
            if arr is not t._data:
                tr.derive(arr, f"{name}.astype({tr.const(arr.dtype)})", pure=True)
        except _Unsupported as e:
            tr.fail(f"a parameter of an op at {_where()}: {e}")
    return arr


def _traced_seed_array(g: Tensor) -> np.ndarray:
    """A seed of a backward walk (`gradient=`, `grad_outputs=`), maybe a tensor from outside."""
    tr = _active()
    if tr is not None:
        try:
            tr.tensor(g)
        except _Unsupported as e:
            tr.fail(f"a gradient seed at {_where()}: {e}")
    return g._data


def _traced_shape_const(arr: np.ndarray) -> np.ndarray:
    tr = _ACTIVE[0]
    if tr is not None:
        tr.static.add(id(arr))
        tr.keep.append(arr)
    return arr


def _traced_make(cls, data):
    t = _ORIGINAL["_make"].__func__(cls, data)
    tr = _ACTIVE[0]
    if tr is not None and not tr.paused:
        tr.born.add(id(t))
        tr.keep.append(t)
    return t


def _traced_acc_arrays(node, grads):
    tr = _active()
    if tr is None:
        return _ORIGINAL["acc_arrays"](node, grads)
    leaf = node.variable
    data = grads[0]
    old = leaf._grad
    try:
        d = tr.array(data)
    except _Unsupported as e:
        tr.fail(f"a gradient reaching a leaf: {e}")
        return _ORIGINAL["acc_arrays"](node, grads)
    outside = tr.outside(leaf)
    if outside is None:  # the trace's own leaf: its .grad is the trace's too
        r = _ORIGINAL["acc_arrays"](node, grads)
        if r is None:
            return None  # hooks or a bad shape: `apply` (below) refuses or raises
        dt = tr.const(leaf._data.dtype)
        if old is None:
            tr.derive(leaf._grad._data, f"np.array({d}, dtype={dt})")
        else:
            o = tr.tensor(old)
            tr.emit(f"np.add({o}, {d}.astype({dt}, copy=False), out={o})")
        return r
    r = _ORIGINAL["acc_arrays"](node, grads)
    if r is None:
        return None
    _accumulated(tr, leaf, outside, d)
    return r


def _accumulated(tr: _Tracer, leaf: Tensor, outside: str, d: str) -> None:
    """Record a gradient added into an outside leaf's .grad: the replay runs its real
    AccumulateGrad (hooks and all) and reads the resulting .grad."""
    tr.effect()
    tr.grad_set.add(id(leaf))
    tr.texpr[id(leaf._grad)] = f"{outside}._grad"
    tr.grad_of[id(leaf._grad)] = leaf
    tr.keep.append(leaf._grad)
    tr.emit(f"_l = [{d}]")  # (and `d` is deleted when this is its last use: see _prune, so
    # that AccumulateGrad may keep the array as .grad, as it does in eager)
    name = tr.name()
    tr.slots[id(leaf._grad._data)] = name
    tr.keep.append(leaf._grad._data)
    tr.emit(f"{name} = _accumulate({outside}, _l)")


def _traced_acc_apply(node, grads):
    tr = _active()
    if tr is None:
        return _ORIGINAL["acc_apply"](node, grads)
    leaf = node.variable
    if STATE.enabled:
        tr.fail("backward(create_graph=True) into .grad (use autograd.grad)")
        return _ORIGINAL["acc_apply"](node, grads)
    outside = tr.outside(leaf)
    if outside is None:
        tr.fail("a hook on a leaf created inside the compiled function")
        return _ORIGINAL["acc_apply"](node, grads)
    try:
        d = tr.array(grads[0]._data)
    except _Unsupported as e:
        tr.fail(f"a gradient reaching a leaf: {e}")
        return _ORIGINAL["acc_apply"](node, grads)
    tr.paused += 1  # the hooks run again at replay, inside the real node
    try:
        r = _ORIGINAL["acc_apply"](node, grads)
    finally:
        tr.paused -= 1
    _accumulated(tr, leaf, outside, d)
    return r


def _grad_get(t: Tensor):
    g = _ORIGINAL["grad"].fget(t)
    tr = _active()
    if tr is not None and id(t) not in tr.born:
        outside = tr.outside(t)
        if id(t) not in tr.grad_set and id(t) not in tr.grad_state:
            tr.grad_state[id(t)] = (outside, g is None)
        if g is not None and id(g) not in tr.texpr:
            tr.texpr[id(g)] = f"{outside}._grad"
            tr.grad_of[id(g)] = t
            tr.keep.append(g)
    return g


def _grad_set(t: Tensor, value) -> None:
    _ORIGINAL["grad"].fset(t, value)
    tr = _active()
    if tr is None or id(t) in tr.born:
        return
    outside = tr.outside(t)
    tr.effect()
    tr.grad_set.add(id(t))
    if value is None:
        tr.emit(f"{outside}._grad = None")
        return
    try:
        src = tr.outside(value) if id(value) not in tr.born else None
        if src is None:
            if value._requires_grad:
                raise _Unsupported("a .grad that requires grad")
            src = f"_make({tr.tensor(value)})"
        tr.emit(f"{outside}._grad = {src}")
        tr.texpr[id(value)] = f"{outside}._grad"
        tr.grad_of[id(value)] = t
    except _Unsupported as e:
        tr.fail(f".grad = at {_where()}: {e}")


def _data_set(t: Tensor, value) -> None:
    tr = _active()
    if tr is not None and isinstance(value, Tensor) and id(t) not in tr.born:
        try:
            src = tr.tensor(value)
            outside = tr.outside(t)
            tr.effect()
            tr.emit(f"{outside}._data = {src}")
        except _Unsupported as e:
            tr.fail(f".data = at {_where()}: {e}")
    _ORIGINAL["data"].fset(t, value)


def _data_get(t: Tensor) -> Tensor:
    tr = _active()
    if tr is not None:
        try:
            tr.tensor(t)  # the view shares the array: name it before the alias is made
        except _Unsupported as e:
            tr.fail(f".data at {_where()}: {e}")
    return _ORIGINAL["data"].fget(t)


def _detach(t: Tensor) -> Tensor:
    tr = _active()
    if tr is not None:
        try:
            tr.tensor(t)
        except _Unsupported as e:
            tr.fail(f"detach() at {_where()}: {e}")
    return _ORIGINAL["detach"](t)


def _value_read(method: str, check: str):
    """A tensor method that hands a value to Python: the replay checks it is the same."""

    def read(t: Tensor, *a):
        value = _ORIGINAL[method](t, *a)
        tr = _active()
        if tr is not None:
            try:
                name = tr.tensor(t)
                lit = tr.literal(value) if method != "tolist" else tr.const(value)
                tr.value_guard(
                    check.format(name, lit), f"the value read by {method}() at {_where()}"
                )
            except _Unsupported as e:
                tr.fail(f"{method}() at {_where()}: {e}")
        return value

    return read


def _refuse(method: str, why: str):
    def refused(t: Tensor, *a, **k):
        tr = _active()
        if tr is not None:
            tr.fail(f"{method} at {_where()}: {why}")
        return _ORIGINAL[method](t, *a, **k)

    return refused


def _setitem(t: Tensor, index, value) -> None:
    tr = _active()
    before = tr.writes if tr is not None else 0
    _ORIGINAL["__setitem__"](t, index, value)
    if tr is not None and tr.writes == before and not tr.failed:
        tr.fail(f"x[index] = value at {_where()} wrote memory outside a recorded graph")


def _random_write(t: Tensor, values):
    tr = _active()
    if tr is not None:
        tr.fail(f"an in-place random fill at {_where()} (random sampling is not recorded)")
    return _ORIGINAL["random_write"](t, values)


def _module_call(module, *args, **kwargs):
    tr = _active()
    if tr is not None and id(module) not in tr.modules:
        tr.modules[id(module)] = (tr.const(module), module.training)
    return _ORIGINAL["module_call"](module, *args, **kwargs)


def _opaque(cls: type, step: Callable) -> Callable:
    """An optimizer's or lr scheduler's `step`: replayed by calling it (its state is Python),
    or, where the class says when (SGD's `_plain_lrs`) the step is the plain
    `p -= lr * p.grad`, by doing that update in the replay's own code (see `_plain_step_lrs`).
    Not for a subclass that inherits `step`: it may change what the step does."""
    plain = cls.__dict__.get("_plain_lrs")

    @functools.wraps(step)
    def recorded(self, *args, **kwargs):
        tr = _active()
        if tr is None:
            return step(self, *args, **kwargs)
        if kwargs or any(not (a is None or type(a) in (int, float, bool)) for a in args):
            tr.fail(f"{type(self).__name__}.step with a closure or tensor arguments")
            return step(self, *args, **kwargs)
        plan = None
        if plain is not None and type(self) is cls and not args and plain(self) is not None:
            plan = tuple(
                (tuple(g["params"]), tuple(p for p in g["params"] if p._grad is not None))
                for g in self.param_groups
            )
        tr.paused += 1
        try:
            out = step(self, *args, **kwargs)
        finally:
            tr.paused -= 1
        tr.effect()
        names = [[tr.outside(p) for p in updated] for _, updated in plan or ()]
        if any(n is None for group in names for n in group):
            plan = None  # (a parameter made inside the compiled function)
        if plan is None:
            lits = "".join(", " + tr.literal(a) for a in args)
            tr.emit(f"{tr.const(step)}({tr.const(self)}{lits})")
        else:
            tr.emit(f"_lr = _plain_step_lrs({tr.const(self)}, {tr.const(plan)}, {tr.const(step)})")
            updates = [
                f"_x = {n}._data; _x -= _lr[{i}] * {n}._grad._data"
                for i, group in enumerate(names)
                for n in group
            ]
            params = tr.const(tuple(p for _, updated in plan for p in updated))
            site = tr.const(_sites.site(1))
            tr.emit(f"if _lr is not None: {'; '.join(updates)}; _bump_at({params}, {site})")
        if out is not None:
            tr.fail(f"{type(self).__name__}.step returned a value")
        return out

    return recorded


_LIBRARY = tuple(
    {_EMBER_DIR, *(os.path.join(p, "") for k, p in sysconfig.get_paths().items() if "lib" in k)}
)


def _zero_grad(zero_grad: Callable, params: Callable) -> Callable:
    """`zero_grad(set_to_none=True)` of a module or optimizer: replayed as setting the .grad
    of each parameter it had at trace time to None (walking the module tree again cost more
    than the rest of a small step), after which the trace knows every such .grad is None."""

    @functools.wraps(zero_grad)
    def recorded(self, set_to_none: bool = True):
        tr = _active()
        if tr is None or set_to_none is not True:
            return zero_grad(self, set_to_none)
        tr.paused += 1
        try:
            zero_grad(self, True)
            cleared = [p for p in params(self) if id(p) not in tr.born]
        finally:
            tr.paused -= 1
        tr.effect()
        names = [tr.outside(p) for p in cleared]
        if names:
            tr.emit(" = ".join(f"{n}._grad" for n in names) + " = None")
        for p in cleared:
            tr.grad_set.add(id(p))
        return None

    return recorded


def _optimizer_params(opt) -> list:
    return [p for group in opt.param_groups for p in group["params"]]


def _traced_print(*args: Any, **kwargs: Any) -> None:
    """`print` while tracing: noted when the user's code calls it (a replay will not print)."""
    tr = _active()
    if tr is not None:
        f = sys._getframe(1)
        if not f.f_code.co_filename.startswith(_LIBRARY):
            where = f"print() at {os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"
            if where not in tr.side_effects:
                tr.side_effects.append(where)
    return _PRINT(*args, **kwargs)


_PRINT = builtins.print
_MUTATORS = ("append", "extend", "insert")


def _instructions(fn: Callable):
    """(code, instruction) over `fn`'s own bytecode and the code nested in it (comprehensions,
    lambdas and defs inside it); nothing for a callable that is not a plain function."""
    todo = [fn.__code__] if isinstance(fn, types.FunctionType) else []
    while todo:
        c = todo.pop()
        for i in dis.get_instructions(c):
            yield c, i
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))


def _appends(tr: _Tracer, fn: Callable) -> None:
    """`.append()` / `.extend()` / `.insert()` calls in `fn`'s own code (and the code nested
    in it): read from its bytecode, since watching every C call while tracing (a profile
    hook) doubled the trace time. Calls in the functions it calls are not seen."""
    for c, i in _instructions(fn):
        if i.opname in ("LOAD_METHOD", "LOAD_ATTR") and i.argval in _MUTATORS:
            line = i.positions.lineno if i.positions else c.co_firstlineno
            where = f".{i.argval}() at {os.path.basename(c.co_filename)}:{line}"
            if where not in tr.side_effects:
                tr.side_effects.append(where)


_ORIGINAL: dict[str, Any] = {
    "np_backward": _registry.np_backward,
    "node_apply": _registry.OpNode.apply,
    "snapshot": _inplace.snapshot,
    "write": _inplace.write,
    "leaf": _factories.leaf,
    "data_of": _factories.data_of,
    "_make": Tensor.__dict__["_make"],
    "acc_arrays": graph.AccumulateGrad.apply_arrays,
    "acc_apply": graph.AccumulateGrad.apply,
    "grad": Tensor.__dict__["grad"],
    "data": Tensor.__dict__["data"],
    "detach": Tensor.detach,
    "random_write": _random._write,
    "__setitem__": Tensor.__setitem__,
}
_READS = {
    "item": "{0}.item() != {1}",
    "__bool__": "bool({0}.item()) != {1}",
    "_scalar": "{0}.item() != {1}",
    "__index__": "int({0}.item()) != {1}",
    "tolist": "{0}.tolist() != {1}",
}
_REFUSED = {
    "numpy": "values handed to NumPy are not recorded (compute with ember ops)",
    "__array__": "values handed to NumPy are not recorded (compute with ember ops)",
}
for _m in (*_READS, *_REFUSED):
    _ORIGINAL[_m] = getattr(Tensor, _m)


def _subclasses(cls: type) -> list:
    out, todo = [], [cls]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


class _Patched:
    """Install the hooks for one trace, and take them out again."""

    def __init__(self, tr: _Tracer) -> None:
        self.tr = tr

    def __enter__(self) -> None:
        from .nn.modules.module import Module
        from .optim.lr_scheduler import LRScheduler
        from .optim.optimizer import Optimizer

        _ORIGINAL.setdefault("module_call", Module.__call__)
        undo = self.undo = []

        def put(obj, name, value):
            undo.append((obj, name, obj.__dict__.get(name, _MISSING)))
            setattr(obj, name, value)

        put(Op, "__call__", _traced_call)
        put(_registry.OpNode, "apply", _traced_node_apply)
        _registry.REPLAY_SPY[0] = _traced_replayed
        put(_registry, "np_backward", _traced_np_backward)
        put(graph, "add_grads", _traced_add_grads)
        put(graph, "seed_array", _traced_seed_array)
        put(graph, "_make", _make_via_tensor)
        put(_inplace, "snapshot", _traced_snapshot)
        put(_inplace, "write", _traced_write)
        put(_factories, "leaf", _traced_leaf)
        put(_factories, "shape_const", _traced_shape_const)
        put(_factories, "data_of", _traced_data_of)
        put(_random, "_write", _random_write)
        put(Tensor, "_make", classmethod(_traced_make))
        put(graph.AccumulateGrad, "apply_arrays", _traced_acc_arrays)
        put(graph.AccumulateGrad, "apply", _traced_acc_apply)
        put(Tensor, "grad", property(_grad_get, _grad_set))
        put(Tensor, "data", property(_data_get, _data_set))
        put(Tensor, "detach", _detach)
        put(Tensor, "__setitem__", _setitem)
        for m, check in _READS.items():
            put(Tensor, m, _value_read(m, check))
        for m, why in _REFUSED.items():
            put(Tensor, m, _refuse(m, why))
        put(Module, "__call__", _module_call)
        put(Module, "zero_grad", _zero_grad(Module.zero_grad, lambda m: list(m.parameters())))
        put(Optimizer, "zero_grad", _zero_grad(Optimizer.zero_grad, _optimizer_params))
        for base in (Optimizer, LRScheduler):
            for cls in _subclasses(base):
                if "step" in cls.__dict__:
                    put(cls, "step", _opaque(cls, cls.__dict__["step"]))
        put(builtins, "print", _traced_print)
        _ACTIVE[0] = self.tr

    def __exit__(self, *exc: object) -> None:
        _ACTIVE[0] = None
        _registry.REPLAY_SPY[0] = None
        for obj, name, old in reversed(self.undo):
            if old is _MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, old)


_MISSING = object()


def _make_via_tensor(data):
    return Tensor._make(data)


# ---- helpers the generated code calls ----------------------------------------------------------
def _accumulate(leaf: Tensor, grads: list) -> np.ndarray:
    """Add a gradient into an outside leaf's .grad through its real AccumulateGrad node
    (its hooks run, `.grad` is created or added to as eager does); return the new values.

    The common case (no hooks, no .grad yet, the leaf's shape and dtype) is done here as
    `AccumulateGrad.apply_arrays` does it, without building a node: the array becomes .grad
    when only this call holds it (`grads`, `data`, getrefcount's argument), else a copy."""
    data = grads[0]
    if (
        leaf._grad is None
        and not leaf._hooks
        and graph.BACKWARD[0] is None
        and data.shape == leaf._data.shape
        and data.dtype == leaf._data.dtype
        and not leaf.__dict__.get("_post_accumulate_grad_hooks")
    ):
        owned = getrefcount(data) <= 3 and data.base is None and data.flags.writeable
        leaf._grad = Tensor._make(data if owned else data.copy())
        return leaf._grad._data
    node = graph.accumulator(leaf)
    prev = STATE.enabled
    STATE.enabled = False
    try:
        if node.apply_arrays(grads) is None:
            node.apply([Tensor._make(grads[0])])
    finally:
        STATE.enabled = prev
    return leaf._grad._data


def _plain_step_lrs(opt: Any, plan: tuple, step: Callable) -> list | None:
    """A plain SGD step in the replay: each group's lr, when the step is still the plain update
    (`opt._plain_lrs()`) of the same parameters, with gradients on the same ones as at trace
    time (`plan`: per group, its parameters and those updated); the replay's next line does the
    update. Otherwise this runs the real `step` and returns None."""
    lrs = opt._plain_lrs()
    groups = opt.param_groups
    if lrs is not None and len(groups) == len(plan):
        for group, (params, updated) in zip(groups, plan):
            now = group["params"]
            if len(now) != len(params) or not all(map(operator.is_, now, params)):
                break
            with_grad = sum(map(operator.is_not, map(_GRAD, params), _NONES))
            if with_grad != len(updated) or not all(
                map(operator.is_not, map(_GRAD, updated), _NONES)
            ):
                break
        else:
            if hasattr(opt, "_opt_called"):  # (as the step wrapper does, for lr schedulers)
                opt._opt_called = True
            return lrs
    step(opt)
    return None


_GRAD = operator.attrgetter("_grad")
_NONES = itertools.repeat(None)


def _fresh_leaf(data: np.ndarray) -> Tensor:
    t = Tensor._make(data)
    t._requires_grad = True
    return t


def _tensor_rule(gx: Tensor | None, x) -> np.ndarray:
    """A tensor rule's gradient (computed under no_grad by the replay, as the eager walk did)
    summed back to its input's shape and dtype, as `OpNode.apply` does."""
    if type(x) is not Tensor or type(gx) is not Tensor:
        gx = _registry._fit(gx, x)
    elif gx._data.shape != x._data.shape or gx._data.dtype != x._data.dtype:
        gx = _registry._fit(gx, x)
    return gx._data


_GLOBALS = {
    "_tensor_rule": _tensor_rule,
    "np": np,
    "_Retrace": _Retrace,
    "_accumulate": _accumulate,
    "_sum_leading": _registry.sum_leading,
    "_make": Tensor._make,
    "_fresh_leaf": _fresh_leaf,
    "_plain_step_lrs": _plain_step_lrs,
    "_bump_at": bump_at,
}


# ---- from a record to a function ---------------------------------------------------------------
class _Trace:
    """One traced call: its generated function, or the reason it runs eagerly."""

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.run: Callable | None = None
        self.source = ""
        self.eager_reason: str | None = None
        self.guards: list[str] = []
        self.ops = 0
        self.trace_time = 0.0


_CONSTANT = (bool, int, float, str)


def _roots(tr: _Tracer, fn: Callable) -> None:
    """The globals and closure variables `fn`'s own code names, for entry guards: a replay
    pastes their values in (a learning rate as a literal, a tensor or a model as the object
    found at trace time), so rebinding one (`lr = lr * 0.9`, `x = next_batch()`) must trace
    again. Numbers, strings and None are compared by value, everything else by identity;
    modules are skipped. (Names read by the functions it calls are not guarded: see the
    README's limits.)"""
    if not isinstance(fn, types.FunctionType):
        return
    code = fn.__code__
    names = {i.argval for _, i in _instructions(fn) if i.opname == "LOAD_GLOBAL"}
    g = fn.__globals__
    found = [(f"global {n}", f"{{G}}[{n!r}]", g[n]) for n in sorted(names) if n in g]
    for n, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            found.append(
                (f"closure variable {n}", f"{tr.const(cell)}.cell_contents", cell.cell_contents)
            )
        except ValueError:  # an empty cell (assigned later)
            continue
    gname = tr.const(g) if any(src.startswith("{G}") for _, src, _ in found) else ""
    for what, src, v in found:
        if isinstance(v, types.ModuleType) or (type(v) is float and not math.isfinite(v)):
            continue
        tr.roots.append((what, src.replace("{G}", gname), v))


def _returned(tr: _Tracer, x: object) -> str:
    """Source that rebuilds the function's result at replay."""
    if isinstance(x, Tensor):
        if id(x) not in tr.born:
            leaf = tr.grad_of.get(id(x))
            if leaf is not None and leaf._grad is not x:
                raise _Unsupported("it returns a .grad that was replaced later in the call")
            return tr.outside(x)
        node = x._grad_fn
        if node is not None and not (type(getattr(node, "_inputs", None)).__name__ == "_Released"):
            raise _Unsupported(
                "it returns a tensor whose graph is still needed (run backward inside the "
                "function, or return .detach())"
            )
        name = tr.tensor(x)
        if x._requires_grad and node is None:
            return f"_fresh_leaf({name})"
        return f"_make({name})"
    if type(x) is tuple:
        return "(" + "".join(_returned(tr, e) + ", " for e in x) + ")"
    if type(x) is list:
        return "[" + ", ".join(_returned(tr, e) for e in x) + "]"
    if type(x) is dict:
        return "{" + ", ".join(f"{tr.literal(k)}: {_returned(tr, v)}" for k, v in x.items()) + "}"
    if x is None or type(x) in (bool, int, float, str, complex):
        return tr.literal(x)
    raise _Unsupported(f"it returns a {type(x).__name__} (return tensors, numbers, tuples)")


def _build(
    tr: _Tracer, result: object, n_args: int, fname: str, fuse: bool = False
) -> tuple[Callable, str, list]:
    if tr.failed:
        raise _Unsupported(tr.failed)
    if tr.first_effect is not None:
        late = [i for i, line in enumerate(tr.value_guard_lines) if line > tr.first_effect]
        if late:
            raise _Unsupported(
                f"{tr.guards[late[0]]} comes after a state update, which a replay could not "
                "undo if that value changed"
            )
    ret = _returned(tr, result)
    entry = []
    guards = tr.guards
    for k, _t, (shape, dtype, rg) in tr.external.values():
        entry.append(
            f"if {k}._data.shape != {shape!r} or {k}._data.dtype != {tr.const(dtype)} "
            f"or {k}._requires_grad is not {rg}: raise _Retrace({len(guards)})"
        )
        guards.append(f"the shape, dtype and requires_grad of a tensor read from outside ({k})")
    for what, src, v in tr.roots:
        if v is None or type(v) in _CONSTANT:
            check = f"type({src}) is not {type(v).__name__} or {src} != {v!r}"
            guards.append(f"{what} == {v!r}")
        else:
            check = f"{src} is not {tr.const(v)}"
            guards.append(f"{what} is the object it was at trace time")
        entry.append(f"if {check}: raise _Retrace({len(guards) - 1})")
    for expr, was_none in tr.grad_state.values():
        entry.append(f"if ({expr}._grad is None) is not {was_none}: raise _Retrace({len(guards)})")
        guards.append(f"{expr}.grad is {'' if was_none else 'not '}None")
    for k, training in tr.modules.values():
        entry.append(f"if {k}.training is not {training}: raise _Retrace({len(guards)})")
        guards.append(f"{type(dict(tr.bound)[k]).__name__} ({k}).training is {training}")
    fuser = None
    if fuse:
        from . import _fuse

        def fuser(lines: list[str]) -> list[str]:
            return _fuse.fuse(lines, tr.arrays, dict(tr.bound), tr.const)

    body = entry + _prune(tr.lines, tr.pure, f"return {ret}", fuser)
    params = ", ".join(f"a{i}" for i in range(n_args))
    names = [n for n, _ in tr.bound]
    src = f"def compiled_{fname}({params}):\n" + "".join(f"    {line}\n" for line in body)
    factory = f"def _factory({', '.join(names)}):\n" + "".join(
        f"    {line}\n" for line in src.splitlines()
    )
    factory += f"    return compiled_{fname}\n"
    namespace = dict(_GLOBALS)
    exec(builtins_compile(factory, f"<ember.compile {fname}>", "exec"), namespace)
    fn = namespace["_factory"](*(obj for _, obj in tr.bound))
    header = "".join(f"# {n} = {_describe(obj)}\n" for n, obj in tr.bound)
    return fn, header + src, list(guards)


def _prune(
    lines: list[str], pure: set[int], ret: str, fuse: Callable[[list], list] | None = None
) -> list[str]:
    """The lines that matter, in order, each local deleted after its last use.

    Pure lines whose result nothing later uses go (a backward computes gradients for every
    input of a node, and a double backward many that the second walk never reads). The
    `del`s free each array as soon as the replay is done with it, as the eager walk does, so
    that peak memory stays eager's and AccumulateGrad can adopt a gradient without a copy."""
    lines = lines + [ret]
    defined, uses = _defs_and_uses(lines)
    live: set[str] = set()
    kept = []
    for i in reversed(range(len(lines))):
        if i in pure and defined[i] not in live:
            continue
        kept.append(i)
        live |= uses[i]
    kept.reverse()
    if fuse is not None:  # (fused lines are pure assignments: the `del`s are placed after)
        lines = fuse([lines[i] for i in kept])
        kept = list(range(len(lines)))
        defined, uses = _defs_and_uses(lines)
    last: dict[str, int] = {}
    for i in kept:
        for name in uses[i] | {defined[i]}:
            if name is not None and name[0] in "vr":
                last[name] = i
    dead: dict[int, list[str]] = {}
    for name, i in last.items():
        if i != kept[-1]:
            dead.setdefault(i, []).append(name)
    out = []
    for i in kept:
        out.append(lines[i])
        if i in dead:
            out.append("del " + ", ".join(sorted(dead[i])))
    return out


def _defs_and_uses(lines: list[str]) -> tuple[list[str | None], list[set[str]]]:
    """The local each line assigns (or None) and the locals it reads."""
    defined: list[str | None] = []
    uses: list[set[str]] = []
    for line in lines:
        m = _ASSIGN.match(line)
        defined.append(m.group(1) if m else None)
        uses.append(set(_LOCAL.findall(line[m.end() :] if m else line)))
    return defined, uses


builtins_compile = compile  # (ember.compile below shadows the builtin in this module)


def _describe(obj: object) -> str:
    if isinstance(obj, Tensor):
        return f"tensor {tuple(obj.shape)} {obj.dtype}"
    if type(obj) is np.ndarray:
        if obj.ndim == 0:
            return f"array({str(obj[()])}, {obj.dtype})"  # (str: float32's shortest digits)
        return f"array {obj.shape} {obj.dtype}"
    if isinstance(obj, np.ufunc):
        return f"np.{obj.__name__}"
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    if type(obj) is tuple and len(obj) == 2 and type(obj[0]) is types.CodeType:
        file, line = _sites.line_of(obj)  # a user's line (a replayed step's, for bumps)
        return f"the line {os.path.basename(file)}:{line}"
    if type(obj) is tuple and obj and all(isinstance(x, (Tensor, tuple)) for x in obj):
        return "(" + ", ".join(_describe(x) for x in obj[:3]) + (", ...)" if obj[3:] else ")")
    text = " ".join(repr(obj).split())  # (one line: multi-line reprs, as an optimizer's)
    return text if len(text) < 60 else text[:57] + "..."


# ---- the cache key of a call -------------------------------------------------------------------
def _flatten(x: object, tensors: list, key: list, arrays: dict) -> None:
    if isinstance(x, Tensor):
        a = x._data
        key.append(
            (
                "T",
                a.shape,
                a.dtype,
                x._requires_grad,
                x._grad_fn is not None,
                x._grad is None,
                arrays.setdefault(id(a), len(tensors)),
            )
        )
        tensors.append(x)
    elif type(x) in (tuple, list):
        key.append((type(x), len(x)))
        for e in x:
            _flatten(e, tensors, key, arrays)
    elif type(x) is dict:
        key.append((dict, tuple(x)))
        for e in x.values():
            _flatten(e, tensors, key, arrays)
    else:
        hash(x)  # (TypeError for unhashable arguments: those calls run eagerly)
        key.append((type(x), x))


class Compiled:
    """`ember.compile(fn)`: call it as you would call `fn`."""

    def __init__(
        self, fn: Callable, mode: str, explain: bool, max_traces: int, fuse: bool = False
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.fuse = fuse
        self.mode = mode
        self.explain = explain
        self.max_traces = max_traces
        self.traces: list[_Trace] = []
        self._cache: dict[tuple, list[_Trace]] = {}
        self._warned: set[str] = set()

    @property
    def source(self) -> str:
        """The generated source of the most recent trace that compiled."""
        for t in reversed(self.traces):
            if t.run is not None:
                return t.source
        return ""

    def __get__(self, obj: object, cls: type | None = None):
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "eager" or _ACTIVE[0] is not None or STATE.fw_level:
            return self.fn(*args, **kwargs)
        tensors: list = []
        key: list = []
        try:
            arrays: dict = {}
            _flatten(args, tensors, key, arrays)  # (the tuple's length ends the positionals)
            if kwargs:
                _flatten(kwargs, tensors, key, arrays)
        except TypeError:
            self._warn("an argument is neither a tensor nor a hashable Python value")
            return self.fn(*args, **kwargs)
        key_t = tuple(key)
        entries = self._cache.get(key_t, ())
        why = None
        for entry in entries:
            if entry.run is None:
                return self.fn(*args, **kwargs)
            try:
                return entry.run(*tensors)
            except _Retrace as r:
                why = f"guard failed: {entry.guards[r.args[0]]}"
        if why is None:
            why = "first call" if not self.traces else _new_key_reason(self.traces, key_t)
        if len(self.traces) >= self.max_traces:
            self._warn(
                f"{self.max_traces} traces already (last re-trace: {why}); running eagerly "
                "from now on (raise max_traces, or keep the inputs' shapes and values fixed)",
                key="bound",
            )
            return self.fn(*args, **kwargs)
        return self._trace(key_t, tensors, args, kwargs, why)

    def _trace(self, key: tuple, tensors: list, args: tuple, kwargs: dict, why: str) -> Any:
        if _registry._DUAL_LEVELS[0]:
            return self.fn(*args, **kwargs)
        tr = _Tracer()
        tr.args = tensors
        _roots(tr, self.fn)
        _appends(tr, self.fn)
        for i, t in enumerate(tensors):
            tr.texpr.setdefault(id(t), f"a{i}")
        entry = _Trace(key)
        t0 = time.perf_counter()
        with _Patched(tr):
            result = self.fn(*args, **kwargs)
        try:
            entry.run, entry.source, entry.guards = _build(
                tr,
                result,
                len(tensors),
                getattr(self.fn, "__name__", "fn").strip("<>"),
                self.fuse,
            )
        except _Unsupported as e:
            entry.eager_reason = str(e)
            self._warn(f"this input signature runs eagerly: {e}")
        entry.trace_time = time.perf_counter() - t0
        entry.ops = tr.ops
        self.traces.append(entry)
        self._cache.setdefault(key, []).append(entry)
        if tr.side_effects:
            warnings.warn(
                f"ember.compile({self.__name__}): {', '.join(tr.side_effects)}: compiled calls "
                "replay only the tensor work, not Python side effects (these ran once, while "
                "tracing)",
                UserWarning,
                stacklevel=3,
            )
        if self.explain:
            print(self._explain(entry, why))
        return result

    def _explain(self, entry: _Trace, why: str) -> str:
        lines = [f"ember.compile({self.__name__}): trace {len(self.traces)} ({why})"]
        if entry.run is None:
            lines.append(f"  runs eagerly: {entry.eager_reason}")
        else:
            lines.append(
                f"  captured {entry.ops} ops into {entry.source.count(chr(10))} lines "
                f"in {entry.trace_time * 1e3:.1f} ms"
            )
            lines.append("  guards: " + ("; ".join(entry.guards) or "input signature only"))
        return "\n".join(lines)

    def _warn(self, why: str, key: str | None = None) -> None:
        """Warn once per `key` (the message itself when None)."""
        key = why if key is None else key
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"ember.compile({self.__name__}): {why}", UserWarning, stacklevel=3)


def _new_key_reason(traces: list[_Trace], key: tuple) -> str:
    last = traces[-1].key
    if len(last) != len(key):
        return "the arguments' structure changed"
    for i, (a, b) in enumerate(zip(last, key)):
        if a != b:
            return f"argument entry {i} changed: {_key_text(a)} -> {_key_text(b)}"
    return "new input signature"


def _key_text(k: tuple) -> str:
    if k and k[0] == "T":
        _, shape, dtype, rg, fn, grad_none, _alias = k
        return f"tensor{list(shape)} {dtype} requires_grad={rg}"
    return repr(k[-1])


def compile(
    fn: Callable | None = None,
    *,
    mode: str = "default",
    explain: bool = False,
    max_traces: int = MAX_TRACES,
    fuse: bool = False,
) -> Compiled | Callable[[Callable], Compiled]:
    """Compile `fn`: trace its first call per input signature, replay later calls as NumPy.

    `mode="eager"` calls `fn` as it is (for debugging); `explain=True` prints what each trace
    captured, its guards, and why a trace happened. `fuse=True` (needs numexpr: `pip install
    ember[fast]`) runs chains of elementwise lines as one numexpr expression where that was
    measured faster at trace time, equal to eager within 1e-6 of each array's scale instead
    of bit for bit. Also usable as `@ember.compile` or `@ember.compile(explain=True)`. See
    the README's "ember.compile" section for the limits.
    """
    if mode not in ("default", "eager"):
        raise ValueError(f"ember.compile: unknown mode {mode!r} (use 'default' or 'eager')")
    if fuse:
        from . import _fuse

        if not _fuse.available():
            raise ImportError(
                "ember.compile(fuse=True) needs numexpr: pip install 'ember[fast]' "
                "(or pip install numexpr)"
            )
    if fn is None:
        return lambda f: Compiled(f, mode, explain, max_traces, fuse)
    if not callable(fn):
        raise TypeError(f"ember.compile expected a callable, got {type(fn).__name__}")
    return Compiled(fn, mode, explain, max_traces, fuse)
