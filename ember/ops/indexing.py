"""Indexing: `__getitem__`/`__setitem__`, gather/scatter, index_select/add/fill, masked ops, take.

Every index is first turned into a *path*: a tuple of NumPy keys applied one after another
(`a[k0][k1]...`). Basic keys hold ints, slices and None (one dimension each, as torch applies
select/slice/unsqueeze left to right); the last key may be *advanced*: a tuple of slices and
int64 arrays (bool masks are turned into their nonzero arrays first), which NumPy broadcasts
and places exactly as torch does. Three generic kernels then cover every op here:

- `take` (x -> x[path]): a view for basic keys, a copy for an advanced key;
- `assign` (x, v -> copy of x with v written at path): scatter, fills, `x[i] = v`;
- `accumulate` (x, v -> copy of x with v added at path, repeats summed by np.add.at):
  scatter_add, index_add, and (into zeros) the vjp of every take.

Each public op is one of these under torch's node name (SelectBackward0, IndexBackward0,
GatherBackward0, ...), and each kernel's vjp is written with the others, so every derivative
differentiates again. Index tensors never require grad.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtype, _factories
from .._tensor import Tensor
from ..autograd._where import note_inplace
from ..autograd.forward_ad import tangent_of
from ..autograd.grad_mode import STATE
from ._inplace import _scalar_name, apply_inplace
from ._registry import defop, value_check
from ._saved import type_name
from ._util import wrap_dim
from .shape import _view, expand

# getitem/setitem back Tensor.__getitem__/__setitem__ (reached as ember.ops.getitem).
__all__ = [
    "gather",
    "index_add",
    "index_fill",
    "index_select",
    "masked_fill",
    "masked_select",
    "nonzero",
    "repeat_interleave",
    "scatter",
    "scatter_add",
    "take",
]
TENSOR_METHODS = [
    "gather",
    "repeat_interleave",
    "scatter",
    "scatter_",
    "scatter_add",
    "scatter_add_",
    "index_select",
    "index_add",
    "index_add_",
    "index_fill",
    "index_fill_",
    "masked_fill",
    "masked_fill_",
    "masked_select",
    "take",
    "nonzero",
]

_ALL = slice(None)


# ---- the generic kernels ---------------------------------------------------------------------
def _is_adv(key: tuple) -> bool:
    return any(type(k) is np.ndarray for k in key)


def _region(a: np.ndarray, path: tuple) -> np.ndarray:
    """The view of `a` that the last key of `path` indexes into."""
    for key in path[:-1]:
        a = a[key + (Ellipsis,)]
    return a


def _take_fwd(x, path):
    # Ellipsis keeps a full integer key a 0-d array view (NumPy would return a scalar copy).
    for key in path:
        x = x[key + (Ellipsis,)]
    return x


def _take_vjp(g, out, x, path):
    # Zeros with g added at path: repeated indices accumulate, never lost.
    return _index_add(_factories.zeros_const(x.shape, g._data.dtype), g, path=path)


def _take_op(node: str, name: str):
    op = defop(node)(_take_fwd)
    op.__name__ = op.__qualname__ = name
    return op.defvjp(_take_vjp).defjvp_linear()


_select = _take_op("Select", "_select")
_slice = _take_op("Slice", "_slice")
_unsqueeze = _take_op("Unsqueeze", "_unsqueeze")
_alias = _take_op("Alias", "_alias")
_index = _take_op("Index", "_index")
_gather = _take_op("Gather", "_gather")
_index_select = _take_op("IndexSelect", "_index_select")
_take = _take_op("Take", "_take")
_masked_select = _take_op("MaskedSelect", "_masked_select")


def _assign_fwd(x, v, path, shape=None):
    out = np.array(np.broadcast_to(x, shape) if shape else x)
    region, last = _region(out, path), path[-1]
    if type(v) is np.ndarray:
        # torch drops leading size-1 dims of the value before broadcasting it to the region.
        lead = v.ndim - np.ndim(region[last + (Ellipsis,)]) if not _is_adv(last) else 0
        v = v.reshape(v.shape[lead:]) if lead > 0 else v
    if _is_adv(last):
        region[last] = v
    else:
        region[last + (Ellipsis,)] = v
    return out


def _assign_vjp_x(g, out, x, v, path, shape=None):
    return _copy_slices(g, 0, path=path)


def _assign_vjp_v(g, out, x, v, path, shape=None):
    gv = _index(g, path=path)
    if gv.ndim < v.ndim:  # the value had extra leading size-1 dims
        gv = _unsqueeze(gv, path=((None,) * (v.ndim - gv.ndim),))
    return gv


def _assign_op(node: str, name: str):
    op = defop(node)(_assign_fwd)
    op.__name__ = op.__qualname__ = name
    return op.defvjp(_assign_vjp_x, _assign_vjp_v).defjvp_linear()


_copy_slices = _assign_op("CopySlices", "_copy_slices").mark_frees_all()
_index_put = _assign_op("IndexPut", "_index_put")
_copy = _assign_op("CopyBackwards", "_copy")
_fill = _assign_op("FillBackward3", "_fill")
_scatter = _assign_op("Scatter", "_scatter")
_scatter_value = _assign_op("ScatterBackward1", "_scatter_value")
_index_fill = _assign_op("IndexFill", "_index_fill")
_index_fill_tensor = _assign_op("IndexFillBackward1", "_index_fill_tensor")
_masked_fill = _assign_op("MaskedFill", "_masked_fill")
_masked_fill_tensor = _assign_op("MaskedFillBackward1", "_masked_fill_tensor")


def _accumulate_fwd(x, v, path, alpha=1):
    out = x.copy()
    region, last, v = _region(out, path), path[-1], v if alpha == 1 else alpha * v
    if _is_adv(last):
        np.add.at(region, last, v)  # Matches torch: repeated indices accumulate
    else:
        region[last + (Ellipsis,)] += v
    return out


def _accumulate_op(node: str, name: str):
    op = defop(node)(_accumulate_fwd)
    op.__name__ = op.__qualname__ = name
    return op.defvjp(
        lambda g, out, x, v, path, alpha=1: g,
        lambda g, out, x, v, path, alpha=1: (
            _index(g, path=path) if alpha == 1 else _index(g, path=path) * alpha
        ),
    ).defjvp_linear()


_scatter_add = _accumulate_op("ScatterAdd", "_scatter_add")
_index_add = _accumulate_op("IndexAdd", "_index_add")


def _scatter_reduce_fwd(x, v, path, reduce):
    out = x.copy()
    ufunc = np.add if reduce == "add" else np.multiply
    ufunc.at(_region(out, path), path[-1], v)
    return out


# Matches torch: scatter with `reduce=` records a node named NotImplemented whose backward
# raises (torch: "derivative for aten::scatter is not implemented").
_scatter_reduce = defop("NotImplemented")(_scatter_reduce_fwd)
_scatter_reduce.__name__ = _scatter_reduce.__qualname__ = "_scatter_reduce"


# ---- __getitem__ / __setitem__ -----------------------------------------------------------------
def _treat_as_tuple(index: object) -> bool:
    """torch's (and NumPy's legacy) rule: a short list holding a sequence, slice, None,
    Ellipsis or tensor is a tuple of indices, not one index."""
    if isinstance(index, tuple):
        return True
    if not isinstance(index, list) or len(index) >= 32:
        return False
    return any(
        i is None or i is Ellipsis or isinstance(i, (Tensor, list, tuple, slice)) for i in index
    )


def _classify(i: object) -> tuple:
    """(kind, value): kind is int, slice, none, ellipsis, bool, mask or array."""
    if i is None:
        return "none", None
    if i is Ellipsis:
        return "ellipsis", None
    if isinstance(i, (bool, np.bool_)):
        return "bool", bool(i)
    if isinstance(i, (int, np.integer)):
        return "int", int(i)
    if isinstance(i, slice):
        return "slice", i
    if isinstance(i, Tensor):
        arr = i._data
    elif isinstance(i, (list, np.ndarray)):
        arr = np.asarray(i)
        if arr.dtype.kind == "f" or arr.size == 0:
            arr = arr.astype(np.int64)  # Matches torch: a list of numbers is a long tensor
    else:
        raise IndexError(
            "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
            f"valid indices (got {type(i).__name__})"
        )
    # A 0-d tensor's value is read with item(): a value read, which ember.compile guards
    # (a replay with another index value traces again instead of reusing this one).
    scalar = i.item if isinstance(i, Tensor) else arr.item
    if arr.dtype.kind == "b" or arr.dtype == np.uint8:
        return ("bool", bool(scalar())) if arr.ndim == 0 else ("mask", arr.astype(bool))
    if arr.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if arr.ndim == 0:
        return "int", int(scalar())
    if isinstance(i, Tensor):  # (through data_of, so that ember.compile knows its tensor)
        return "array", _factories.data_of(i, np.int64, copy=True)
    return "array", arr.astype(np.int64)


def _plan(shape: tuple, index: object, setting: bool) -> tuple | None:
    """torch's applySlicing: ([(node, basic key), ...], advanced key or None), or None for a
    no-op assignment (`x[False] = v`)."""
    as_tuple = _treat_as_tuple(index)
    items = tuple(index) if as_tuple else (index,)
    kinds = [_classify(i) for i in items]
    ndim = len(shape)
    if ndim == 0 and not as_tuple and kinds[0][0] in ("int", "slice"):
        if kinds[0][0] == "int":
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    specified = sum(
        v.ndim if k == "mask" else 1 for k, v in kinds if k in ("int", "slice", "array", "mask")
    )
    if specified > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    # Matches torch: a lone slice is always applied (x[:] is SliceBackward0); inside a tuple
    # or an assignment a full slice is skipped.
    skip_full = as_tuple or setting
    shape, steps, adv, dim = list(shape), [], {}, 0
    for pos, (kind, v) in enumerate(kinds):
        if kind == "int":
            n = shape[dim]
            if not -n <= v < n:
                raise IndexError(f"index {v} is out of bounds for dimension {pos} with size {n}")
            steps.append(("select", (_ALL,) * dim + (v,)))
            del shape[dim]
        elif kind == "slice":
            start, stop, step = (
                None if s is None else operator.index(s) for s in (v.start, v.stop, v.step)
            )
            if step == 0:
                raise ValueError("slice step cannot be zero")
            if step is not None and step < 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(start, stop, step).indices(shape[dim])
            if not (skip_full and start == 0 and stop == shape[dim] and step == 1):
                steps.append(("slice", (_ALL,) * dim + (slice(start, stop, step),)))
                shape[dim] = len(range(start, stop, step))
            dim += 1
        elif kind == "none" or kind == "bool":
            if kind == "bool" and setting and not v:
                return None
            steps.append(("unsqueeze", (_ALL,) * dim + (None,)))
            shape.insert(dim, 1)
            if kind == "bool" and not (setting and isinstance(items[pos], bool)):
                # Matches torch: x[True] is x.unsqueeze(d)[tensor([0])]; x[False] selects nothing.
                adv[dim] = np.arange(int(v))
            dim += 1
        elif kind == "ellipsis":
            dim += ndim - specified
        elif kind == "mask":
            for j in range(v.ndim):
                if v.shape[j] != shape[dim + j]:
                    raise IndexError(
                        f"The shape of the mask {list(v.shape)} at index {j} does not match the "
                        f"shape of the indexed tensor {list(shape)} at index {dim + j}"
                    )
            for j, nz in enumerate(np.nonzero(v)):
                adv[dim + j] = nz
            dim += v.ndim
        else:
            adv[dim] = v
            dim += 1
    return steps, _advanced_key(shape, adv) if adv else None


def _advanced_key(shape: list, adv: dict) -> tuple:
    """The NumPy key for the advanced part, checked with torch's messages."""
    try:
        np.broadcast_shapes(*(a.shape for a in adv.values()))
    except ValueError:
        shapes = ", ".join(str(list(a.shape)) for a in adv.values())
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
        ) from None
    for pos, (d, a) in enumerate(sorted(adv.items())):
        _check_advanced(a, shape[d], pos)
    return tuple(adv.get(d, _ALL) for d in range(max(adv) + 1))


