"""Shape ops: views (reshape, transpose, expand, diagonal, ...), copies that move elements (flip,
roll, repeat, tril, diag) and joins/splits (cat, stack, split, chunk, unbind).

Views share memory and the version counter with their base (`_base`), as torch's do: the
forward returns a NumPy view of its input and the public function marks it with `_view`.
Results that are copies in torch are C-contiguous copies here too (flip keeps the input's
layout, as torch's does), so that a later `view` succeeds or fails as it would in torch.
Every rule is written with the ops of this module, so gradients of gradients come for free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import _factories
from .._tensor import Size, Tensor
from ._registry import defop, sum_axes
from ._saved import type_name
from ._util import shape_args, wrap_dim, wrap_dims

__all__ = [
    "numel",
    "as_strided",
    "as_strided_scatter",
    "broadcast_shapes",
    "broadcast_tensors",
    "meshgrid",
    "broadcast_to",
    "cat",
    "chunk",
    "concat",
    "concatenate",
    "diag",
    "diag_embed",
    "diagonal",
    "flatten",
    "flip",
    "fliplr",
    "flipud",
    "hstack",
    "moveaxis",
    "movedim",
    "narrow",
    "permute",
    "ravel",
    "reshape",
    "roll",
    "select",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "swapdims",
    "t",
    "tile",
    "transpose",
    "tril",
    "triu",
    "unbind",
    "unflatten",
    "unsqueeze",
    "view_as_complex",
    "view_as_real",
    "vstack",
]  # fmt: skip
TENSOR_METHODS = [
    "as_strided", "as_strided_scatter",
    "reshape", "view", "view_as", "reshape_as", "flatten", "unflatten", "ravel", "squeeze",
    "unsqueeze", "transpose", "swapaxes", "swapdims", "permute", "t", "movedim", "moveaxis",
    "sum_to_size", "expand", "expand_as", "broadcast_to", "repeat", "tile", "flip", "fliplr",
    "flipud", "roll", "split", "chunk", "unbind", "narrow", "select", "tril", "triu", "diag",
    "diagonal", "diag_embed",
]  # fmt: skip

_VIEW_ERROR = (
    "view size is not compatible with input tensor's size and stride (at least one dimension "
    "spans across two contiguous subspaces). Use .reshape(...) instead."
)


def _view(out: Tensor, base: Tensor) -> Tensor:
    """Mark `out` as a view of `base` (or of base's own base): shared version counter."""
    root = base._base if base._base is not None else base
    out._base = root
    out._base_fn = root._grad_fn
    out._vc = root._vc
    return out


def _views(outs: tuple, base: Tensor) -> tuple:
    return tuple(_view(o, base) for o in outs)


def _contiguous(a: np.ndarray) -> np.ndarray:
    """Matches torch: ops that copy (cat, repeat, roll, tril, ...) return contiguous tensors."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _zeros(shape: tuple, like: Tensor) -> Tensor:
    """A constant zero gradient, for outputs of split/unbind that received none."""
    return _factories.zeros_const(shape, like.dtype.np)


def _ints(args: tuple, keyword: int | Sequence[int] | None) -> tuple:
    """Sizes or dims given as varargs, as one sequence, or by keyword (`x.view(size=(2, 3))`)."""
    return shape_args(args if keyword is None else (keyword,))


def _wrap_dim_nonscalar(dim: int, ndim: int) -> int:
    """wrap_dim for ops that reject 0-d tensors (roll with dims, unbind), in torch's words."""
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return wrap_dim(dim, ndim)


# ---- sum_to_size / expand: the engine un-broadcasts gradients with these ----------------------
@defop("SumBackward1")
def _sum_to(x, shape):
    axes = sum_axes(x.shape, shape)
    out = np.add.reduce(x, axis=axes, keepdims=True) if axes else x
    return out.reshape(shape)


_sum_to.defvjp(lambda g, out, x, shape: expand(g, x.shape))
_sum_to.defjvp_linear()


def sum_to_size(input: Tensor, *size: int | Sequence[int]) -> Tensor:
    """Sum input down to `size` (the inverse of broadcasting)."""
    shape, have = shape_args(size), tuple(input.shape)
    if have == shape:
        return input
    lead = len(have) - len(shape)
    if lead < 0 or any(s not in (1, h) for s, h in zip(shape, have[lead:])):
        raise RuntimeError(f"size {{{list(shape)}}} is not expandable to size {{{list(have)}}}.")
    return _sum_to(input, shape=shape)


@defop("Expand")
def _expand(x, shape):
    return np.broadcast_to(x, shape)


_expand.defvjp(lambda g, out, x, shape: sum_to_size(g, x.shape))
_expand.defvjp_np(lambda g, out, x, shape: g)  # (the engine sums it back to x's shape)
_expand.defjvp_linear()


def expand(input: Tensor, *sizes: int | Sequence[int], size: Sequence[int] | None = None) -> Tensor:
    """A broadcast view of input with the given sizes (-1 keeps a size); no memory is copied."""
    shape = _ints(sizes, size)
    have = tuple(input.shape)
    lead = len(shape) - len(have)
    if lead < 0:
        raise RuntimeError(
            f"expand({type_name(input)}{{{list(have)}}}, size={list(shape)}): the number of sizes "
            f"provided ({len(shape)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({len(have)})"
        )
    out = list(shape)
    for i in range(len(shape) - 1, -1, -1):  # Matches torch: checks from the last dim
        s = shape[i]
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                    f"non-existing dimension {i}"
                )
        elif s == -1:
            out[i] = have[i - lead]
        elif s != have[i - lead] and have[i - lead] != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size "
                f"({have[i - lead]}) at non-singleton dimension {i}.  Target sizes: {list(shape)}."
                f"  Tensor sizes: {list(have)}"
            )
        elif s < 0:
            raise RuntimeError("numel: integer multiplication overflow")
    return _view(_expand(input, shape=tuple(out)), input)


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """expand(input, other.shape)."""
    return expand(input, other.shape)


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    """expand(input, size): torch's NumPy-style name (grad_fn ExpandBackward0)."""
    return expand(input, tuple(size))


