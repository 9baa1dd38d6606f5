"""PyTorch-identical `repr` of tensors (torch 2.13's `torch/_tensor_str.py` rules, on NumPy).

How torch prints, and so how this module prints:
- One formatter per tensor (two for complex: real and imaginary parts) picks a mode and a cell
  width from the nonzero finite values that will be shown: integer mode (`2.`) when they are all
  whole, scientific mode when max/min of their magnitudes exceeds 1000, the max exceeds 1e8 or the
  min is below 1e-4 (or as `sci_mode` forces), otherwise fixed with `precision` digits. Every cell
  is right-aligned to that shared width.
- Rows wrap so that a line of cells fits `linewidth` after the indent; nested dimensions are
  separated by one blank line less than their depth.
- Above `threshold` elements, each dimension longer than 2 * `edgeitems` shows its first and last
  `edgeitems` entries around `...`, and only shown values decide the format.
- Suffixes (`dtype=`, `grad_fn=`, `requires_grad=True`, `size=`) follow the contents, moving to
  a new line when the current one would pass `linewidth`.

Values are formatted with Python's own float formatting on the values `tolist()` returns, exactly
as torch does, so rounding and `-0.`/`nan`/`inf` spellings agree by construction.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _dtype
from .autograd.forward_ad import tangent_of

__all__ = ["get_printoptions", "set_printoptions"]

_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80}
_PROFILES = {
    "default": _DEFAULTS,
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
# Key order matches torch's get_printoptions(); sci_mode None means "chosen per tensor".
_OPTS: dict[str, Any] = {**_DEFAULTS, "sci_mode": None}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set how tensors print, as torch.set_printoptions: a `profile` ('default', 'short' or
    'full') first, then any option given explicitly. Matches torch: `sci_mode` is always
    overwritten, so leaving it out restores automatic choice of scientific notation."""
    if profile in _PROFILES:
        _OPTS.update(_PROFILES[profile])
    given = zip(
        ("precision", "threshold", "edgeitems", "linewidth"),
        (precision, threshold, edgeitems, linewidth),
    )
    _OPTS.update({k: v for k, v in given if v is not None})
    _OPTS["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options, as keyword arguments `set_printoptions` accepts."""
    return dict(_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Temporarily change print options (torch._tensor_str.printoptions)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


def _format_cells(values: np.ndarray, floating: bool) -> tuple[list[str], int]:
    """Unpadded strings for a flat array of shown values, and torch's shared cell width."""
    items = values.tolist()
    if not floating:  # integers and bools print as Python prints them
        strs = [str(v) for v in items]
        return strs, max(map(len, strs), default=1)
    precision = _OPTS["precision"]
    mask = np.isfinite(values) & (values != 0)
    nonzero = values[mask]
    if nonzero.size == 0:  # torch keeps its initial integer mode and width 1
        return [_int_str(v) for v in items], 1
    int_mode = bool((nonzero == np.ceil(nonzero)).all())
    magnitude = np.abs(nonzero)
    # Matches torch: the magnitudes' extremes and their ratio are taken in float64.
    hi, lo = float(magnitude.max()), float(magnitude.min())
    sci = _OPTS["sci_mode"]
    if sci is None:
        sci = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
    if sci:
        spec = f".{precision}e"
        strs = [format(v, spec) for v in items]
    elif int_mode:
        strs = [_int_str(v) for v in items]
    else:
        spec = f".{precision}f"
        strs = [format(v, spec) for v in items]
    width = max((len(s) for s, ok in zip(strs, mask.tolist()) if ok), default=1)
    return strs, width


def _int_str(v: float) -> str:
    """A whole float in integer mode: `2.`, with the point left off `nan` and `inf`."""
    s = format(v, ".0f")
    return s if math.isinf(v) or math.isnan(v) else s + "."


def _cells(shown: np.ndarray, dt: _dtype.dtype) -> tuple[list[str], int]:
    """Right-aligned cell strings of a flat array and the width torch reserves for each."""
    if dt.is_complex:
        re, w1 = _format_cells(shown.real, True)
        im, w2 = _format_cells(shown.imag, True)
        # Matches torch: the imaginary part is not padded, and gains '+' unless negative.
        out = [r.rjust(w1) + ("" if i[0] == "-" else "+") + i + "j" for r, i in zip(re, im)]
        return out, w1 + 2 + w2 + 1
    strs, width = _format_cells(shown, dt.is_floating_point)
    return [s.rjust(width) for s in strs], width + 2


def _nest(
    cells: list[str], start: int, shape: tuple, elided: list[bool], indent: int, cell_len: int
) -> str:
    """The bracketed text of the block of `cells` starting at `start` with `shape`."""
    edge = _OPTS["edgeitems"]
    if len(shape) == 1:
        items = cells[start : start + shape[0]]
        if elided[0]:
            items[edge:edge] = [" ..."]
        per_line = max(1, math.floor((_OPTS["linewidth"] - indent) / cell_len))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    stride = math.prod(shape[1:])
    rows = [
        _nest(cells, start + i * stride, shape[1:], elided[1:], indent + 1, cell_len)
        for i in range(shape[0])
    ]
    if elided[0]:
        rows[edge:edge] = ["..."]
    return "[" + ("," + "\n" * (len(shape) - 1) + " " * (indent + 1)).join(rows) + "]"


def _tensor_str(data: np.ndarray, dt: _dtype.dtype, indent: int) -> str:
    """The contents of a nonempty tensor: a scalar, or nested rows as torch lays them out."""
    edge = _OPTS["edgeitems"]
    summarize = data.size > _OPTS["threshold"]
    if data.ndim and summarize and not edge:
        return "[...]"
    # The shown values: all of them, or when summarizing the edges of each long dimension.
    elided = [summarize and n > 2 * edge for n in data.shape]
    for axis, (n, cut) in enumerate(zip(data.shape, elided)):
        if cut:
            data = data.take(np.r_[0:edge, n - edge : n], axis=axis)
    cells, cell_len = _cells(data.ravel(), dt)
    if data.ndim == 0:  # a lone value is its own width, so it carries no padding
        return cells[0]
    return _nest(cells, 0, data.shape, elided, indent, cell_len)


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """Append `, suffix` items, starting a new indented line where one would pass linewidth."""
    # Matches torch, off-by-two included: the last line's length counts 2 more than it has.
    line_len = len(text) - text.rfind("\n") + 1
    parts = [text]
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > _OPTS["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_len += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t: Any, tensor_contents: str | None = None) -> str:
    """What torch's `repr(tensor)` prints for `t`, spelling dtypes `ember.*`; `tensor_contents`
    replaces the printed values, as in torch's Tensor.__repr__."""
    cls = type(t).__name__
    is_parameter = cls == "Parameter"
    prefix = "tensor(" if is_parameter or cls == "Tensor" else cls + "("
    indent = len(prefix)
    data = t._data
    dt = t.dtype
    default = _dtype.get_default_dtype()
    suffixes = []
    if data.size == 0:
        # Matches torch: an empty tensor shows its shape unless 1-d, and any non-default dtype.
        if data.ndim != 1:
            suffixes.append(f"size={data.shape}")
        if dt is not default:
            suffixes.append(f"dtype={dt!r}")
        text = "[]" if tensor_contents is None else tensor_contents
    else:
        if not _OPTS["edgeitems"]:
            suffixes.append(f"size={data.shape}")
        # Matches torch: the default complex dtype is complex128 only for a float64 default.
        complex_default = _dtype.complex128 if default is _dtype.float64 else _dtype.complex64
        implicit = (default, complex_default, _dtype.int64, _dtype.bool_)
        if dt not in implicit:
            suffixes.append(f"dtype={dt!r}")
        text = _tensor_str(data, dt, indent) if tensor_contents is None else tensor_contents
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{type(t.grad_fn).__name__}>")  # as torch: not name()
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    tangent = tangent_of(t)
    if tangent is not None:
        # Matches torch: f"{tangent}", where a 0-d tensor formats as its Python number.
        shown = str(tangent._data.item()) if tangent.ndim == 0 else repr(tangent)
        suffixes.append(f"tangent={shown}")
    out = _add_suffixes(prefix + text, suffixes, indent)
    return "Parameter containing:\n" + out if is_parameter else out
