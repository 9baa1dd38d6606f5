"""Convolution and pooling: conv1d/2d, conv_transpose2d, max/avg/adaptive pooling, unfold/fold.

Kernels. The input is padded once; `as_strided` gives the (N, C, kh, kw, Ho, Wo) view of its
windows (im2col without a copy), and one reshape copies that view into BLAS-ready columns for a
single batched `np.matmul`. The way back (col2im) adds each of the kh*kw kernel offsets into a
strided slice (at stride 1, one contiguous run of the flat padded plane: `_wide_col2im`): the
only Python loops run over kernel offsets, never over pixels or the batch.
1-D ops are the H = 1 case of the 2-D kernels (`_4d`).

Derivatives. Convolution is bilinear, so its three positions -- the output conv(x, w), the input
gradient (which is conv_transpose(g, w)) and the weight gradient -- are three ops whose vjps are
one another: derivatives of any order stay inside that closed family. The linear pooling ops pair
with their adjoints the same way (avg_pool <-> its backward, unfold <-> fold, max_pool's scatter
by indices <-> gather by indices).

Matches torch: grad_fn names (ConvolutionBackward0 for conv and conv_transpose, pooling's
*Backward0 names; 1-D pooling and unbatched conv go through unsqueeze/squeeze as torch does), its
argument checks and error messages, max-pool's tie rule (the first maximum in a window wins; a NaN
wins over numbers) and avg-pool's divisor rules (ceil_mode, count_include_pad, divisor_override).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import _factories
from .._tensor import Tensor
from ..autograd.grad_mode import is_grad_enabled
from ._registry import defop
from ._saved import type_name
from ._util import refuse_complex
from .indexing import _C_TYPES

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "fold",
    "max_pool1d",
    "max_pool2d",
    "unfold",
]
TENSOR_METHODS: list = []

IntOrPair = int | Sequence[int]


# ---- NumPy kernels: padding, window views, im2col / col2im -----------------------------------
def _4d(a: np.ndarray) -> np.ndarray:
    """A (N, C, L) array as (N, C, 1, L): 1-D ops are the H = 1 case of the 2-D kernels."""
    return a[:, :, None] if a.ndim == 3 else a


def _pad(x: np.ndarray, pads: tuple, value: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) padded by pads ((top, bottom), (left, right)) with `value`."""
    if not any(map(any, pads)):
        return x
    out = np.full(x.shape[:2] + _padded(x.shape[2:], pads), value, dtype=x.dtype)
    out[_inner(x.shape[2:], pads)] = x
    return out


def _padded(hw: tuple, pads: tuple) -> tuple:
    return tuple(n + sum(p) for n, p in zip(hw, pads))


def _inner(hw: tuple, pads: tuple) -> tuple:
    """The index of the unpadded input inside the padded one."""
    return (..., *(slice(p[0], p[0] + n) for n, p in zip(hw, pads)))


def _windows(xp: np.ndarray, k: tuple, s: tuple, d: tuple, out_hw: tuple) -> np.ndarray:
    """The (N, C, kh, kw, Ho, Wo) read-only view of the windows of padded xp (no copy)."""
    sn, sc, sh, sw = xp.strides
    strides = (sn, sc, sh * d[0], sw * d[1], sh * s[0], sw * s[1])
    return as_strided(xp, xp.shape[:2] + tuple(k) + tuple(out_hw), strides, writeable=False)


def _offsets(k: tuple, s: tuple, d: tuple, out_hw: tuple):
    """For each kernel offset (a, b): the strided slices of the padded input its windows read."""
    (ho, wo) = out_hw
    for a in range(k[0]):
        for b in range(k[1]):
            rows = slice(a * d[0], a * d[0] + s[0] * (ho - 1) + 1, s[0])
            cols = slice(b * d[1], b * d[1] + s[1] * (wo - 1) + 1, s[1])
            yield a, b, (..., rows, cols)


def _im2col(x: np.ndarray, k: tuple, s: tuple, pads: tuple, d: tuple, out_hw: tuple):
    """(N, C, H, W) -> contiguous columns (N, C*kh*kw, Ho*Wo): one copy of the window view."""
    view = _windows(_pad(x, pads), k, s, d, out_hw)
    return view.reshape(x.shape[0], -1, out_hw[0] * out_hw[1])


def _col2im(cols: np.ndarray, c: int, in_hw: tuple, k, s, d, pads, out_hw) -> np.ndarray:
    """The adjoint of _im2col: columns (N, C*kh*kw, Ho*Wo) summed back into (N, C, H, W)."""
    n = cols.shape[0]
    c6 = cols.reshape((n, c) + tuple(k) + out_hw)
    out = np.zeros((n, c) + _padded(in_hw, pads), dtype=cols.dtype)
    for a, b, sl in _offsets(k, s, d, out_hw):
        out[sl] += c6[:, :, a, b]
    return np.ascontiguousarray(out[_inner(in_hw, pads)])


