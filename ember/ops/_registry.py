"""`defop`: declare an op once (NumPy forward + one vjp rule per input); the ONLY place nodes
are recorded.

An op is called as `op(*inputs, **params)`: positional arguments are the tensor inputs
(Tensors or Python scalars), keyword arguments are everything else (dims, flags). The forward
sees NumPy arrays (and raw Python scalars, which NumPy treats as weakly typed, as torch does).
Each rule is `rule(g, out, *inputs, **params) -> gradient for its input` written with ember
ops, so the backward pass is itself differentiable (`create_graph=True` comes for free). The
node sums each gradient back to its input's shape and dtype; a rule of `None` means the input
is not differentiable; an input with no rule raises when a graph needs it, never silent zeros.
"""

from __future__ import annotations

import functools
import re
import threading
import types
from collections.abc import Callable
from sys import _getframe

import numpy as np

from .. import _dtype
from .._tensor import Tensor
from ..autograd import forward_ad
from ..autograd._where import _INSIDE, NO_GRAD, inherited
from ..autograd.grad_mode import STATE
from ..autograd.graph import Node, accumulator
from ._inplace import refresh_view
from ._saved import (
    UNUSED,
    SavedUnavailable,
    _modified_message,
    _pack_saved,
    _Packed,
    _Released,
    freed_message,
    param_use,
)
from ._util import kept

_FULL_NAME = re.compile(r"Backward\d+(_copy)?$|Backwards$|^(CopySlices|NotImplemented)$")
_QUALIFIED = {"CopySlices": "ember::autograd::CopySlices"}  # torch: torch::autograd::CopySlices


