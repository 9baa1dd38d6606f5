"""`ember.autograd.functional`: derivatives of whole functions (vjp, jvp, jacobian, hessian...).

Each function calls the user's `func` on fresh copies of `inputs` that require grad, then asks
`ember.autograd.grad` for the products it needs. Conventions, all torch's:

- Results mirror the structure of the arguments: a Tensor where a Tensor was given, a tuple
  where a tuple was given; `jacobian(f, (x, y))` for `f` returning `(a, b)` is `((da/dx,
  da/dy), (db/dx, db/dy))`.
- Results are detached unless `create_graph=True`; no tensor's `.grad` is touched.
- Where an output does not depend on an input the answer is zeros, or an error with
  `strict=True`.
- `jacobian(strategy="forward-mode")` (and `hessian(outer_jacobian_strategy="forward-mode")`)
  uses forward-mode AD: one run of `func` on dual tensors per input element.
- `jvp` and `hvp` use the double-vjp (double backward) trick, as torch 2.13's do: `J v` is the
  gradient of the linear map `u -> uᵀJ` with respect to `u`. So they work wherever backward
  does (an `autograd.Function` without `jvp` too), and their strict-mode errors speak of that
  trick, as torch's do. `ember.func.jvp` and `ember.autograd.forward_ad` are forward mode.
"""

from __future__ import annotations

from collections.abc import Callable

from .._tensor import Tensor
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

Tensors = Tensor | tuple


# ember.autograd loads while ember's factories and ops are still loading: import them lazily.
def _zeros_like(x: Tensor, **kwargs) -> Tensor:
    from .. import zeros_like

    return zeros_like(x, **kwargs)


def _stack(tensors: list, dim: int) -> Tensor:
    from .. import stack

    return stack(tensors, dim=dim)


def _as_tuple(value, arg_name: str, fn_name: str | None) -> tuple[bool, tuple]:
    """(was it a tuple?, the value as a tuple of Tensors), with torch's TypeError otherwise."""
    is_tuple = isinstance(value, tuple)
    values = value if is_tuple else (value,)
    for i, el in enumerate(values):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(
                f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of "
                f"Tensors but {where} has type {type(el)}."
            )
    return is_tuple, values


def _unpack(res: tuple, to_unpack: bool | tuple[bool, bool]):
    """Undo `_as_tuple` on a result: the outer and (for nested results) inner levels."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        to_unpack = to_unpack[0]
    return res if to_unpack else res[0]


def _prepare(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """New tensor objects for `func` to run on.

    Always new objects, so that gradients with respect to the arguments are not confused with
    gradients with respect to the same tensors captured by `func`'s closure. With
    `create_graph`, an input that requires grad is viewed (differentiably) so the result's
    graph reaches the caller's tensor; otherwise it is detached.
    """
    return tuple(
        x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(need_graph)
        for x in inputs
    )


def _finish(values: tuple, create_graph: bool) -> tuple:
    """Detach (possibly nested tuples of) results unless the caller asked for a graph."""
    if create_graph:
        return values
    return tuple(v.detach() if isinstance(v, Tensor) else _finish(v, False) for v in values)


def _validate_v(v: tuple, other: tuple, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}."
            )
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.size() != el_other.size():
            prefix = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(
                f"{prefix}v has invalid size: should be {el_other.size()} but got {el_v.size()}."
            )


def _prepare_v(v, fn_name: str, create_graph: bool, other: tuple, is_other_tuple: bool) -> tuple:
    _, v = _as_tuple(v, "v", fn_name)
    v = _prepare(v, create_graph, need_graph=False)
    _validate_v(v, other, is_other_tuple)
    return v


_NOT_DIFFERENTIABLE = {
    "outputs": (
        "Output {i} of the user-provided function does not require gradients. The outputs "
        "must be computed in a differentiable manner from the input when running in strict mode."
    ),
    "grad_inputs": (
        "The gradient with respect to input {i} is independent of the inputs of the "
        "user-provided function. This is not allowed in strict mode."
    ),
    "jacobian": (
        "While computing the hessian, found that the jacobian of the user-provided function "
        "with respect to input {i} is independent of the input. This is not allowed in strict "
        "mode. You should ensure that your function is twice differentiable and that the "
        "jacobian depends on the inputs (this would be violated by a linear function for "
        "example)."
    ),
    "hessian": (
        "The hessian of the user-provided function with respect to input {i} is independent "
        "of the input. This is not allowed in strict mode. You should ensure that your "
        "function is thrice differentiable and that the hessian depends on the inputs."
    ),
}


def _check_requires_grad(values: tuple, kind: str, strict: bool) -> None:
    """With `strict`, raise torch's error for the first value that has no graph."""
    if not strict:
        return
    for i, value in enumerate(values):
        if value is None:  # only gradients can be None
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}. "
                "This is not allowed in strict mode."
            )
        if not value.requires_grad:
            raise RuntimeError(_NOT_DIFFERENTIABLE[kind].format(i=i))


