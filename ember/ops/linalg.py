"""Products: dot, mv, mm, bmm, matmul, outer, einsum.

Matrix products (dot, mv, mm, bmm, matmul) run np.matmul, which calls BLAS, and their rules
are matrix products again (d(x @ y)/dx = g @ y.mT). einsum runs np.einsum, and the vjp of
operand i is the einsum of the cotangent with the other operands, written back to operand i's
subscripts (`_einsum_vjp`). All rules differentiate again.

Matches torch: products do not promote (both operands must share a dtype; torch's errors
say so), integer products stay integer, and the grad_fn names are torch's for each rank
combination (DotBackward0, MvBackward0, MmBackward0, BmmBackward0, and for batched matmul the
last op torch's decomposition records: UnsafeViewBackward0, CloneBackward0, SqueezeBackward4).
"""

from __future__ import annotations

import string

import numpy as np

from .._tensor import Tensor
from ._inplace import _scalar_name
from ._registry import defop
from .indexing import _C_TYPES
from .pointwise import mul

__all__ = ["bmm", "dot", "einsum", "matmul", "mm", "mv", "outer"]
TENSOR_METHODS = ["dot", "mv", "mm", "bmm", "matmul", "outer"]

_LETTERS = string.ascii_letters


# ---- the einsum kernel and its vjp -----------------------------------------------------------
def _einsum_fwd(*operands, spec):
    """`spec` is (input subscripts per operand, output subscripts), all explicit letters."""
    ins, out = spec
    return np.einsum(",".join(ins) + "->" + out, *operands)


def _einsum_vjp(i: int):
    """The vjp for operand i: einsum(g, other operands -> operand i's subscripts).

    Two corrections keep this an einsum: a letter of operand i that appears nowhere else
    (summed out by the forward) comes from a ones vector, and a letter repeated in operand i
    (a diagonal) is split into fresh letters tied by an identity matrix.
    """

    def rule(g, out, *operands, spec):
        ins, out_subs = spec
        target = ins[i]
        terms = [(out_subs, g)] + [(s, x) for j, (s, x) in enumerate(zip(ins, operands)) if j != i]
        seen = {}
        for s, x in terms:
            for c, n in zip(s, x.shape):
                seen[c] = max(seen.get(c, 1), n)
        free = iter(c for c in _LETTERS if c not in "".join(ins) + out_subs)
        dims = dict(zip(target, operands[i].shape))
        subs = ""
        for c in target:
            if c in subs:  # a diagonal: d x[..i..i..] = g[..i..] * eye[i, i']
                fresh = next(free)
                terms.append((c + fresh, _const(np.eye(dims[c]), g)))
                c = fresh
            elif seen.get(c, 0) < dims[c] or c not in seen:  # summed out, or broadcast elsewhere
                terms.append((c, _const(np.ones(dims[c]), g)))
                seen[c] = dims[c]
            subs += c
        return _einsum(*(x for _, x in terms), spec=(tuple(s for s, _ in terms), subs))

    return rule


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._make(a.astype(like._data.dtype))


def _einsum_op(node: str, name: str):
    op = defop(node)(_einsum_fwd)
    op.__name__ = op.__qualname__ = name
    return op.defvjp_each(_einsum_vjp)


_einsum = _einsum_op("View", "_einsum")  # contractions (torch ends them with a view)
_einsum_mul = _einsum_op("Mul", "_einsum_mul")  # products with nothing summed
_einsum_sum = _einsum_op("SumBackward1", "_einsum_sum")  # one operand, some letters summed
_einsum_permute = _einsum_op("Permute", "_einsum_permute")  # one operand, nothing summed


# ---- matrix products: np.matmul (BLAS) forward, rules written with the same products -------
@defop("Dot")
def _dot(x, y):
    return np.dot(x, y)


_dot.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
_dot.defjvp_multilinear()


@defop("Mv")
def _mv(x, v):
    return np.matmul(x, v)


_mv.defvjp(lambda g, out, x, v: g.unsqueeze(1) * v, lambda g, out, x, v: _mv(x.mT, g))
_mv.defjvp_multilinear()


@defop("Mm")
def _mm(x, y):
    return np.matmul(x, y)


_mm.defvjp(lambda g, out, x, y: _mm(g, y.mT), lambda g, out, x, y: _mm(x.mT, g))
_mm.defvjp_np(lambda g, out, x, y: g @ y.T, lambda g, out, x, y: x.T @ g)
_mm.defjvp_multilinear()


@defop("Bmm")
def _bmm(x, y):
    return np.matmul(x, y)


_bmm.defvjp(lambda g, out, x, y: _bmm(g, y.mT), lambda g, out, x, y: _bmm(x.mT, g))
_bmm.defjvp_multilinear()