class Op:
    """A differentiable operation: a NumPy forward plus its derivative rules."""

    def __init__(self, fwd: Callable, node: str | None, promote: bool, float_op: bool, nout: int):
        self.fwd = fwd
        self.__name__ = fwd.__name__
        self.__qualname__ = fwd.__qualname__
        self.__doc__ = fwd.__doc__
        self.__wrapped__ = fwd
        self.promote = promote  # cast inputs to torch's common dtype first
        self.float_op = float_op  # integer inputs compute in the default float dtype
        self.nout = nout
        self.vjps: tuple = ()
        self.each: Callable | None = None  # rule factory for ops over any number of inputs
        self.np_vjps: tuple | None = None  # the same rules on NumPy arrays (see defvjp_np)
        self.jvps: tuple | str | None = None  # forward mode; None: derived from the vjp rules
        # torch's node for this op keeps saved values that ember's rules do not read, so a
        # second backward through it raises there whatever the rules read (see `frees_all`)
        self.frees_all = False
        # Complex inputs: rules are written as for real numbers, g times the derivative, and
        # meet torch's convention (the gradient of a real loss L is dL/dRe z + i dL/dIm z,
        # i.e. g * conj(f'(z)) for holomorphic f) by reading conjugated inputs and outputs
        # (`_conj_saved`). Non-holomorphic ops (abs, angle, sgn, conj, real, imag) write their
        # rules for complex numbers directly and set this False (`complex_rules`).
        self.conj_saved = True
        self.complex_jvp = False  # (for those ops: whether their jvp rules are complex-aware)
        self.node_cls = None
        if node is not None:
            # "Mul" -> MulBackward0; full names are kept, including torch's irregular ones
            # (CopySlices, CopyBackwards, NotImplemented, DiagonalBackward0_copy).
            name = node if _FULL_NAME.search(node) else node + "Backward0"
            # (staticmethod: reading node._op gives the Op itself, not a method bound to the node)
            body = {"__slots__": (), "_op": staticmethod(self)}
            if name in _QUALIFIED:  # torch's C++ nodes name() with their namespace
                body["name"] = lambda node, full=_QUALIFIED[name]: full
            self.node_cls = type(name, (OpNode,), body)

    def defvjp(self, *rules: Callable | None) -> Op:
        """One rule per tensor input, in order; `None` marks a non-differentiable input."""
        self.vjps = rules
        self.__dict__.pop("uses_out", None)
        return self

    def defvjp_each(self, make_rule: Callable[[int], Callable]) -> Op:
        """For ops over any number of tensors (cat, stack): `make_rule(i)` is input i's rule."""
        self.each = make_rule
        self.__dict__.pop("uses_out", None)
        return self

    @functools.cached_property
    def uses_out(self) -> bool:
        """Whether a rule reads the op's output, so that its nodes keep it. Read from the
        rules' bytecode when an op is first called, not at import (which it would slow by
        a third); cached in the instance, so later reads cost a plain attribute's."""
        if self.each is not None:
            return param_use(self.each(0), 1) != UNUSED
        return any(r is not None and param_use(r, 1) != UNUSED for r in self.vjps)

    def defvjp_np(self, *rules: Callable | None) -> Op:
        """The vjp rules again, on NumPy arrays: what a backward that records no graph
        (create_graph=False, the usual case) runs, skipping ember's dispatch. Same signature
        and meaning as `defvjp`'s rules, with g, out and the tensor inputs as arrays; the
        engine sums broadcast gradients back and casts them, as for `defvjp`'s. They are for
        real dtypes only (complex inputs take the `defvjp` rules, which conjugate). test_ops.py
        checks both sets against torch and against each other."""
        if len(rules) != len(self.vjps):
            raise ValueError(f"{self.__name__}: defvjp_np needs one rule per defvjp rule")
        self.np_vjps = rules
        return self

    def complex_rules(self, jvp: bool = False) -> Op:
        """This op's vjp rules are written for complex inputs as they stand (non-holomorphic
        ops); the rules of other ops read conjugated inputs when an input is complex. `jvp`:
        its forward-mode rules are complex-aware too; if not, forward mode refuses complex
        inputs to it rather than apply a real formula."""
        self.conj_saved = False
        self.complex_jvp = jvp
        return self

    def mark_frees_all(self) -> Op:
        """A second backward through this op's node raises, as torch's does: its node keeps
        saved values that ember's rules need not read (CopySlices frees the function it wraps;
        div with a rounding mode saves self and other for a zero gradient), or that ember's
        rule reads among `**params`, where its use cannot be told apart."""
        self.frees_all = True
        return self

    def defjvp(self, *rules: Callable | None) -> Op:
        """Forward mode: one rule per tensor input, `rule(t, out, *inputs, **params)` giving that
        input's contribution to the output tangent (contributions are summed; see forward_ad)."""
        self.jvps = rules
        return self

    def defjvp_elementwise(self) -> Op:
        """Forward mode of an elementwise op whose vjp rules are linear and elementwise in g:
        each input's vjp rule applied to its tangent (torch's auto_element_wise)."""
        self.jvps = "elementwise"
        return self

    def defjvp_linear(self) -> Op:
        """Forward mode of an op linear in its float inputs: the op applied to the tangents
        (zeros for inputs without one; torch's auto_linear)."""
        self.jvps = "linear"
        return self

    def defjvp_multilinear(self) -> Op:
        """Forward mode of an op linear in each float input separately (mul, mm, einsum): the sum
        over dual inputs of the op with that input replaced by its tangent."""
        self.jvps = "multilinear"
        return self

    def __get__(self, obj: object, cls: type | None = None):
        return self if obj is None else types.MethodType(self, obj)

    def __repr__(self) -> str:
        return f"<ember op {self.__name__}>"

    def __call__(self, *inputs, **params):
        if self.promote or self.float_op:
            datas, want = _prepare(self, inputs)
        else:
            datas, want = [x._data if isinstance(x, Tensor) else x for x in inputs], None
        try:
            out = self.fwd(*datas, **params)
        except ValueError as e:
            raise (_broadcast_error(datas) or e) from None
        if self.nout != 1:
            outs = [o if type(o) is np.ndarray else np.asarray(o) for o in out]
            return self._wrap_many(inputs, outs, params)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if want is not None and out.dtype != want and out.dtype.kind != "b":
            out = out.astype(want)  # comparisons stay bool
        t = Tensor._make(out)
        # Integer and bool results never require grad (argmax, x.long(), comparisons).
        if STATE.enabled and self.node_cls is not None and out.dtype.kind in "fc":
            node = self._record(inputs, params)
            if node is not None:
                t._requires_grad = True
                t._grad_fn = node
                if self.uses_out:
                    node._out = out
                    node._outv = (t._vc, 0)
                if STATE.saved_hooks:
                    _pack_saved(self, node, (t,))
            else:  # from inputs none of which requires grad: keep why (issue #4, _where.py)
                for x in inputs:
                    if isinstance(x, Tensor) and x._origin is not None:
                        t._origin = inherited(x._origin)
                        break
        else:
            t._origin = NO_GRAD[0]  # e.g. computed under no_grad: errors say where (issue #4)
        return t

    def _dual_call(self, *inputs, **params):
        """`__call__` while some thread is inside a forward-AD dual level (see dual_dispatch):
        that thread's calls push tangents (forward_ad.call), the others run as usual."""
        if STATE.fw_level:
            return forward_ad.call(self, inputs, params)
        return Op._plain_call(self, *inputs, **params)

    def _wrap_many(self, inputs: tuple, outs: list, params: dict) -> tuple:
        ts = tuple(Tensor._make(o) for o in outs)
        if STATE.enabled and self.node_cls is not None:
            node = self._record(inputs, params)
            if node is not None:
                for nr, t in enumerate(ts):
                    if t.dtype._cat >= 2:  # integer outputs (indices) never require grad
                        t._requires_grad = True
                        t._grad_fn = node
                        t._output_nr = nr
                node._num = len(ts)
                if self.uses_out:
                    node._out = tuple(outs)
                    node._outv = tuple((t._vc, 0) for t in ts)
                if STATE.saved_hooks:
                    _pack_saved(self, node, ts)
        return ts

    def _record(self, inputs: tuple, params: dict):
        """Make the node if any input requires grad; edges before the node (sequence order)."""
        edges = []
        versions = []
        any_grad = False
        for x in inputs:
            if isinstance(x, Tensor):
                versions.append(x._vc[0])
                if x._requires_grad:
                    any_grad = True
                    fn = x._grad_fn
                    if fn is None:
                        edges.append((accumulator(x), 0))
                        continue
                    if x._base is not None and x._base._grad_fn is not x._base_fn:
                        refresh_view(x)
                        fn = x._grad_fn
                    edges.append((fn, x._output_nr))
                    continue
            else:
                versions.append(0)
            edges.append(_NO_EDGE)
        if not any_grad:
            return None
        f = _getframe(2)  # the user's line, for errors that say where (autograd/_where.py)
        while f.f_code.co_filename in _INSIDE and f.f_back is not None:
            f = f.f_back
        return self.node_cls(tuple(edges), inputs, versions, params, f.f_code, f.f_lasti)


