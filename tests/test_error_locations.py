"""Errors that say where (issue #4): each of torch's most asked-about autograd errors keeps
torch's text as its first line and then names the file:line responsible, always (not only in
anomaly mode). Each test runs a program that triggers the error, checks the first line against
torch's message for the same program, and asserts the file:line ember adds."""

from __future__ import annotations

import inspect
import os

import pytest
import torch

import ember
from ember.autograd import explain_missing_grad

HERE = os.path.relpath(__file__) if __file__.startswith(os.getcwd()) else __file__


def line(marker: str) -> str:
    """`tests/test_error_locations.py:N` of the line of this file ending in `# <marker>`."""
    source, _ = inspect.findsource(inspect.getmodule(line))
    hits = [i + 1 for i, text in enumerate(source) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return f"{HERE}:{hits[0]}"


def raised(fn, m) -> str:
    with pytest.raises(RuntimeError) as info:
        fn(m)
    return str(info.value)


def torch_first(fn, e_message: str) -> list[str]:
    """ember's message as lines, after checking that its first is torch's whole message."""
    t_message = raised(fn, torch)
    lines = e_message.split("\n")

    def norm(text: str) -> str:
        return text.replace("ember.", "torch.").replace("ember::", "torch::")

    same = norm(lines[0]) == norm(t_message)
    assert same, (lines[0], t_message)
    return lines[1:]


# ---- "modified by an inplace operation" -------------------------------------------------------
def _inplace_after_save(m):
    x = m.randn(3, requires_grad=True)
    y = x.sigmoid()  # saves-sigmoid
    y.mul_(2)  # inplace-mul
    y.sum().backward()


def test_inplace_error_names_the_saving_op_and_the_inplace_op():
    msg = raised(_inplace_after_save, ember)
    (extra,) = torch_first(_inplace_after_save, msg)
    assert extra == (
        f"The value was saved for backward by SigmoidBackward0 at {line('saves-sigmoid')} "
        f"(`y = x.sigmoid()  # saves-sigmoid`) and then modified in place at "
        f"{line('inplace-mul')} (`y.mul_(2)  # inplace-mul`)."
    )


def _inplace_twice(m):
    x = m.randn(3, requires_grad=True)
    y = x * 1
    z = y * y  # saves-y
    y.add_(1)  # first-add
    y[0] = 5.0  # setitem
    z.sum().backward()


def test_inplace_error_counts_several_modifications_first_and_last():
    msg = raised(_inplace_twice, ember)
    (extra,) = torch_first(_inplace_twice, msg)
    assert f"saved for backward by MulBackward0 at {line('saves-y')}" in extra
    assert f"then modified in place 2 times since it was saved, first at {line('first-add')}" in (
        extra
    )
    assert f"last at {line('setitem')}" in extra


def _optimizer_modifies_saved_weight(m):
    w = m.nn.Parameter(m.randn(3))
    opt = m.optim.SGD([w], lr=0.1)
    loss = (w * w).sum()  # saves-w
    loss.backward(retain_graph=True)
    opt.step()  # optimizer-step
    loss.backward()


def test_inplace_error_names_optimizer_step():
    msg = raised(_optimizer_modifies_saved_weight, ember)
    (extra,) = torch_first(_optimizer_modifies_saved_weight, msg)
    assert f"MulBackward0 at {line('saves-w')}" in extra
    assert (
        f"modified in place at {line('optimizer-step')} (`opt.step()  # optimizer-step`)" in extra
    )


def _inplace_in_module(m):
    lin = m.nn.Linear(3, 3)
    x = m.randn(2, 3, requires_grad=True)
    h = m.relu(lin(x))  # relu-in-module
    h += 1  # iadd
    h.sum().backward()


def test_inplace_error_names_the_users_line_not_embers():
    msg = raised(_inplace_in_module, ember)
    (extra,) = torch_first(_inplace_in_module, msg)
    assert f"ReluBackward0 at {line('relu-in-module')}" in extra
    assert f"modified in place at {line('iadd')} (`h += 1  # iadd`)" in extra
    assert "ember/" not in extra


# ---- "Trying to backward through the graph a second time" -------------------------------------
def _backward_twice(m):
    x = m.randn(3, requires_grad=True)
    loss = (x.exp() * 2).sum()  # loss-made
    loss.backward()  # first-backward
    loss.backward()


def test_second_backward_names_the_first_call_and_the_output():
    msg = raised(_backward_twice, ember)
    extra = torch_first(_backward_twice, msg)
    assert extra[0].startswith(f"The freed value was saved by MulBackward0 at {line('loss-made')}")
    assert (
        f"Its graph was freed by the backward() call at {line('first-backward')} "
        f"(`loss.backward()  # first-backward`), whose output was created at "
        f"{line('loss-made')}" in msg
    )
    assert "detach()" not in msg  # the same output twice: not a carried value


def _rnn_state_carried(m):
    w = m.randn(3, requires_grad=True)
    h = m.zeros(3)
    for _ in range(2):
        h = m.tanh(w * h + 1)  # rnn-step
        h.sum().backward()


def test_second_backward_through_carried_state_suggests_detach():
    msg = raised(_rnn_state_carried, ember)
    extra = torch_first(_rnn_state_carried, msg)
    tail = extra[-1]
    assert f"through the tensor created at {line('rnn-step')}" in tail
    assert "`h = h.detach()`" in tail and "not retain_graph=True" in tail


def _running_total(m):
    w = m.randn(3, requires_grad=True)
    total_loss = 0
    for i in range(2):
        loss = (w * (i + 1)).sum()
        total_loss += loss  # running-total
        total_loss.backward()


def test_second_backward_through_running_total_suggests_item():
    msg = raised(_running_total, ember)
    extra = torch_first(_running_total, msg)
    assert f"through the tensor created at {line('running-total')}" in extra[-1]
    assert "`total_loss += loss.item()`" in extra[-1]


def _saved_attr_after_backward(m):
    x = m.randn(3, requires_grad=True)
    y = x.sin()  # sin-made
    y.sum().backward()
    return y.grad_fn._saved_self


def test_saved_attribute_after_backward_names_where():
    msg = raised(_saved_attr_after_backward, ember)
    extra = torch_first(_saved_attr_after_backward, msg)
    assert any(line("sin-made") in e for e in extra), extra


# ---- "element 0 of tensors does not require grad" ---------------------------------------------
def _under_no_grad(m):
    x = m.randn(3, requires_grad=True)
    with m.no_grad():  # no-grad-entered
        y = x * 2
    y.sum().backward()


def _detached(m):
    x = m.randn(3, requires_grad=True)
    d = x.detach()  # detached-here
    (d * 2).sum().backward()


def _dot_data(m):
    x = m.randn(3, requires_grad=True)
    d = x.data  # data-here
    d.sum().backward()


def _integer(m):
    m.arange(3).sum().backward()


def _never_set(m):
    m.ones(3).mul(2).sum().backward()


def _set_grad_enabled_call(m):
    x = m.randn(3, requires_grad=True)
    m.set_grad_enabled(False)  # grad-disabled
    try:
        y = x.exp()
    finally:
        m.set_grad_enabled(True)
    y.backward(m.ones(3))


@pytest.mark.parametrize(
    "program,expected",
    [
        (_under_no_grad, ("computed under no_grad()", "no-grad-entered")),
        (_detached, ("cut from its graph by detach()", "detached-here")),
        (_dot_data, ("cut from its graph by .data", "data-here")),
        (_integer, ("is an integer tensor (ember.int64)", None)),
        (_never_set, ("requires_grad=False, and so did every tensor", None)),
        (_set_grad_enabled_call, ("under set_grad_enabled(False)", "grad-disabled")),
    ],
    ids=["no_grad", "detach", "data", "integer", "never-set", "set_grad_enabled"],
)
def test_does_not_require_grad_says_why(program, expected):
    msg = raised(program, ember)
    (extra,) = torch_first(program, msg)
    assert extra.startswith("Element 0 ")
    words, marker = expected
    assert words in extra
    if marker is not None:
        assert line(marker) in extra


def test_does_not_require_grad_in_autograd_grad_names_the_element():
    def program(m):
        a = m.randn(2, requires_grad=True)
        b = m.ones(2)
        m.autograd.grad([a.sum(), b.sum()], [a])

    msg = raised(program, ember)
    (extra,) = torch_first(program, msg)
    assert extra.startswith("Element 1 has requires_grad=False")


# ---- explain_missing_grad ---------------------------------------------------------------------
def test_explain_missing_grad_for_a_to_copy():
    a = ember.randn(3, requires_grad=True)
    b = a.to(ember.float64)  # to-copy
    (b * 2).sum().backward()
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert b.grad is None
    assert a.grad is not None
    text = explain_missing_grad(b)
    assert "not a leaf" in text and "a copy made by .to() (ToCopyBackward0)" in text
    assert line("to-copy") in text
    assert "retain_grad()" in text


def test_explain_missing_grad_for_a_leaf_rebuilt_from_a_detached_copy():
    w = ember.randn(3, requires_grad=True)
    w2 = w.detach().clone().requires_grad_()  # rebuilt
    (w2 * 2).sum().backward()  # backward-here
    text = explain_missing_grad(w)
    assert f"the last backward() call, at {line('backward-here')} (`(w2" in text
    assert "did not reach t" in text
    assert f"cut from it by detach() at {line('rebuilt')}" in text


def test_explain_missing_grad_for_a_leaf_rebuilt_by_tensor():
    w = ember.randn(4, requires_grad=True)
    w2 = ember.tensor(w.tolist(), requires_grad=True)
    loss = (w2 * 2).sum()  # the-loss
    loss.backward()
    text = explain_missing_grad(w)
    assert f"(created at {line('the-loss')} (`loss = (w2 * 2).sum()  # the-loss`))" in text
    assert "leaf of t's shape [4] (the same dtype) that is not t" in text


def test_explain_missing_grad_after_zero_grad():
    w = ember.nn.Parameter(ember.randn(3))
    opt = ember.optim.SGD([w], lr=0.1)
    (w * 2).sum().backward()
    opt.zero_grad()
    assert "reached t" in explain_missing_grad(w) and "zero_grad()" in explain_missing_grad(w)


def test_explain_missing_grad_when_not_requiring_grad_or_no_backward_yet():
    x = ember.randn(3, requires_grad=True)
    with ember.no_grad():  # nograd-block
        y = x + 1
    assert line("nograd-block") in explain_missing_grad(y)
    assert explain_missing_grad(x.grad if x.grad is not None else ember.ones(1)).startswith(
        "t.grad is None because t does not require grad"
    )


def test_explain_missing_grad_with_inputs_and_with_autograd_grad():
    a = ember.randn(2, requires_grad=True)
    b = ember.randn(2, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert "inputs= without t" in explain_missing_grad(b)
    ember.autograd.grad((a * b).sum(), [b])
    assert "autograd.grad()" in explain_missing_grad(b)


def test_explain_missing_grad_when_present_and_bad_argument():
    a = ember.randn(2, requires_grad=True)
    a.sum().backward()
    assert explain_missing_grad(a).startswith("t.grad is not None")
    with pytest.raises(TypeError, match="expects a Tensor"):
        explain_missing_grad([1.0])
