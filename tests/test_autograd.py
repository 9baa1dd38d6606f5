"""The engine and the autograd API, checked against what torch does on the same programs."""

from __future__ import annotations

import gc
import threading
import warnings
import weakref

import numpy as np
import pytest
import torch

import ember


# ---- basics: leaves, propagation, accumulation ------------------------------------------------
def test_leaf_metadata(same):
    def f(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        return [
            x.is_leaf,
            y.is_leaf,
            x.grad_fn is None,
            type(y.grad_fn).__name__,
            y.requires_grad,
            x.grad is None,
            m.tensor([1.0]).requires_grad,
        ]

    same(f)


def test_requires_grad_propagates_only_when_an_input_requires_it(same):
    def f(m):
        a = m.tensor([1.0, 2.0])
        b = m.tensor([3.0, 4.0], requires_grad=True)
        return [(a * a).requires_grad, (a * b).requires_grad, (a * b).grad_fn is None]

    same(f)


def test_gradients_accumulate_and_zero(same):
    def f(m):
        x = m.tensor([2.0], requires_grad=True)
        seen = []
        for _ in range(3):
            (x * x).sum().backward()
            seen.append(x.grad.clone())
        x.grad.zero_()
        (x * x).sum().backward()
        return seen + [x.grad]

    same(f)


def test_next_functions_and_accumulate_grad(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        mul = y.grad_fn.next_functions[0][0]
        acc = mul.next_functions[0][0]
        return [
            y.grad_fn.name(),
            mul.name(),
            acc.name().replace("torch::", "ember::"),
            acc.variable is x,
            mul.next_functions[0][0] is mul.next_functions[1][0],
            len(mul.next_functions),
        ]

    same(f)


def test_nonscalar_backward_needs_gradient(same):
    same(lambda m: (m.ones(3, requires_grad=True) * 2).backward())
    same(lambda m: m.ones(3).sum().backward())


def test_integer_gradient_is_cast(same):
    def f(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x * 2).backward(m.tensor([1, 2, 2]))
        return [x.grad, x.grad.dtype == m.float32]

    same(f)


def test_gradient_shape_mismatch(same):
    same(lambda m: (m.ones(2, requires_grad=True) * 2).backward(m.ones(3)))


def test_gradient_of_wrong_type(same):
    same(lambda m: (m.ones(2, requires_grad=True) * 2).backward([1.0, 2.0]))


def test_backward_on_leaf_accumulates_ones(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        x.backward(m.ones(2))
        return x.grad

    same(f)


# ---- retain_graph / create_graph / freeing ----------------------------------------------------
def test_backward_twice_raises(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward()

    same(f)


def test_backward_twice_through_nodes_without_saved_values_is_allowed(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        return x.grad

    same(f)


def test_retain_graph_accumulates(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        return x.grad

    same(f)


def test_create_graph_gives_second_derivative(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x * x).sum()
        (g,) = m.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        return [g, x.grad, g.requires_grad]

    same(f)


def test_third_derivative(same):
    def f(m):
        x = m.tensor([0.5, -1.0], requires_grad=True)
        y = (x.exp() * x * x).sum()
        (g1,) = m.autograd.grad(y, x, create_graph=True)
        (g2,) = m.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = m.autograd.grad(g2.sum(), x)
        return [g1, g2, g3]

    same(f)


def test_retain_graph_defaults_to_create_graph(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward(create_graph=True)
        y.backward()
        return x.grad

    same(f)


def test_saved_values_are_freed_after_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    assert ref() is not None  # saved by the Mul node
    y.backward()
    assert ref() is None


def test_retain_graph_keeps_saved_values():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    y.backward(retain_graph=True)
    assert ref() is not None


def test_discarded_graph_is_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        x = ember.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2
        y = (h * h).sum()
        refs = [weakref.ref(h), weakref.ref(y), weakref.ref(y.grad_fn)]
        h.retain_grad()
        h.register_hook(lambda g: g)
        del h, y
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_deep_chain_has_no_recursion_limit():
    x = ember.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


# ---- autograd.grad and backward(inputs=) ----------------------------------------------------
def test_grad_does_not_touch_dot_grad(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (g,) = m.autograd.grad((x * x).sum(), x)
        return [g, x.grad is None]

    same(f)


def test_grad_unused_input(same):
    def run(m, **kw):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        z = m.tensor([1.0, 2.0], requires_grad=True)
        return m.autograd.grad((x * x).sum(), [x, z], **kw)

    same(run)
    same(lambda m: run(m, allow_unused=True)[1] is None)
    same(lambda m: run(m, materialize_grads=True)[1])


def test_grad_of_input_that_does_not_require_grad(same):
    same(lambda m: m.autograd.grad(m.ones(2, requires_grad=True).sum(), m.ones(2)))


def test_grad_with_respect_to_intermediate(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        y = (h * h).sum()
        return list(m.autograd.grad(y, [h, x]))

    same(f)


def test_grad_outputs_weight_nonscalar_outputs(same):
    def f(m):
        x = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * x
        m.autograd.backward(y, grad_tensors=m.tensor([1, 0.1, 0.01, 0.001]))
        return x.grad

    same(f)


def test_backward_inputs_only_accumulates_there(same):
    def f(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, 4.0], requires_grad=True)
        h = a * b
        y = (h * h).sum()
        y.backward(inputs=[a, h])
        return [a.grad, b.grad is None, h.grad]

    same(f)


# ---- hooks and retain_grad -----------------------------------------------------------------
def test_hooks_see_and_replace_gradients(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(g.clone()))
        h = x * 2
        h.register_hook(lambda g: g * 10)
        (h * h).sum().backward()
        return [x.grad, seen[0]]

    same(f)


def test_hook_handle_remove(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        handle = x.register_hook(lambda g: g * 100)
        handle.remove()
        (x * 2).sum().backward()
        return x.grad

    same(f)


def test_hook_on_tensor_without_grad(same):
    same(lambda m: m.ones(2).register_hook(lambda g: g))


def test_retain_grad(same):
    def f(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        b.retain_grad()
        c = (b * b).sum()
        c.backward()
        return [a.grad, b.grad, b.retains_grad, a.retains_grad]

    same(f)


def test_non_leaf_grad_warns():
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        y = ember.ones(2, requires_grad=True) * 2
        assert y.grad is None
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        torch_y = torch.ones(2, requires_grad=True) * 2
        assert torch_y.grad is None
    assert [w.category for w in got] == [UserWarning]
    assert str(want[0].message).startswith(str(got[0].message))


def test_node_hooks_and_post_accumulate_hooks(same):
    def f(m):
        log = []
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        z = (y * y).sum()
        pre = y.grad_fn.register_prehook(
            lambda gout: log.append(gout[0].tolist()) or (gout[0] * 2,)
        )
        y.grad_fn.register_hook(
            lambda gin, gout: log.append([None if g is None else g.tolist() for g in gin])
        )
        y.register_hook(lambda g: log.append(("tensor", g.tolist())))
        x.register_post_accumulate_grad_hook(lambda t: log.append(("acc", t.grad.tolist())))
        z.backward()
        pre.remove()
        x.grad = None
        (x * 3 * x).sum().backward()
        return [log, x.grad]

    same(f)


def test_node_hook_must_return_one_value_per_gradient(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.grad_fn.register_hook(lambda gin, gout: (gin[0] * 10,))
        y.sum().backward()

    same(f)


def test_post_accumulate_hook_errors(same):
    same(lambda m: (m.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print))
    same(lambda m: m.ones(2).register_post_accumulate_grad_hook(print))


# ---- detach, .data, requires_grad flags ----------------------------------------------------
def test_detach_shares_memory_and_stops_history(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        u = y.detach()
        z = u * x
        z.sum().backward()
        return [x.grad, u.requires_grad, u.grad_fn is None]

    same(f)
    x = ember.tensor([1.0, 2.0])
    d = x.detach()
    d.add_(1)
    assert x.tolist() == [2.0, 3.0] and x._version == d._version == 1


def test_data_updates_are_untracked(same):
    def f(m):
        w = m.tensor([0.5], requires_grad=True)
        for _ in range(3):
            (w * 3).sum().backward()
            w.data -= 0.1 * w.grad
            w.grad.zero_()
        return [w, w.is_leaf, w._version]

    same(f)


def test_data_setter_replaces_values(same):
    def f(m):
        w = m.tensor([0.5, 1.0], requires_grad=True)
        w.data = m.tensor([3.0, 4.0])
        return [w, w.requires_grad]

    same(f)


def test_requires_grad_flag_errors(same):
    same(lambda m: m.tensor(2, requires_grad=True))
    same(lambda m: m.tensor([1, 2]).requires_grad_())

    def non_leaf(m):
        b = m.ones(2, requires_grad=True) * 2
        b.requires_grad = False

    same(non_leaf)

    def not_bool(m):
        m.ones(2).requires_grad = 1

    same(not_bool)


def test_detach_inplace(same):
    def f(m):
        y = m.ones(2, requires_grad=True) * 2
        y.detach_()
        return [y.requires_grad, y.grad_fn is None, y.is_leaf]

    same(f)


# ---- in-place ops and version counters --------------------------------------------------------
def test_inplace_on_leaf_requiring_grad(same):
    same(lambda m: m.ones(2, requires_grad=True).add_(1))

    def view_of_leaf(m):
        x = m.ones(2, 3, requires_grad=True)
        x[0].mul_(2)

    same(view_of_leaf)


def test_inplace_on_leaf_under_no_grad(same):
    def f(m):
        x = m.ones(2, requires_grad=True)
        with m.no_grad():
            x.mul_(3)
        return [x, x.requires_grad, x._version]

    same(f)


def test_inplace_on_nonleaf_is_differentiated(same):
    def f(m):
        a = m.tensor([1.0, -2.0, 3.0], requires_grad=True)
        b = m.tensor([0.5, 2.0, -1.0], requires_grad=True)
        h = a * 1.0
        h.mul_(b)
        h.add_(a)
        h.exp_()
        h.sum().backward()
        return [h, a.grad, b.grad, type(h.grad_fn).__name__, h._version]

    same(f)


def test_modified_saved_value_raises(same):
    def saved_input(m):
        a = m.ones(2, 3, dtype=m.float64, requires_grad=True)
        b = a * 2
        c = b * b
        b.mul_(2)
        c.sum().backward()

    same(saved_input)

    def saved_output(m):
        x = m.ones(2, requires_grad=True)
        y = x.exp()
        y.add_(1)
        y.sum().backward()

    same(saved_output)

    def saved_leaf(m):
        x = m.ones(2, requires_grad=True)
        w = m.ones(2)
        y = (x * w).sum()
        w.add_(1)
        y.backward()

    same(saved_leaf)


def test_modifying_an_unsaved_input_is_fine(same):
    def f(m):
        x = m.ones(2, requires_grad=True)
        h = x * 2
        y = (h + 1).sum()
        h.add_(5)
        y.backward()
        return x.grad

    same(f)


def test_inplace_on_a_view_rebases_the_base(same):
    def f(m):
        x = m.ones(2, 3, requires_grad=True)
        y = x * 2
        v = y[0]
        v.mul_(3)
        (y * m.arange(6.0).view(2, 3)).sum().backward()
        return [y, x.grad, type(y.grad_fn).__name__, type(v.grad_fn).__name__, v._base is y]

    same(f)


def test_views_taken_before_an_inplace_op_are_replayed(same):
    def f(m):
        x = m.arange(6.0).view(2, 3).requires_grad_()
        y = x * 2
        w = y[:, 1]
        u = y.t()
        w.add_(x[:, 0] * 5)
        (u * u).sum().backward()
        return [u, x.grad, type(u.grad_fn).__name__]

    same(f)


def test_inplace_on_the_base_replays_existing_views(same):
    def f(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        v = y[1:]
        y.mul_(x)
        (v * v).sum().backward()
        return [v, x.grad]

    same(f)


def test_writing_a_graph_value_into_a_plain_buffer_through_a_view(same):
    def f(m):
        buf = m.zeros(3, 4)
        w = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        buf[1].copy_(w * w)
        buf[:, 0] += w[:3]
        (buf * m.arange(12.0).view(3, 4)).sum().backward()
        return [buf, w.grad, type(buf.grad_fn).__name__]

    same(f)


def test_inplace_on_an_expanded_view_is_refused(same):
    same(lambda m: (m.ones(3, requires_grad=True) * 1).expand(2, 3).mul_(2))


# ---- grad modes -------------------------------------------------------------------------------
def test_no_grad_and_enable_grad(same):
    def f(m):
        x = m.tensor([2.0], requires_grad=True)
        with m.no_grad():
            a = x * 2
            with m.enable_grad():
                b = x * 2
        c = x * 2
        return [a.requires_grad, b.requires_grad, c.requires_grad, m.is_grad_enabled()]

    same(f)


def test_grad_modes_as_decorators(same):
    def f(m):
        x = m.ones(1, requires_grad=True)

        @m.no_grad()
        def g1():
            return x * 2

        @m.no_grad
        def g2():
            return x * 2

        @m.enable_grad()
        def g3():
            return x * 2

        with m.no_grad():
            r3 = g3()
        return [g1().requires_grad, g2().requires_grad, r3.requires_grad]

    same(f)


def test_set_grad_enabled(same):
    def f(m):
        x = m.ones(1, requires_grad=True)
        with m.set_grad_enabled(False):
            a = x * 2
        m.set_grad_enabled(False)
        b = x * 2
        m.set_grad_enabled(True)
        c = x * 2
        return [a.requires_grad, b.requires_grad, c.requires_grad]

    same(f)


def test_inference_mode(same):
    def f(m):
        x = m.ones(1, requires_grad=True)
        with m.inference_mode():
            a = x * 2
            inside = m.is_inference_mode_enabled()
        with m.inference_mode(False):
            b = x * 2
        return [a.requires_grad, b.requires_grad, inside, m.is_inference_mode_enabled()]

    same(f)


def test_grad_mode_is_thread_local():
    seen = []
    with ember.no_grad():
        t = threading.Thread(target=lambda: seen.append(ember.is_grad_enabled()))
        t.start()
        t.join()
        assert not ember.is_grad_enabled()
    assert seen == [True]


# ---- control flow, legacy Variable ------------------------------------------------------------
def test_gradient_through_python_control_flow():
    def f(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        return b if b.sum() > 0 else 100 * b

    for value in (0.3, -1.7, 5.0):
        a = ember.tensor(value, requires_grad=True)
        d = f(a)
        d.backward()
        assert bool(a.grad == d / a)


def test_variable_is_a_tensor(same):
    def f(m):
        from importlib import import_module

        variable = import_module(m.__name__ + ".autograd").Variable
        v = variable(m.tensor([1.0, 2.0]), requires_grad=True)
        (v * 3).sum().backward()
        return [type(v).__name__, v.requires_grad, v.is_leaf, v.grad, isinstance(v, variable)]

    same(f)


def test_variable_volatile_warns():
    with pytest.warns(UserWarning, match="volatile was removed and now has no effect"):
        v = ember.autograd.Variable(ember.ones(2), volatile=True)
    assert not v.requires_grad


# ---- conversions that refuse ------------------------------------------------------------------
def test_numpy_refuses_tensors_that_require_grad(same):
    same(lambda m: m.ones(2, requires_grad=True).numpy())
    same(lambda m: np.asarray(m.ones(2, requires_grad=True)))
    same(lambda m: m.ones(2, requires_grad=True).detach().numpy())


def test_scalar_conversions(same):
    same(lambda m: m.ones(2).item())
    same(lambda m: bool(m.ones(2)))
    same(lambda m: len(m.tensor(1.0)))
    same(lambda m: float(m.tensor([2.5])))
    same(lambda m: [1, 2, 3][m.tensor(1)])
    same(lambda m: [1, 2, 3][m.tensor(1.0)])
