"""`ember.func` (`torch.func`): composable function transforms over ember's autograd.

`grad`, `grad_and_value`, `vjp`, `jvp`, `jacrev`, `jacfwd`, `hessian`, `linearize`, `vmap`,
`functional_call` and `stack_module_state`, with torch's signatures, results and error texts.

How the transforms work without functorch's tensor wrappers and levels:

- **Reverse mode** (`grad`, `vjp`, `jacrev`) differentiates through ember's ordinary graph. Each
  differentiated input is replaced by a private alias: a fresh leaf, or, when the input is
  itself tracked by an enclosing transform or by the caller's autograd, a view of it so
  gradients still flow outward. Results are "unwrapped" afterwards: a result keeps its graph
  only if grad mode was on at the call and the result depends on some tensor other than the
  private leaves (torch's level-based unwrapping gives the same answer). This is what makes
  `grad(grad(f))`, `vmap(grad(f))` and `jacfwd(jacrev(f))` compose.
- **Forward mode** (`jvp`, `jacfwd`, `linearize`) runs `func` on dual tensors inside an
  `ember.autograd.forward_ad` dual level, as torch's jvp does, so every op pushes its tangent
  by its jvp rule: one forward pass, no backward. (torch rejects an `autograd.Function`
  without `jvp` there; ember's Function has no forward-mode hook yet, so the ember ops in its
  `forward` push the tangents and its `backward` is not used.) Tangents record
  graphs like any op, so `grad(jvp(f))` (reverse-over-forward) works, and backward passes
  inside a level push tangents, so `jacfwd(jacrev(f))` (forward-over-reverse, `hessian`)
  works; a reverse transform's detached results and private inputs keep their tangents.
  ember's forward AD has one level, one tangent per tensor: a jvp nested in another
  (`jacfwd(jacfwd(f))`) computes its product in reverse mode, by the double-vjp trick, inside
  the enclosing level (see `_jvp_nested`); the user's own `dual_level` around a jvp is torch's
  "Nested forward mode AD" error.
- **vmap** has no batching rules: it runs `func` once per batch element on slices of the
  batched inputs and stacks the outputs along `out_dims` (the semantics-first implementation:
  B Python-level calls instead of one vectorised call, so it is about B times slower than
  torch's). The results are exactly those of a vectorised map, gradients flow through the
  slicing and stacking, and data-dependent code (`.item()`, Python control flow on values),
  which torch rejects, simply works. `chunk_size` is validated and otherwise has no effect:
  every element is already its own chunk.

Randomness under `vmap`: with `randomness="error"`, any draw from ember's default generator
inside `func` raises torch's error; `"same"` replays the default generator's state for every
element so each sees the same draws; `"different"` lets the stream advance. Draws from an
explicitly passed `Generator` are not checked.

Pytrees: inputs and outputs may nest tuples, lists, dicts and namedtuples; anything else
(tensors, numbers, None) is a leaf, as in torch 2.13.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import _random
from ._tensor import Tensor
from .autograd import grad as _autograd_grad_raw
from .autograd.forward_ad import dual_level, make_dual, tangent_of, unpack_dual
from .autograd.grad_mode import enable_grad, is_grad_enabled

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "stack_module_state",
    "vjp",
    "vmap",
]

argnums_t = int | tuple[int, ...]


# ---- pytrees -------------------------------------------------------------------------------------
class _Spec:
    """The structure of a pytree: node type, context (dict keys, namedtuple class), children.

    A leaf's spec has `type` None. `repr` is torch's TreeSpec repr, used in error messages.
    """

    __slots__ = ("type", "context", "children", "num_leaves")

    def __init__(self, type_: type | None, context: Any = None, children: list | None = None):
        self.type = type_
        self.context = context
        self.children = children or []
        self.num_leaves = 1 if type_ is None else sum(c.num_leaves for c in self.children)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Spec)
            and self.type is other.type
            and self.context == other.context
            and self.children == other.children
        )

    def __repr__(self, indent: int = 0) -> str:
        if self.type is None:
            return "*"
        name = "namedtuple" if _is_namedtuple_type(self.type) else self.type.__name__
        indent += 2
        kids = [c.__repr__(indent) for c in self.children]
        return f"TreeSpec({name}, {self.context}, [" + (",\n" + " " * indent).join(kids) + "])"


def _is_namedtuple_type(t: type) -> bool:
    return issubclass(t, tuple) and hasattr(t, "_fields")


def _children(tree: Any) -> tuple[type, Any, list] | None:
    """(type, context, children) for a container node, None for a leaf."""
    t = type(tree)
    if t is tuple or t is list:
        return t, None, list(tree)
    if t is dict or t is OrderedDict:
        return t, list(tree), list(tree.values())
    if _is_namedtuple_type(t):
        return t, t, list(tree)
    return None


def _tree_flatten(tree: Any) -> tuple[list, _Spec]:
    """The leaves of `tree`, depth first, and its structure."""
    leaves: list = []

    def walk(node: Any) -> _Spec:
        kids = _children(node)
        if kids is None:
            leaves.append(node)
            return _Spec(None)
        t, context, children = kids
        return _Spec(t, context, [walk(c) for c in children])

    spec = walk(tree)
    return leaves, spec


def _tree_unflatten(leaves: Sequence, spec: _Spec) -> Any:
    """The inverse of `_tree_flatten`."""
    it = iter(leaves)

    def build(s: _Spec) -> Any:
        if s.type is None:
            return next(it)
        children = [build(c) for c in s.children]
        if s.type is tuple or s.type is list:
            return s.type(children)
        if s.type is dict or s.type is OrderedDict:
            return s.type(zip(s.context, children))
        return s.type._make(children)

    return build(spec)


def _tree_map(fn: Callable, tree: Any) -> Any:
    leaves, spec = _tree_flatten(tree)
    return _tree_unflatten([fn(x) for x in leaves], spec)


def _pprint(spec: _Spec) -> str:
    """torch's treespec_pprint: the tree drawn with `*` for every leaf."""

    class Star:
        def __repr__(self) -> str:
            return "*"

    return repr(_tree_unflatten([Star()] * spec.num_leaves, spec))


