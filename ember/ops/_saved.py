"""What a node keeps for backward, and what stands in for it once it is gone.

A rule reads some of its node's inputs and output; `param_use` tells which (and whether only
their shapes) from the rule's bytecode, so a node keeps no more than its rules need. Inside
`saved_tensors_hooks` the kept values are packed (`_Packed`); after backward they are released
(`_Released`); a value that was freed or modified in place is replaced by a `SavedUnavailable`
whose shape and dtype stay readable and whose values raise torch's error.
"""

from __future__ import annotations

import dis
import inspect
import re
from collections.abc import Callable

import numpy as np

from .. import _dtype
from .._tensor import Size, Tensor
from ..autograd import _where
from ..autograd.grad_mode import STATE

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


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


def _value_reads(op, i: int) -> set:
    """The parameters (1 = out, 2 + j = input j) that input i's rule reads as values."""
    cache = op.__dict__.setdefault("_reads_cache", {})
    if i not in cache:
        rule = op.vjps[i] if i < len(op.vjps) else op.each(i) if op.each else None
        n = getattr(getattr(rule, "__code__", None), "co_argcount", 0)
        cache[i] = {p for p in range(1, n) if param_use(rule, p) == VALUE}
    return cache[i]


def _pack_saved(op, node, outputs: tuple) -> None:
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
    """A node's inputs after backward freed them: (shape, NumPy dtype) per tensor or number
    input; the names of the params that hold data (index tensors, masks: torch saves those
    and frees them too); and the backward call that freed them (`by`, for the error's "freed
    by ... at file:line")."""

    __slots__ = ("by", "meta", "params")

    def __init__(self, meta: list, params: dict) -> None:
        self.meta = meta
        self.params = [k for k, v in params.items() if _holds_data(v)] if params else ()
        self.by = _where.CURRENT[0]

    def read_by(self, op, i: int) -> bool:
        """Whether input i's rule reads a freed data param. (A freed input reads as a
        placeholder whose values raise when used: rules often pass an input to a helper that
        needs only its shape, which torch saves apart from the values.)"""
        if not self.params:
            return False
        rule = op.vjps[i] if i < len(op.vjps) else op.each(i) if op.each else None
        code = getattr(rule, "__code__", None)
        if code is None:
            return False
        n = len(self.meta)
        return any(p - 2 >= n and code.co_varnames[p] in self.params for p in _value_reads(op, i))


def _holds_data(v: object) -> bool:
    """A param that is saved data: an array or tensor, or a tuple of them (indexing paths)."""
    if isinstance(v, (np.ndarray, Tensor)):
        return True
    return isinstance(v, (tuple, list)) and any(_holds_data(x) for x in v)


class SavedUnavailable(Tensor):
    """Stands in for a saved tensor that was freed or modified in place: its shape and dtype
    stay readable (rules that only need sizes still work, as in torch), its values raise.
    The message may be given as a function, called only when it is raised."""

    __slots__ = ("_dt", "_shape", "_why")

    def __new__(cls, shape: tuple, dtype, msg: str | Callable[[], str]):
        self = object.__new__(cls)
        self._shape, self._dt, self._why = Size(shape), _dtype.to_dtype(dtype), msg
        self._requires_grad, self._grad_fn, self._output_nr = False, None, 0
        self._vc, self._origin = [0], None
        return self

    @property
    def _msg(self) -> str:
        why = self._why
        return why if type(why) is str else why()

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


def freed_message(node: object) -> str:
    """torch's "backward through the graph a second time" message, then where (see _where)."""
    return _FREED + _where.freed_suffix(node)


def _modified_message(
    t: Tensor,
    expected: int,
    current: int | None = None,
    node: object = None,
    vc: list | None = None,
) -> str:
    """torch's message for a saved value `t` modified in place since it was saved (at version
    `expected`), then where: the node that saved it and the in-place op (see _where). `vc` is
    the version counter when `t` is a rebuilt tensor that does not share it."""
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
    ) + _where.modified_suffix(t._vc if vc is None else vc, expected, current, node)