def broadcast_shapes(*shapes: int | Sequence[int]) -> Size:
    """The shape that tensors of the given shapes broadcast to (torch's rules and message)."""
    out: list = []
    for k, shape in enumerate(shapes):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        out = [1] * (len(shape) - len(out)) + out
        for i in range(-1, -len(shape) - 1, -1):
            if shape[i] != out[i] and shape[i] != 1:
                if out[i] != 1:
                    raise RuntimeError(
                        f"Attempting to broadcast a dimension of length {shape[i]} at {i}! "
                        f"Mismatching argument at index {k} had {shape}; but expected shape "
                        f"should be broadcastable to {out}"
                    )
                out[i] = shape[i]
    return Size(out)


def broadcast_tensors(*tensors: Tensor) -> tuple:
    """Views of the tensors expanded to their common broadcast shape (ExpandBackward0)."""
    from ._registry import _broadcast_error

    try:
        shape = np.broadcast_shapes(*(t._data.shape for t in tensors))
    except ValueError:
        raise _broadcast_error([t._data for t in tensors]) from None
    return tuple(expand(t, shape) for t in tensors)


def meshgrid(*tensors: Tensor | Sequence[Tensor], indexing: str | None = None) -> tuple:
    """Coordinate grids: output i is tensor i viewed along its own dim and expanded to every
    tensor's length ('ij'); 'xy' swaps the first two dims (Cartesian, as NumPy's default)."""
    import warnings

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "ember.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError(
            f'ember.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(
                f"ember.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}"
            )
    if any(t.dtype is not tensors[0].dtype for t in tensors):
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    n = len(tensors)
    order = list(range(n))
    if indexing == "xy" and n >= 2:
        order[0], order[1] = 1, 0  # tensor 0 varies along dim 1, tensor 1 along dim 0
    shape = [0] * n
    for i, t in zip(order, tensors):
        shape[i] = t.numel()
    grids = []
    for i, t in zip(order, tensors):
        view = [1] * n
        view[i] = -1
        grids.append(t.view(view).expand(shape))
    return tuple(grids)


# ---- reshaping views: the forward only changes the shape, the vjp reshapes back --------------
def _reshaping(node: str, name: str):
    def fwd(x, shape):
        return np.reshape(x, shape, copy=False)  # ValueError when strides allow no view

    fwd.__name__ = fwd.__qualname__ = name
    op = defop(node)(fwd)
    op.defvjp(lambda g, out, x, shape: reshape(g, x.shape))
    op.defvjp_np(lambda g, out, x, shape: g.reshape(x.shape))
    return op.defjvp_linear()


