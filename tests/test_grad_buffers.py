"""`.grad` owns its memory: AccumulateGrad takes over a gradient's array without a copy only
when nothing else can see it (as torch's AccumulateGrad "steals" a gradient), so zeroing or
updating `.grad` in place never changes another tensor, a hook's copy or the caller's seed."""

from __future__ import annotations

import numpy as np


def _shares(a, b) -> bool:
    return np.shares_memory(a.detach().numpy(), b.detach().numpy())


def test_inputs_of_one_add_get_separate_buffers(same):
    def run(m):
        a, b = m.ones(3, requires_grad=True), m.ones(3, requires_grad=True)
        (m.arange(6.0).reshape(2, 3) @ (a + b)).sum().backward()  # one fresh array for both
        a.grad.zero_()
        return b.grad, _shares(a.grad, b.grad)

    same(run)


def test_a_gradient_kept_by_a_tensor_hook_is_not_the_leaf_buffer(same):
    def run(m):
        x = m.ones(3, requires_grad=True)
        y = x.clone()
        kept = []
        y.register_hook(kept.append)
        (y * 2).sum().backward()
        x.grad.add_(100)
        return kept[0], x.grad

    same(run)


def test_a_gradient_kept_by_a_leaf_hook_is_not_the_leaf_buffer(same):
    def run(m):
        x = m.ones(3, requires_grad=True)
        kept = []
        x.register_hook(kept.append)
        (m.arange(3.0) @ m.stack([x, x, x])).sum().backward()
        x.grad.zero_()
        return kept[0], x.grad

    same(run)


def test_the_callers_seed_is_never_the_leaf_buffer(same):
    def run(m):
        x = m.ones(2, 2, requires_grad=True)
        seed = m.full((2, 2), 3.0)
        (x + 0).backward(seed)
        x.grad.mul_(10)
        (x.view(4) * 1).backward(seed.view(4))
        return seed, x.grad, _shares(seed, x.grad)

    same(run)


def test_retained_and_leaf_gradients_do_not_share(same):
    def run(m):
        x = m.ones(3, requires_grad=True)
        y = x.clone()
        y.retain_grad()
        (y * m.arange(3.0)).sum().backward()
        y.grad.zero_()
        return x.grad, y.grad, _shares(x.grad, y.grad)

    same(run)


def test_a_taken_over_buffer_accumulates_in_place_across_backwards(same):
    def run(m):
        w = m.ones(3, 2, requires_grad=True)
        x = m.arange(12.0).reshape(4, 3)
        (x @ w).sum().backward()
        first = w.grad
        (x @ w).pow(2).sum().backward()
        return w.grad, first is w.grad, first.is_contiguous()

    same(run)
