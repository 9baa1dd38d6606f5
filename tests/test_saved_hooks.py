"""saved_tensors_hooks / save_on_cpu / disable_saved_tensors_hooks, compared with torch."""

from __future__ import annotations

import importlib
import weakref

import ember


def _graph(m):
    return importlib.import_module(m.__name__ + ".autograd.graph")


def test_pack_only_what_backward_reads_and_unpack_when_needed(same):
    def f(m):
        log = []

        def pack(t):
            log.append(("pack", tuple(t.shape), t.requires_grad))
            return t * 1

        def unpack(p):
            log.append(("unpack", tuple(p.shape)))
            return p

        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([3.0, 4.0])
        with _graph(m).saved_tensors_hooks(pack, unpack):
            d = ((x * w).exp() + x).sum()
            y = (x * x.sin()).sum()  # both inputs need grad: both packed
        packed = list(log)
        d.backward()
        y.backward()
        return [packed, log[len(packed) :], x.grad]

    same(f)


def test_unpack_must_return_a_tensor(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        with _graph(m).saved_tensors_hooks(lambda t: None, lambda p: p):
            y = (x * x).sum()
        y.backward()

    same(f)


def test_save_on_cpu_gives_the_same_gradients(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        with _graph(m).save_on_cpu():
            y = (x * x * x).exp().sum()
        y.backward()
        return x.grad

    same(f)


def test_hooks_can_be_disabled(same):
    def f(m):
        g = _graph(m)
        with g.disable_saved_tensors_hooks("no hooks here"):
            with g.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass

    same(f)


def test_packed_graphs_hold_no_reference_to_the_saved_tensors():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with ember.autograd.graph.saved_tensors_hooks(lambda t: t.detach().clone(), lambda p: p):
        h = x * 2
        y = (h * h).sum()
    ref = weakref.ref(h)
    del h
    assert ref() is None  # the graph kept only the packed copies
    y.backward()
    assert x.grad.tolist() == [8.0, 16.0]


def test_freed_after_backward(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        with _graph(m).saved_tensors_hooks(lambda t: t, lambda t: t):
            y = (x * x).sum()
        y.backward()
        y.backward()

    same(f)


def test_saved_attributes_of_nodes(same):
    def f(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([3.0, 4.0])
        y = (x * w).exp()
        mul = y.grad_fn.next_functions[0][0]
        names = sorted(a for a in dir(mul) if a.startswith("_saved_"))
        return [names, mul._saved_other, y.grad_fn._saved_result, mul._saved_self is None]

    same(f)

    def freed(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.sum().backward()
        return y.grad_fn._saved_result

    same(freed)