_view_op = _reshaping("View", "_view_op")
_reshape_alias = _reshaping("ReshapeAlias", "_reshape_alias")  # torch: reshape of a strided view
_unsafe_view = _reshaping("UnsafeView", "_unsafe_view")  # torch: reshape of a copy
_squeeze_all = _reshaping("SqueezeBackward0", "_squeeze_all")
_squeeze_dim = _reshaping("SqueezeBackward1", "_squeeze_dim")
_squeeze_dims = _reshaping("SqueezeBackward2", "_squeeze_dims")
_unsqueeze = _reshaping("Unsqueeze", "_unsqueeze")


def _infer_size(shape: tuple, numel: int, mismatch: str | None = None) -> tuple:
    """Resolve one -1 in `shape` so that it holds `numel` elements, with torch's errors
    (`mismatch` replaces the message for sizes that cannot hold `numel` elements)."""
    infer, known = None, 1
    for i, s in enumerate(shape):
        if s == -1:
            if infer is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {list(shape)}")
        else:
            known *= s
    if infer is None and known == numel:
        return shape
    if infer is not None and known == 0 and numel == 0:
        raise RuntimeError(
            f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
            f"unspecified dimension size -1 can be any value and is ambiguous"
        )
    if infer is not None and known != 0 and numel % known == 0:
        return shape[:infer] + (numel // known,) + shape[infer + 1 :]
    raise RuntimeError(mismatch or f"shape '{list(shape)}' is invalid for input of size {numel}")


def view(input: Tensor, *sizes: int | Sequence[int], size: Sequence[int] | None = None) -> Tensor:
    """The same memory seen with another shape; RuntimeError (torch's) when strides forbid it."""
    shape = _infer_size(_ints(sizes, size), input.numel())
    try:
        out = _view_op(input, shape=shape)
    except ValueError:
        raise RuntimeError(_VIEW_ERROR) from None
    return _view(out, input)


def reshape(
    input: Tensor, *sizes: int | Sequence[int], shape: Sequence[int] | None = None
) -> Tensor:
    """A view when the strides allow one, else a contiguous copy (as torch decides)."""
    shape = _infer_size(_ints(sizes, shape), input.numel())
    if input.is_contiguous():
        return _view(_view_op(input, shape=shape), input)
    try:
        # Matches torch: a non-contiguous input that can be viewed records ReshapeAliasBackward0.
        return _view(_reshape_alias(input, shape=shape), input)
    except ValueError:
        return _unsafe_view(input.contiguous(), shape=shape)  # CloneBackward0 then UnsafeView


def view_as(input: Tensor, other: Tensor) -> Tensor:
    """view(input, other.shape)."""
    return view(input, other.shape)


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """reshape(input, other.shape)."""
    return reshape(input, other.shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one; returns input itself when there is nothing to do."""
    if input.ndim == 0:
        return reshape(input, (1,))
    start, end = wrap_dim(start_dim, input.ndim), wrap_dim(end_dim, input.ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return input  # Matches torch: no new node, not even a view
    s = input.shape
    return reshape(input, s[:start] + (int(np.prod(s[start : end + 1])),) + s[end + 1 :])


def ravel(input: Tensor) -> Tensor:
    """Flatten to 1-D; a view of the input, or of a contiguous copy of it (as torch does)."""
    return view(input.contiguous(), -1)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim into `sizes` (one -1 may be inferred); always a view."""
    d = wrap_dim(dim, input.ndim)
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = input.shape[d]
    mismatch = (
        f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} ({n}) "
        "in the input tensor"
    )
    shape = input.shape[:d] + _infer_size(sizes, n, mismatch) + input.shape[d + 1 :]
    return _view(_view_op(input, shape=shape), input)


def squeeze(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Drop size-1 dims (all, one, or a tuple); dims of another size are kept silently."""
    if dim is None:
        op, dims = _squeeze_all, range(input.ndim)
    elif not isinstance(dim, (tuple, list)):
        op, dims = _squeeze_dim, (wrap_dim(int(dim), input.ndim),)
    else:
        op, dims = _squeeze_dims, wrap_dims(dim, input.ndim)
    shape = tuple(s for i, s in enumerate(input.shape) if s != 1 or i not in dims)
    return _view(op(input, shape=shape), input)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at `dim` (in range [-ndim-1, ndim])."""
    d = wrap_dim(dim, input.ndim + 1)
    shape = input.shape[:d] + (1,) + input.shape[d:]
    return _view(_unsqueeze(input, shape=shape), input)


# ---- permuting views ---------------------------------------------------------------------------
@defop("Transpose")
def _transpose(x, dim0, dim1):
    return np.swapaxes(x, dim0, dim1) if x.ndim else x.view()


_transpose.defvjp(lambda g, out, x, dim0, dim1: transpose(g, dim0, dim1))
_transpose.defvjp_np(lambda g, out, x, dim0, dim1: np.swapaxes(g, dim0, dim1) if g.ndim else g)
_transpose.defjvp_linear()


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    d0, d1 = wrap_dim(dim0, input.ndim), wrap_dim(dim1, input.ndim)
    return _view(_transpose(input, dim0=d0, dim1=d1), input)


swapdims = transpose


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """transpose, with NumPy's argument names."""
    return transpose(input, axis0, axis1)


@defop("T")
def _t(x):
    return x.T


_t.defvjp(lambda g, out, x: t(g))
_t.defvjp_np(lambda g, out, x: g.T)
_t.defjvp_linear()


def t(input: Tensor) -> Tensor:
    """Transpose a matrix; 0-d and 1-d tensors come back as views of themselves."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return _view(_t(input), input)


@defop("Permute")
def _permute(x, dims):
    return np.transpose(x, dims)


_permute.defvjp(lambda g, out, x, dims: permute(g, tuple(int(i) for i in np.argsort(dims))))
_permute.defvjp_np(lambda g, out, x, dims: np.transpose(g, np.argsort(dims)))
_permute.defjvp_linear()


def permute(input: Tensor, *args: int | Sequence[int], dims: Sequence[int] | None = None) -> Tensor:
    """Reorder the dims (a view): out.shape[i] == input.shape[dims[i]]."""
    dims = _ints(args, dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            "length of the desired ordering of dimensions i.e. input.dim() = "
            f"{input.ndim} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(wrap_dim(d, input.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _view(_permute(input, dims=dims), input)


def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move dims `source` to positions `destination`, the others keeping their order."""
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    nsrc = [wrap_dim(d, input.ndim) for d in src]
    ndst = [wrap_dim(d, input.ndim) for d in dst]
    for name, given, wrapped in (("source", src, nsrc), ("destination", dst, ndst)):
        if len(set(wrapped)) != len(wrapped):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    order = [d for d in range(input.ndim) if d not in nsrc]
    for d, s in sorted(zip(ndst, nsrc)):
        order.insert(d, s)
    return permute(input, order)  # Matches torch: PermuteBackward0, even for a no-op


moveaxis = movedim


# ---- copies that move elements -----------------------------------------------------------------
@defop("Repeat")
def _repeat(x, repeats):
    return _contiguous(np.tile(x, repeats))


def _repeat_vjp(g, out, x, repeats):
    """Sum the copies: view g as (r0, s0, r1, s1, ...) and sum over the r axes."""
    shape = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
    split = tuple(v for r, s in zip(repeats, shape) for v in (r, s))
    kept = tuple(v for s in shape for v in (1, s))
    return reshape(sum_to_size(reshape(g, split), kept), x.shape)


_repeat.defvjp(_repeat_vjp)
_repeat.defjvp_linear()


def repeat(
    input: Tensor, *args: int | Sequence[int], repeats: Sequence[int] | None = None
) -> Tensor:
    """Tile input `repeats[i]` times along each dim (len(repeats) >= ndim; leading dims added)."""
    reps = _ints(args, repeats)
    if len(reps) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of "
            "tensor"
        )
    shape = (1,) * (len(reps) - input.ndim) + tuple(input.shape)
    out = [r * s for r, s in zip(reps, shape)]
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {out}")
    return _repeat(input, repeats=reps)


def tile(input: Tensor, *args: int | Sequence[int], dims: Sequence[int] | None = None) -> Tensor:
    """repeat, with `dims` padded by leading ones when shorter than input.ndim."""
    reps = _ints(args, dims)
    return repeat(input, (1,) * (input.ndim - len(reps)) + reps)


@defop("Flip")
def _flip(x, dims):
    return np.flip(x, dims).copy(order="K")  # Matches torch: the result keeps input's layout


_flip.defvjp(lambda g, out, x, dims: flip(g, dims))
_flip.defjvp_linear()


def flip(input: Tensor, *args: int | Sequence[int], dims: Sequence[int] | None = None) -> Tensor:
    """Reverse the order of elements along `dims` (a copy, as in torch)."""
    dims = wrap_dims(_ints(args, dims), input.ndim)
    return _flip(input, dims=dims if input.ndim else ())


def fliplr(input: Tensor) -> Tensor:
    """flip(input, 1) for tensors of at least 2 dims."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, 1)


def flipud(input: Tensor) -> Tensor:
    """flip(input, 0) for tensors of at least 1 dim."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, 0)


@defop("Roll")
def _roll(x, shifts, dims):
    return _contiguous(np.roll(x, shifts, dims))


_roll.defvjp(lambda g, out, x, shifts, dims: roll(g, tuple(-s for s in shifts), dims))
_roll.defjvp_linear()


def roll(
    input: Tensor,
    shifts: int | Sequence[int],
    dims: int | Sequence[int] | None = None,
) -> Tensor:
    """Shift elements circularly along `dims`; with no dims, along the flattened tensor."""
    shifts = (int(shifts),) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = () if dims is None else (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if not shifts:
        raise RuntimeError("`shifts` required")
    if not dims and len(shifts) == 1:
        return _roll(input, shifts=shifts, dims=None)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    dims = tuple(_wrap_dim_nonscalar(d, input.ndim) for d in dims)
    return _roll(input, shifts=shifts, dims=dims)


@defop("Tril")
def _tril(x, diagonal):
    return _contiguous(np.tril(x, diagonal))


_tril.defvjp(lambda g, out, x, diagonal: tril(g, diagonal))
_tril.defjvp_linear()


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """Zero the elements above the `diagonal`-th diagonal of the last two dims."""
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return _tril(input, diagonal=diagonal)


@defop("Triu")
def _triu(x, diagonal):
    return _contiguous(np.triu(x, diagonal))


_triu.defvjp(lambda g, out, x, diagonal: triu(g, diagonal))
_triu.defjvp_linear()


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """Zero the elements below the `diagonal`-th diagonal of the last two dims."""
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return _triu(input, diagonal=diagonal)


# ---- diagonals -----------------------------------------------------------------------------------
def _diagonal_of(a: np.ndarray, offset: int, dim1: int, dim2: int) -> np.ndarray:
    """np.diagonal, writable like torch's diagonal view (NumPy hands out a read-only one)."""
    d = np.diagonal(a, offset, dim1, dim2)
    d.flags.writeable = a.flags.writeable
    return d


def _embed(values: np.ndarray, shape: tuple, offset: int, dim1: int, dim2: int) -> np.ndarray:
    """Zeros of `shape` with `values` on its (offset, dim1, dim2) diagonal."""
    out = np.zeros(shape, values.dtype)
    _diagonal_of(out, offset, dim1, dim2)[...] = values
    return out


@defop("Diagonal")
def _diagonal(x, offset, dim1, dim2):
    return _diagonal_of(x, offset, dim1, dim2)


_diagonal.defvjp(
    lambda g, out, x, offset, dim1, dim2: _diagonal_backward(
        g, shape=x.shape, offset=offset, dim1=dim1, dim2=dim2
    )
)
_diagonal.defjvp_linear()


@defop("DiagonalBackward")
def _diagonal_backward(g, shape, offset, dim1, dim2):
    return _embed(g, shape, offset, dim1, dim2)


_diagonal_backward.defvjp(
    lambda g, out, x, shape, offset, dim1, dim2: diagonal(g, offset, dim1, dim2)
)
_diagonal_backward.defjvp_linear()


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The (offset) diagonal of the (dim1, dim2) planes, as a last dim (a writable view)."""
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return _view(_diagonal(input, offset=offset, dim1=d1, dim2=d2), input)


@defop("DiagEmbed")
def _diag_embed(x, offset, dim1, dim2):
    n = x.shape[-1] + abs(offset)
    shape = list(x.shape[:-1])
    shape.insert(min(dim1, dim2), n)
    shape.insert(max(dim1, dim2), n)
    return _embed(x, tuple(shape), offset, dim1, dim2)


_diag_embed.defvjp(lambda g, out, x, offset, dim1, dim2: diagonal(g, offset, dim1, dim2))
_diag_embed.defjvp_linear()


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result) whose diagonal holds input's last dim."""
    d1, d2 = wrap_dim(dim1, input.ndim + 1), wrap_dim(dim2, input.ndim + 1)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return _diag_embed(input, offset=offset, dim1=d1, dim2=d2)


# Matches torch: diag of a matrix runs diagonal_copy, whose node torch names DiagonalBackward0_copy.
@defop("DiagonalBackward0_copy")
def _diagonal_copy(x, offset):
    return np.diagonal(x, offset).copy()


_diagonal_copy.defvjp(
    lambda g, out, x, offset: _diagonal_backward(g, shape=x.shape, offset=offset, dim1=0, dim2=1)
)
_diagonal_copy.defjvp_linear()


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D: a matrix with input on its `diagonal`; 2-D: that diagonal as a copy."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return _diagonal_copy(input, offset=diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


# ---- joins -------------------------------------------------------------------------------------
def _skipped(x: Tensor | np.ndarray) -> bool:
    """Matches torch: cat skips legacy empty tensors of shape (0,) whatever the other shapes."""
    return tuple(x.shape) == (0,)


@defop("Cat", promote=True)
def _cat(*xs, dim):
    return _contiguous(np.concatenate([x for x in xs if not _skipped(x)] or xs[:1], axis=dim))


def _cat_vjp(i: int) -> Callable:
    def rule(g, out, *xs, dim):
        if _skipped(xs[i]):
            return _zeros((0,), g)
        start = sum(x.shape[dim] for x in xs[:i] if not _skipped(x))
        return narrow(g, dim, start, xs[i].shape[dim])

    return rule


_cat.defvjp_each(_cat_vjp)
_cat.defjvp_linear()


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim (`axis` is NumPy's name), in their common dtype."""
    dim = dim if axis is None else axis
    if isinstance(tensors, Tensor):
        raise TypeError(
            "cat(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
        )
    if not tensors:
        raise ValueError("ember.cat(): expected a non-empty list of Tensors")  # torch: torch.cat()
    for i, x in enumerate(tensors):
        if x.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    ref = next((x for x in tensors if not _skipped(x)), tensors[0])
    d = wrap_dim(dim, ref.ndim)
    for i, x in enumerate(tensors):
        if _skipped(x) and ref.ndim != 1:
            continue
        if x.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim}"
            )
        for k, (a, b) in enumerate(zip(ref.shape, x.shape)):
            if k != d and a != b:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {a} but "
                    f"got size {b} for tensor number {i} in the list."
                )
    return _cat(*tensors, dim=d)


