"""`gradcheck` and `gradgradcheck`: backward rules checked against finite differences.

The numerical Jacobian perturbs one input element at a time, in place (through `.data`, so
no version counter moves and graphs already built stay valid), and takes central differences
`(f(x + eps) - f(x - eps)) / 2eps`. The analytical Jacobian is built row by row from
`autograd.grad` with one-hot cotangents, twice, to catch non-determinism. Both are laid out as
torch's: one `(input numel, output numel)` matrix per (input, output) pair, and a mismatch
raises torch's `GradcheckError` message with both matrices printed.

What ember cannot check yet raises `NotImplementedError` naming the option: forward-mode AD
(`check_forward_ad`, `check_batched_forward_grad`, gradgradcheck's `check_fwd_over_rev`),
vmap (`check_batched_grad`) and complex inputs or outputs. `fast_mode=True` runs the full
(slow) check, which is stricter than torch's fast mode and prints the slow mode's message.
ember has no undefined gradients, so `check_undefined_grad` drops each output from the
backward in turn (its gradient is then None inside the engine, as torch's would be undefined).
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


def _check_jacobians(func, inputs, func_out, outputs, eps, rtol, atol, check_grad_dtypes, tol):
    """torch's slow-mode check: every (output, input) Jacobian, numerical against analytical."""
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
    diff_inputs = _diff_inputs(inputs)
    for i, o in enumerate(outputs):
        analytical = _analytical_jacobian(o, diff_inputs, tol, check_grad_dtypes)
        for j, (a, n) in enumerate(zip(analytical, numerical[i])):
            if not _allclose(a, n, rtol, atol):
                raise GradcheckError(
                    f"Jacobian mismatch for output {i:d} with respect to input {j:d},\n"
                    f"numerical:{n}\nanalytical:{a}\n"
                )


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


def _unsupported(**options: bool) -> None:
    for name, value in options.items():
        if value:
            raise NotImplementedError(
                f"ember.autograd.gradcheck: {name}=True is not supported (ember has no "
                "forward-mode AD or vmap yet)"
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
    """Check `func`'s backward against finite differences at `inputs` (those requiring grad).

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
    _unsupported(
        check_forward_ad=check_forward_ad,
        check_batched_grad=check_batched_grad,
        check_batched_forward_grad=check_batched_forward_grad,
    )
    try:
        inputs = _as_tuple(inputs)
        _check_inputs(inputs)
        func_out = func(*inputs)
        outputs = _differentiable(func_out)
        if any(o.is_complex() for o in _as_tuple(func_out)):
            raise NotImplementedError("ember.autograd.gradcheck: complex outputs are not supported")
        _check_jacobians(
            func, inputs, func_out, outputs, eps, rtol, atol, check_grad_dtypes, nondet_tol
        )
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
    `gen_non_contig_grad_outputs`), as in torch.
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
    _unsupported(check_fwd_over_rev=check_fwd_over_rev)
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

    def backward_of_func(*args: Tensor) -> tuple:
        outputs = _differentiable(func(*args[:-n_out]))
        diff_inputs = tuple(x for i, x in enumerate(args[:-n_out]) if i in diff_input_indices)
        grads = _grad(outputs, diff_inputs, args[-n_out:], create_graph=True)
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
