"""Custom autograd.Function: the same programs on ember and torch give the same results/errors."""

from __future__ import annotations

import gc
import importlib
import warnings
import weakref

import pytest

import ember


def _fn(m):
    """The module's autograd.Function and once_differentiable (ember or torch)."""
    mod = importlib.import_module(m.__name__ + ".autograd.function")
    return mod.Function if hasattr(
        mod, "Function"
    ) else m.autograd.Function, mod.once_differentiable


def _square(m):
    Function, _ = _fn(m)

    class Sq(Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x * x * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g * ctx.k, None

    return Sq


def test_apply_records_one_node_named_like_torch(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = _square(m).apply(x, 3.0)
        fns = y.grad_fn.next_functions
        return [y, type(y.grad_fn).__name__, y.grad_fn.name(), len(fns), fns[0][0].variable is x]

    same(f)


def test_double_backward_through_a_backward_written_with_ops(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (g,) = m.autograd.grad(_square(m).apply(x, 3.0).sum(), x, create_graph=True)
        g.sum().backward()
        return [g, x.grad]

    same(f)


def _bad(m, result):
    Function, _ = _fn(m)

    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return result(m, g)

    x = m.tensor([1.0, 2.0], requires_grad=True)
    Bad.apply(x).sum().backward()
    return x.grad


@pytest.mark.parametrize(
    "result",
    [
        lambda m, g: (g, g),  # too many gradients
        lambda m, g: m.ones(3),  # wrong shape
        lambda m, g: (g * 2, None),  # extra trailing None is allowed
        lambda m, g: m.ones(1, 2),  # broadcastable: summed back
        lambda m, g: g.double(),  # another dtype: cast
    ],
)
def test_backward_results_are_validated_like_torch(same, result):
    same(lambda m: _bad(m, result))


def _saving(m):
    Function, _ = _fn(m)

    class Sv(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y

    return Sv


def test_saved_tensors_are_version_checked_and_freed(same):
    def modified(m):
        x = m.tensor([1.0, 2.0], requires_grad=True) * 1
        out = _saving(m).apply(x)
        x.add_(1)
        out.sum().backward()

    same(modified)

    def freed(m):
        out = _saving(m).apply(m.tensor([1.0, 2.0], requires_grad=True))
        out.sum().backward()
        return out.grad_fn.saved_tensors

    same(freed)

    def retained(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        out = _saving(m).apply(x)
        out.sum().backward(retain_graph=True)
        out.sum().backward()
        return x.grad

    same(retained)


def test_once_differentiable(same):
    def f(m):
        Function, once_differentiable = _fn(m)

        class Once(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @once_differentiable
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([1.0, 1.0], requires_grad=True)
        (g,) = m.autograd.grad(Once.apply(x).sum(), x, create_graph=True)
        first = [g, g.requires_grad]
        (g2,) = m.autograd.grad(Once.apply(x), x, w, create_graph=True)
        g2.sum().backward()  # the incoming gradient needs grad: differentiating again raises
        return first

    same(f)


def _dirty(m):
    Function, _ = _fn(m)

    class Dirty(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return Dirty


def test_mark_dirty(same):
    same(lambda m: _dirty(m).apply(m.tensor([1.0, 2.0], requires_grad=True)))

    def f(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        r = _dirty(m).apply(b)
        out = [r is b, b._version, type(b.grad_fn).__name__]
        b.sum().backward()
        return out + [a.grad]

    same(f)


def test_non_differentiable_outputs_and_needs_input_grad(same):
    def f(m):
        Function, _ = _fn(m)
        seen = []

        class ND(Function):
            @staticmethod
            def forward(ctx, x, y):
                seen.append(ctx.needs_input_grad)
                i = x.argmax()
                ctx.mark_non_differentiable(i)
                return x.max() + y.sum(), i

            @staticmethod
            def backward(ctx, gv, gi):
                seen.append(gi)
                return m.zeros(2) + gv, None

        a = m.tensor([1.0, 3.0], requires_grad=True)
        v, i = ND.apply(a, m.ones(2))
        v.backward()
        return [v.requires_grad, i.requires_grad, a.grad, seen[0], seen[1]]

    same(f)


def test_setup_context_style_and_identity_outputs(same):
    def f(m):
        Function, _ = _fn(m)

        class New(Function):
            @staticmethod
            def forward(x, k):
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.k = inputs[1]

            @staticmethod
            def backward(ctx, g):
                return g * ctx.k, None

        class Ident(Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 3

        a = m.tensor([1.0, 2.0], requires_grad=True)
        o = Ident.apply(a)
        (New.apply(o, 5.0)).sum().backward()
        return [o is a, type(o.grad_fn).__name__, a.grad]

    same(f)


def test_no_graph_when_nothing_requires_grad(same):
    same(lambda m: _square(m).apply(m.tensor([1.0, 2.0]), 3.0).grad_fn is None)


def test_instantiating_warns():
    with pytest.warns(DeprecationWarning, match="should not be instantiated"):
        _square(ember)()


def test_a_discarded_function_graph_is_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        x = ember.tensor([1.0, 2.0], requires_grad=True)
        y = _saving(ember).apply(x * 1)
        refs = [weakref.ref(y), weakref.ref(y.grad_fn)]
        del y
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_saved_output_survives_until_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = _saving(ember).apply(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x2, y2 = y.grad_fn.saved_tensors
    assert y2.grad_fn is y.grad_fn and y2.tolist() == [2.0, 4.0]


def _square_fns(m):
    """_square's Function, and a subclass with a jvp staticmethod."""
    Square = _square(m)

    class SquareJvp(Square):
        @staticmethod
        def forward(ctx, x, k):
            ctx.x, ctx.k = x, k
            return x * x * k

        @staticmethod
        def jvp(ctx, t, t_k):
            assert t_k is None  # (not a tensor: torch passes None)
            return 3 * ctx.x * t * ctx.k  # deliberately not 2x: the user's rule is used

    return Square, SquareJvp


@pytest.mark.parametrize("with_jvp", [False, True])
def test_function_under_forward_mode_matches_torch(with_jvp):
    """A custom Function in forward mode: torch's NotImplementedError without a jvp
    staticmethod; with one, the outputs' tangents are what it returns."""
    import torch

    res = {}
    for m in (ember, torch):
        fn = _square_fns(m)[with_jvp]
        fwd = m.autograd.forward_ad
        x = m.tensor([1.0, -2.0, 0.5], dtype=m.float64)
        try:
            with fwd.dual_level():
                y = fn.apply(fwd.make_dual(x, m.ones(3, dtype=m.float64)), 2.0)
                p, t = fwd.unpack_dual(y)
                res[m] = ("ok", p.tolist(), t.tolist())
        except NotImplementedError as e:
            res[m] = ("raise", str(e))
    assert res[ember] == res[torch]
    assert res[torch][0] == ("ok" if with_jvp else "raise")
