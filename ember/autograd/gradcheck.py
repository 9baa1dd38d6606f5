"""`gradcheck` and `gradgradcheck`: backward rules checked against finite differences.

The numerical Jacobian perturbs one input element at a time, in place (through `.data`, so
no version counter moves and graphs already built stay valid), and takes central differences
`(f(x + eps) - f(x - eps)) / 2eps`. The analytical Jacobian is built row by row from
`autograd.grad` with one-hot cotangents, twice, to catch non-determinism; with
`check_forward_ad` it is also built column by column by forward mode, from dual inputs whose
tangents are one-hot in turn, as torch does. Both are laid out as torch's: one `(input numel,
output numel)` matrix per (input, output) pair, and a mismatch raises torch's
`GradcheckError` message with both matrices printed.

The batched checks (`check_batched_grad`, `check_batched_forward_grad`) compare
`ember.func.vmap` of a vjp (jvp) over two stacked random cotangents (tangents) with the two
products taken one by one, as torch's do. ember's vmap maps element by element and has no
batching rules, so what this checks is that the products are deterministic and accept the
slices vmap passes; torch's also exercises its batching rules. Complex inputs or outputs
raise `NotImplementedError`. `fast_mode=True` runs the full (slow) check, which is stricter
than torch's fast mode and prints the slow mode's message. ember has no undefined gradients,
so `check_undefined_grad` drops each output from the backward in turn (its gradient is then
None inside the engine, as torch's would be undefined); in forward mode it compares an input
without tangent with one whose tangent is zeros, as torch does.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence

from .._tensor import Tensor
from .grad_mode import no_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck and gradgradcheck when a check fails (torch's class of the name)."""


def _as_tuple(x) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _differentiable(outputs) -> tuple:
    return tuple(o for o in _as_tuple(outputs) if o.requires_grad)


def _diff_inputs(inputs: tuple) -> list:
    return [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]


def _grad(outputs, inputs, grad_outputs, **kwargs) -> tuple:
    from . import grad

    return grad(outputs, inputs, grad_outputs, allow_unused=True, **kwargs)


def _check_inputs(inputs: tuple) -> None:
    """torch's checks: a warning below double precision, no stride-0 inputs, something to check."""
    from .. import float64

    any_requires_grad = False
    for idx, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        if x.is_complex():
            raise NotImplementedError("ember.autograd.gradcheck: complex inputs are not supported")
        if x.dtype is not float64:
            warnings.warn(
                f"Input #{idx} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ",
                stacklevel=3,
            )
        if not all(st > 0 or sz <= 1 for st, sz in zip(x.stride(), x.size())):
            raise RuntimeError(
                f"The {idx}th input has a dimension with stride 0. gradcheck only supports inputs "
                "that are non-overlapping to be able to compute the numerical gradients "
                "correctly. You should call .contiguous on the input before passing it to "
                "gradcheck."
            )
        any_requires_grad = True
    if not any_requires_grad:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )


def _check_same_dtype_and_shape(a: Tensor, b: Tensor, eps: float, idx: tuple) -> None:
    if a.shape != b.shape:
        raise AssertionError(
            "Expected `func` to return outputs with the same shape when inputs are perturbed "
            f"on index {idx} by {eps}, but got: shapes {a.shape} and {b.shape}."
        )
    if a.dtype != b.dtype:
        raise AssertionError(
            "Expected `func` to return outputs with the same dtype when inputs are perturbed "
            f"on index {idx} by {eps}, but got: dtypes {a.dtype} and {b.dtype}."
        )


def _numerical_jacobian(func: Callable, inputs: tuple, outputs: tuple, eps: float) -> list:
    """`[input][output]` central-difference Jacobians, `(input numel, output numel)` each.

    Only floating-point outputs get a Jacobian, as in torch.
    """
    from .. import zeros

    float_outputs = [o for o in outputs if o.is_floating_point()]
    jacobians = []
    for x in _diff_inputs(inputs):
        jac = [zeros((x.numel(), o.numel()), dtype=o.dtype) for o in float_outputs]
        data = x.data  # the same memory with its own version counter
        for col, idx in enumerate(itertools.product(*(range(n) for n in x.shape))):
            with no_grad():
                orig = data[idx].clone()
                data[idx] = orig - eps
            before = [o.clone() for o in _as_tuple(func(*inputs))]
            with no_grad():
                data[idx] = orig + eps
            after = [o.clone() for o in _as_tuple(func(*inputs))]
            with no_grad():
                data[idx] = orig
                pairs = [(a, b) for a, b in zip(before, after) if a.is_floating_point()]
                for j, (a, b) in zip(jac, pairs):
                    _check_same_dtype_and_shape(a, b, eps, idx)
                    j[col] = ((b - a) / (2 * eps)).detach().reshape(-1)
        jacobians.append(jac)
    return jacobians


