"""Shared helpers: run the same code on ember and on torch and compare what each does."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember


def outcome(fn, module):
    """What `fn(module)` does: ('ok', value) or ('raise', type name, message with torch->ember)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", fn(module))
    except Exception as exc:  # noqa: BLE001 - the exception itself is what we compare
        return ("raise", type(exc).__name__, str(exc).replace("torch.", "ember."))


# The errors to which ember appends, after torch's unchanged text and a newline, where the
# problem is (issue #4; tests/test_error_locations.py checks what it says).
LOCATED = (
    "one of the variables needed for gradient computation has been modified by an inplace",
    "Trying to backward through the graph a second time",
    "element ",  # "element 0 of tensors does not require grad and does not have a grad_fn"
)


def located(outcome):
    """An ember outcome with the location ember appends to the LOCATED errors cut off."""
    if outcome[0] == "raise" and outcome[2].startswith(LOCATED):
        return (*outcome[:2], outcome[2].split("\n", 1)[0])
    return outcome


def as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, ember.Tensor):
        return value.detach().numpy()
    return value


@pytest.fixture
def same():
    """`same(fn)`: fn(ember) and fn(torch) raise the same error or return equal values."""

    def check(fn, rtol=1e-6):
        e, t = outcome(fn, ember), outcome(fn, torch)
        if t[0] == "raise":
            assert located(e) == t, f"ember: {e}\ntorch: {t}"
            return None
        assert e[0] == "ok", f"ember raised {e[1]}: {e[2]}"
        ev, tv = e[1], t[1]
        if isinstance(tv, (list, tuple)):
            assert len(ev) == len(tv)
            pairs = list(zip(ev, tv))
        else:
            pairs = [(ev, tv)]
        for a, b in pairs:
            a, b = as_numpy(a), as_numpy(b)
            if isinstance(b, np.ndarray):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-7)
            else:
                assert a == b
        return ev

    return check
