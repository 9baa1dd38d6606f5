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
            assert e == t, f"ember: {e}\ntorch: {t}"
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