_VIEW_OPS = {"select": _select, "slice": _slice, "unsqueeze": _unsqueeze}


def getitem(x: Tensor, index: object) -> Tensor:
    """`x[index]` with torch's semantics: ints, slices, None, Ellipsis and bools give views
    (one node per step, as torch applies them); int/bool tensors and lists copy (IndexBackward0)."""
    steps, adv = _plan(tuple(x.shape), index, setting=False)
    out = x
    for kind, key in steps:
        out = _view(_VIEW_OPS[kind](out, path=(key,)), x)
    if adv is not None:
        return _index(out, path=(adv,))
    if out is x:  # Matches torch: x[...] and x[:, :] are an alias (AliasBackward0)
        out = _view(_alias(x, path=((),)), x)
    return out


def _region_shape(shape: tuple, path: tuple) -> tuple:
    return np.broadcast_to(np.empty((), np.int8), shape)[path[-1]].shape if path else shape


def setitem(x: Tensor, index: object, value: object) -> None:
    """`x[index] = value` in place (value a scalar or a tensor broadcast to the region).

    Recorded as an out-of-place assign applied with `apply_inplace`, so x's grad_fn becomes
    CopySlices (basic index), IndexPutBackward0 (advanced), or for the whole tensor
    CopyBackwards (tensor value) / FillBackward3 (scalar);
    without a graph the value is written straight into x's memory (and its base's).
    """
    plan = _plan(tuple(x.shape), index, setting=True)
    if plan is None:
        return
    if not isinstance(value, (Tensor, int, float, complex)):
        kind = type(value)
        name = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        )
        raise TypeError(f"can't assign a {name} to a {type_name(x)}")
    steps, adv = plan
    path = tuple(key for _, key in steps) + ((adv,) if adv is not None else ())
    region = _take_fwd(x._data, path[:-1] if adv is not None else path)
    target = _region_shape(region.shape, (adv,)) if adv is not None else region.shape
    if isinstance(value, Tensor):
        _check_value(value, target, adv is not None)
    value_grad = isinstance(value, Tensor) and value._requires_grad
    if not (STATE.enabled and x.dtype._cat >= 2 and (x._requires_grad or value_grad)) and not (
        STATE.fw_level and (tangent_of(x) is not None or tangent_of(value) is not None)
    ):
        v = value._data if isinstance(value, Tensor) else value
        if adv is not None:
            region[adv] = v
        else:
            region[...] = (
                v.reshape(v.shape[v.ndim - region.ndim :]) if np.ndim(v) > region.ndim else v
            )
        x._vc[0] += 1
        note_inplace(x._vc)  # where, for the "modified by an inplace operation" error
        return
    if x._requires_grad and x._grad_fn is None and steps:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    if steps:
        op = _copy_slices
    elif adv is not None:
        op = _index_put
    else:  # Matches torch: the whole tensor is written by copy_, or fill_ for a scalar
        op = _copy if isinstance(value, Tensor) else _fill
    apply_inplace(op, x, value, path=path or ((),))


