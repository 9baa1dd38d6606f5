"""Forward-mode AD: dual tensors carry a tangent, and every op pushes tangents forward.

The API is torch.autograd.forward_ad's: `dual_level` (or `enter_dual_level`/`exit_dual_level`),
`make_dual`, `unpack_dual`. Inside a level `STATE.fw_level` holds the level (it is 0 outside, the
one thing an op call checks, and only while a level is entered: ops/_registry.py
`dual_dispatch`), and each op call goes through `call`: the op runs as usual, then,
when an input carries a tangent, the op's jvp rule gives the output tangent. Rules are declared
beside each op's vjp rules (`defjvp`, `defjvp_elementwise`, `defjvp_linear`,
`defjvp_multilinear` in ops/_registry.py); an op without one gets the exact rule derived from its
vjp rules by double vjp (`jvp(t) = d/du <vjp(u), t>`, the vjp being linear in u).

Conventions:
- A tangent lives in the tensor's `_fw_grad` slot as `(level, tangent)`; a tangent of another
  (exited) level reads as none, as torch drops tangents when their level exits.
- Rules run with forward AD paused (their inputs' tangents are not pushed again) and grad mode
  as it is, so a tangent records a graph and is differentiable (reverse-over-forward); vjp rules
  run by a backward pass inside a level push tangents (forward-over-reverse).
- One level at a time, as in torch ("Nested forward mode AD is not supported").
- Integer and bool results get no tangent; a tangent is cast to its result's dtype.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

from .._tensor import Tensor
from .grad_mode import STATE

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]


class _Level:
    """One entered dual level (a fresh object per entry, so stale tangents never match).
    `saved` maps a node whose rules read its output to that output's tangent(s): a backward
    pass inside the level rebuilds saved outputs from arrays, and they get their tangent back."""

    __slots__ = ("saved",)

    def __init__(self) -> None:
        self.saved = weakref.WeakKeyDictionary()


def enter_dual_level() -> int:
    """Enter a new forward-grad level (torch supports one at a time) and return its number."""
    if STATE.fw_level:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    from ..ops._registry import dual_dispatch

    STATE.fw_level = _Level()
    dual_dispatch(True)
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """Exit the current level; every tangent of that level is dropped."""
    current = 0 if STATE.fw_level else -1
    if level is None:
        level = current
    if level != current:
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. "
            "This is not supported."
        )
    if level < 0:
        raise RuntimeError("Dual level must be a positive number.")
    from ..ops._registry import dual_dispatch

    STATE.fw_level = 0
    dual_dispatch(False)


class dual_level:
    """Context manager (and decorator) for forward AD: dual tensors exist only inside it."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with dual_level():
                return func(*args, **kwargs)

        return wrapper


class UnpackedDualTensor(NamedTuple):
    """What `unpack_dual` returns: the primal (a view without tangent) and the tangent."""

    primal: Tensor
    tangent: Tensor | None