_NO_EDGE = (None, 0)
Op._plain_call = Op.__call__
_DUAL_LOCK = threading.Lock()
_DUAL_LEVELS = [0]  # dual levels entered now, over all threads


def dual_dispatch(entering: bool) -> None:
    """Route op calls through forward mode while any dual level is entered. Outside them an op
    call pays nothing for forward mode, not even reading the thread's level."""
    with _DUAL_LOCK:
        _DUAL_LEVELS[0] += 1 if entering else -1
        Op.__call__ = Op._dual_call if _DUAL_LEVELS[0] else Op._plain_call


_NUMBER_DTYPES = {
    float: np.dtype("float64"),
    int: np.dtype("int64"),
    complex: np.dtype("complex128"),
}


REPLAY_SPY: list = [None]  # ember.compile's recorder of `replayed` calls, while it traces


def replayed(writes: bool) -> Callable:
    """Mark `fn(*args)`, NumPy work outside any op that checks values and raises torch's
    error (index bounds, targets) or, with `writes`, updates a tensor in place (BatchNorm's
    running statistics). ember.compile records each call (REPLAY_SPY) and its replay makes
    it again on that call's values, since neither can be read off the ops."""

    def mark(fn: Callable) -> Callable:
        def run(*args):
            fn(*args)
            spy = REPLAY_SPY[0]
            if spy is not None:
                spy(fn, args, writes)

        run.__name__ = run.__qualname__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run

    return mark


value_check = replayed(writes=False)


def defop(
    node: str | None = None,
    *,
    promote: bool = False,
    float_op: bool = False,
    nout: int = 1,
) -> Callable[[Callable], Op]:
    """Decorator: turn a NumPy forward into an Op whose grad_fn prints as `<node>Backward0`.

    `node=None` makes a non-differentiable op (comparisons, argmax): it never records a node.
    `nout=0` declares a forward returning a tuple of outputs (split, max with dim).
    """
    return lambda fwd: Op(fwd, node, promote, float_op, nout)


def _first_dtype(op: Op, x: object) -> _dtype.dtype:
    if not isinstance(x, Tensor):
        name = op.__name__.lstrip("_")
        raise TypeError(
            f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}"
        )
    return x.dtype