def _check_value(value: Tensor, target: tuple, advanced: bool) -> None:
    """torch's shape errors for a value that does not broadcast to the indexed region."""
    shape = list(value.shape)
    while shape and shape[0] == 1 and len(shape) > len(target):
        shape.pop(0)
    if advanced:
        try:
            np.broadcast_shapes(tuple(shape), target)
            ok = len(shape) <= len(target)
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast "
                f"to indexing result of shape {list(target)}"
            )
        return
    if len(shape) > len(target):
        raise RuntimeError(
            f"expand({type_name(value)}{{{shape}}}, size={list(target)}): the number of sizes "
            f"provided ({len(target)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({len(shape)})"
        )
    lead = len(target) - len(shape)
    for i, s in enumerate(shape):
        if s != 1 and s != target[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[lead + i]}) must match the existing "
                f"size ({s}) at non-singleton dimension {lead + i}.  Target sizes: "
                f"{list(target)}.  Tensor sizes: {shape}"
            )


# ---- gather / scatter --------------------------------------------------------------------------
def _index_array(index: Tensor, op: str, allowed: str = "int32/int64") -> np.ndarray:
    if not isinstance(index, Tensor) or index.dtype not in (_dtype.int64, _dtype.int32):
        raise RuntimeError(f"{op}(): Expected dtype {allowed} for index")
    return _factories.data_of(index, np.int64)