def _grad(
    outputs: tuple,
    inputs: tuple,
    grad_outputs=None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> tuple:
    """`autograd.grad` that skips outputs without a graph (None for every input if none has)."""
    from . import grad

    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, gs = zip(*pairs)
    return grad(
        outs,
        inputs,
        gs,
        retain_graph=retain_graph,
        create_graph=create_graph,
        allow_unused=True,
    )


_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is "
    "not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
    "grad_outputs when using the double backward trick to compute forward mode gradients. This "
    "is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
    "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry "
    "{i} in the grad_jacobian. This is not allowed in strict mode as it prevents from using "
    "the double backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str):
    """Replace missing gradients by zeros shaped like `refs`, or raise torch's strict errors."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(
                f"The {what} of the user-provided function is independent of input {i}. This "
                "is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


def _call(func: Callable, inputs: tuple, fn_name: str, strict: bool) -> tuple[bool, tuple]:
    is_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    return is_tuple, outputs


def _require_single_element(outputs: tuple, is_tuple: bool, fn_name: str) -> None:
    if is_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(
            f"The Tensor returned by the function given to {fn_name} should contain a single "
            "element"
        )


def _v_none_for_inputs(inputs: tuple) -> None:
    if len(inputs) != 1 or inputs[0].nelement() != 1:
        raise RuntimeError(
            "The vector v can only be None if the input to the user-provided function is a "
            "single Tensor with a single element."
        )


def vjp(
    func: Callable,
    inputs: Tensors,
    v: Tensors | None = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """`(func(inputs), vᵀ J)`: the output and the vector-Jacobian product, shaped like inputs.

    `v` may be omitted when `func` returns a single one-element Tensor.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call(func, inputs, "vjp", strict)
        if v is not None:
            v = _prepare_v(v, "vjp", create_graph, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].nelement() != 1:
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns a single "
                "Tensor with a single element."
            )
    # Matches torch: the backward runs in the caller's grad mode unless a graph is wanted.
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _grad(outputs, inputs, v, create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "back")
    return (
        _unpack(_finish(outputs, create_graph), is_outputs_tuple),
        _unpack(_finish(result, create_graph), is_inputs_tuple),
    )


def _double_vjp_setup(outputs: tuple, inputs: tuple, strict: bool) -> tuple[tuple, tuple]:
    """The graph of `u -> uᵀJ` (u = dummy cotangents requiring grad) for the double-vjp trick.

    The backward is linear in `u`, so u's value never appears in the result; zeros keep it
    free of inf and nan.
    """
    dummies = tuple(_zeros_like(out, requires_grad=True) for out in outputs)
    grad_inputs = _grad(outputs, inputs, dummies, create_graph=True)
    _check_requires_grad(grad_inputs, "grad_inputs", strict)
    return dummies, grad_inputs