_NONDET_NOTE = """\n
NOTE: If your op relies on non-deterministic operations i.e., it is listed here:
https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html
this failure might be expected.

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `nondet_tol=<tol>` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_nondet_tol=<tol>`.
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_nondet_tol=<tol>`
"""


def _analytical_rows(output: Tensor, diff_inputs: list, check_grad_dtypes: bool) -> list:
    """`[input]` Jacobians of `output` by backward, one one-hot cotangent per row."""
    from .. import zeros, zeros_like

    jacs = [zeros((x.numel(), output.numel()), dtype=x.dtype) for x in diff_inputs]
    for k in range(output.numel()):
        g = zeros_like(output)
        g.view(-1)[k] = 1
        grads = _grad(output, diff_inputs, g, retain_graph=True)
        for jac, gi, x in zip(jacs, grads, diff_inputs):
            if gi is None:
                continue
            if gi.shape != x.shape:
                raise GradcheckError("Analytical gradient has incorrect size")
            if check_grad_dtypes and gi.dtype != x.dtype:
                raise GradcheckError("Gradient has dtype mismatch")
            jac[:, k] = gi.detach().reshape(-1)
    return jacs


def _analytical_jacobian(
    output: Tensor, diff_inputs: list, nondet_tol: float, check_grad_dtypes: bool
) -> list:
    """The analytical Jacobians, computed twice: a difference means backward is not reentrant."""
    first = _analytical_rows(output, diff_inputs, check_grad_dtypes)
    second = _analytical_rows(output, diff_inputs, check_grad_dtypes)
    for a, b in zip(first, second):
        if a.numel() and (a - b).abs().max() > nondet_tol:
            raise GradcheckError(
                "Backward is not reentrant, i.e., running backward with same input and "
                "grad_output multiple times gives different values, although analytical "
                "gradient matches numerical gradient."
                f"The tolerance for nondeterminism was {nondet_tol}." + _NONDET_NOTE
            )
    return first


def _allclose(a: Tensor, b: Tensor, rtol: float, atol: float) -> bool:
    from .. import allclose, promote_types

    dtype = promote_types(a.dtype, b.dtype)
    return allclose(a.to(dtype), b.to(dtype), rtol, atol)


def _check_jacobians(
    func, inputs, func_out, outputs, eps, rtol, atol, check_grad_dtypes, tol, forward=False
):
    """torch's slow-mode check: every (output, input) Jacobian, numerical against analytical
    (by backward, or by forward mode with `forward`)."""
    func_out = _as_tuple(func_out)
    numerical = _numerical_jacobian(func, inputs, func_out, eps)
    if not outputs:
        # Matches torch: with no differentiable output, the function must be locally constant.
        for per_input in numerical:
            for jac in per_input:
                if jac.ne(0).sum() > 0:
                    raise GradcheckError("Numerical gradient for function expected to be zero")
        return
    # Matches torch: pair each Jacobian with its output, keeping the differentiable ones.
    numerical = [list(per_output) for per_output in zip(*numerical)]
    numerical = [n for o, n in zip(func_out, numerical) if o.requires_grad]
    if forward:
        by_input = _forward_jacobian(func, inputs, func_out)
        # Matches torch: output i of the differentiable outputs is paired with column i of the
        # floating-point outputs (the same unless one of them does not require grad).
        for i, per_input in enumerate(numerical):
            for j, n in enumerate(per_input):
                if not _allclose(by_input[j][i], n, rtol, atol):
                    raise GradcheckError(
                        f"Jacobian computed with forward mode mismatch for output {i:d} with "
                        f"respect to input {j:d},\nnumerical:{n}\nanalytical:{by_input[j][i]}\n"
                    )
        return
    diff_inputs = _diff_inputs(inputs)
    for i, o in enumerate(outputs):
        analytical = _analytical_jacobian(o, diff_inputs, tol, check_grad_dtypes)
        for j, (a, n) in enumerate(zip(analytical, numerical[i])):
            if not _allclose(a, n, rtol, atol):
                raise GradcheckError(
                    f"Jacobian mismatch for output {i:d} with respect to input {j:d},\n"
                    f"numerical:{n}\nanalytical:{a}\n"
                )