def _wide_col2im(g: np.ndarray, wt: np.ndarray, c: int, in_hw, k, d, pads) -> np.ndarray:
    """conv's input gradient at stride 1 (the caller checks `_stride1`): the columns
    wt @ g, summed back into (N, C, H, W).

    _col2im adds each kernel offset's (Ho, Wo) block into a strided slice, whose rows of Wo
    numbers make NumPy's inner loop short. Here g is first widened to the padded width Wp
    with zero columns, so that in the flat padded plane offset (a, b) adds one contiguous run
    of Ho*Wp numbers starting at a*d*Wp + b*d: column i*Wp + j is pixel (i, j) for j < Wo,
    and the others ("junk") are set to exact zeros, which add nothing even where they land
    on a real pixel. About 2x faster than _col2im on small images, for (Wp / Wo - 1) more
    matmul columns."""
    n, o, ho, wo = g.shape
    hp, wp = _padded(in_hw, pads)
    wide = np.zeros((n, o, ho, wp), dtype=g.dtype)
    wide[..., :wo] = g
    groups = wt.shape[0]
    cols = np.matmul(wt, wide.reshape(n, groups, o // groups, ho * wp))
    cols = cols.reshape(n, c, k[0] * k[1], ho, wp)
    cols[..., wo:] = 0  # (w @ 0 is NaN where w holds an infinity)
    cols = cols.reshape(n, c, k[0] * k[1], ho * wp)
    flat = np.zeros((n, c, hp * wp + d[1] * (k[1] - 1)), dtype=cols.dtype)  # (+ the last runs)
    for a in range(k[0]):
        for b in range(k[1]):
            at = a * d[0] * wp + b * d[1]
            flat[:, :, at : at + ho * wp] += cols[:, :, a * k[1] + b]
    plane = flat[:, :, : hp * wp].reshape(n, c, hp, wp)
    return np.ascontiguousarray(plane[_inner(in_hw, pads)])


def _stride1(in_hw: tuple, k: tuple, s: tuple, pads: tuple, d: tuple, out_hw: tuple) -> bool:
    """Stride 1 with every window in the output (conv_transpose's output_padding aside)."""
    return tuple(s) == (1, 1) and _blocks(in_hw, k, s, pads, d) == tuple(out_hw)


def _blocks(in_hw: tuple, k: tuple, s: tuple, pads: tuple, d: tuple) -> tuple:
    """The number of window positions per spatial dim (conv's and unfold's output size)."""
    return tuple(
        (n + sum(p) - dd * (kk - 1) - 1) // ss + 1 for n, kk, ss, p, dd in zip(in_hw, k, s, pads, d)
    )


# ---- convolution: conv(x, w), its input gradient and its weight gradient (closed family) ------
@defop("Convolution")
def _conv(x, w, b, *, stride, padding, dilation, groups, out_hw):
    """x (N, C, [H,] W) * w (O, C/groups, [kh,] kw) + b (O,): one batched matmul over groups."""
    x4, w4 = _4d(x), _4d(w)
    n, o = x4.shape[0], w4.shape[0]
    cols = _im2col(x4, w4.shape[2:], stride, padding, dilation, out_hw)
    out = np.matmul(w4.reshape(groups, o // groups, -1), cols.reshape(n, groups, -1, cols.shape[2]))
    if b is not None:
        out += b.reshape(groups, -1, 1)
    return out.reshape((n, o) + (out_hw if x.ndim == 4 else out_hw[1:]))


@defop("Convolution")
def _conv_input(g, w, b, *, stride, padding, dilation, groups, in_hw):
    """The adjoint of _conv in x (conv_transpose): w^T @ g per group, then col2im."""
    g4, w4 = _4d(g), _4d(w)
    n, o, c = g4.shape[0], w4.shape[0], w4.shape[1] * groups
    wt = w4.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    k = w4.shape[2:]
    if _stride1(in_hw, k, stride, padding, dilation, g4.shape[2:]):
        out = _wide_col2im(g4, wt, c, in_hw, k, dilation, padding)
    else:
        cols = np.matmul(wt, g4.reshape(n, groups, o // groups, -1))
        out = _col2im(cols, c, in_hw, k, stride, dilation, padding, g4.shape[2:])
    if b is not None:
        out += b[:, None, None]
    return out if g.ndim == 4 else out[:, :, 0]


@defop("ConvolutionBackward")
def _conv_weight(x, g, *, stride, padding, dilation, groups, ksize):
    """The adjoint of _conv in w: sum over batch and pixels of g times the input's columns."""
    x4, g4 = _4d(x), _4d(g)
    n, o = g4.shape[:2]
    k = (1,) * (2 - len(ksize)) + tuple(ksize)
    cols = _im2col(x4, k, stride, padding, dilation, g4.shape[2:])
    cols = cols.reshape(n, groups, -1, cols.shape[2]).transpose(0, 1, 3, 2)
    gw = np.matmul(g4.reshape(n, groups, o // groups, -1), cols).sum(0)
    return gw.reshape((o, -1) + tuple(ksize))


def _hw(t: Tensor) -> tuple:
    return tuple(t.shape[2:]) if t.ndim == 4 else (1, t.shape[2])


def _bias_grad(g: Tensor) -> Tensor:
    return g.sum((0, 2, 3) if g.ndim == 4 else (0, 2))


_conv.defvjp(
    lambda g, out, x, w, b, *, out_hw, **p: _conv_input(g, w, None, **p, in_hw=_hw(x)),
    lambda g, out, x, w, b, *, out_hw, **p: _conv_weight(x, g, **p, ksize=tuple(w.shape[2:])),
    lambda g, out, x, w, b, *, out_hw, **p: _bias_grad(g),
)
_conv_input.defvjp(
    lambda u, out, g, w, b, *, in_hw, **p: _conv(u, w, None, **p, out_hw=_hw(g)),
    lambda u, out, g, w, b, *, in_hw, **p: _conv_weight(u, g, **p, ksize=tuple(w.shape[2:])),
    lambda u, out, g, w, b, *, in_hw, **p: _bias_grad(u),
)
_conv_weight.defvjp(
    lambda u, out, x, g, *, ksize, **p: _conv_input(g, u, None, **p, in_hw=_hw(x)),
    lambda u, out, x, g, *, ksize, **p: _conv(x, u, None, **p, out_hw=_hw(g)),
)
_conv.defvjp_np(
    lambda g, out, x, w, b, *, out_hw, **p: _conv_input.fwd(g, w, None, **p, in_hw=_hw(x)),
    lambda g, out, x, w, b, *, out_hw, **p: _conv_weight.fwd(x, g, **p, ksize=w.shape[2:]),
    lambda g, out, x, w, b, *, out_hw, **p: g.sum((0, 2, 3) if g.ndim == 4 else (0, 2)),
)


# ---- conv: torch's argument checks and the public functions ---------------------------------
def _dims(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _expand(value: IntOrPair, n: int, k: int, name: str) -> tuple:
    """An int or a sequence as a tuple for k spatial dims; an int first expands to the input's n
    dims (torch's message shows it so expanded when the weight's dims disagree)."""
    t = (int(value),) * n if isinstance(value, (int, np.integer)) else tuple(map(int, value))
    if len(t) != k:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {k} values to match the "
            f"convolution dimensions, but got {name}={list(t)}"
        )
    return t


def _conv_padding(padding, k: tuple, stride: tuple, dilation: tuple, n: int) -> tuple:
    """((lo, hi), ...) per spatial dim; 'same' pads d*(k-1) split with the extra at the end."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(k)
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total = [d * (kk - 1) for d, kk in zip(dilation, k)]
        if any(t % 2 for t in total):
            warnings.warn(
                "Using padding='same' with even kernel lengths and odd dilation may require a "
                "zero-padded copy of the input be created",
                stacklevel=4,
            )
        return tuple((t // 2, t - t // 2) for t in total)
    pads = _expand(padding, n, len(k), "padding")
    if any(p < 0 for p in pads):
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in pads)


def _check_conv(input: Tensor, weight: Tensor, bias, stride, dilation, groups: int, transposed):
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    w = _dims(weight.shape)
    if weight.shape[0] == 0 or weight.shape[0] % groups:
        what = "at least 1" if weight.shape[0] == 0 else f"divisible by {groups}"
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be {what} at dimension 0, but got weight "
            f"of size [{w}] instead"
        )
    want = weight.shape[0] if transposed else weight.shape[1] * groups
    if input.shape[1] != want:
        given = "transposed=1" if transposed else f"groups={groups}"
        raise RuntimeError(
            f"Given {given}, weight of size {w}, expected input{_dims(input.shape)} to have "
            f"{want} channels, but got {input.shape[1]} channels instead"
        )
    out_c = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_c):
        raise RuntimeError(
            f"Given weight of size {w}, expected bias to be 1-dimensional with {out_c} elements, "
            f"but got bias of size {_dims(bias.shape)} instead"
        )
    if bias is not None and bias.dtype is not input.dtype:
        raise RuntimeError(
            f"Input type ({_C_TYPES[input.dtype.name]}) and bias type "
            f"({_C_TYPES[bias.dtype.name]}) should be the same"
        )
    if input.dtype is not weight.dtype:
        if input.dtype.name == "float32":
            raise RuntimeError(
                f"Input type ({type_name(input)}) and weight type ({type_name(weight)}) should be "
                "the same or input should be a MKLDNN tensor and weight is a dense tensor"
            )
        raise RuntimeError(f"expected scalar type {_scalar(input)} but found {_scalar(weight)}")


def _scalar(t: Tensor) -> str:
    return type_name(t)[len("ember.") : -len("Tensor")]


def _unbatched(input: Tensor, nd: int, name: str) -> bool:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {_dims(input.shape)}"
        )
    return input.ndim == nd + 1


def _convnd(input, weight, bias, stride, padding, dilation, groups, nd: int, name: str) -> Tensor:
    unbatched = _unbatched(input, nd, name)
    if unbatched:  # Matches torch: unsqueeze(0), conv, squeeze(0) (SqueezeBackward1)
        input = input.unsqueeze(0)
    k = weight.ndim - 2
    stride = _expand(stride, nd, k, "stride")
    dilation = _expand(dilation, nd, k, "dilation")
    pads = _conv_padding(padding, tuple(weight.shape[2:]), stride, dilation, nd)
    _check_conv(input, weight, bias, stride, dilation, groups, transposed=False)
    size = [n + sum(p) for n, p in zip(input.shape[2:], pads)]
    kdil = [d * (kk - 1) + 1 for d, kk in zip(dilation, weight.shape[2:])]
    if any(kk > n for kk, n in zip(kdil, size)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, size))}). Kernel "
            f"size: ({' x '.join(map(str, kdil))}). Kernel size can't be greater than actual "
            "input size"
        )
    out = tuple((n - kk) // s + 1 for n, kk, s in zip(size, kdil, stride))
    lift = (1,) * (2 - nd)  # 1-D: the H = 1 case of the 2-D kernels
    p = dict(
        stride=lift + stride,
        padding=((0, 0),) * (2 - nd) + pads,
        dilation=lift + dilation,
        groups=groups,
    )
    out = _conv(input, weight, bias, **p, out_hw=lift + out)
    return out.squeeze(0) if unbatched else out


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation of (N, C, L) or (C, L) input with (O, C/groups, k) weight."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of (N, C, H, W) or (C, H, W) input with (O, C/groups, kh, kw)
    weight; padding is an int, a pair, 'valid' (none) or 'same' (output size = input size)."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> Tensor:
    """The adjoint of conv2d in its input ("deconvolution"): weight is (C_in, C_out/groups, kh,
    kw); output_padding adds rows/columns at the end to pick among the sizes conv2d maps alike."""
    if isinstance(padding, str):
        raise TypeError("conv_transpose2d(): argument 'padding' must be tuple of ints, not str")
    if _unbatched(input, 2, "conv_transpose2d"):
        args = (stride, padding, output_padding, groups, dilation)
        return conv_transpose2d(input.unsqueeze(0), weight, bias, *args).squeeze(0)
    k = weight.ndim - 2
    stride, dilation, pad, opad = (
        _expand(v, 2, k, name)
        for v, name in (
            (stride, "stride"),
            (dilation, "dilation"),
            (padding, "padding"),
            (output_padding, "output_padding"),
        )
    )
    if any(p < 0 for p in pad):
        raise RuntimeError("negative padding is not supported")
    _check_conv(input, weight, bias, stride, dilation, groups, transposed=True)
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {opad[0]} output_padding_width: {opad[1]} stride_height: "
            f"{stride[0]} stride_width: {stride[1]} dilation_height: {dilation[0]} "
            f"dilation_width: {dilation[1]}"
        )
    in_hw = input.shape[2:]
    out = tuple(
        (n - 1) * s - 2 * p + d * (kk - 1) + o + 1
        for n, s, p, d, kk, o in zip(in_hw, stride, pad, dilation, weight.shape[2:], opad)
    )
    if any(o <= 0 for o in out):
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, in_hw))}). Calculated output "
            f"size per channel: ({' x '.join(map(str, out))}). Output size is too small"
        )
    pads = tuple((p, p) for p in pad)
    p = dict(stride=stride, padding=pads, dilation=dilation, groups=groups)
    return _conv_input(input, weight, bias, **p, in_hw=out)


# ---- max pooling: running argmax over kernel offsets; backward scatters by the indices -------
def _window_max(views: list, pos: np.ndarray, start: np.ndarray) -> tuple:
    """Max and flat index over a window's candidate views (in window order); pos[j] holds
    candidate j's flat input index per output position, start the window's first real one.

    Values: elementwise np.maximum (NaN propagates). Indices: the first candidate equal to
    the max, so the first maximum wins, as in torch; then, as in torch, the last NaN wins,
    and a window of -inf only keeps its first real element.
    """
    best = views[0].copy()
    for v in views[1:]:
        np.maximum(best, v, out=best)
    # The first candidate equal to the max: the number of leading candidates that are not
    # (a running "no match yet" mask, added up), ~15x faster than a masked copy per candidate.
    code = np.zeros(best.shape, dtype=np.min_scalar_type(len(views)))
    miss = views[0] != best
    for v in views[1:-1]:
        code += miss
        miss &= v != best
    code += miss
    if np.isnan(best).any():
        for j, v in enumerate(views):
            np.copyto(code, j, where=v != v)
    lut = pos[:, 0, 0] - pos[0, 0, 0]
    if np.array_equal(pos, pos[0] + lut[:, None, None]):
        # Regular windows: candidate j sits at a fixed offset from candidate 0 everywhere.
        idx = pos[0] + np.take(lut, code)
    else:
        idx = pos[code, np.arange(pos.shape[1])[:, None], np.arange(pos.shape[2])]
    low = best == (-np.inf if best.dtype.kind == "f" else np.iinfo(best.dtype).min)
    if low.any():
        np.copyto(idx, start, where=low)
    return best, idx


def _first_real(n: int, s: int, pad: int, d: int) -> np.ndarray:
    """Per output position: the first window row (or column) that is inside the input."""
    r = np.arange(n) * s - pad
    return np.where(r < 0, r + (-r + d - 1) // d * d, r)


@defop("MaxPool2DWithIndices", nout=2)
def _max_pool(x, *, k, s, pads, d, out_hw):
    x4 = x if x.ndim == 4 else x[None]
    w = x.shape[-1]
    xp = _pad(x4, pads, -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min)
    rows = [np.arange(out_hw[0]) * s[0] + a * d[0] - pads[0][0] for a in range(k[0])]
    cols = [np.arange(out_hw[1]) * s[1] + b * d[1] - pads[1][0] for b in range(k[1])]
    offsets = list(_offsets(k, s, d, out_hw))
    pos = np.stack([rows[a][:, None] * w + cols[b] for a, b, _ in offsets])
    rs, cs = (_first_real(n, ss, p[0], dd) for n, ss, p, dd in zip(out_hw, s, pads, d))
    best, idx = _window_max([xp[sl] for _, _, sl in offsets], pos, rs[:, None] * w + cs)
    return (best, idx) if x.ndim == 4 else (best[0], idx[0])


@defop("MaxPool2DWithIndicesBackward")
def _max_pool_backward(g, x, idx, *, overlap):
    """Scatter g into zeros of x's shape at the argmax indices (summed if windows overlap,
    since then one element can be the maximum of several windows)."""
    planes, hw = math.prod(x.shape[:-2]), x.shape[-2] * x.shape[-1]
    g2, i2 = g.reshape(planes, -1), idx.reshape(planes, -1)
    flat = (i2 + np.arange(planes)[:, None] * hw).ravel()  # (into the flat input)
    if overlap:
        out = np.bincount(flat, g2.ravel(), minlength=planes * hw).astype(g.dtype, copy=False)
    else:  # (each index once: a flat integer store, ~4x faster than put_along_axis)
        out = np.zeros(planes * hw, dtype=g.dtype)
        out[flat] = g2.ravel()
    return out.reshape(x.shape)


def _zeros(x: Tensor) -> Tensor:
    return _factories.zeros_const(tuple(x.shape), x.dtype.np)


def _gather_planes(u: Tensor, idx: Tensor) -> Tensor:
    return u.flatten(-2).gather(-1, idx.flatten(-2)).reshape(idx.shape)


def _overlap(k: tuple, s: tuple, d: tuple) -> bool:
    return any(ss < dd * (kk - 1) + 1 for kk, ss, dd in zip(k, s, d))


_max_pool.defvjp(
    lambda g, out, x, *, k, s, d, **p: _max_pool_backward(
        g[0], x, out[1], overlap=_overlap(k, s, d)
    ),
)
_max_pool.defvjp_np(
    lambda g, out, x, *, k, s, d, **p: _max_pool_backward.fwd(
        g[0], x, out[1], overlap=_overlap(k, s, d)
    ),
)
# Matches torch: the backward ops of pooling take the input and give it a zero gradient
# (derivatives.yaml), so grad() of a gradient with respect to the input returns zeros.
_max_pool_backward.defvjp(
    lambda u, out, g, x, idx, **p: _gather_planes(u, idx),
    lambda u, out, g, x, idx, **p: _zeros(x),
    None,
)


def _adaptive_bounds(n: int, o: int) -> tuple:
    """torch's adaptive windows: [floor(i*n/o), ceil((i+1)*n/o)) for output i."""
    i = np.arange(o)
    return i * n // o, ((i + 1) * n + o - 1) // o


@defop("AdaptiveMaxPool2D", nout=2)
def _adaptive_max_pool(x, *, out_hw):
    """Windows of unequal sizes: each offset reads index-clipped rows/columns (a repeat of an
    element comes after it, so never displaces it as the first maximum)."""
    x4 = x if x.ndim == 4 else x[None]
    (r0, r1), (c0, c1) = (_adaptive_bounds(n, o) for n, o in zip(x.shape[-2:], out_hw))
    w = x.shape[-1]
    rows = [np.minimum(r0 + a, r1 - 1) for a in range(max(r1 - r0, default=1))]
    cols = [np.minimum(c0 + b, c1 - 1) for b in range(max(c1 - c0, default=1))]
    views = [x4[:, :, r][..., c] for r in rows for c in cols]
    pos = np.stack([r[:, None] * w + c for r in rows for c in cols])
    best, idx = _window_max(views, pos, pos[0])
    return (best, idx) if x.ndim == 4 else (best[0], idx[0])


_adaptive_max_pool.defvjp(
    lambda g, out, x, **p: _max_pool_backward(g[0], x, out[1], overlap=True),
)


# ---- average pooling: sum over kernel offsets / divisor; backward is its adjoint ------------
@defop("AvgPool2D")
def _avg_pool(x, *, k, s, pads, out_hw, divisor):
    x4 = x if x.ndim == 4 else x[None]
    xp = _pad(x4, pads)
    total = np.zeros(x4.shape[:2] + out_hw, dtype=x.dtype)
    for _, _, sl in _offsets(k, s, (1, 1), out_hw):
        total += xp[sl]
    np.divide(total, divisor, out=total, casting="unsafe")
    return total if x.ndim == 4 else total[0]


@defop("AvgPool2DBackward")
def _avg_pool_backward(g, x, *, k, s, pads, out_hw, divisor):
    g4 = g if g.ndim == 4 else g[None]
    gd = (g4 / divisor).astype(g.dtype, copy=False)
    cols = np.broadcast_to(gd[:, :, None, None], gd.shape[:2] + tuple(k) + out_hw)
    out = _col2im(cols, g4.shape[1], x.shape[-2:], k, s, (1, 1), pads, out_hw)
    return out if g.ndim == 4 else out[0]


_avg_pool.defvjp(lambda g, out, x, **p: _avg_pool_backward(g, x, **p))
_avg_pool_backward.defvjp(
    lambda u, out, g, x, **p: _avg_pool(u, **p),
    lambda u, out, g, x, **p: _zeros(x),
)


def _adaptive_matrix(n: int, o: int, dtype) -> np.ndarray:
    """(o, n) averaging matrix: row i holds 1/len over adaptive window i."""
    start, end = _adaptive_bounds(n, o)
    h = np.arange(n)
    inside = (h >= start[:, None]) & (h < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


@defop("AdaptiveAvgPool2D")
def _adaptive_avg_pool(x, *, out_hw):
    """Separable and linear: A_h @ x @ A_w^T with averaging matrices (two BLAS products)."""
    ah, aw = (_adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[-2:], out_hw))
    return np.matmul(np.matmul(ah, x), aw.T)


@defop("AdaptiveAvgPool2DBackward")
def _adaptive_avg_pool_backward(g, x):
    ah, aw = (_adaptive_matrix(n, o, g.dtype) for n, o in zip(x.shape[-2:], g.shape[-2:]))
    return np.matmul(np.matmul(ah.T, g), aw)


_adaptive_avg_pool.defvjp(lambda g, out, x, **p: _adaptive_avg_pool_backward(g, x))
_adaptive_avg_pool_backward.defvjp(
    lambda u, out, g, x: _adaptive_avg_pool(u, out_hw=tuple(g.shape[-2:])),
    lambda u, out, g, x: _zeros(x),
)


# ---- unfold (im2col) and fold (col2im): each the other's adjoint -----------------------------
@defop("Im2Col")
def _unfold(x, *, k, s, pads, d, out_hw):
    x4 = x if x.ndim == 4 else x[None]
    cols = _im2col(x4, k, s, pads, d, out_hw)
    return cols if x.ndim == 4 else cols[0]


@defop("Col2Im")
def _fold(x, *, k, s, pads, d, in_hw):
    x3 = x if x.ndim == 3 else x[None]
    c = x3.shape[1] // (k[0] * k[1])
    out = _col2im(x3, c, in_hw, k, s, d, pads, _blocks(in_hw, k, s, pads, d))
    return out if x.ndim == 3 else out[0]


_unfold.defvjp(
    lambda g, out, x, *, out_hw, **p: _fold(g, **p, in_hw=tuple(x.shape[-2:])),
)
_fold.defvjp(
    lambda g, out, x, *, in_hw, **p: _unfold(g, **p, out_hw=_blocks(in_hw, **p)),
)


# ---- pooling and unfold/fold: torch's argument checks and the public functions ---------------
def _pool_args(name, input, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    """Normalised (k, s, pads, d, out_hw) of a 2-D pool, with torch's checks and messages."""
    k = _pool_args_pair(kernel_size, name, "kernel_size", "either be")
    s = _pool_args_pair(stride, name, "stride", "either be omitted,", default=k)
    p = _pool_args_pair(padding, name, "padding", "either be")
    d = _pool_args_pair(dilation, name, "dilation", "be either")
    if input.ndim not in (3, 4) or input.numel() == 0:
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if min(k) <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}"
        )
    if min(s) <= 0:
        raise RuntimeError("stride should not be zero")
    if min(d) <= 0:
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}"
        )
    for kk, pp, dd in zip(k, p, d):
        if pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(
                "pad should be at most half of effective kernel size, but got "
                f"pad={pp}, kernel_size={kk} and dilation={dd}"
            )
    in_hw = tuple(input.shape[-2:])
    out_hw = tuple(_pool_out(*a, ceil_mode) for a in zip(in_hw, k, s, p, d))
    if min(out_hw) < 1:
        c = input.shape[-3]
        raise RuntimeError(
            f"Given input size: ({c}x{in_hw[0]}x{in_hw[1]}). Calculated output size: "
            f"({c}x{out_hw[0]}x{out_hw[1]}). Output size is too small"
        )
    # Pad the end further where ceil_mode lets the last window run past the padded input.
    pads = tuple(
        (pp, max(pp, (o - 1) * ss + dd * (kk - 1) + 1 - n - pp))
        for n, kk, ss, pp, dd, o in zip(in_hw, k, s, p, d, out_hw)
    )
    return k, s, p, pads, d, out_hw


def _pool_args_pair(value, name: str, arg: str, must: str, default: tuple | None = None):
    if default is not None and (value is None or (isinstance(value, Sequence) and not value)):
        return default
    t = (int(value),) * 2 if isinstance(value, (int, np.integer)) else tuple(map(int, value))
    if len(t) not in (1, 2):
        raise RuntimeError(f"{name}: {arg} must {must} a single int, or a tuple of two ints")
    return t * (3 - len(t))


def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output size; in ceil mode the last window must start inside the input
    or its left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max over (dilated) kh x kw windows of (N, C, H, W) or (C, H, W) input, padding counting
    as -inf; with return_indices also the flat index (h * W + w) of each maximum."""
    refuse_complex("max_pool2d", input)
    k, s, _, pads, d, out_hw = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    out, idx = _max_pool(input, k=k, s=s, pads=pads, d=d, out_hw=out_hw)
    return (out, idx) if return_indices else out


def max_pool1d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max over windows of (N, C, L) or (C, L) input (max_pool2d with H = 1, as torch does)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_dims(input.shape)}"
        )
    if not return_indices and not (input.requires_grad and is_grad_enabled()):
        refuse_complex("max_pool1d_impl", input)  # (torch's kernel when no graph is recorded)
    args = (_one(kernel_size, 1), _one(stride, 1), _one(padding, 0), _one(dilation, 1), ceil_mode)
    out = max_pool2d(input.unsqueeze(-2), *args, return_indices=return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def _one(v, h: int):
    """A 1-D pool argument as the (h, v) pair of the 2-D pool it runs on (H = 1)."""
    if v is None or (isinstance(v, Sequence) and not v):
        return v
    return (h, int(v if isinstance(v, (int, np.integer)) else v[0]))


def avg_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over kh x kw windows; the divisor counts zero padding if count_include_pad (never
    the part of a ceil_mode window past the padding), or is divisor_override when given."""
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    refuse_complex("avg_pool2d", input)
    k, s, p, pads, _, out_hw = _pool_args(
        "avg_pool2d", input, kernel_size, stride, padding, 1, False if not ceil_mode else True
    )
    if divisor_override is not None:
        divisor = _factories.shape_const(np.array(float(divisor_override)))
    else:
        full, clip = zip(
            *(
                _avg_counts(n, kk, ss, pp, o)
                for n, kk, ss, pp, o in zip(input.shape[-2:], k, s, p, out_hw)
            )
        )
        divisor = _factories.shape_const(
            np.outer(*(full if count_include_pad else clip)).astype(float)
        )
    return _avg_pool(input, k=k, s=s, pads=pads, out_hw=out_hw, divisor=divisor)


def _avg_counts(n: int, k: int, s: int, p: int, o: int) -> tuple:
    """Per window: its length within the padded input, and within the input itself."""
    start = np.arange(o) * s - p
    end = np.minimum(start + k, n + p)
    return end - start, np.minimum(end, n) - np.maximum(start, 0)


def avg_pool1d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over windows of (N, C, L) or (C, L) input (avg_pool2d with H = 1, as torch does)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            "#1 'self' (while checking arguments for avg_pool1d)"
        )
    args = (_one(kernel_size, 1), _one(stride, 1), _one(padding, 0), ceil_mode, count_include_pad)
    return avg_pool2d(input.unsqueeze(-2), *args).squeeze(-2)


def _adaptive_size(name: str, input: Tensor, output_size) -> tuple:
    if input.ndim not in (3, 4):
        sep = ":" if "max" in name else ""
        raise RuntimeError(f"{name}(): Expected 3D or 4D tensor, but got{sep} {list(input.shape)}")
    size = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) else output_size
    if len(size) != 2:
        raise RuntimeError(f"{name}: output_size must be 2")
    return tuple(int(n if o is None else o) for n, o in zip(input.shape[-2:], size))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over the windows that split H and W into output_size parts (None keeps a size)."""
    out_hw = _adaptive_size("adaptive_avg_pool2d", input, output_size)
    if out_hw == (1, 1):
        return input.mean((-1, -2), keepdim=True)  # Matches torch: MeanBackward1
    refuse_complex("adaptive_avg_pool2d", input)
    return _adaptive_avg_pool(input, out_hw=out_hw)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """adaptive_avg_pool2d over (N, C, 1, L), as torch computes it."""
    size = output_size if isinstance(output_size, (int, np.integer)) else output_size[0]
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over the windows that split H and W into output_size parts (None keeps a size)."""
    out_hw = _adaptive_size("adaptive_max_pool2d", input, output_size)
    refuse_complex("adaptive_max_pool2d", input)
    out, idx = _adaptive_max_pool(input, out_hw=out_hw)
    return (out, idx) if return_indices else out


def _unfold_args(kernel_size, dilation, padding, stride) -> dict:
    k, d, p, s = (
        _pool_args_pair(v, "unfold", n, "be")
        for v, n in (
            (kernel_size, "kernel_size"),
            (dilation, "dilation"),
            (padding, "padding"),
            (stride, "stride"),
        )
    )
    if min(p) < 0:
        raise RuntimeError(
            f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}"
        )
    return dict(k=k, s=s, pads=tuple((pp, pp) for pp in p), d=d)


def unfold(
    input: Tensor,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C*kh*kw, L), one column per window position."""
    if input.ndim not in (3, 4):
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, "
            f"{input.ndim - 1}], but got 2)"
        )
    p = _unfold_args(kernel_size, dilation, padding, stride)
    in_hw = tuple(input.shape[-2:])
    out_hw = _blocks(in_hw, **p)
    if min(out_hw) < 1:
        raise RuntimeError(
            f"Given input with spatial size {in_hw}, kernel_size={p['k']}, dilation={p['d']}, "
            f"padding={tuple(pp for pp, _ in p['pads'])}, calculated shape of the array of "
            f"sliding blocks as {out_hw}, but its components must be at least one."
        )
    return _unfold(input, **p, out_hw=out_hw)


def fold(
    input: Tensor,
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Tensor:
    """col2im, the adjoint of unfold: sums (N, C*kh*kw, L) columns into (N, C, *output_size)."""
    p = _unfold_args(kernel_size, dilation, padding, stride)
    in_hw = _pool_args_pair(output_size, "fold", "output_size", "be")
    k = p["k"]
    if input.shape[-2] % (k[0] * k[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={input.shape[-2]} and kernel_size={k}."
        )
    blocks = _blocks(in_hw, **p)
    if input.shape[-1] != math.prod(blocks):
        raise RuntimeError(
            f"Given output_size={in_hw}, kernel_size={k}, dilation={p['d']}, "
            f"padding={tuple(pp for pp, _ in p['pads'])}, stride={p['s']}, expected size of "
            "input's dimension 2 to match the calculated number of sliding blocks "
            f"{blocks[0]} * {blocks[1]} = {math.prod(blocks)}, but got input.size(2)="
            f"{input.shape[-1]}."
        )
    return _fold(input, **p, in_hw=in_hw)