def _along(x: Tensor, dim: int, index: Tensor, op: str, src: Tensor | None = None) -> tuple:
    """The advanced key for gather/scatter: index along `dim`, positions elsewhere."""
    dim = wrap_dim(dim, x.ndim)
    idx = _index_array(index, op)
    if idx.ndim != x.ndim and not (idx.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    xs, ix = tuple(x.shape) or (1,), idx.shape or (1,)
    too_big = any(ix[d] > xs[d] for d in range(len(ix)) if d != dim)
    if src is not None and (too_big or any(i > s for i, s in zip(ix, src.shape or (1,)))):
        raise RuntimeError(
            f"Expected index {list(idx.shape)} to be no larger than self {list(x.shape)} apart "
            f"from dimension {dim} and to be no larger size than src {list(src.shape)}"
        )
    if too_big:
        bad = next(d for d in range(len(ix)) if d != dim and ix[d] > xs[d])
        raise RuntimeError(
            f"Size does not match at dimension {bad} expected index {list(idx.shape)} to be no "
            f"larger than self {list(x.shape)} apart from dimension {dim}"
        )
    n = xs[dim] if x.ndim else 1
    _check_along(idx, n, dim)
    if x.ndim == 0:
        return (
            ((),) if idx.ndim == 0 else ((_factories.shape_const(np.zeros(idx.shape, np.int64)),),)
        )
    grid = [_factories.shape_const(a) for a in np.indices(idx.shape, sparse=True)]
    grid[dim] = idx
    return (tuple(grid),)


def _src_region(src: Tensor, index: Tensor) -> Tensor:
    """src cut to the index's shape (torch reads only that corner of a larger src)."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    return _slice(src, path=(tuple(slice(0, s) for s in index.shape),))


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (dim 0): values picked along dim; grads accumulate."""
    return _gather(input, path=_along(input, dim, index, "gather"))


def _scatter_call(input, dim, index, src, value, reduce) -> tuple:
    """(op, value input, params) for scatter and scatter_."""
    src = value if src is None else src
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    is_tensor = isinstance(src, Tensor)
    if is_tensor and src.dtype is not input.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    path = _along(input, dim, index, "scatter", src if is_tensor else None)
    if is_tensor:
        src = _src_region(src, index)
    if reduce is not None:
        return _scatter_reduce, src, {"path": path, "reduce": reduce}
    return (_scatter if is_tensor else _scatter_value), src, {"path": path}


def scatter(
    input: Tensor, dim: int, index: Tensor, src: Tensor | float = None, *, value=None, reduce=None
) -> Tensor:
    """A copy of input with src (a tensor or a scalar value) written along dim at index;
    with repeated indices the last write wins (as torch on CPU)."""
    op, src, params = _scatter_call(input, dim, index, src, value, reduce)
    return op(input, src, **params)


def scatter_(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None):
    op, src, params = _scatter_call(input, dim, index, src, value, reduce)
    return apply_inplace(op, input, src, **params)


def _scatter_add_call(input, dim, index, src) -> tuple:
    if src.dtype is not input.dtype:  # Matches torch: the message names scatter()
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    path = _along(input, dim, index, "scatter_add", src)
    return _src_region(src, index), path


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of input with src added along dim at index; repeated indices add up."""
    src, path = _scatter_add_call(input, dim, index, src)
    return _scatter_add(input, src, path=path)


def scatter_add_(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    src, path = _scatter_add_call(input, dim, index, src)
    return apply_inplace(_scatter_add, input, src, path=path)


# ---- index_select / index_add / index_fill / take ----------------------------------------------
def _dim_key(x: Tensor, dim: int, index: Tensor, op: str, allowed: str) -> tuple:
    dim = wrap_dim(dim, x.ndim)
    idx = _index_array(index, op, allowed)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    return dim, idx.reshape(-1)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of input at `index` along dim (a copy; repeated indices repeat)."""
    dim, idx = _dim_key(input, dim, index, "index_select", "int32 or int64")
    n = input.shape[dim] if input.ndim else 1
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        raise RuntimeError(f"INDICES element is out of DATA bounds, id={idx[bad][0]} axis_dim={n}")
    return _index_select(input, path=((_ALL,) * dim + (idx,),))


_REPEATS_TYPE_ERROR = (
    "repeat_interleave() received an invalid combination of arguments - got ({}), but expected "
    "one of:\n * (Tensor repeats, int dim = None, *, int output_size = None)\n * (int repeats, "
    "int dim = None, *, int output_size = None)\n"
)


def repeat_interleave(
    input: Tensor,
    repeats: Tensor | int | None = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Tensor:
    """Each element (or slice along dim) repeated `repeats` times, in place of np.repeat; with
    only a tensor of counts, the indices 0..n-1 repeated by those counts. Matches torch's
    graph: an int count is unsqueeze, expand, clone, view; a tensor of counts index_select."""
    if repeats is None:  # torch.repeat_interleave(counts)
        counts = input
        if counts.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        return repeat_interleave(Tensor._make(np.arange(counts.numel())), counts)
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    elif isinstance(repeats, bool) or not isinstance(repeats, int):
        raise TypeError(_REPEATS_TYPE_ERROR.format(type(repeats).__name__))
    if dim is None:
        input, dim = input.flatten(), 0
    dim = wrap_dim(dim, input.ndim)
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        x = input.unsqueeze(dim + 1)
        shape = list(x.shape)
        shape[dim + 1] = repeats
        out = list(input.shape)
        out[dim] *= repeats
        return x.expand(shape).clone().view(out)
    counts = repeats._data.reshape(-1)
    if counts.shape[0] == 1:  # Matches torch: one count applies to every slice
        counts = np.broadcast_to(counts, (input.shape[dim],))
    if counts.shape[0] != input.shape[dim]:
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got "
            f"repeats.size(0) = {counts.shape[0]} and input.size({dim}) = {input.shape[dim]}"
        )
    if (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    index = Tensor._make(np.repeat(np.arange(counts.shape[0]), counts))
    return index_select(input, dim, index)


def _index_add_key(input: Tensor, dim: int, index: Tensor, source: Tensor) -> tuple:
    dim, idx = _dim_key(input, dim, index, "index_add", "int32 or int64")
    src_n = source.shape[dim] if source.ndim else 1
    if idx.size != src_n:
        raise RuntimeError(
            f"index_add_(): Number of indices ({idx.size}) should be equal to source.size(dim): "
            f"({src_n}), for dim: {dim}"
        )
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"index_add_(): self ({_scalar_name(input.dtype)}) and source "
            f"({_scalar_name(source.dtype)}) must have the same scalar type"
        )
    _check_nonnegative(idx)  # Matches torch: index_add does not wrap negative indices
    _check_bounds(idx, input.shape[dim] if input.ndim else 1, dim)
    return (_ALL,) * dim + (idx,)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """A copy of input with alpha * source added at `index` along dim (repeats add up)."""
    key = _index_add_key(input, dim, index, source)
    return _index_add(input, source, path=(key,), alpha=alpha)


def index_add_(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    key = _index_add_key(input, dim, index, source)
    return apply_inplace(_index_add, input, source, path=(key,), alpha=alpha)


def _index_fill_call(input: Tensor, dim: int, index: Tensor, value) -> tuple:
    dim, idx = _dim_key(input, dim, index, "index_fill", "int64")
    n = input.shape[dim] if input.ndim else 1
    _check_bounds(idx, n, dim)
    # Matches torch: a repeated index fills once, so the value's gradient counts it once.
    idx = np.unique(np.where(idx < 0, idx + n, idx))
    op = _index_fill_tensor if isinstance(value, Tensor) else _index_fill
    return op, {"path": ((_ALL,) * dim + (idx,),)}


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of input with the slices at `index` along dim set to `value` (scalar or 0-d)."""
    op, params = _index_fill_call(input, dim, index, value)
    return op(input, value, **params)


def index_fill_(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    op, params = _index_fill_call(input, dim, index, value)
    return apply_inplace(op, input, value, **params)


def take(input: Tensor, index: Tensor) -> Tensor:
    """input viewed as 1-D, indexed by `index` (negative indices count from the end)."""
    idx = _index_array(index, "take", "int64")
    n = input.numel()
    _check_take(idx, n)
    key = np.unravel_index(np.where(idx < 0, idx + n, idx), tuple(input.shape))
    return _take(input, path=(tuple(key),))


# ---- checks of index values (value_check: ember.compile replays them) ------------------------
@value_check
def _check_bounds(idx: np.ndarray, n: int, dim: int) -> None:
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise RuntimeError(
            f"index {idx[bad][0]} is out of bounds for dimension {dim} with size {n}"
        )


@value_check
def _check_take(idx: np.ndarray, n: int) -> None:
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(
            f"out of range: tried to access index {idx[bad].flat[0]} on a tensor of {n} elements."
        )


@value_check
def _check_nonnegative(idx: np.ndarray) -> None:
    if (idx < 0).any():
        raise IndexError("index out of range in self")


@value_check
def _check_rows(idx: np.ndarray, n: int) -> None:
    """embedding: torch's IndexError for an index outside [0, n)."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")


@value_check
def _check_along(idx: np.ndarray, n: int, dim: int) -> None:
    bad = (idx < 0) | (idx >= n)  # Matches torch: gather/scatter do not wrap negative indices
    if bad.any():
        raise RuntimeError(
            f"index {idx[bad].flat[0]} is out of bounds for dimension {dim} with size {n}"
        )


@value_check
def _check_advanced(a: np.ndarray, size: int, pos: int) -> None:
    """An advanced index out of range names its position among the index tensors (torch)."""
    bad = (a < -size) | (a >= size)
    if bad.any():
        raise IndexError(
            f"index {a[bad].flat[0]} is out of bounds for dimension {pos} with size {size}"
        )


# ---- masks -----------------------------------------------------------------------------------
_C_TYPES = {
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "bool": "bool",
    "complex64": "c10::complex<float>",
    "complex128": "c10::complex<double>",
}


def _broadcast_mask(input: Tensor, mask: Tensor) -> tuple:
    """The broadcast shape of (mask, input), in torch's words when it fails."""
    a, b = tuple(mask.shape), tuple(input.shape)
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    for d, (sa, sb) in enumerate(zip(pa, pb)):
        if sa != sb and sa != 1 and sb != 1:
            raise RuntimeError(
                f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                f"non-singleton dimension {d}"
            )
    return tuple(max(sa, sb) for sa, sb in zip(pa, pb))


def _masked_fill_call(input: Tensor, mask: Tensor, value) -> tuple:
    if mask.dtype is not _dtype.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{_C_TYPES.get(mask.dtype.name, mask.dtype.name)}"
        )
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    shape = _broadcast_mask(input, mask)
    full = np.broadcast_to(mask._data, shape)
    # np.nonzero refuses 0-d arrays; a 0-d boolean key selects the element or nothing.
    path = ((full,) if full.ndim == 0 else np.nonzero(full),)
    op = _masked_fill_tensor if isinstance(value, Tensor) else _masked_fill
    if shape == tuple(input.shape):
        return op, {"path": path}
    return op, {"path": path, "shape": shape}


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """A copy of input with `value` (a scalar or 0-d tensor) where mask is True (broadcast)."""
    op, params = _masked_fill_call(input, mask, value)
    return op(input, value, **params)


def masked_fill_(input: Tensor, mask: Tensor, value) -> Tensor:
    op, params = _masked_fill_call(input, mask, value)
    return apply_inplace(op, input, value, **params)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of input where mask is True, as a 1-D copy (both broadcast)."""
    if mask.dtype is not _dtype.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = _broadcast_mask(input, mask)
    key = np.nonzero(np.broadcast_to(mask._data, shape))
    if shape != tuple(input.shape):
        input = expand(input, shape)
    return _masked_select(input, path=(key,))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple:
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one per dim. No grad."""
    nz = np.nonzero(np.atleast_1d(input._data)) if input.ndim == 0 else np.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._make(a.astype(np.int64)) for a in nz)
    if input.ndim == 0:  # Matches torch: a 0-d input gives shape (n, 0)
        return Tensor._make(np.zeros((len(nz[0]), 0), np.int64))
    return Tensor._make(np.stack(nz, axis=1).astype(np.int64))