def _prepare(op: Op, inputs: tuple) -> tuple:
    """The arrays the forward sees, cast to torch's common dtype; and the dtype the result
    must have (None when NumPy already computes in the right one)."""
    a = inputs[0]
    if isinstance(a, Tensor):
        ad = a._data
        if ad.dtype.kind in "fc":  # the common case: no cast, NumPy keeps the dtype
            if len(inputs) == 1:
                return [ad], None
            if len(inputs) == 2:
                b = inputs[1]
                if isinstance(b, Tensor):
                    if b._data.dtype == ad.dtype:
                        return [ad, b._data], None
                elif type(b) is float or type(b) is int:
                    return [ad, b], None  # NumPy's weak Python scalars keep a's dtype, as torch
    datas = [x._data if isinstance(x, Tensor) else x for x in inputs]
    dt = _common_dtype(inputs) if op.promote else _first_dtype(op, a)
    if op.float_op and dt._cat < 2:
        dt = _dtype.get_default_dtype()
    _cast_inputs(datas, dt)
    return datas, dt.np


def _common_dtype(inputs: tuple) -> _dtype.dtype:
    a = inputs[0]
    if len(inputs) == 2 and isinstance(a, Tensor):
        b = inputs[1]
        if isinstance(b, Tensor):
            if b._data.dtype == a._data.dtype:
                return a.dtype
        elif isinstance(b, (int, float)) and a.dtype._cat >= (2 if isinstance(b, float) else 1):
            return a.dtype
    return _dtype.result_type(*inputs)


def _cast_inputs(datas: list, dt: _dtype.dtype) -> None:
    want = dt.np
    for i, a in enumerate(datas):
        if type(a) is np.ndarray:
            if a.dtype != want:
                datas[i] = a.astype(want)
        elif dt._cat < 2 and isinstance(a, int):
            # torch wraps out-of-range integers into the tensor's dtype; NumPy would raise.
            datas[i] = np.array(a, dtype=np.int64).astype(want)


def _broadcast_error(datas: list) -> RuntimeError | None:
    """torch's message for the first pair of shapes (left to right) that do not broadcast."""
    shapes = [a.shape for a in datas if isinstance(a, np.ndarray)]
    if len(shapes) < 2:
        return None
    a = shapes[0]
    for b in shapes[1:]:
        n = max(len(a), len(b))
        pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
        for d in range(n - 1, -1, -1):
            if pa[d] != pb[d] and 1 not in (pa[d], pb[d]):
                return RuntimeError(
                    f"The size of tensor a ({pa[d]}) must match the size of tensor b ({pb[d]}) "
                    f"at non-singleton dimension {d}"
                )
        a = tuple(max(x, y) for x, y in zip(pa, pb))
    return None


