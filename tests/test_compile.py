"""ember.compile: replayed calls equal eager calls bit for bit, and how a trace finds the
source of the rules it pastes (issue #7). Training loops: test_compile_behaviour.py."""

import numpy as np

import ember


def _tiny(x0):
    x = x0.clone().requires_grad_(True)
    y = x
    for _ in range(5):
        y = (y * 1.01 + 0.1).tanh()
    loss = y.sum()
    loss.backward()
    return loss, x.grad


def test_replay_equals_eager_forward_and_backward():
    x0 = ember.randn(16, dtype=ember.float64)
    want = _tiny(x0)
    step = ember.compile(_tiny)
    for _ in range(3):
        got = step(x0)
        for a, b in zip(want, got):
            assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert len(step.traces) == 1 and step.traces[0].run is not None


def test_value_read_guards_retrace():
    def f(x):
        return x * 2 if x.sum().item() > 0 else x * 3

    step = ember.compile(f)
    pos, neg = ember.ones(3), -ember.ones(3)
    assert step(pos).tolist() == [2.0] * 3
    assert step(neg).tolist() == [-3.0] * 3
    assert step(pos).tolist() == [2.0] * 3
    assert len(step.traces) == 2


def _rules_of_every_op():
    import importlib
    import pkgutil

    import ember.ops as ops
    from ember.ops._registry import Op

    fns = {}
    for info in pkgutil.iter_modules(ops.__path__):
        for obj in vars(importlib.import_module(f"ember.ops.{info.name}")).values():
            if isinstance(obj, Op):
                for fn in (obj.fwd, *obj.vjps, *(obj.np_vjps or ())):
                    if fn is not None and hasattr(fn, "__code__"):
                        fns[fn.__code__] = fn
    return list(fns.values())


def test_rule_bodies_read_from_their_own_lines_match_the_whole_file():
    """A pasted rule's expression comes from parsing only the lines its code spans (checked
    by compiling them back to its bytecode); over every op's forward and rules, that finds
    the node the whole-file index finds where that finds one, and it is what a trace uses
    nearly always (parsing whole files made a first call ten times slower)."""
    import ast

    from ember import _compile as C

    fns = _rules_of_every_op()
    assert len(fns) > 300
    fast = 0
    for fn in fns:
        whole = C._from_file(fn.__code__)
        snip = C._snippet(fn)
        if snip is not None:
            fast += 1
            # (where several lambdas share a line, only the snippet tells them apart)
            assert whole is None or ast.dump(snip) == ast.dump(whole), fn
    assert fast > 0.9 * len(fns)


_PAIR = (lambda a: a + 1), (lambda a: a * 2)  # two lambdas on one line  # noqa: E731


def test_rule_body_of_a_lambda_sharing_its_line_is_its_own():
    import ast

    from ember import _compile as C

    assert ast.unparse(C._body_expr(_PAIR[0])[1]) == "a + 1"
    assert ast.unparse(C._body_expr(_PAIR[1])[1]) == "a * 2"
