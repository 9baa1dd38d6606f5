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

import dis
import inspect
import re
import types
from collections.abc import Callable

import numpy as np

from .. import _dtype
from .._tensor import Size, Tensor
from ..autograd.grad_mode import STATE
from ..autograd.graph import Node, accumulator

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


_FULL_NAME = re.compile(r"Backward\d+(_copy)?$|Backwards$|^(CopySlices|NotImplemented)$")


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
        self.uses_out = False
        self.node_cls = None
        if node is not None:
            # "Mul" -> MulBackward0; full names are kept, including torch's irregular ones
            # (CopySlices, CopyBackwards, NotImplemented, DiagonalBackward0_copy).
            name = node if _FULL_NAME.search(node) else node + "Backward0"
            self.node_cls = type(name, (OpNode,), {"__slots__": (), "_op": self})

    def defvjp(self, *rules: Callable | None) -> Op:
        """One rule per tensor input, in order; `None` marks a non-differentiable input."""
        self.vjps = rules
        self.uses_out = any(r is not None and param_use(r, 1) != UNUSED for r in rules)
        return self

    def defvjp_each(self, make_rule: Callable[[int], Callable]) -> Op:
        """For ops over any number of tensors (cat, stack): `make_rule(i)` is input i's rule."""
        self.each = make_rule
        self.uses_out = param_use(make_rule(0), 1) != UNUSED
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
        return t

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
        node = self.node_cls()
        node.next_functions = tuple(edges)
        node._inputs = inputs
        node._versions = versions
        node._params = params
        return node


_NO_EDGE = (None, 0)


UNUSED, SIZES, VALUE = 0, 1, 2  # how a rule uses a parameter: not, only its shape, its values
_SIZE_ATTRS = ("shape", "ndim")


def param_use(rule: Callable, param: int | str) -> int:
    """How `rule(g, out, *inputs, **params)` uses a parameter (by position or by name):
    UNUSED, SIZES (only its `.shape`/`.ndim`) or VALUE; anything unknown counts as VALUE.
    Read from the rule's bytecode, once, when the answer is first needed."""
    code = getattr(rule, "__code__", None)
    if code is None:
        return VALUE
    if isinstance(param, int):
        if param >= code.co_argcount:  # the input lands in `*args`, or nowhere
            return VALUE if code.co_flags & inspect.CO_VARARGS else UNUSED
        param = code.co_varnames[param]
    if param not in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
        return VALUE if code.co_flags & inspect.CO_VARKEYWORDS else UNUSED
    if param in code.co_cellvars:  # read by a nested function
        return VALUE
    use = UNUSED
    ins = list(dis.get_instructions(code))
    for here, after in zip(ins, ins[1:]):
        if not here.opname.startswith("LOAD_FAST"):
            continue
        # Python 3.13's LOAD_FAST_LOAD_FAST carries a pair of names; only the second one is
        # the object that the next instruction sees.
        pair = here.argval if isinstance(here.argval, tuple) else (here.argval,)
        if param in pair[:-1]:
            return VALUE
        if param == pair[-1]:
            if after.opname != "LOAD_ATTR" or after.argval not in _SIZE_ATTRS:
                return VALUE
            use = SIZES
    return use


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

    __slots__ = ("_inputs", "_num", "_out", "_outv", "_params", "_versions")

    _op: Op

    def __init__(self) -> None:
        super().__init__()
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
        inputs = self._unpack_inputs()
        out = self._unpack_out() if op.uses_out else None
        params, vjps = self._params, op.vjps
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
            gx = rule(g, out, *inputs, **params)
            if gx is not None:
                x = inputs[i]
                if type(x) is not Tensor or type(gx) is not Tensor:
                    gx = _fit(gx, x)
                elif gx._data.shape != x._data.shape or gx._data.dtype != x._data.dtype:
                    gx = _fit(gx, x)
            result.append(gx)
        return result

    def _unpack_inputs(self) -> tuple:
        xs = self._inputs
        if type(xs) is _Packed:
            return xs.unpack_inputs()
        if type(xs) is _Released:
            return tuple(SavedUnavailable(*m, _FREED) if type(m) is tuple else m for m in xs.meta)
        versions = self._versions
        for i, x in enumerate(xs):
            if isinstance(x, Tensor) and x._vc[0] != versions[i]:
                break
        else:
            return xs
        return tuple(
            SavedUnavailable(x.shape, x.dtype, _modified_message(x, v))
            if isinstance(x, Tensor) and x._vc[0] != v
            else x
            for x, v in zip(xs, versions)
        )

    def _unpack_out(self):
        if type(self._inputs) is _Packed:
            return self._inputs.unpack_out(self._num)
        if self._out is None:
            raise RuntimeError(_FREED)
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
            return SavedUnavailable(t.shape, t.dtype, _modified_message(t, v, vc[0]))
        return t

    def _release(self) -> None:
        # Keep only what rules may read without values (shapes, dtypes, non-tensor inputs).
        xs = self._inputs
        if type(xs) is _Packed:  # its tensors are shape-only placeholders
            self._inputs = _Released(
                [(x.shape, x.dtype.np) if isinstance(x, Tensor) else x for x in xs.inputs]
            )
            self._out = None
        elif type(xs) is not _Released:
            self._inputs = _Released(
                [(x._data.shape, x._data.dtype) if isinstance(x, Tensor) else x for x in xs]
            )
            self._out = None


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