class OpNode(Node):
    """A recorded call of an Op: its inputs, params and (if a rule reads it) its output."""

    __slots__ = ("_inputs", "_num", "_out", "_outv", "_params", "_versions", "_where", "_lasti")

    _op: Op

    def __init__(
        self, edges: tuple, inputs: tuple, versions: list, params: dict, where, lasti: int
    ) -> None:
        Node.__init__(self, edges)
        self._inputs, self._versions, self._params = inputs, versions, params
        self._where, self._lasti = where, lasti  # the site that recorded it (_where.py)
        self._out = self._outv = None
        self._num = 1

    def _num_outputs(self) -> int:
        return self._num

    def __getattr__(self, name: str):
        """torch's `grad_fn._saved_<name>` attributes (see autograd/saved.py)."""
        if name.startswith("_saved_"):
            from ..autograd.saved import saved_attrs

            attrs = saved_attrs(self)
            if name[7:] in attrs:
                return attrs[name[7:]]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __dir__(self) -> list:
        from ..autograd.saved import saved_attrs

        try:
            saved = ["_saved_" + k for k in saved_attrs(self)]
        except RuntimeError:  # freed or modified: torch still lists the names
            saved = []
        return sorted(set(super().__dir__()) | set(saved))

    def apply(self, grads: list) -> list:
        op = self._op
        g = grads[0] if op.nout == 1 else tuple(grads)
        if type(self._inputs) is _Released and (self._inputs.params or op.frees_all):
            self._check_released()
        inputs = self._unpack_inputs()
        out = self._unpack_out() if op.uses_out else None
        if out is not None and STATE.fw_level:  # a dual output's tangent, for forward-over-reverse
            out = forward_ad.saved_out(self, out)
        params, vjps = self._params, op.vjps
        xs = inputs
        if op.conj_saved and any(
            isinstance(x, (complex, np.complexfloating))
            or (type(x) is Tensor and x._data.dtype.kind == "c")
            for x in xs
        ):
            xs, out = _conj_saved(xs), _conj_saved(out)
        result = []
        for i, (nxt, _) in enumerate(self.next_functions):
            if nxt is None:
                result.append(None)
                continue
            rule = vjps[i] if i < len(vjps) else op.each(i) if op.each else None
            if rule is None:
                raise RuntimeError(
                    f"the derivative for '{op.__name__}' with respect to input {i} is not "
                    f"implemented ({self.name()})"
                )
            gx = rule(g, out, *xs, **params)
            if gx is not None:
                x = inputs[i]
                if type(x) is not Tensor or type(gx) is not Tensor:
                    gx = _fit(gx, x)
                elif gx._data.shape != x._data.shape or gx._data.dtype != x._data.dtype:
                    gx = _fit(gx, x)
            result.append(gx)
        return result

    def apply_arrays(self, grads: list) -> list | None:
        op = self._op
        rules = op.np_vjps
        xs = self._inputs
        if rules is None or type(xs) is not tuple:  # (packed or freed: the tensor path)
            return None
        if op.nout == 1:
            g = grads[0]
            if g.dtype.kind == "c":  # the NumPy rules are real: conjugates live in `vjps`
                return None
        else:
            g = tuple(grads)
        datas = []
        for x, v in zip(xs, self._versions):
            if isinstance(x, Tensor):
                d = x._data
                if x._vc[0] != v or d.dtype.kind == "c":
                    return None  # modified in place (`apply` raises torch's error), or complex
                datas.append(d)
            else:
                datas.append(x)
        out = None
        if op.uses_out:
            if self._out is None or (self._num == 1 and self._outv[0][0] != self._outv[1]):
                return None
            out = self._out
            if self._num != 1:
                if any(vc[0] != v for vc, v in self._outv):
                    return None
        return np_backward(rules, self.next_functions, g, out, datas, self._params)

    def _check_released(self) -> None:
        """After a backward freed this node's data params: raise torch's error if a rule that
        must run reads one (torch unpacks a node's saved values before its formulas run)."""
        rel, op = self._inputs, self._op
        for i, (nxt, _) in enumerate(self.next_functions):
            if nxt is not None and (op.frees_all or rel.read_by(op, i)):
                raise RuntimeError(freed_message(self))

    def _unpack_inputs(self) -> tuple:
        xs = self._inputs
        if type(xs) is _Packed:
            return xs.unpack_inputs()
        if type(xs) is _Released:
            why = lambda: freed_message(self)  # noqa: E731 (formatted only if raised)
            return tuple(SavedUnavailable(*m, why) if type(m) is tuple else m for m in xs.meta)
        versions = self._versions
        for i, x in enumerate(xs):
            if isinstance(x, Tensor) and x._vc[0] != versions[i]:
                break
        else:
            return xs
        return tuple(
            SavedUnavailable(x.shape, x.dtype, _modified_message(x, v, node=self))
            if isinstance(x, Tensor) and x._vc[0] != v
            else x
            for x, v in zip(xs, versions)
        )

    def _unpack_out(self):
        if type(self._inputs) is _Packed:
            return self._inputs.unpack_out(self._num)
        if self._out is None:
            raise RuntimeError(freed_message(self))
        if self._num == 1:
            return self._unpack(self._out, self._outv, 0)
        return tuple(self._unpack(o, v, nr) for nr, (o, v) in enumerate(zip(self._out, self._outv)))

    def _unpack(self, arr: np.ndarray, version: tuple, nr: int) -> Tensor:
        t = Tensor._make(arr)
        if arr.dtype.kind in "fc":
            t._requires_grad = True
            t._grad_fn = self
            t._output_nr = nr
        vc, v = version
        if vc[0] != v:
            return SavedUnavailable(t.shape, t.dtype, _modified_message(t, v, vc[0], self, vc))
        return t

    def _release(self) -> None:
        # Keep only what rules may read without values (shapes, dtypes, non-tensor inputs).
        # A Python number is freed too (a 0-d placeholder): torch saves the number operand of
        # `x * 2` as a wrapped 0-d tensor, so a second backward through a rule that reads it
        # raises there as well; rules that do not read it (`x + 2`) still run.
        xs = self._inputs
        if type(xs) is _Packed:  # its tensors are shape-only placeholders
            meta = [
                (x.shape, x.dtype.np)
                if isinstance(x, Tensor)
                else ((), _NUMBER_DTYPES[type(x)])
                if type(x) in _NUMBER_DTYPES
                else x
                for x in xs.inputs
            ]
        elif type(xs) is not _Released:
            meta = []  # (a loop, not a comprehension: this runs once per node per backward)
            for x in xs:
                if isinstance(x, Tensor):
                    d = x._data
                    meta.append((d.shape, d.dtype))
                else:
                    nd = _NUMBER_DTYPES.get(type(x))
                    meta.append(x if nd is None else ((), nd))
        else:
            return
        self._inputs = _Released(meta, self._params)
        self._out = None