def jvp(
    func: Callable,
    inputs: Tensors,
    v: Tensors | None = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """`(func(inputs), J v)`: the output and the Jacobian-vector product, shaped like outputs.

    Computed with the double-vjp trick, as torch's `autograd.functional.jvp` is (two backward
    passes, not forward mode: see the module docstring): the gradient of `uᵀJ v` with respect
    to `u`. `v` may be omitted when the input is one one-element Tensor.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            v = _prepare_v(v, "jvp", create_graph, inputs, is_inputs_tuple)
        else:
            _v_none_for_inputs(inputs)
        is_outputs_tuple, outputs = _call(func, inputs, "jvp", strict)
        dummies, grad_inputs = _double_vjp_setup(outputs, inputs, strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _grad(grad_inputs, dummies, v, create_graph)
        result = _fill_in_zeros(grads, outputs, strict, create_graph, "back_trick")
    return (
        _unpack(_finish(outputs, create_graph), is_outputs_tuple),
        _unpack(_finish(result, create_graph), is_outputs_tuple),
    )


def _one_hot(refs: tuple, which: int, k: int) -> tuple:
    """Zeros shaped like each of `refs`, with a 1 at flat position `k` of `refs[which]`."""
    basis = tuple(_zeros_like(r) for r in refs)
    basis[which].view(-1)[k] = 1
    return basis


def _jacobian_forward(
    func: Callable, inputs, create_graph: bool, strict: bool, vectorize: bool
) -> Tensors:
    """Forward-mode jacobian (torch's `_jacfwd`): column `J e_k` for each input element `k`,
    from one run of `func` on dual tensors carrying the standard basis vector `e_k`.

    torch maps the runs with its batching vmap; ember runs them one after the other, which
    gives the same columns. As in torch, the inputs are used as they are (not detached), so
    the Jacobian, in the outputs' dtype, stays attached to an input that requires grad, and
    it comes as lists where torch's does.
    """
    from .forward_ad import dual_level, make_dual, unpack_dual

    if create_graph:
        raise NotImplementedError(
            "torch.autograd.functional.jacobian: `create_graph=True` and "
            '`strategy="forward-mode"` are not supported together (yet). Please either set '
            '`create_graph=False` or `strategy="reverse-mode"`.'
        )
    if strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and "
            '`strategy="forward-mode"` are not supported together (yet). Please either set '
            '`strict=False` or `strategy="reverse-mode"`.'
        )
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        # Matches torch, including the missing space in its message.
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`."
        )
    numels = [x.numel() for x in inputs]
    total = sum(numels)
    basis = _standard_basis(inputs, numels)
    columns = []
    # Without input elements, one run on zero tangents still gives the outputs' shapes.
    for k in range(max(total, 1)):
        with dual_level():
            duals = tuple(
                make_dual(x, b[k].view_as(x) if total else _zeros_like(x))
                for x, b in zip(inputs, basis)
            )
            is_outputs_tuple, outputs = _as_tuple(func(*duals), "outputs", None)
            column = []
            for out in outputs:
                primal, tangent = unpack_dual(out)
                column.append(_zeros_like(primal) if tangent is None else tangent)
            columns.append(column)
    jac = []
    for i, out in enumerate(outputs):
        per_input = _stack([c[i] for c in columns], dim=0)[:total].split(numels, dim=0)
        jac.append(
            [
                # Columns run along dim 0: move it after the output's dims, as torch does.
                j.permute(*range(1, j.dim()), 0).reshape((*out.shape, *x.shape))
                for j, x in zip(per_input, inputs)
            ]
        )
    return _unpack(jac, (is_outputs_tuple, is_inputs_tuple))


def _standard_basis(inputs: tuple, numels: list[int]) -> list[Tensor]:
    """torch's `_construct_standard_basis_for`: the identity of size sum(numels), split by
    columns, one `(sum(numels), numel)` block per input in that input's dtype."""
    total = sum(numels)
    blocks, start = [], 0
    for x, n in zip(inputs, numels):
        block = x.new_zeros((total, n))
        block.diagonal(-start).fill_(1)
        blocks.append(block)
        start += n
    return blocks


def _jacobian_rows(outputs: tuple, inputs: tuple, create_graph: bool, strict: bool) -> tuple:
    """Reverse-mode jacobian: one backward per element of each output, as torch does."""
    jac = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in inputs]
        flat = out.reshape(-1)
        for k in range(out.nelement()):
            grads = _grad((flat[k],), inputs, create_graph=create_graph, retain_graph=True)
            for j, (row, g, x) in enumerate(zip(rows, grads, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(
                            f"Output {i} of the user-provided function is independent of "
                            f"input {j}. This is not allowed in strict mode."
                        )
                    g = _zeros_like(x)
                elif strict and create_graph and not g.requires_grad:
                    # Matches torch: this message names the output index as "input".
                    raise RuntimeError(
                        "The jacobian of the user-provided function is independent of "
                        f"input {i}. This is not allowed in strict mode when create_graph=True."
                    )
                row.append(g)
        jac.append(tuple(_stack(r, dim=0).view(out.shape + x.shape) for r, x in zip(rows, inputs)))
    return tuple(jac)


def _jacobian_rows_vectorized(outputs: tuple, inputs: tuple, create_graph: bool) -> tuple:
    """Reverse-mode jacobian as torch's `vectorize=True` computes it, one row at a time.

    torch runs one batched backward of all outputs over the standard basis (split across the
    outputs); here each basis vector is one backward of all outputs together. The values are
    those of `_jacobian_rows`; what differs, as in torch, is that a block of zeros is attached
    to the graph whenever its input gets a gradient from any output.
    """
    flat = tuple(out.reshape(-1) for out in outputs)
    per_input = [[] for _ in inputs]
    for i, f in enumerate(flat):
        for k in range(f.nelement()):
            grads = _grad(flat, inputs, _one_hot(flat, i, k), create_graph, retain_graph=True)
            for rows, g in zip(per_input, grads):
                rows.append(g)
    jac = [[] for _ in outputs]
    for x, rows in zip(inputs, per_input):
        start = 0
        for i, out in enumerate(outputs):
            block = rows[start : start + out.nelement()]
            start += out.nelement()
            if block and block[0] is not None:
                block = _stack(block, dim=0).view(out.shape + x.shape)
            else:
                block = _zeros_like(x).expand(out.shape + x.shape)
            jac[i].append(block)
    return tuple(tuple(row) for row in jac)


def jacobian(
    func: Callable,
    inputs: Tensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Tensors:
    """The Jacobian of `func` at `inputs`: `J[i][j]` has shape `out_i.shape + in_j.shape`.

    Reverse mode computes one row per output element with one backward each; `vectorize=True`
    gives the same values the same way (torch batches the rows with vmap). `strategy=
    "forward-mode"` (which, as in torch, needs `vectorize=True` and no `create_graph` or
    `strict`) computes one column per input element by forward-mode AD (dual tensors).
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        return _jacobian_forward(func, inputs, create_graph, strict, vectorize)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call(func, inputs, "jacobian", strict)
        if not vectorize:
            jac = _jacobian_rows(outputs, inputs, create_graph, strict)
        elif strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are "
                "not supported together. Please either set `strict=False` or `vectorize=False`."
            )
        else:
            jac = _jacobian_rows_vectorized(outputs, inputs, create_graph)
        return _unpack(_finish(jac, create_graph), (is_outputs_tuple, is_inputs_tuple))


def hessian(
    func: Callable,
    inputs: Tensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Tensors:
    """The Hessian of a scalar `func`: the Jacobian of its (reverse-mode) gradient, taken in
    reverse mode or, with `outer_jacobian_strategy="forward-mode"`, forward mode
    (forward-over-reverse, as in torch).

    For several inputs, `H[i][j]` has shape `in_i.shape + in_j.shape`.
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp: Tensor) -> Tensor:
        is_tuple, out = _call(func, inp, "hessian", strict)
        _require_single_element(out, is_tuple, "hessian")
        return out[0].squeeze()

    def jac_func(*inp: Tensor) -> tuple:
        if outer_jacobian_strategy == "forward-mode":
            # Matches torch: the dual inputs are made to require grad, else the inner
            # reverse-mode jacobian would detach them (and drop their tangents).
            inp = tuple(x.requires_grad_(True) for x in inp)
        jac = jacobian(scalar_func, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph, strict, vectorize, outer_jacobian_strategy)
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))


def _hessian_setup(func: Callable, inputs, v, create_graph: bool, strict: bool, fn_name: str):
    """Shared start of vhp and hvp: prepared inputs and v, func's output and its gradient."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _prepare(inputs, create_graph, need_graph=True)
    if v is not None:
        v = _prepare_v(v, fn_name, create_graph, inputs, is_inputs_tuple)
    else:
        _v_none_for_inputs(inputs)
    is_outputs_tuple, outputs = _call(func, inputs, fn_name, strict)
    _require_single_element(outputs, is_outputs_tuple, fn_name)
    jac = _grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac


def vhp(
    func: Callable,
    inputs: Tensors,
    v: Tensors | None = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """`(func(inputs), vᵀ H)` for a scalar `func`: a vjp through the gradient."""
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hessian_setup(
            func, inputs, v, create_graph, strict, "vhp"
        )
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _grad(jac, inputs, v, create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back")
    return (
        _unpack(_finish(outputs, create_graph), is_outputs_tuple),
        _unpack(_finish(result, create_graph), is_inputs_tuple),
    )


def hvp(
    func: Callable,
    inputs: Tensors,
    v: Tensors | None = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """`(func(inputs), H v)` for a scalar `func`, by the double-vjp trick on the gradient
    (three backward passes, as torch's; no forward mode).

    Equal to `vhp` for twice continuously differentiable functions (H is symmetric), and
    slower: prefer `vhp` then, as torch's documentation says.
    """
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hessian_setup(
            func, inputs, v, create_graph, strict, "hvp"
        )
        dummies = tuple(_zeros_like(x, requires_grad=True) for x in inputs)
        double_back = _grad(jac, inputs, dummies, create_graph=True)
        # Matches torch: it checks `jac` again here, not `double_back`.
        _check_requires_grad(jac, "hessian", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _grad(double_back, dummies, v, create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back_trick")
    return (
        _unpack(_finish(outputs, create_graph), is_outputs_tuple),
        _unpack(_finish(result, create_graph), is_inputs_tuple),
    )