def _value_reads(op: Op, i: int) -> set:
    """The parameters (1 = out, 2 + j = input j) that input i's rule reads as values."""
    cache = op.__dict__.setdefault("_reads_cache", {})
    if i not in cache:
        rule = op.vjps[i] if i < len(op.vjps) else op.each(i) if op.each else None
        n = getattr(getattr(rule, "__code__", None), "co_argcount", 0)
        cache[i] = {p for p in range(1, n) if param_use(rule, p) == VALUE}
    return cache[i]


def _pack_saved(op: Op, node: OpNode, outputs: tuple) -> None:
    """Inside saved_tensors_hooks: pack what the node's rules will read, as torch does (only
    for the inputs that need a gradient), and keep no other reference to the tensors."""
    pack, unpack = STATE.saved_hooks[-1]
    reads = set()
    for i, (nxt, _) in enumerate(node.next_functions):
        if nxt is not None:
            reads |= _value_reads(op, i)
    inputs = node._inputs
    packed = {j: pack(x) for j, x in enumerate(inputs) if j + 2 in reads and isinstance(x, Tensor)}
    kept = tuple(
        SavedUnavailable(x.shape, x.dtype, _NOT_SAVED) if isinstance(x, Tensor) else x
        for x in inputs
    )
    out = tuple(pack(t) for t in outputs) if 1 in reads else None
    node._inputs = _Packed(kept, packed, unpack, out)
    node._out = None


_NOT_SAVED = "ember did not save this value for backward (saved_tensors_hooks were active)"


class _Packed:
    """A node's saved values as packed by saved_tensors_hooks, unpacked when backward needs
    them; the inputs are shape-only placeholders."""

    __slots__ = ("inputs", "out", "packed", "unpack")

    def __init__(self, inputs: tuple, packed: dict, unpack: Callable, out: tuple | None) -> None:
        self.inputs, self.packed, self.unpack, self.out = inputs, packed, unpack, out

    def _unpacked(self, p: object) -> Tensor:
        t = self.unpack(p)
        if not isinstance(t, Tensor):
            raise TypeError(
                "Output of saved tensor unpack_hook expected to be a Tensor but got result of "
                f"type {type(t).__name__}"
            )
        return t

    def unpack_inputs(self) -> tuple:
        xs = list(self.inputs)
        for j, p in self.packed.items():
            xs[j] = self._unpacked(p)
        return tuple(xs)

    def unpack_out(self, num: int) -> Tensor | tuple:
        if self.out is None:
            raise RuntimeError(_NOT_SAVED)
        outs = tuple(self._unpacked(p) for p in self.out)
        return outs[0] if num == 1 else outs


class _Released:
    """A node's inputs after backward freed them: (shape, NumPy dtype) per tensor input."""

    __slots__ = ("meta",)

    def __init__(self, meta: list) -> None:
        self.meta = meta


class SavedUnavailable(Tensor):
    """Stands in for a saved tensor that was freed or modified in place: its shape and dtype
    stay readable (rules that only need sizes still work, as in torch), its values raise."""

    __slots__ = ("_dt", "_msg", "_shape")

    def __new__(cls, shape: tuple, dtype, msg: str):
        self = object.__new__(cls)
        self._shape, self._dt, self._msg = Size(shape), _dtype.to_dtype(dtype), msg
        self._requires_grad, self._grad_fn, self._output_nr = False, None, 0
        self._vc = [0]
        return self

    @property
    def _data(self):
        raise RuntimeError(self._msg)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dt)
    ndim = property(lambda self: len(self._shape))

    def numel(self) -> int:
        return int(np.prod(self._shape))


_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
    "complex64": "ComplexFloatTensor",
    "complex128": "ComplexDoubleTensor",
}


def type_name(t: Tensor) -> str:
    """torch's legacy type name, as errors print it: `ember.FloatTensor`."""
    return "ember." + _TYPE_NAMES[t.dtype.name]