def np_backward(rules: tuple, edges: tuple, g, out, datas: list, params: dict) -> list:
    """The NumPy rules of one node on arrays: each needed input's gradient, summed back to
    its shape and cast to its dtype. (A module function, not inlined into `apply_arrays`, so
    that ember.compile can record each rule it runs while it traces.)"""
    result = []
    for rule, (nxt, _), ref in zip(rules, edges, datas):
        if nxt is None:
            result.append(None)
            continue
        gx = rule(g, out, *datas, **params)
        if gx is not None:
            if type(gx) is not np.ndarray:
                gx = np.asarray(gx)
            if gx.shape != ref.shape:
                gx = _sum_to_shape(gx, ref.shape)
            if gx.dtype is not ref.dtype:
                gx = gx.astype(ref.dtype, copy=False)
        result.append(gx)
    return result


def _conj_saved(value):
    """Saved inputs or outputs with complex tensors conjugated (see `Op.conj_saved`); the
    conjugation is an op, so a double backward differentiates through it."""
    if type(value) is Tensor:
        if value._data.dtype.kind != "c":
            return value
        from .pointwise import conj_physical

        return conj_physical(value)
    if type(value) is tuple:
        return tuple(_conj_saved(v) for v in value)
    if isinstance(value, (complex, np.complexfloating)):  # a Python or NumPy complex operand
        return value.conjugate()
    return value


def _sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray:
    """A broadcast gradient summed back to its input's shape (`_fit`'s sum_to_size, on arrays)."""
    axes = sum_axes(g.shape, shape)
    if not axes:
        return g.reshape(shape)
    if leading_only(axes, g.ndim, shape):
        return sum_leading(g, len(axes))
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def leading_only(axes: tuple, ndim: int, shape: tuple) -> bool:
    """Whether summing an `ndim`-d gradient over `axes` to `shape` sums only leading axes,
    into an array of at least one dimension (`sum_leading`'s case)."""
    return bool(axes) and bool(shape) and len(axes) == ndim - len(shape)


def sum_leading(g: np.ndarray, n: int) -> np.ndarray:
    """`g` summed over its first `n` axes (a bias's gradient, over the batch), as an array of
    its own that AccumulateGrad may keep. A contiguous float32/float64 `g` is summed as a BLAS
    product with a vector of ones: about 2x faster than NumPy's sum down the rows, and as
    accurate (each column is added in one pass either way). The ones are kept per batch size
    and dtype (`kept`)."""
    if g.ndim == n + 1 and g.dtype.char in "fd" and g.flags.c_contiguous and g.size:
        m = g if n == 1 else g.reshape(-1, g.shape[-1])
        return kept(np.ones, m.shape[0], g.dtype) @ m
    return g.sum(axis=tuple(range(n)))


def sum_axes(gshape: tuple, shape: tuple) -> tuple:
    """The axes that `_sum_to_shape` sums a gradient of shape `gshape` over (ember.compile
    computes them once per trace and replays the sum alone)."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )


def _fit(gx: Tensor, x: Tensor) -> Tensor:
    """A rule's gradient summed back to its input's shape (broadcasting) and cast to its dtype."""
    if gx.shape != x.shape:
        from .shape import sum_to_size

        gx = sum_to_size(gx, x.shape)
    if gx.dtype is not x.dtype:
        if gx.dtype.is_complex and not x.dtype.is_complex:
            gx = gx.real  # Matches torch: a real input gets the real part
        gx = gx.to(x.dtype)
    return gx