def _broadcast_to_and_flatten(prefix: Any, spec: _Spec) -> list | None:
    """Flatten `prefix` against the structure `spec`, a leaf of `prefix` standing for its whole
    subtree (how vmap's `in_dims=(None, 0)` covers a dict argument); None if they disagree."""
    out: list = []

    def walk(p: Any, s: _Spec) -> bool:
        kids = _children(p)
        if kids is None:
            out.extend([p] * s.num_leaves)
            return True
        t, context, children = kids
        if t is not s.type or context != s.context or len(children) != len(s.children):
            return False
        return all(walk(c, cs) for c, cs in zip(children, s.children))

    return out if walk(prefix, spec) else None


# ---- graph helpers -------------------------------------------------------------------------------
def _reaches_outer(tensors: Sequence[Any], private: set[int]) -> bool:
    """Whether any of `tensors` depends on a leaf requiring grad other than the `private` ones
    (ids): such a result must stay differentiable for an enclosing transform or the caller."""
    seen: set[int] = set()
    stack = []
    for t in tensors:
        if not isinstance(t, Tensor) or not t.requires_grad:
            continue
        if t.grad_fn is None:
            if id(t) not in private:
                return True
        else:
            stack.append(t.grad_fn)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        leaf = getattr(node, "variable", None)
        if leaf is not None and id(leaf) not in private:
            return True
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return False


def _unwrap(tree: Any, private: set[int], outer_grad: bool, aux: bool = False) -> Any:
    """Results as the caller sees them: detached unless they depend on the caller's graph.

    `aux` outputs must be tensors only (torch's rule)."""

    def one(x: Any) -> Any:
        if aux and not isinstance(x, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(x)}")
        if not isinstance(x, Tensor) or not x.requires_grad:
            return x
        if outer_grad and _reaches_outer([x], private):
            return x
        return _detach(x, private, outer_grad)

    return _tree_map(one, tree)


def _detach(x: Tensor, private: set[int], outer_grad: bool) -> Tensor:
    """`x.detach()` that keeps x's tangent: leaving a reverse transform's graph must not leave
    an enclosing jvp's dual level (forward-over-reverse, e.g. `jacfwd(jacrev(f))`), as a
    functorch level unwraps only its own wrapper. The tangent is unwrapped by the same rule
    as results (`_unwrap`)."""
    out = x.detach()
    tangent = tangent_of(x)
    if tangent is None:
        return out
    if tangent.requires_grad and not (outer_grad and _reaches_outer([tangent], private)):
        tangent = tangent.detach()
    return make_dual(out, tangent)


def _alias(x: Any, private: set[int], outer_grad: bool) -> Tensor:
    """A differentiable stand-in for input `x`: a view when the caller tracks `x` (so gradients
    reach it), else a fresh leaf, recorded in `private`."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if outer_grad and x.requires_grad:
        return x.view_as(x)
    leaf = _detach(x, private, outer_grad).requires_grad_()
    private.add(id(leaf))
    return leaf


def _autograd_grad(
    outputs: Sequence[Tensor],
    inputs: Sequence[Tensor],
    grad_outputs: Sequence[Tensor] | None,
    create_graph: bool,
) -> tuple[Tensor, ...]:
    """autograd.grad where outputs not requiring grad and unused inputs give zeros (torch's
    functorch helper of the same name)."""
    from . import zeros_like

    pairs = [
        (o, None if grad_outputs is None else grad_outputs[i])
        for i, o in enumerate(outputs)
        if o.requires_grad
    ]
    if not pairs:
        return tuple(zeros_like(x) for x in inputs)
    outs = [o for o, _ in pairs]
    seeds = None if grad_outputs is None else [g for _, g in pairs]
    got = _autograd_grad_raw(
        outs, inputs, seeds, retain_graph=True, create_graph=create_graph, allow_unused=True
    )
    return tuple(zeros_like(x) if g is None else g for g, x in zip(got, inputs))


# ---- argnums -------------------------------------------------------------------------------------
def _wrap_argnum(argnum: Any, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _normalize_argnums(argnums: Any, num_args: int) -> argnums_t:
    """argnums checked and made non-negative, with torch's errors."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, num_args)
    argnums = tuple(_wrap_argnum(a, num_args) for a in argnums)
    if len(argnums) == 0:
        raise RuntimeError("argnums must be non-empty")
    if len(set(argnums)) != len(argnums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return argnums


def _slice_argnums(args: tuple, argnums: argnums_t, as_tuple: bool = False) -> Any:
    """The differentiated arguments: a tuple, or the bare argument for an int argnums unless
    `as_tuple`."""
    if isinstance(argnums, int):
        return (args[argnums],) if as_tuple else args[argnums]
    return tuple(args[i] for i in argnums)


def _replace_args(args: tuple, new: Any, argnums: argnums_t) -> tuple:
    if isinstance(argnums, int):
        return args[:argnums] + (new,) + args[argnums + 1 :]
    return tuple(new[argnums.index(i)] if i in argnums else a for i, a in enumerate(args))


def _get_name(func: Callable) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_get_name(func.func)}, ...)"
    return repr(func)