def _is_float(x) -> bool:
    return isinstance(x, Tensor) and x.is_floating_point()


def _dual_inputs(inputs: tuple) -> tuple[list, list]:
    """The inputs with each one requiring grad replaced by a detached dual with zero tangent
    (torch's forward-mode gradcheck), and those tangents, to be written in place."""
    from .. import zeros_like
    from .forward_ad import make_dual, unpack_dual

    duals, tangents = [], []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            x = make_dual(x.detach(), zeros_like(x))
            # Read back from the dual, as torch does (make_dual may not keep the very tensor).
            tangents.append(unpack_dual(x).tangent)
        duals.append(x)
    return duals, tangents


def _forward_jacobian(func: Callable, inputs: tuple, func_out: tuple) -> list:
    """`[input][output]` Jacobians by forward mode, `(input numel, output numel)` each, one
    column per input element: its tangent is set to 1 in place and `func` runs on the duals.
    Only floating-point outputs get a Jacobian, as in torch."""
    from .. import zeros
    from .forward_ad import dual_level, unpack_dual

    float_outputs = [o for o in func_out if _is_float(o)]
    with dual_level():
        duals, tangents = _dual_inputs(inputs)
        jacobians = [
            [zeros((t.numel(), o.numel()), dtype=o.dtype) for o in float_outputs] for t in tangents
        ]
        for jac, t in zip(jacobians, tangents):
            for row, idx in enumerate(itertools.product(*(range(n) for n in t.shape))):
                t[idx] = 1.0
                outs = [o for o in _as_tuple(func(*duals)) if _is_float(o)]
                for j, o in zip(jac, outs):
                    tangent = unpack_dual(o).tangent
                    if tangent is not None:
                        j[row] = tangent.detach().reshape(-1)
                t[idx] = 0.0
    return jacobians


def _check_undefined_forward(func: Callable, inputs: tuple) -> None:
    """torch's `_test_undefined_forward_mode`: with the other inputs carrying random tangents,
    an input without tangent and one with a zero tangent must give the same output tangents."""
    from .. import Generator, allclose, rand
    from .forward_ad import dual_level, make_dual, unpack_dual

    gen = Generator()  # Matches torch: its own generator, the user's stream is not touched.
    with dual_level():
        duals, tangents = _dual_inputs(inputs)
        for t in tangents:
            u = rand(t.numel(), generator=gen, dtype=t.dtype)
            t.copy_((u / u.norm()).view_as(t))
        for i, x in enumerate(inputs):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            kept = duals[i]
            duals[i] = make_dual(x.detach(), x.detach().new_zeros(x.shape))
            zero = [o for o in _as_tuple(func(*duals)) if _is_float(o)]
            duals[i] = x.detach()
            undefined = [o for o in _as_tuple(func(*duals)) if _is_float(o)]
            duals[i] = kept
            for index_o, (o1, o2) in enumerate(zip(zero, undefined)):
                res1, res2 = unpack_dual(o1).tangent, unpack_dual(o2).tangent
                if res1 is not None and res2 is not None and not allclose(res1, res2):
                    # Matches torch, which passes the pieces as separate arguments.
                    raise GradcheckError(
                        "Mismatch in tangent values for output with index: ",
                        index_o,
                        " when input: ",
                        x,
                        " has an undefined tangent value. ",
                        " Got: ",
                        res1,
                        " but expected: ",
                        res2,
                    )


_BATCHED_MSG = """
gradcheck or gradgradcheck failed while testing batched gradient computation.
This could have been invoked in a number of ways (via a test that calls
gradcheck/gradgradcheck directly or via an autogenerated test).

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `check_batched_grad=False` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `check_batched_grad=False` and/or `check_batched_gradgrad=False`.

If you're modifying an existing operator that supports batched grad computation,
or wish to make a new operator work with batched grad computation, please read
the following.

To compute batched grads (e.g., jacobians, hessians), we vmap over the backward
computation. The most common failure case is if there is a 'vmap-incompatible
operation' in the backward pass. Please see
NOTE: [How to write vmap-compatible backward formulas]
in the codebase for an explanation of how to fix this.
""".strip()

_BATCHED_MSG_FWD = """
gradcheck failed while testing batched gradient computation with forward-mode AD.
This test is enabled automatically when both `check_batched_grad=True`
and `check_forward_ad=True`, but can be disabled in the following ways
dependong on how the test was invoked (via a test that calls gradcheck
directly or via an autogenerated test).

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `check_batched_forward_grad=False` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `check_batched_forward_grad=False`
"""


