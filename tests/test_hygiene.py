"""What a user of ember sees around the ops: no NumPy warnings, no dependency but NumPy."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE_WITH_INF_AND_NAN = """
import ember
x = ember.tensor([0.0, -1.0, 1e38, float("nan")], requires_grad=True)
y = (x.log() + 1 / x + x * x + x.sqrt() + x.exp() + x ** -1).sum() + x.var() + x.std()
y.backward()
print(ember.tensor([float("nan")]).max(), x.grad.isnan().any().item())
"""


def test_numpy_floating_point_warnings_do_not_reach_users():
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", CODE_WITH_INF_AND_NAN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.split() == ["tensor(nan)", "True"]


@pytest.mark.parametrize("module", ["ember"])
def test_numpy_is_the_only_third_party_import(module):
    code = (
        f"import sys; import {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)))"
    )
    # Interpreter and build internals (the editable-install finder, Cython's runtime) aside.
    internal = {"cython_runtime"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    imported = [m for m in eval(out) if not m.startswith("_") and m not in internal]
    assert imported == ["ember", "numpy"]


def test_malloc_tuning_can_be_turned_off(monkeypatch):
    from ember import _malloc

    monkeypatch.setenv("EMBER_MALLOC_TUNING", "0")
    assert _malloc.tune() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_malloc_tuning_applies_on_glibc(monkeypatch):
    import platform

    from ember import _malloc

    monkeypatch.delenv("EMBER_MALLOC_TUNING", raising=False)
    assert _malloc.tune() is (platform.libc_ver()[0] == "glibc")