def _matmul_vjp_x(g, out, x, y):
    """d(x @ y)/dx for any ranks; a 1-D x is a row, a 1-D y a column (the registry sums the
    result back over broadcast batch dims)."""
    if y.ndim == 1:
        return g.unsqueeze(-1) * y
    if x.ndim == 1:
        return matmul(g.unsqueeze(-2), y.mT)
    return matmul(g, y.mT)


def _matmul_vjp_y(g, out, x, y):
    if y.ndim == 1:
        return (g.unsqueeze(-1) * x).sum_to_size(y.shape)
    if x.ndim == 1:
        return x.unsqueeze(-1) * g.unsqueeze(-2)
    return matmul(x.mT, g)


def _matmul_np_x(g, out, x, y):
    """`_matmul_vjp_x` on arrays."""
    if y.ndim == 1:
        return g[..., None] * y
    if x.ndim == 1:
        return g[..., None, :] @ y.mT
    return g @ y.mT


def _matmul_np_y(g, out, x, y):
    if y.ndim == 1:
        return g[..., None] * x  # (the engine sums it back to y's shape)
    if x.ndim == 1:
        return x[:, None] * g[..., None, :]
    return x.mT @ g


def _matmul_op(node: str, name: str):
    """Batched/broadcast matmul under one of the node names torch's folding ends with."""
    op = defop(node)(np.matmul)
    op.__name__ = op.__qualname__ = name
    op.defvjp(_matmul_vjp_x, _matmul_vjp_y).defvjp_np(_matmul_np_x, _matmul_np_y)
    return op.defjvp_multilinear()


_matmul_unsafe_view = _matmul_op("UnsafeView", "_matmul_unsafe_view")
_matmul_clone = _matmul_op("Clone", "_matmul_clone")
_matmul_squeeze = _matmul_op("SqueezeBackward4", "_matmul_squeeze")


# ---- dtype and shape checks ------------------------------------------------------------------
def _dims(t: Tensor) -> str:
    return "x".join(map(str, t.shape))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same size and dtype."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        n, m = input.shape[0], other.shape[0]
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
            f"number of elements, but got {n} and {m} elements respectively"
        )
    if input.dtype is not other.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{_scalar_name(input.dtype)} and {_scalar_name(other.dtype)}"
        )
    return _dot(input, other)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix (n, m) times vector (m,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({input.shape[0]}), mat ({_dims(input)}), "
            f"vec ({vec.shape[0]})"
        )
    if input.dtype is not vec.dtype:
        a, b = _scalar_name(input.dtype), _scalar_name(vec.dtype)
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {b}, {a}, and {b}"
        )
    return _mv(input, vec)


def _check_mm(input: Tensor, mat2: Tensor) -> None:
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(input)} and {_dims(mat2)})"
        )
    if input.dtype is not mat2.dtype:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{_C_TYPES[input.dtype.name]} != {_C_TYPES[mat2.dtype.name]}"
        )


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of (n, m) and (m, p)."""
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    _check_mm(input, mat2)
    return _mm(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p); no broadcasting (see matmul)."""
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    want = [input.shape[0], input.shape[2]]
    if list(mat2.shape[:2]) != want:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: {want} but got: "
            f"{list(mat2.shape[:2])}."
        )
    _check_same(input, mat2)
    return _bmm(input, mat2)


def _check_same(a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"expected scalar type {_scalar_name(a.dtype)} but found {_scalar_name(b.dtype)}"
        )


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """`input @ other` for every rank combination, broadcasting batch dims (torch.matmul).

    1-D operands are a row (left) or a column (right) vector whose dim is dropped from the
    result. Node names are those of torch's last op: Dot (1-D @ 1-D), Mv (2-D @ 1-D), Mm
    (2-D @ 2-D), SqueezeBackward4 (1-D @ 2-D), CloneBackward0 (a 2-D input that requires grad
    @ a batch), UnsafeViewBackward0 (all other batched cases). torch picks among its folding
    strategies by strides and requires_grad; ember records one node, so only the top name
    follows torch (e.g. (1, 2, 3) @ (5, 3, 4) is CloneBackward0 in torch, UnsafeView here).
    """
    a, b = input.ndim, other.ndim
    if a == 0 or b == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a}D and {b}D"
        )
    if a == 1 and b == 1:
        return dot(input, other)
    if a == 2 and b == 1:
        return mv(input, other)
    if a == 2 and b == 2:
        return mm(input, other)
    n, m = input.shape[-1], other.shape[-2] if b > 1 else other.shape[0]
    if n != m:
        _matmul_shape_error(input, other)
    _broadcast_batch(input.shape[:-2], other.shape[:-2])
    if a == 1:
        op = _matmul_squeeze if b == 2 else _matmul_unsafe_view
    elif a == 2 and input.requires_grad:
        op = _matmul_clone
    else:
        op = _matmul_unsafe_view
    if input.dtype is not other.dtype:
        if a == 1 or b == 1:
            raise RuntimeError(
                f"expected m1 and m2 to have the same dtype, but got: "
                f"{_C_TYPES[input.dtype.name]} != {_C_TYPES[other.dtype.name]}"
            )
        _check_same(input, other)
    return op(input, other)