concat = concatenate = cat


@defop("Stack", promote=True)
def _stack(*xs, dim):
    return _contiguous(np.stack(xs, axis=dim))


_stack.defvjp_each(lambda i: lambda g, out, *xs, dim: select(g, dim, i))
_stack.defjvp_linear()


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join equal-shaped tensors along a new dim (`axis` is NumPy's name), in their common dtype."""
    dim = dim if axis is None else axis
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    first = tensors[0]
    d = wrap_dim(dim, first.ndim + 1)
    for i, x in enumerate(tensors):
        if x.shape != first.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first.shape)} at "
                f"entry 0 and {list(x.shape)} at entry {i}"
            )
    return _stack(*tensors, dim=d)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """cat along dim 1 (dim 0 for 1-D tensors); 0-d tensors count as 1-D."""
    if not tensors:
        raise RuntimeError("hstack expects a non-empty TensorList")
    xs = [reshape(x, (1,)) if x.ndim == 0 else x for x in tensors]
    return cat(xs, 0 if xs[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """cat along dim 0 after making every tensor at least 2-D (1-D rows become (1, n))."""
    if not tensors:
        raise RuntimeError("vstack expects a non-empty TensorList")
    xs = [
        reshape(x, (1, 1)) if x.ndim == 0 else unsqueeze(x, 0) if x.ndim == 1 else x
        for x in tensors
    ]
    return cat(xs, 0)


# ---- splits: several views of the input --------------------------------------------------------
def _split_vjp(g, out, x, sizes, dim):
    """cat of the output gradients; outputs that got none contribute zeros."""
    parts = [
        gi if gi is not None else _zeros(x.shape[:dim] + (n,) + x.shape[dim + 1 :], x)
        for gi, n in zip(g, sizes)
    ]
    return cat(parts, dim)


def _splitting(node: str, name: str):
    def fwd(x, sizes, dim):
        return np.split(x, np.cumsum(sizes)[:-1], axis=dim)

    fwd.__name__ = fwd.__qualname__ = name
    return defop(node, nout=0)(fwd).defvjp(_split_vjp).defjvp_linear()


_split = _splitting("Split", "_split")
_split_with_sizes = _splitting("SplitWithSizes", "_split_with_sizes")


def split(
    tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along dim: of one size (the last may be smaller) or of the
    given sizes."""
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = int(split_size_or_sections)
        if s < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
        if s == 0 and n != 0:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
            )
        k = max(-(-n // s), 1) if s else 1
        return _views(_split(tensor, sizes=(s,) * (k - 1) + (n - s * (k - 1),), dim=d), tensor)
    sizes = tuple(int(s) for s in split_size_or_sections)
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            "split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={list(sizes)}"
        )
    if sum(sizes) != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
            f"dimension {d}), but got split_sizes={list(sizes)}"
        )
    return _views(_split_with_sizes(tensor, sizes=sizes, dim=d), tensor)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """split into pieces of ceil(size / chunks): possibly fewer than `chunks` pieces."""
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = wrap_dim(dim, input.ndim)
    if input.shape[d] == 0:  # Matches torch: `chunks` empty pieces (SplitWithSizesBackward0)
        return split(input, [0] * chunks, d)
    return split(input, -(-input.shape[d] // chunks), d)


@defop("Unbind", nout=0)
def _unbind(x, dim):
    m = np.moveaxis(x, dim, 0)
    return tuple(m[i, ...] for i in range(m.shape[0]))  # `...` keeps 0-d results views


_unbind.defvjp(
    lambda g, out, x, dim: stack(
        [gi if gi is not None else _zeros(x.shape[:dim] + x.shape[dim + 1 :], x) for gi in g], dim
    )
)
_unbind.defjvp_linear()


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along dim, as views without that dim."""
    d = _wrap_dim_nonscalar(dim, input.ndim)
    return _views(_unbind(input, dim=d), input)


# ---- slicing views ---------------------------------------------------------------------------
def _along(dim: int, index: int | slice) -> tuple:
    return (slice(None),) * dim + (index, Ellipsis)  # Ellipsis: 0-d results stay views


@defop("Slice")
def _slice(x, dim, start, end, step):
    return x[_along(dim, slice(start, end, step))]


_slice.defvjp(
    lambda g, out, x, dim, start, end, step: _slice_backward(
        g, shape=x.shape, dim=dim, start=start, end=end, step=step
    )
)
_slice.defjvp_linear()


@defop("SliceBackward")
def _slice_backward(g, shape, dim, start, end, step):
    out = np.zeros(shape, g.dtype)
    out[_along(dim, slice(start, end, step))] = g
    return out


_slice_backward.defvjp(
    lambda g, out, x, shape, dim, start, end, step: slice_dim(g, dim, start, end, step)
)
_slice_backward.defjvp_linear()


def slice_dim(input: Tensor, dim: int, start: int, end: int, step: int = 1) -> Tensor:
    """input[..., start:end:step, ...] along a non-negative dim, as a view (SliceBackward0)."""
    return _view(_slice(input, dim=dim, start=start, end=end, step=step), input)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The view input[..., start:start + length, ...] along dim (start may be negative)."""
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    d = wrap_dim(dim, input.ndim)
    n, start = input.shape[d], int(start)
    if not -n <= start <= n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    start = start + n if start < 0 else start
    if start > n - length:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return slice_dim(input, d, start, start + length)


@defop("Select")
def _select(x, dim, index):
    return x[_along(dim, index)]


_select.defvjp(
    lambda g, out, x, dim, index: _slice_backward(
        unsqueeze(g, dim), shape=x.shape, dim=dim, start=index, end=index + 1, step=1
    )
)
_select.defjvp_linear()


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The view input[..., index, ...] along dim, without that dim."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim)
    n, index = input.shape[d], int(index)
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    return _view(_select(input, dim=d, index=index % n), input)


def numel(input: Tensor) -> int:
    """The number of elements of input (`ember.numel(x)`, as `x.numel()`)."""
    return input.numel()


# ---- strided windows onto C-contiguous memory: torch's view replay and CopySlices ------------
def _region(flat: np.ndarray, size: tuple, stride: tuple, offset: int) -> np.ndarray:
    """The elements at `offset + sum(i_k * stride_k)` of a flat array, as a writable view."""
    return np.lib.stride_tricks.as_strided(
        flat[offset:], size, tuple(s * flat.itemsize for s in stride)
    )


@defop("AsStrided")
def _as_strided(x, size, stride, offset):
    return _region(x.reshape(-1), size, stride, offset)


@defop("AsStridedScatter")
def _as_strided_scatter(x, src, size, stride, offset):
    out = np.array(x, order="C")
    _region(out.reshape(-1), size, stride, offset)[...] = src
    return out


# Matches torch: an in-place op on a view rebases its base's history onto a CopySlices node,
# which is an as_strided_scatter of the op's result into the base (ops/_inplace.py).
_copy_slices_view = defop("CopySlices")(_as_strided_scatter.fwd)
_copy_slices_view.__name__ = "_copy_slices_view"


def _scatter_rules(op) -> None:
    op.defvjp(
        lambda g, out, x, src, size, stride, offset: _as_strided_scatter(
            g, src.new_zeros(src.shape), size=size, stride=stride, offset=offset
        ),
        lambda g, out, x, src, size, stride, offset: _as_strided(
            g.contiguous(), size=size, stride=stride, offset=offset
        ),
    )
    op.defjvp_linear()


_scatter_rules(_as_strided_scatter)
_scatter_rules(_copy_slices_view)
_as_strided.defvjp(
    lambda g, out, x, size, stride, offset: _as_strided_scatter(
        x.new_zeros(x.shape), g, size=size, stride=stride, offset=offset
    )
)
_as_strided.defjvp_linear()


def _check_strided(input: Tensor, size: Sequence[int], stride: Sequence[int], offset: int) -> tuple:
    if not input._data.flags.c_contiguous:
        raise NotImplementedError(
            "ember's as_strided indexes the tensor's own elements in row-major order, so it "
            "needs a contiguous input; call .contiguous() first"
        )
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride) if n > 0)
    if any(n == 0 for n in size):
        last = offset - 1
    if last >= input.numel() or offset < 0 or any(s < 0 for s in stride):
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, "
            f"and itemsize {input.element_size()} requiring a storage size of "
            f"{(last + 1) * input.element_size()} are out of bounds for storage of size "
            f"{input.numel() * input.element_size()}"
        )
    return size, stride


def as_strided(
    input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int = 0
) -> Tensor:
    """A view of input's elements (row-major) with the given sizes, strides and offset."""
    size, stride = _check_strided(input, size, stride, storage_offset)
    out = _as_strided(input, size=size, stride=stride, offset=int(storage_offset))
    return _view(out, input)


def as_strided_scatter(
    input: Tensor, src: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int = 0
) -> Tensor:
    """A copy of input whose strided window (as `as_strided`) holds src."""
    size, stride = _check_strided(input, size, stride, storage_offset)
    return _as_strided_scatter(input, src, size=size, stride=stride, offset=int(storage_offset))


def view_geometry(base: Tensor, view: Tensor) -> tuple | None:
    """(size, stride, offset) of `view` inside `base`'s row-major elements, or None when base's
    memory is not C-contiguous or the view reads it as another dtype (view_as_real: then ember
    cannot replay the view)."""
    b, v = base._data, view._data
    if not b.flags.c_contiguous or b.dtype != v.dtype:
        return None
    item = b.itemsize
    start = v.__array_interface__["data"][0] - b.__array_interface__["data"][0]
    return v.shape, tuple(s // item for s in v.strides), start // item


def replay_view(base: Tensor, geometry: tuple):
    """The grad_fn of `base`'s strided window (torch's AsStridedBackward0 view replay)."""
    size, stride, offset = geometry
    return _as_strided(base, size=size, stride=stride, offset=offset)._grad_fn


# ---- complex <-> (re, im) pairs: views that reinterpret the memory --------------------------
@defop("ViewAsReal")
def _view_as_real(x):
    return x[..., np.newaxis].view(x.real.dtype)  # (a size-1 last axis may change dtype)


@defop("ViewAsComplex")
def _view_as_complex(x):
    return x.view(np.result_type(x.dtype, np.complex64))[..., 0]


_view_as_real.defvjp(lambda g, out, x: view_as_complex(g.contiguous())).complex_rules(jvp=True)
_view_as_real.defjvp_linear()
_view_as_complex.defvjp(lambda g, out, x: view_as_real(g)).complex_rules(jvp=True)
_view_as_complex.defjvp_linear()


def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor as a real view with a trailing (re, im) dim of size 2."""
    if not input.dtype.is_complex:
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return _view(_view_as_real(input), input)


def view_as_complex(input: Tensor) -> Tensor:
    """A real tensor whose last dim holds (re, im) pairs, as a complex view without it."""
    from ._inplace import _scalar_name

    if input.dtype._cat != 2:
        raise RuntimeError(
            "view_as_complex is only supported for half, float and double tensors, but got a "
            f"tensor of scalar type: {_scalar_name(input.dtype)}"
        )
    if input.ndim == 0 or input.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    d = input._data
    item = d.itemsize
    if d.strides[-1] != item:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any(st % (2 * item) for st, n in zip(d.strides[:-1], d.shape[:-1]) if n > 1):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    base = input._base._data if input._base is not None else d
    offset = d.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if offset % (2 * item):
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    return _view(_view_as_complex(input), input)