def _check_batched(product: Callable, like: Tensor, output_idx: int | None) -> None:
    """`vmap(product)` over two stacked random vectors shaped like `like` must equal
    `product` of each (torch's batched checks; `output_idx` None: the forward-mode one)."""
    from .. import allclose, randn_like, stack
    from ..func import vmap

    msg = _BATCHED_MSG if output_idx is not None else _BATCHED_MSG_FWD
    vectors = [randn_like(like) for _ in range(2)]
    expected = [stack(shards) for shards in zip(*(product(v) for v in vectors))]
    try:
        # "different": torch's prototype vmap, used here, does not police randomness.
        result = vmap(product, randomness="different")(stack(vectors))
    except RuntimeError as ex:
        raise GradcheckError(f"While computing batched gradients, got: {ex}\n\n{msg}") from ex
    for idx, (res, exp) in enumerate(zip(result, expected)):
        if allclose(res, exp):
            continue
        # Matches torch: the forward-mode message names the output index twice.
        out_idx = idx if output_idx is None else output_idx
        raise GradcheckError(
            f"For output {out_idx} and input {idx}:\n\n{msg}\n\nGot:\n{res}\n\n"
            f"Expected:\n{exp}".strip()
        )


def _check_batched_backward(inputs: tuple, output: Tensor, output_idx: int) -> None:
    """torch's `_test_batched_grad`: batched vjps of one output."""
    from .. import zeros

    diff_inputs = _diff_inputs(inputs)

    def vjp(v: Tensor) -> tuple:
        grads = _grad(output, diff_inputs, v, retain_graph=True)
        return tuple(
            zeros((), dtype=x.dtype).expand(x.shape) if g is None else g
            for g, x in zip(grads, diff_inputs)
        )

    _check_batched(vjp, output, output_idx)


def _check_batched_forward(func: Callable, inputs: tuple) -> None:
    """torch's `_test_batched_grad_forward_ad`: batched jvps, one input at a time."""
    from .. import zeros
    from .forward_ad import dual_level, make_dual, unpack_dual

    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue

        def jvp(tangent: Tensor, i: int = i, x: Tensor = x) -> tuple:
            with dual_level():
                args = tuple(
                    make_dual(x.detach(), tangent)
                    if k == i
                    else (a.detach() if isinstance(a, Tensor) else a)
                    for k, a in enumerate(inputs)
                )
                ret = []
                for out in _as_tuple(func(*args)):
                    if out is None:
                        continue
                    primal, t = unpack_dual(out)
                    ret.append(
                        zeros((), dtype=primal.dtype).expand(primal.shape) if t is None else t
                    )
                return tuple(ret)

        _check_batched(jvp, x, None)


def _check_backward_mul_by_grad_output(outputs: tuple, inputs: tuple) -> None:
    """Zero cotangents must give zero gradients of the right dtype and shape."""
    from .. import zeros_like

    diff_inputs = _diff_inputs(inputs)
    grads = _grad(outputs, diff_inputs, [zeros_like(o) for o in outputs])
    for gi, x in zip(grads, diff_inputs):
        if gi is None:
            continue
        if not gi.eq(0).all():
            raise GradcheckError("backward not multiplied by grad_output")
        if gi.dtype != x.dtype:
            raise GradcheckError("grad is incorrect type")
        if gi.size() != x.size():
            raise GradcheckError("grad is incorrect size")


def _check_undefined_grad(func: Callable, inputs: tuple) -> None:
    """Backward must cope with an output that gets no gradient (ember's None, torch's undefined).

    With every output undefined there is nothing to run in ember, so (unlike torch) that case
    is trivially fine; with several outputs each is left out of the backward in turn.
    """
    from .. import zeros_like

    diff_inputs = _diff_inputs(inputs)
    n = len(_differentiable(func(*inputs)))
    for skip in range(n if n > 1 else 0):
        kept = [o for i, o in enumerate(_differentiable(func(*inputs))) if i != skip]
        try:
            grads = _grad(kept, diff_inputs, [zeros_like(o) for o in kept])
        except RuntimeError as e:
            raise GradcheckError(
                "Expected backward function to handle undefined output grads. Please look at "
                '"Notes about undefined output gradients" in "tools/autograd/derivatives.yaml"'
            ) from e
        if any(g is not None and not g.eq(0).all() for g in grads):
            raise GradcheckError(
                "Expected all input grads to be undefined or zero when all output grads are "
                'undefined or zero. Please look at "Notes about undefined output gradients" in '
                '"tools/autograd/derivatives.yaml"'
            )