def tangent_of(x: object) -> Tensor | None:
    """x's tangent at the current level (None for non-dual tensors and non-tensors)."""
    fw = getattr(x, "_fw_grad", None)
    return fw[1] if fw is not None and fw[0] is STATE.fw_level else None


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A new tensor aliased to `tensor` (a view) carrying `tangent` as its forward gradient."""
    if level is None:
        level = 0 if STATE.fw_level else -1
    if level < 0 or not STATE.fw_level:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if level != 0:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    if not (tensor.is_floating_point() or tensor.is_complex()):
        raise ValueError(
            f"Expected primal to be floating point or complex, but got: {tensor.dtype!r}"
        )
    if not (tangent.is_floating_point() or tangent.is_complex()):
        raise ValueError(
            f"Expected tangent to be floating point or complex, but got: {tangent.dtype!r}"
        )
    if tangent.shape != tensor.shape:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if tangent_of(tensor) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            f"same level {level} is not supported."
        )
    dual = _alias(tensor)
    # Matches torch: the tangent is kept as it is (same object, same dtype).
    dual._fw_grad = (STATE.fw_level, tangent)
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """`(primal, tangent)`: the primal is a view of `tensor` without tangent; `tangent` is
    `tensor`'s tangent as it is (None when it has none or no level is active)."""
    if not STATE.fw_level or (level is not None and level < 0):
        return UnpackedDualTensor(tensor, None)
    tangent = tangent_of(tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(_alias(tensor), tangent)


def _alias(tensor: Tensor) -> Tensor:
    """A view of all of `tensor` (ViewBackward0 when it requires grad, as torch's)."""
    level = STATE.fw_level
    STATE.fw_level = 0
    try:
        return tensor.view(tensor.shape)
    finally:
        STATE.fw_level = level


def call(op, inputs: tuple, params: dict):
    """Run `op(*inputs, **params)` inside a dual level and give its results their tangents."""
    level = STATE.fw_level
    tangents = None
    for i, x in enumerate(inputs):
        fw = getattr(x, "_fw_grad", None)
        if fw is not None and fw[0] is level:
            if tangents is None:
                tangents = [None] * len(inputs)
            tangents[i] = fw[1]
    STATE.fw_level = 0
    try:
        out = op(*inputs, **params)
        if tangents is None or op.node_cls is None:
            return out
        outs = out if op.nout != 1 else (out,)
        if not any(o._data.dtype.kind in "fc" for o in outs):
            return out
        result = _jvp(op, tangents, out, inputs, params)
    finally:
        STATE.fw_level = level
    fitted = []
    for o, t in zip(outs, result if op.nout != 1 else (result,)):
        if t is not None and o._data.dtype.kind in "fc":
            t = _fit(t, o)
            o._fw_grad = (level, t)
        fitted.append(t)
    node = outs[0]._grad_fn
    if op.uses_out and node is not None and type(node) is op.node_cls:
        level.saved[node] = fitted
    return out


def saved_out(node, out):
    """A node's saved output(s), rebuilt for its vjp rules, with their tangents restored."""
    level = STATE.fw_level
    tangents = level.saved.get(node)
    if tangents is None:
        return out
    for o, t in zip(out if isinstance(out, tuple) else (out,), tangents):
        if t is not None and isinstance(o, Tensor):
            o._fw_grad = (level, t)
    return out


def set_inplace_tangent(self: Tensor, result: Tensor) -> None:
    """After `self.op_(...)` wrote `result`'s values into self: self's tangent becomes result's.
    As in torch, an existing tangent is written in place, so that views of it (the tangents of
    views of self) see the change; through `copy_` when a graph is recorded through it."""
    t = tangent_of(result)
    if t is None:
        return
    old = tangent_of(self)
    level = STATE.fw_level
    if old is not None and old._data.flags.writeable and not (old._requires_grad and old.is_leaf):
        if not (old._requires_grad or t._requires_grad):
            old._data[...] = t._data
            old._vc[0] += 1
            return
        STATE.fw_level = 0
        try:  # recorded, so the tangent stays differentiable
            old.copy_(t)
        finally:
            STATE.fw_level = level
        return
    self._fw_grad = (level, t.to(self.dtype) if t.dtype is not self.dtype else t)


def _fit(t, out: Tensor) -> Tensor:
    """A tangent (maybe broadcast, maybe a Python number) as a tensor of out's shape/dtype."""
    if not isinstance(t, Tensor):
        from .. import full_like

        return full_like(out, t)
    if t.dtype is not out.dtype:
        if t.dtype.is_complex and not out.dtype.is_complex:
            t = t.real
        t = t.to(out.dtype)
    if t.shape != out.shape:
        t = t.expand(out.shape)
    return t


def _rule(op, i: int):
    rule = op.vjps[i] if i < len(op.vjps) else op.each(i) if op.each else None
    if rule is None:
        raise RuntimeError(
            f"the derivative for '{op.__name__}' with respect to input {i} is not implemented "
            "(forward mode)"
        )
    return rule


def _zero(x: object) -> object:
    """What a linear op sees in place of an input without tangent: zeros for numeric tensors
    and Python numbers; bool tensors (masks, where's condition) are kept as they are."""
    if isinstance(x, Tensor):
        if x._data.dtype.kind != "b":
            from .. import zeros_like

            return zeros_like(x)
        return x
    return 0 if isinstance(x, (int, float, complex)) and not isinstance(x, bool) else x


def _jvp(op, tangents: list, out, inputs: tuple, params: dict):
    """The output tangent(s) of one op call, by the op's declared rule (or double vjp)."""
    kind = op.jvps
    if not (op.conj_saved or op.complex_jvp) and any(
        isinstance(x, Tensor) and x._data.dtype.kind == "c" for x in inputs
    ):
        raise NotImplementedError(
            f"ember: forward-mode AD of {op.__name__} for complex inputs is not implemented "
            "(its derivative is not holomorphic); use reverse mode (backward, autograd.grad)"
        )
    if kind == "linear":
        args = [x if t is None else t for x, t in zip(map(_zero, inputs), tangents)]
        return op(*args, **params)
    pairs = [(i, t) for i, t in enumerate(tangents) if t is not None]
    if kind == "multilinear":
        terms = [op(*inputs[:i], t, *inputs[i + 1 :], **params) for i, t in pairs]
    elif kind == "elementwise":
        shape = out.shape
        terms = [
            _rule(op, i)(t if t.shape == shape else t.expand(shape), out, *inputs, **params)
            for i, t in pairs
        ]
    elif kind is None:
        return _double_vjp(op, pairs, out, inputs, params)
    else:
        terms = [kind[i](t, out, *inputs, **params) if kind[i] else None for i, t in pairs]
    return _total(terms, op.nout != 1)


def _total(terms: list, many: bool):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    if not many:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total
    return tuple(_total(list(ts), False) for ts in zip(*terms))


def _double_vjp(op, pairs: list, out, inputs: tuple, params: dict):
    """J t from the vjp rules: the vjp is linear in its cotangent u, so
    J t = d/du <vjp(u), t>. Exact; costs one small backward pass per op call."""
    from .. import zeros_like
    from ..ops._registry import _fit as fit_grad
    from . import grad
    from .grad_mode import enable_grad

    many = op.nout != 1
    outs = out if many else (out,)
    # Build the graph through the primals only when a tangent must be differentiable.
    create = STATE.enabled and any(
        getattr(v, "requires_grad", False) for v in (*inputs, *(t for _, t in pairs))
    )
    if not create:
        inputs = tuple(x.detach() if isinstance(x, Tensor) else x for x in inputs)
        outs = tuple(o.detach() for o in outs)
    us = [zeros_like(o).requires_grad_() if o._data.dtype.kind in "fc" else None for o in outs]
    # A holomorphic op's rules are u J, unconjugated: for complex u, s = <u J, t> = <u, J t>
    # is complex, and the gradient of Re s with respect to u is conj(J t) in torch's convention.
    cplx = any(u is not None and u._data.dtype.kind == "c" for u in us)
    with enable_grad():
        total = None
        u, o = (tuple(us), outs) if many else (us[0], outs[0])
        for i, t in pairs:
            g = _rule(op, i)(u, o, *inputs, **params)
            if g is None:
                continue
            s = (fit_grad(g, inputs[i]) * t).sum()
            total = s if total is None else total + s
        wrt = [u for u in us if u is not None]
        if total is None or not total.requires_grad:
            found = [None] * len(wrt)
        else:
            if total.dtype.is_complex:
                total = total.real
            found = list(grad(total, wrt, allow_unused=True, create_graph=create))
            if cplx:
                found = [None if j is None else j.conj() for j in found]
    result = []
    for u in us:
        j = found.pop(0) if u is not None else None
        result.append(zeros_like(u) if u is not None and j is None else j)
    return tuple(result) if many else result[0]