def _broadcast_batch(s: tuple, t: tuple) -> tuple:
    n = max(len(s), len(t))
    s, t = (1,) * (n - len(s)) + tuple(s), (1,) * (n - len(t)) + tuple(t)
    for d, (p, q) in enumerate(zip(s, t)):
        if p != q and p != 1 and q != 1:
            raise RuntimeError(
                f"The size of tensor a ({p}) must match the size of tensor b ({q}) at "
                f"non-singleton dimension {d}"
            )
    return tuple(max(p, q) for p, q in zip(s, t))


def _matmul_shape_error(x: Tensor, y: Tensor) -> None:
    """torch's message for the kernel its folding would have called."""
    a, b = x.ndim, y.ndim
    if b == 1:  # folded to mv
        rows = x.numel() // x.shape[-1]
        raise RuntimeError(
            f"size mismatch, got input ({rows}), mat ({rows}x{x.shape[-1]}), vec ({y.shape[0]})"
        )
    if a == 1:
        if b == 2:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied (1x{x.shape[0]} and {_dims(y)})"
            )
        rows = y.numel() // y.shape[-2]
        raise RuntimeError(
            f"size mismatch, got input ({rows}), mat ({rows}x{y.shape[-2]}), vec ({x.shape[0]})"
        )
    if b == 2:  # folded to mm
        rows = x.numel() // x.shape[-1]
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and {_dims(y)})"
        )
    batch = _broadcast_batch(x.shape[:-2], y.shape[:-2])
    nb = int(np.prod(batch))
    raise RuntimeError(
        f"Expected size for first two dimensions of batch2 tensor to be: [{nb}, {x.shape[-1]}] "
        f"but got: [{nb}, {y.shape[-2]}]."
    )


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors (promoting, as torch's `input[:, None] * vec2`)."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return mul(input[:, None], vec2)


# ---- einsum ----------------------------------------------------------------------------------
def einsum(equation: str, *operands: Tensor) -> Tensor:
    """Sum of products over the letters of `equation` (torch.einsum: `...` broadcasts, size-1
    dims broadcast, implicit output = letters seen once, in alphabetical order)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ins, out = _parse(equation, operands)
    for t in operands[1:]:
        _check_same(operands[0], t)
    summed = set("".join(ins)) - set(out)
    if len(operands) == 1:
        op = _einsum_sum if summed else _einsum_permute
    else:
        op = _einsum if summed else _einsum_mul
    return op(*operands, spec=(tuple(ins), out))


def _parse(equation: str, operands: tuple) -> tuple:
    """Explicit subscripts (ellipses replaced by letters) with torch's checks."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    for pos, c in enumerate(eq):
        if c not in _LETTERS and c not in ".,->":
            raise RuntimeError(
                f"einsum(): invalid subscript given at index {pos} in the equation string, "
                "subscripts must be in [a-zA-Z]"
            )
    used = {c for c in eq if c in _LETTERS}
    spare = [c for c in _LETTERS if c not in used]
    ell_dims = max(
        (t.ndim - len(s.replace("...", "")) for s, t in zip(terms, operands) if "..." in s),
        default=0,
    )
    ell = "".join(spare[:ell_dims])
    ins, sizes = [], {}
    for k, (s, t) in enumerate(zip(terms, operands)):
        letters = s.replace("...", "")
        if "..." in s:
            n = t.ndim - len(letters)
            s = s.replace("...", ell[len(ell) - n :] if n > 0 else "")
        elif len(s) != t.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(s)}) does not match "
                f"the number of dimensions ({t.ndim}) for operand {k} and no ellipsis was given"
            )
        mine = {}
        for c, n in zip(s, t.shape):
            if c in mine and mine[c] != n:
                raise RuntimeError(
                    f"einsum(): subscript {c} is repeated for operand {k} but the sizes don't "
                    f"match, {n} != {mine[c]}"
                )
            mine[c] = n
            seen = sizes.get(c, 1)
            if n != seen and n != 1 and seen != 1:
                raise RuntimeError(
                    f"einsum(): subscript {c} has size {n} for operand {k} which does not "
                    f"broadcast with previously seen size {seen}"
                )
            sizes[c] = max(seen, n)
        ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(
                    f"einsum(): output subscript {c} appears more than once in the output"
                )
            if c not in sizes:
                raise RuntimeError(
                    f"einsum(): output subscript {c} does not appear in the equation for any "
                    "input operand"
                )
    else:
        counts = "".join(ins)
        # Matches torch: implicit output is the ellipsis dims, then letters seen once, sorted.
        out = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ell))
    return ins, out
