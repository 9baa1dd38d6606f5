"""Anomaly detection: remember where each node was created, and check backward's results.

Inside `detect_anomaly()` (or after `set_detect_anomaly(True)`), every node records the
traceback of the forward call that created it (user frames only). When a node's backward
raises, or returns NaN while `check_nan` is on ("Function 'DivBackward0' returned nan values
in its 1th output."), a UserWarning shows that forward traceback, as torch's does. Off, the
cost is one flag test per recorded node.
"""

from __future__ import annotations

import functools
import os
import traceback
import warnings
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
]


class _Anomaly:
    """Process-wide, as torch's anomaly mode is (not per thread)."""

    enabled = False
    check_nan = True


ANOMALY = _Anomaly()
_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_anomaly_enabled() -> bool:
    return ANOMALY.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return ANOMALY.check_nan


def record(node: object) -> None:
    """Remember the user's frames that are creating `node` (called only in anomaly mode)."""
    frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith(_EMBER_DIR)]
    _TRACES[node] = "".join(traceback.format_list(frames))


def checked_apply(node: Any, grads: list) -> list:
    """`node.apply(grads)`, warning with the forward traceback if it fails or returns NaN."""
    try:
        out = node.apply(grads)
        if ANOMALY.check_nan:
            for i, g in enumerate(out):
                if g is not None and g._data.dtype.kind in "fc" and (g._data != g._data).any():
                    raise RuntimeError(
                        f"Function '{node.name()}' returned nan values in its {i}th output."
                    )
    except Exception:
        trace = _TRACES.get(node)
        if trace:
            warnings.warn(
                f"Error detected in {node.name()}. Traceback of forward call that caused the "
                f"error:\n{trace}",
                UserWarning,
                stacklevel=2,
            )
        raise
    return out


class detect_anomaly:
    """Context manager / decorator enabling anomaly detection (warns that it is slow)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __enter__(self) -> None:
        self._prev = (ANOMALY.enabled, ANOMALY.check_nan)
        ANOMALY.enabled, ANOMALY.check_nan = True, self.check_nan

    def __exit__(self, *exc: object) -> None:
        ANOMALY.enabled, ANOMALY.check_nan = self._prev

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Turn anomaly detection on or off now; as a context manager, restore it on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = (ANOMALY.enabled, ANOMALY.check_nan)
        ANOMALY.enabled, ANOMALY.check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        ANOMALY.enabled, ANOMALY.check_nan = self._prev
