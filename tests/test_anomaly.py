"""Anomaly mode: NaN checks and the forward traceback of the failing node, as torch reports."""

from __future__ import annotations

import inspect
import warnings

import pytest

import ember
from ember.autograd.anomaly_mode import _TRACES


def _nan_backward(m):
    x = m.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with m.autograd.detect_anomaly():
            y = x.sqrt() * 0
            line = inspect.currentframe().f_lineno + 1
            z = (y / y).sum()
            try:
                z.backward()
            except RuntimeError as e:
                error = str(e)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return error, messages, line


def test_nan_in_backward_names_the_node_and_the_forward_line(same):
    same(lambda m: _nan_backward(m)[0])
    error, messages, line = _nan_backward(ember)
    assert messages[0].startswith("Anomaly Detection has been enabled.")
    trace = next(m for m in messages if m.startswith("Error detected in DivBackward0."))
    assert f'File "{__file__}", line {line}' in trace
    assert "z = (y / y).sum()" in trace


def test_flags(same):
    def f(m):
        out = [m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.autograd.detect_anomaly(check_nan=False):
                out += [m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()]
        with m.autograd.set_detect_anomaly(True):
            out.append(m.is_anomaly_enabled())
        out.append(m.is_anomaly_enabled())
        return out

    same(f)


def test_errors_raised_in_backward_carry_the_forward_traceback():
    class Boom(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom")

    x = ember.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="Error detected in BoomBackward"):
        with ember.autograd.set_detect_anomaly(True):
            y = Boom.apply(x).sum()
            with pytest.raises(ValueError, match="boom"):
                y.backward()


def test_nothing_is_recorded_outside_anomaly_mode():
    before = len(_TRACES)
    x = ember.ones(2, requires_grad=True)
    y = (x * 2).sum()
    assert len(_TRACES) == before and y.grad_fn not in _TRACES