def _check_output_tensors(flat: list, api: str) -> None:
    if (len(flat) == 1 and flat[0] is None) or len(flat) < 1:
        raise RuntimeError(
            f"{api}: Expected f to be a function that has non-empty output (got output = {flat})"
        )
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                f"{type(o)}"
            )


def _split_aux(out: Any, has_aux: bool, api: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def _error_if_complex(api: str, tree: Any, is_input: bool) -> None:
    for i, x in enumerate(_tree_flatten(tree)[0]):
        if isinstance(x, Tensor) and x.dtype.is_complex:
            kind = "inputs" if is_input else "outputs"
            raise RuntimeError(
                f"{api}: Expected all {kind} to be real but received complex tensor at "
                f"flattened input idx: {i}"
            )


# ---- grad and vjp --------------------------------------------------------------------------------
def grad_and_value(
    func: Callable, argnums: argnums_t = 0, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """A function returning `(gradient, value)` of scalar-valued `func` at its arguments.

    The gradient is taken with respect to the argument(s) `argnums` (each may be a pytree of
    tensors); with `has_aux`, `func` returns `(output, aux)` and the value is `(output, aux)`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        api = "grad_and_value(f)(*args)"
        outer = is_grad_enabled()
        private: set[int] = set()
        nums = _normalize_argnums(argnums, len(args))
        with enable_grad():
            diff = _tree_map(lambda x: _alias(x, private, outer), _slice_argnums(args, nums))
            output, aux = _split_aux(func(*_replace_args(args, diff, nums), **kwargs), has_aux, api)
            if not isinstance(output, Tensor):
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return a Tensor, got {type(output)}"
                )
            if output.dim() != 0:
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                    f"{output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            flat_diff, spec = _tree_flatten(diff)
            # Matches torch: a graph for the gradient only when someone outside can use it.
            create = outer and _reaches_outer([output], private)
            grads = _tree_unflatten(_autograd_grad([output], flat_diff, None, create), spec)
        grads, output = _unwrap((grads, output), private, outer)
        if has_aux:
            aux = _unwrap(aux, private, outer, aux=True)
        return grads, ((output, aux) if has_aux else output)

    return wrapper


def grad(func: Callable, argnums: argnums_t = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning the gradient of scalar-valued `func` with respect to `argnums`.

    `grad(f)(x)` is `ember.autograd.grad(f(x), x)` as a composable transform: it nests
    (`grad(grad(f))`), maps (`vmap(grad(f))`) and accepts pytrees of tensors. With
    `has_aux`, `func` returns `(output, aux)` and the result is `(gradient, aux)`.
    """
    inner = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        grads, value = inner(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapper


def _vjp(
    func: Callable, primals: tuple, argnums: argnums_t | None, has_aux: bool
) -> tuple[Any, Callable, Any]:
    """vjp with respect to `argnums` (None: every primal), for `vjp` and `jacrev`."""
    api = "vjp(f, *primals)"
    outer = is_grad_enabled()
    private: set[int] = set()
    with enable_grad():
        if argnums is None:
            diff = _tree_map(lambda x: _alias(x, private, outer), primals)
            args = diff
        else:
            diff = _tree_map(lambda x: _alias(x, private, outer), _slice_argnums(primals, argnums))
            args = _replace_args(primals, diff, argnums)
        out, aux = _split_aux(func(*args), has_aux, api)
        flat_out, out_spec = _tree_flatten(out)
        _check_output_tensors(flat_out, api)
        for o in flat_out:
            if not (o.dtype.is_floating_point or o.dtype.is_complex):
                raise RuntimeError(
                    "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, "
                    f"got Tensor with dtype {o.dtype}"
                )
        flat_diff, diff_spec = _tree_flatten(diff)

    def vjp_fn(cotangents: Any, retain_graph: bool = True, create_graph: bool | None = None) -> Any:
        flat_cot, cot_spec = _tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {_pprint(cot_spec)}, primal output: "
                f"{_pprint(out_spec)}"
            )
        grad_on = is_grad_enabled() if create_graph is None else create_graph
        create = grad_on and _reaches_outer(flat_out + flat_cot, private)
        with enable_grad():
            got = _autograd_grad(flat_out, flat_diff, flat_cot, create)
        return _unwrap(_tree_unflatten(got, diff_spec), private, grad_on)

    aux = _unwrap(aux, private, outer, aux=True) if has_aux else None
    return _unwrap(out, private, outer), vjp_fn, aux


def vjp(func: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """`(func(*primals), vjp_fn)`: `vjp_fn(cotangents)` is the vector-Jacobian product, one
    gradient per primal (a tuple). With `has_aux`, `(output, vjp_fn, aux)`.

    `vjp_fn` may be called many times (the graph is retained).
    """
    out, vjp_fn, aux = _vjp(func, primals, None, has_aux)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


# ---- forward mode --------------------------------------------------------------------------------
_JVP = "jvp(f, primals, tangents)"


class _Nesting(threading.local):
    """How many `jvp`s this thread is inside (torch's JVP_NESTING, kept per thread)."""

    def __init__(self) -> None:
        self.depth = 0


_NESTING = _Nesting()


def _check_tangents(primals: Any, tangents: Any) -> tuple[list, list, _Spec]:
    """torch's checks of jvp's arguments: `(flat primals, flat tangents, primals' spec)`.
    Shapes and dtypes are checked by `make_dual`, pair by pair, as in torch."""
    flat_p, p_spec = _tree_flatten(primals)
    flat_t, t_spec = _tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(
            f"{_JVP}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {p_spec!r} and tangents with structure {t_spec!r}"
        )
    for name, flat in (("primals", flat_p), ("tangents", flat_t)):
        if not flat:
            raise RuntimeError(f"{_JVP}: Expected {name} to contain at least one Tensor.")
        for x in flat:
            if not isinstance(x, Tensor):
                raise RuntimeError(
                    f"{_JVP}: Expected {name} to only contain Tensors, got {type(x)}"
                )
    return flat_p, flat_t, p_spec


def _unpack_output(out: Any, strict: bool) -> tuple[Tensor, Tensor]:
    """`(primal, tangent)` of one output of f (torch's safe_unpack_dual): an output that
    carries no tangent does not depend on the primals, so its tangent is zeros."""
    from . import zeros_like

    if not isinstance(out, Tensor):
        raise RuntimeError(
            f"{_JVP}: expected f(*args) to return only tensors, got unsupported type {type(out)}"
        )
    primal, tangent = unpack_dual(out)
    if tangent is None:
        if strict:
            raise RuntimeError(
                "jvp(f, primals, tangents, strict=True): The output of f is independent of "
                "the inputs. This is not allowed with strict=True."
            )
        tangent = zeros_like(primal)
    return primal, tangent


def _check_aux(aux: Any) -> Any:
    for a in _tree_flatten(aux)[0]:
        if not isinstance(a, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(a)}")
    return aux


def _jvp(
    func: Callable,
    primals: Any,
    tangents: Any,
    argnums: argnums_t | None,
    strict: bool,
    has_aux: bool,
) -> tuple:
    """jvp with respect to `argnums` (None: every primal), for `jvp` and `jacfwd`: one run of
    `func` on dual tensors (the primals carrying `tangents`) inside a forward-AD dual level."""
    if not isinstance(primals, tuple):
        raise RuntimeError(
            f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."
        )
    if argnums is not None:
        argnums = _normalize_argnums(argnums, len(primals))
    diff = primals if argnums is None else _slice_argnums(primals, argnums, as_tuple=True)
    flat_p, flat_t, spec = _check_tangents(diff, tangents)
    if _NESTING.depth:
        return _jvp_nested(func, primals, flat_p, flat_t, argnums, strict, has_aux)
    _NESTING.depth += 1
    try:
        with dual_level():
            duals = _tree_unflatten([make_dual(p, t) for p, t in zip(flat_p, flat_t)], spec)
            if argnums is not None:
                duals = _replace_args(
                    primals, duals[0] if isinstance(argnums, int) else duals, argnums
                )
            out, aux = _split_aux(func(*duals), has_aux, _JVP)
            if has_aux:
                _check_aux(aux)
            flat_out, out_spec = _tree_flatten(out)
            _check_output_tensors(flat_out, _JVP)
            pairs = [_unpack_output(o, strict) for o in flat_out]
    finally:
        _NESTING.depth -= 1
    result = tuple(_tree_unflatten(list(col), out_spec) for col in zip(*pairs))
    return result + (aux,) if has_aux else result


def _jvp_nested(
    func: Callable,
    primals: tuple,
    flat_primals: list,
    flat_tangents: list,
    argnums: argnums_t | None,
    strict: bool,
    has_aux: bool,
) -> tuple:
    """A jvp inside another (`jacfwd(jacfwd(f))`, `jvp(lambda x: jvp(g, ...))`).

    torch gives each nested jvp its own functorch level; ember's forward AD has one dual level
    at a time and one tangent per tensor, which the enclosing jvp holds. So the inner product
    is taken in reverse mode, by the double-vjp trick: with a dummy cotangent `u`, `g(u) = J^T
    u` is linear in u, and the gradient of `<g(u), t>` with respect to u is `J t`. Its backward
    passes run inside the enclosing level, which pushes its own tangents through them
    (forward-over-reverse), so the outer derivative of the result is exact.
    """
    from . import zeros_like

    for p, t in zip(flat_primals, flat_tangents):
        make_dual(p.detach(), t)  # Matches torch: make_dual's checks (dtypes, shape), in order
    outer = is_grad_enabled()
    private: set[int] = set()
    with enable_grad():
        if argnums is None:
            diff = _tree_map(lambda x: _alias(x, private, outer), primals)
            args = diff
        else:
            diff = _tree_map(lambda x: _alias(x, private, outer), _slice_argnums(primals, argnums))
            args = _replace_args(primals, diff, argnums)
        out, aux = _split_aux(func(*args), has_aux, _JVP)
        flat_out, out_spec = _tree_flatten(out)
        _check_output_tensors(flat_out, _JVP)
        flat_diff = _tree_flatten(diff)[0]
        tracked = [i for i, o in enumerate(flat_out) if o.requires_grad]
        dummies = [zeros_like(flat_out[i]).requires_grad_() for i in tracked]
        private.update(id(u) for u in dummies)
        vjps = _autograd_grad_raw(
            [flat_out[i] for i in tracked],
            flat_diff,
            dummies,
            retain_graph=True,
            create_graph=True,
            allow_unused=True,
        )
        used = [k for k, g in enumerate(vjps) if g is not None and g.requires_grad]
        results: list = [None] * len(flat_out)
        if used:
            gs = [vjps[k] for k in used]
            ts = [flat_tangents[k] for k in used]
            create = outer and _reaches_outer(gs + ts, private)
            got = _autograd_grad_raw(
                gs, dummies, ts, retain_graph=True, create_graph=create, allow_unused=True
            )
            for i, jt in zip(tracked, got):
                results[i] = jt
    tangents_out = []
    for o, jt in zip(flat_out, _unwrap(results, private, outer)):
        if jt is None:
            if strict:
                raise RuntimeError(
                    "jvp(f, primals, tangents, strict=True): The output of f is independent of "
                    "the inputs. This is not allowed with strict=True."
                )
            jt = zeros_like(o)
        tangents_out.append(jt)
    result = (_unwrap(out, private, outer), _tree_unflatten(tangents_out, out_spec))
    return result + (_unwrap(aux, private, outer, aux=True),) if has_aux else result


def jvp(
    func: Callable,
    primals: Any,
    tangents: Any,
    *,
    strict: bool = False,
    has_aux: bool = False,
) -> tuple:
    """`(func(*primals), J @ tangents)`: the Jacobian-vector product at `primals`, by forward
    mode: `func` runs once on dual tensors (`ember.autograd.forward_ad`) and every op pushes
    its tangent. With `has_aux`, `func` returns `(output, aux)` and the result is `(output,
    jvp_out, aux)`. With `strict`, an output that does not depend on the primals raises.

    No backward pass runs (a jvp nested in another is the exception, see `_jvp_nested`).
    """
    return _jvp(func, primals, tangents, None, strict, has_aux)


_META = ("shape", "device", "dtype")


def linearize(func: Callable, *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """`(func(*primals), jvp_fn)`: `jvp_fn(*tangents)` is the Jacobian-vector product at
    `primals`, with torch's checks of the tangents' structure, shapes, devices and dtypes.

    torch traces `func`'s forward-mode computation once (make_fx) and replays it; ember cannot
    trace, so each `jvp_fn` call runs `func` again on dual tensors. The values are the same
    (like torch's replay, a call sees the primals' current values); the cost is one run of
    `func` per call instead of one replay of the traced tangent computation.
    """
    output = func(*primals)
    out_spec = _tree_flatten(output)[1]
    flat_p, p_spec = _tree_flatten(primals)
    # Matches torch: its trace, at this point, rejects primals that cannot carry a tangent.
    with dual_level():
        for p in flat_p:
            make_dual(p, p.new_empty(()).expand_as(p))
    metas = [(p.shape, p.device, p.dtype) for p in flat_p]

    def jvp_fn(*tangents: Any) -> Any:
        flat_t, t_spec = _tree_flatten(tangents)
        if t_spec != p_spec:
            raise RuntimeError(
                f"Expected the tangents {t_spec!r} to have the same argspec as the primals "
                f"{p_spec!r}"
            )
        for idx, (t, meta) in enumerate(zip(flat_t, metas)):
            for what, want, got in zip(_META, meta, (t.shape, t.device, t.dtype)):
                if got != want:
                    raise RuntimeError(
                        f"tangent:{idx} with {what} {got} in flattened pytree doesn't match "
                        f"the {what} {want} of the corresponding primal."
                    )
        with dual_level():
            duals = [make_dual(p, t) for p, t in zip(flat_p, flat_t)]
            flat_out = _tree_flatten(func(*_tree_unflatten(duals, p_spec)))[0]
            got = [_unpack_output(o, False)[1] if isinstance(o, Tensor) else o for o in flat_out]
        return _tree_unflatten(got, out_spec)

    return output, jvp_fn


# ---- Jacobians -----------------------------------------------------------------------------------
def _standard_basis(tensors: list[Tensor]) -> list[Tensor]:
    """One block per tensor of the identity of size sum(numels): block i has shape
    (sum(numels), *tensors[i].shape) and holds the columns belonging to tensor i."""
    from . import tensor as _make

    numels = [t.numel() for t in tensors]
    eye = np.eye(sum(numels))
    blocks, start = [], 0
    for t, n in zip(tensors, numels):
        cols = eye[:, start : start + n].reshape((sum(numels),) + tuple(t.shape))
        blocks.append(_make(cols, dtype=t.dtype))
        start += n
    return blocks


def jacrev(
    func: Callable,
    argnums: argnums_t = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """A function returning the Jacobian of `func` with respect to `argnums`, by reverse mode:
    one evaluation of `func`, then one vjp per output element (`vmap(vjp_fn)` over the standard
    basis). `chunk_size` is validated and otherwise ignored (vmap already goes one by one)."""
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        _error_if_complex("jacrev", args, is_input=True)
        nums = _normalize_argnums(argnums, len(args))
        output, vjp_fn, aux = _vjp(func, args, nums, has_aux)
        flat_out, out_spec = _tree_flatten(output)
        _error_if_complex("jacrev", flat_out, is_input=False)
        flat_primals, primals_spec = _tree_flatten(_slice_argnums(args, nums, True))
        basis = _tree_unflatten(_standard_basis(flat_out), out_spec)
        per_input = _tree_flatten(vmap(vjp_fn)(basis))[0]
        numels = [o.numel() for o in flat_out]
        # per_input[j] has shape (sum(numels), *primal_j.shape): split it by output.
        blocks = [
            [
                piece.view(tuple(o.shape) + tuple(p.shape))
                for piece, o in zip(jac.split(numels, dim=0), flat_out)
            ]
            for jac, p in zip(per_input, flat_primals)
        ]
        per_output = [_tree_unflatten(list(col), primals_spec) for col in zip(*blocks)]
        if isinstance(nums, int):
            per_output = [j[0] for j in per_output]
        result = _tree_unflatten(per_output, out_spec)
        return (result, aux) if has_aux else result

    return wrapper


def jacfwd(
    func: Callable,
    argnums: argnums_t = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable[..., Any]:
    """A function returning the Jacobian of `func` with respect to `argnums`, column by column
    with `vmap(jvp)` over the standard basis of the inputs, as torch does: forward mode, and
    (ember's vmap mapping element by element) one run of `func` per input element.
    """

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        _error_if_complex("jacfwd", args, is_input=True)
        nums = _normalize_argnums(argnums, len(args))
        flat_primals, primals_spec = _tree_flatten(_slice_argnums(args, nums, True))
        basis = _tree_unflatten(_standard_basis(flat_primals), primals_spec)

        def push_jvp(tangent: Any) -> Any:
            out = _jvp(func, args, tangent, nums, False, has_aux)
            _error_if_complex("jacfwd", out[0], is_input=False)
            return (out[1], out[2]) if has_aux else out[1]

        results = vmap(push_jvp, randomness=randomness)(basis)
        aux = None
        if has_aux:
            results, aux = results
            # Matches torch: aux was mapped with the basis; report the first copy.
            aux = _tree_map(lambda a: a[0], aux)
        flat_jac, out_spec = _tree_flatten(results)
        numels = [p.numel() for p in flat_primals]
        per_output = []
        for jac in flat_jac:
            pieces = jac.movedim(0, -1).split(numels, dim=-1)
            per_input = [
                piece.squeeze(-1) if p.dim() == 0 else piece.unflatten(-1, tuple(p.shape))
                for piece, p in zip(pieces, flat_primals)
            ]
            per_output.append(_tree_unflatten(per_input, primals_spec))
        if isinstance(nums, int):
            per_output = [j[0] for j in per_output]
        result = _tree_unflatten(per_output, out_spec)
        return (result, aux) if has_aux else result

    return wrapper


def hessian(func: Callable, argnums: argnums_t = 0) -> Callable[..., Any]:
    """The Hessian of `func` with respect to `argnums`: `jacfwd(jacrev(func))`, as torch
    composes it (forward-over-reverse: reverse-mode gradients on dual tensors)."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---- vmap ----------------------------------------------------------------------------------------
class _RandomnessGuard:
    """Stands in for the default generator's NumPy stream while randomness="error": any draw
    raises torch's error."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "vmap: called random operation while in randomness error mode. Please either use "
            "the 'same' or 'different' randomness flags on vmap or perform the randomness "
            "operation out of vmap"
        )


@contextmanager
def _randomness(mode: str) -> Iterator[Callable[[], None]]:
    """Set up the default generator for one vmap call; yields `before_each`, to be called
    before each element ("same" rewinds the stream so every element draws the same values)."""
    gen = _random.default_generator
    saved = gen._rng
    if mode == "error":
        gen._rng = _RandomnessGuard()
    try:
        if mode == "same" and not isinstance(saved, _RandomnessGuard):
            state = saved.bit_generator.state

            def rewind() -> None:
                gen._rng.bit_generator.state = state

            yield rewind
        else:
            yield lambda: None
    finally:
        # A manual_seed inside func replaced the stream: keep it.
        if isinstance(gen._rng, _RandomnessGuard) and mode == "error":
            gen._rng = saved


def _check_randomness_arg(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )


def _process_inputs(func: Callable, in_dims: Any, args: tuple) -> tuple[int, list, list, _Spec]:
    """Check in_dims against args as torch does: (batch size, flat in_dims, flat args, spec)."""
    name = _get_name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
            "(potentially nested) tuple matching the structure of inputs, got: "
            f"{type(in_dims)}."
        )
    if len(args) == 0:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are "
            "trying to vmap over a function with no inputs. The latter is unsupported."
        )
    flat_args, spec = _tree_flatten(args)
    flat_dims = _broadcast_to_and_flatten(in_dims, spec)
    if flat_dims is None:
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
            f"structure of `inputs`. in_dims has structure {_tree_flatten(in_dims)[1]!r} but "
            f"inputs has structure {spec!r}."
        )
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        prefix = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for "
        if d is None:
            continue
        if not isinstance(d, int):
            raise ValueError(
                prefix + "an input but in_dim must be either an integer dimension or None."
            )
        if not isinstance(arg, Tensor):
            raise ValueError(
                prefix + f"an input but the input is of type {type(arg)}. We cannot vmap over "
                "non-Tensor arguments, please use None as the respective in_dim"
            )
        n = arg.dim()
        if not -n <= d < n:
            raise ValueError(
                prefix + f"some input, but that input is a Tensor of dimensionality {n} so "
                f"expected in_dim to satisfy -{n} <= in_dim < {n}."
            )
        flat_dims[i] = d % n
    sizes = [a.shape[d] for a, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )
    return sizes[0], flat_dims, flat_args, spec


def _check_out_dims(func: Callable, out_dims: Any) -> None:
    if isinstance(out_dims, int):
        return
    for d in _tree_flatten(out_dims)[0]:
        if d is not None and not isinstance(d, int):
            raise ValueError(
                f"vmap({_get_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, "
                "None or a python collection of ints representing where in the outputs the "
                "vmapped dimension should appear."
            )


def _flat_out_dims(func: Callable, out_dims: Any, output: Any, spec: _Spec) -> list:
    def incompatible() -> ValueError:
        return ValueError(
            f"vmap({_get_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
            "compatible with the structure of `outputs`. out_dims has structure "
            f"{_tree_flatten(out_dims)[1]!r} but outputs has structure {spec!r}."
        )

    if isinstance(output, Tensor):
        # Matches torch: a lone tensor output also accepts out_dims=(d,).
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
        if isinstance(out_dims, int) or out_dims is None:
            return [out_dims]
        raise incompatible()
    flat = _broadcast_to_and_flatten(out_dims, spec)
    if flat is None:
        raise incompatible()
    return flat


def _same_value(values: list) -> bool:
    """Whether per-element outputs are all one unbatched value (same object or equal tensors)."""
    first = values[0]
    if all(v is first for v in values):
        return True
    if not all(isinstance(v, Tensor) for v in values):
        return all(v == first for v in values)
    return all(
        v.shape == first.shape
        and v.dtype is first.dtype
        and np.array_equal(v.detach().numpy(), first.detach().numpy(), equal_nan=True)
        for v in values
    )


def _combine(func: Callable, outputs: list, out_dims: Any, batch: int) -> Any:
    """Stack the per-element outputs of func along their out_dims."""
    from . import stack

    name = _get_name(func)
    flat0, spec = _tree_flatten(outputs[0])
    flats = [flat0] + [_tree_flatten(o)[0] for o in outputs[1:]]
    dims = _flat_out_dims(func, out_dims, outputs[0], spec)
    result = []
    for k, d in enumerate(dims):
        values = [f[k] for f in flats]
        if d is None:
            if isinstance(values[0], Tensor) and not _same_value(values):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim "
                    "is None"
                )
            result.append(values[0])
            continue
        if not isinstance(values[0], Tensor):
            raise ValueError(
                f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                f"{type(values[0])}. Did you mean to set out_dims= to None for output?"
            )
        out = stack(values, dim=d)
        result.append(out if batch else out.narrow(d, 0, 0))
    return _tree_unflatten(result, spec)


def vmap(
    func: Callable,
    in_dims: int | tuple = 0,
    out_dims: int | tuple | None = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """`func` mapped over dimension `in_dims` of its inputs, results stacked at `out_dims`.

    `in_dims` / `out_dims` are an int, or pytrees (tuples for the arguments; dicts, lists and
    namedtuples inside) whose int-or-None leaves cover whole subtrees; None marks an input
    that is not mapped (passed whole to every call) or an output that is the same for every
    element. Keyword arguments are never mapped.

    Semantics-first implementation: ember has no batching rules, so `func` runs once per batch
    element on `input.select(in_dim, i)` and the outputs are stacked; the cost is one Python
    call of `func` per element. An output with out_dim None must be the same for every
    element (the same object or equal values), else torch's error is raised. An empty batch
    runs `func` once on zero-filled elements to learn the output shapes. `chunk_size` is
    validated and otherwise has no effect. See the module docstring for `randomness`.
    """
    _check_randomness_arg(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _check_out_dims(func, out_dims)
        batch, flat_dims, flat_args, spec = _process_inputs(func, in_dims, args)

        def element(i: int) -> tuple:
            flat = [
                a
                if d is None
                else (a.select(d, i) if batch else a.new_zeros(a.shape[:d] + a.shape[d + 1 :]))
                for a, d in zip(flat_args, flat_dims)
            ]
            return _tree_unflatten(flat, spec)

        outputs = []
        with _randomness(randomness) as before_each:
            for i in range(max(batch, 1)):
                before_each()
                outputs.append(func(*element(i), **kwargs))
        return _combine(func, outputs, out_dims, batch)

    return wrapped


# ---- modules -------------------------------------------------------------------------------------
_MISSING = object()


def _untie(module: Any, named: dict[str, Tensor]) -> dict[str, Tensor]:
    """`named` extended to every name tied (same tensor) to a given name; torch's error when
    tied names are given different tensors."""
    everything = dict(module.named_parameters(remove_duplicate=False))
    everything.update(module.named_buffers(remove_duplicate=False))
    by_tensor: dict[int, set[str]] = {}
    for name, t in everything.items():
        by_tensor.setdefault(id(t), set()).add(name)
    tied = {n: names for names in by_tensor.values() if len(names) > 1 for n in names}
    given = [n for n in named if n in tied]
    for n in given:
        names = tied[n]
        if (
            len(names.intersection(given)) > 1
            and len({id(named[m]) for m in names if m in named}) != 1
        ):
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(names)}, which are tied. "
                "Consider using tie_weights=False"
            )
    untied = dict(named)
    for n in given:
        for m in tied[n]:
            untied[m] = named[n]
    return untied


def _submodule(root: Any, path: str) -> Any:
    from .nn import Module

    mod = root
    for attr in path.split(".") if path else ():
        try:
            child = getattr(mod, attr)
        except AttributeError as exc:
            raise AttributeError(f"{mod._get_name()} has no attribute `{attr}`") from exc
        if not isinstance(child, Module):
            raise TypeError(f"submodule `{path}`: {child} is not an instance of ember.nn.Module")
        mod = child
    return mod


def _swap(root: Any, name: str, value: Any) -> Any:
    """Put `value` at dotted `name` (a parameter, buffer or plain attribute; `_MISSING`
    deletes it) and return what was there, as torch's NamedMemberAccessor does."""
    prefix, _, attr = name.rpartition(".")
    mod = _submodule(root, prefix)
    if value is not _MISSING and value is not None and not isinstance(value, Tensor):
        raise TypeError(f"{value} is not an instance of ember.Tensor")
    for table in (mod._parameters, mod._buffers):
        if attr in table:
            old = table[attr]
            if value is _MISSING:
                del table[attr]
            else:
                table[attr] = value
            return old
    old = getattr(mod, attr, _MISSING)
    if old is not _MISSING and old is not None and not isinstance(old, Tensor):
        raise TypeError(f"attribute `{attr}`: {old} is not an instance of ember.Tensor")
    if value is not _MISSING:
        setattr(mod, attr, value)
    elif hasattr(mod, attr):
        delattr(mod, attr)
    return old


def functional_call(
    module: Any,
    parameter_and_buffer_dicts: dict[str, Tensor] | Sequence[dict[str, Tensor]],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call `module(*args, **kwargs)` with some parameters and buffers replaced by the given
    tensors (keys are dotted names as in `named_parameters`), restoring the originals after,
    even when the call raises.

    This is how `grad` and `vmap` see a module as a function of its parameters:
    `grad(lambda p, x: functional_call(model, p, (x,)).sum())(params, x)`. With `tie_weights`,
    a value given for one of several tied names is used for all of them; with `strict`, the
    keys must be exactly the module's parameters and buffers.
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        named = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        named = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            f"{type(parameter_and_buffer_dicts)}"
        )
    untied = _untie(module, named) if tie_weights else named
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        unexpected, missing = sorted(set(untied) - valid), sorted(valid - set(untied))
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(
                f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs)
            )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    originals: dict[str, Any] = {}
    try:
        for name, value in untied.items():
            originals[name] = _swap(module, name, value)
        return module(*args, **kwargs)
    finally:
        current = {name: _swap(module, name, old) for name, old in originals.items()}
        # Matches torch: a module that replaced a swapped-in tensor reports it back.
        named.update({k: current[k] for k in named if k in current})


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """`(params, buffers)`: each model's parameters and buffers stacked along a new first
    dimension, for ensembling with `vmap(functional_call)`. Stacked parameters are new leaves."""
    from . import stack

    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(tables: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        result = {}
        for k in tables[0]:
            ts = [t[k] for t in tables]
            flags = {t.requires_grad for t in ts}
            if len(flags) > 1:
                raise RuntimeError(f"Expected {k} from each model to have the same .requires_grad")
            s = stack(ts)
            result[k] = s.detach().requires_grad_() if flags == {True} else s
        return result

    params = stacked([dict(m.named_parameters()) for m in models])
    return params, stacked([dict(m.named_buffers()) for m in models])