def _modified_message(t: Tensor, expected: int, current: int | None = None) -> str:
    current = t._vc[0] if current is None else current
    what = f"[{type_name(t)} [{', '.join(map(str, t.shape))}]]"
    if t._grad_fn is not None:
        producer = re.sub(r"Backward\d+$", "", t._grad_fn.name())
        what += f", which is output {t._output_nr} of {producer},"
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} is at version {current}; expected version {expected} instead. Hint: "
        "enable anomaly detection to find the operation that failed to compute its gradient, "
        "with torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


def apply_inplace(op: Op, self: Tensor, *others, **params) -> Tensor:
    """Run `op(self, *others)` and write the result into `self`, as torch's `op_` does.

    When the graph is recorded, the node takes the old value of `self` (a copy) as its input
    and becomes `self.grad_fn`; the version counter (shared with views) is bumped so that
    nodes which saved the old value detect the change. On a view, as in torch, the base's
    history moves onto a CopySlices node (the result scattered into the base) and the view
    becomes a strided window of the base's new history.
    """
    recording = STATE.enabled and (
        self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)
    )
    base = geometry = None
    if recording:
        if self._requires_grad and self._grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        if self._base is not None:
            base, geometry = self._base, _view_geometry(self)
            if self._requires_grad and base._grad_fn is not self._base_fn:
                refresh_view(self)
        old = Tensor._make(self._data.copy())
        old._requires_grad, old._grad_fn, old._output_nr = (
            self._requires_grad,
            self._grad_fn,
            self._output_nr,
        )
        r = op(old, *others, **params)
    else:
        r = op(self, *others, **params)
    if r.dtype._cat > self.dtype._cat:
        raise RuntimeError(
            f"result type {_scalar_name(r.dtype)} can't be cast to the desired output type "
            f"{_scalar_name(self.dtype)}"
        )
    if not self._data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if r._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(r.shape)}"
        )
    np.copyto(self._data, r._data, casting="unsafe")
    self._vc[0] += 1
    if recording and r._grad_fn is not None:
        # (A non-differentiable result, e.g. logical_not_ on floats, leaves the history as it
        # was: torch does the same.)
        node = r._grad_fn
        if node._outv is not None:
            node._out = self._data
            node._outv = (self._vc, self._vc[0])
        if base is None:
            self._grad_fn, self._output_nr, self._requires_grad = node, 0, True
        else:
            _rebase_onto_copy_slices(base, r, geometry)
            refresh_view(self)
    return self


def _view_geometry(view: Tensor) -> tuple:
    from .shape import view_geometry

    base = view._base
    if base._requires_grad and base._grad_fn is None:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    geometry = view_geometry(base, view)
    if geometry is None:
        raise NotImplementedError(
            "ember cannot differentiate an in-place operation on a view of a tensor whose own "
            "memory is not contiguous; clone() the base first or apply the op out of place."
        )
    return geometry


def _rebase_onto_copy_slices(base: Tensor, result: Tensor, geometry: tuple) -> None:
    """base's history becomes CopySlices(old history, result) (its values are already new)."""
    from .shape import _copy_slices_view

    size, stride, offset = geometry
    old = Tensor._make(base._data)  # CopySlices' rules read no values
    old._requires_grad, old._grad_fn, old._output_nr = (
        base._requires_grad,
        base._grad_fn,
        base._output_nr,
    )
    node = _copy_slices_view(old, result, size=size, stride=stride, offset=offset)._grad_fn
    base._grad_fn, base._output_nr, base._requires_grad = node, 0, True


def refresh_view(view: Tensor) -> None:
    """torch's view replay: a view whose base's history changed since the view was taken (an
    in-place op on the base or on another view of it) gets as grad_fn a strided window
    (AsStridedBackward0) of the base's current history, so its gradient stays right."""
    from .shape import replay_view, view_geometry

    base = view._base
    geometry = view_geometry(base, view)
    if geometry is None:
        raise RuntimeError(
            "ember cannot differentiate through this view: its base was modified in place after "
            "the view was taken, and ember replays views only of tensors whose own memory is "
            "contiguous. Take the view again after the in-place operation, or clone() the base."
        )
    prev = STATE.enabled
    STATE.enabled = True
    try:
        fn = replay_view(base, geometry)
    finally:
        STATE.enabled = prev
    view._grad_fn, view._output_nr, view._requires_grad = fn, 0, fn is not None
    view._base_fn = base._grad_fn


def _scalar_name(d: _dtype.dtype) -> str:
    """c10's name of a dtype, as torch's messages print it ('Float', 'Long')."""
    return _dtype.SCALAR_NAMES[d.name]