def gradcheck(
    func: Callable[..., Tensor | Sequence[Tensor]],
    inputs: Tensor | Sequence[Tensor],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check `func`'s backward (and, with `check_forward_ad`, its forward-mode derivatives)
    against finite differences at `inputs` (those requiring grad). `check_backward_ad=False`
    skips every check that needs backward.

    Passes when `|analytical - numerical| <= atol + rtol * |numerical|` elementwise for every
    (output, input) pair. Returns True; on failure raises `GradcheckError`, or returns False
    with `raise_exception=False`. Use float64 inputs: in float32 the differences are too coarse
    (a warning says so, as in torch). `masked` only concerns sparse tensors, which ember lacks.
    """
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    try:
        inputs = _as_tuple(inputs)
        _check_inputs(inputs)
        func_out = func(*inputs)
        outputs = _differentiable(func_out)
        if any(o.is_complex() for o in _as_tuple(func_out)):
            raise NotImplementedError("ember.autograd.gradcheck: complex outputs are not supported")
        checks = (func, inputs, func_out, outputs, eps, rtol, atol, check_grad_dtypes, nondet_tol)
        if check_backward_ad:
            _check_jacobians(*checks)
        if check_forward_ad:
            _check_jacobians(*checks, forward=True)
            if check_undefined_grad:
                _check_undefined_forward(func, inputs)
        if check_batched_forward_grad:
            _check_batched_forward(func, inputs)
        if check_backward_ad:
            if check_batched_grad:
                for i, o in enumerate(outputs):
                    _check_batched_backward(inputs, o, i)
            _check_backward_mul_by_grad_output(outputs, inputs)
            if check_undefined_grad:
                _check_undefined_grad(func, inputs)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _random_like(x: Tensor, noncontiguous: bool) -> Tensor:
    """Uniform in [-1, 1), as torch.testing.make_tensor(low=-1, high=1) gives, requiring grad."""
    from .. import float64, rand

    dtype = x.dtype if x.is_floating_point() else float64
    if noncontiguous and x.numel() > 1:
        # Matches torch's make_tensor: every other element of a tensor twice as wide.
        wide = rand((*x.shape[:-1], 2 * x.shape[-1]), dtype=dtype) * 2 - 1
        return wide[..., ::2].detach().requires_grad_()
    return (rand(tuple(x.shape), dtype=dtype) * 2 - 1).requires_grad_()


def gradgradcheck(
    func: Callable[..., Tensor | Sequence[Tensor]],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor] | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """gradcheck of the backward itself: `(inputs, grad_outputs) -> grad(func, inputs)`.

    Without `grad_outputs`, random cotangents in [-1, 1) are drawn (non-contiguous with
    `gen_non_contig_grad_outputs`), as in torch. `check_fwd_over_rev` checks the backward's
    derivatives by forward mode (the tangents a backward pass pushes inside a dual level);
    `check_rev_over_rev` (the default), by double backward.
    """
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_undefined_grad=True requires check_rev_over_rev to be True"
        )
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_rev_over_rev to be True"
        )
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        outputs = _differentiable(func(*inputs))
        grad_outputs = tuple(_random_like(o, gen_non_contig_grad_outputs) for o in outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_out = len(grad_outputs)
    # The inputs to differentiate by; the cotangents (the last n_out args) are not among them.
    diff_input_indices = {
        i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad
    }
    diff_grad_output_indices = {i for i, g in enumerate(grad_outputs) if g.requires_grad}

    def backward_of_func(*args: Tensor) -> tuple:
        # Matches torch: requires_grad is restored, as the forward-mode checks detach.
        args_in = tuple(
            x.requires_grad_() if i in diff_input_indices else x
            for i, x in enumerate(args[:-n_out])
        )
        outputs = _differentiable(func(*args_in))
        cotangents = tuple(
            g.requires_grad_() if i in diff_grad_output_indices else g
            for i, g in enumerate(args[-n_out:])
        )
        diff_inputs = tuple(x for i, x in enumerate(args_in) if i in diff_input_indices)
        grads = _grad(outputs, diff_inputs, cotangents, create_graph=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        backward_of_func,
        inputs + grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        fast_mode=fast_mode,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )
