"""What a node saved for backward, by torch's names: the values behind `grad_fn._saved_<name>`.

torch's generated nodes expose each saved value as an attribute (`_saved_self`,
`_saved_other`, `_saved_result`, `_saved_dim`, ...), which torchviz and debugging code read.
ember's nodes keep the op's whole recorded call; this module reads off it what the op's rules
actually use (ops/_saved.py's `param_use`), named as torch names it.
"""

from __future__ import annotations

import inspect

from .._tensor import Tensor
from ..ops._saved import SIZES, UNUSED, param_use

__all__ = ["saved_attrs"]


def saved_attrs(fn) -> dict[str, object]:
    """What node `fn` saved for backward, by name: ember's `fn._saved_<name>` attributes.

    Read off an op's node and its rules, in torch's words where ember's differ (`self` and
    `other` for ember's `x` and `y`, `dim` for `axes`): each input a rule reads, or
    `<input>_sym_sizes` when rules read only its shape (as torch saves only sizes then); each
    keyword argument a rule reads; the output as `result` when a rule reads it (unpacked into
    a fresh tensor, as torch's `_saved_result` is). An input read only by the rule of an input
    that needs no gradient is `None`, as torch leaves it unsaved. The inputs of a variadic op
    (`cat`) form one tuple. Sorted by name, as torchviz's `dir(fn)` walk sees torch's. A value
    freed by a backward without `retain_graph`, or modified in place since, raises torch's
    error, as reading torch's `_saved_*` attribute does. Python scalars stay numbers (torch
    may wrap them into 0-d tensors) and torch-only metadata (`self_sym_numel`,
    `mat2_sym_strides`) is not listed.
    """
    from ..ops._registry import OpNode
    from ..ops._saved import SavedUnavailable, _Released, freed_message

    if not isinstance(fn, OpNode):
        return {}
    op = fn._op
    released = type(fn._inputs) is _Released
    inputs = fn._inputs.meta if released else fn._unpack_inputs()
    rules = op.vjps if op.each is None else [op.each(i) for i in range(len(inputs))]
    # Only the rules of inputs that need a gradient will run: what they read is saved.
    needed = [r for r, (nxt, _) in zip(rules, fn.next_functions) if r is not None and nxt]
    unneeded = [r for r, (nxt, _) in zip(rules, fn.next_functions) if r is not None and not nxt]
    names, varargs = _input_names(op.fwd, len(inputs))
    attrs: dict[str, object] = {}
    for i, (name, x) in enumerate(zip(names, inputs)):
        use = max((param_use(r, i + 2) for r in needed), default=UNUSED)
        if use is UNUSED:
            if any(param_use(r, i + 2) for r in unneeded):
                attrs[name] = None
            continue
        if released and type(x) is tuple:  # a freed tensor's (shape, NumPy dtype)
            if use is SIZES:
                attrs[f"{name}_sym_sizes"] = tuple(x[0])
                continue
            raise RuntimeError(freed_message(fn))
        if use is SIZES and isinstance(x, Tensor):
            attrs[f"{name}_sym_sizes"] = tuple(x.shape)
            continue
        if isinstance(x, SavedUnavailable):
            raise RuntimeError(x._msg)
        attrs[name] = attrs.get(name, ()) + (x,) if name == varargs else x
    for key, val in fn._params.items():
        if any(param_use(r, key) for r in needed):
            attrs[_TORCH_NAMES.get(key, key)] = val
    if op.uses_out:
        out = fn._unpack_out()  # raises torch's error once freed
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, SavedUnavailable):
                raise RuntimeError(t._msg)
        attrs["result"] = out
    return dict(sorted(attrs.items()))


_TORCH_NAMES = {"x": "self", "y": "other", "axes": "dim"}


def _input_names(fwd, n: int) -> tuple[list[str], str | None]:
    """Torch's names of an op's `n` positional inputs, and the forward's variadic name if the
    inputs run into it."""
    names: list[str] = []
    for p in inspect.signature(fwd).parameters.values():
        if len(names) == n:
            break
        if p.kind is p.VAR_POSITIONAL:
            return names + [p.name] * (n - len(names)), p.name
        names.append(_TORCH_NAMES.get(p.name, p.name))
    return names, None
