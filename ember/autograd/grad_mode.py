"""Grad modes: whether ops record the graph. Thread-local, as in torch.

`no_grad`, `enable_grad`, `set_grad_enabled` and `inference_mode` work as context managers and
as decorators (with or without parentheses for the parameterless ones).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from ._where import NO_GRAD, grad_mode_entered


class _State(threading.local):
    """Each thread's modes. Set as instance attributes (threading.local runs __init__ once per
    thread): a thread-local's own attribute reads in half the time of a class default, and
    every op call reads two of them."""

    def __init__(self) -> None:
        self.enabled = True
        self.inference = False
        self.saved_hooks: tuple = ()  # stack of (pack, unpack) from saved_tensors_hooks
        self.hooks_disabled: str | None = None  # message of disable_saved_tensors_hooks
        self.fw_level = 0  # nonzero only inside forward_ad.dual_level: ops propagate tangents


STATE = _State()


def is_grad_enabled() -> bool:
    """True when new ops record the graph."""
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    """True inside `inference_mode()`."""
    return STATE.inference


class _Mode:
    """Base for grad-mode context managers: sets a mode on enter, restores on exit."""

    _enabled = True
    _inference = False
    _tag = None  # the no-grad reason to restore on exit (see _where.NO_GRAD)

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        self._tag = NO_GRAD[0]
        STATE.enabled = self._enabled
        STATE.inference = self._inference

    def __exit__(self, *exc: object) -> None:
        STATE.enabled, STATE.inference = self._prev
        NO_GRAD[0] = self._tag

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self) -> _Mode:
        return self.__class__()


class _NoParamMode(_Mode):
    """Allows `@no_grad` as well as `@no_grad()`, as torch 2 does."""

    def __new__(cls, orig_func: Callable | None = None):
        self = super().__new__(cls)
        if orig_func is None:
            return self
        return self(orig_func)


class no_grad(_NoParamMode):
    """Disable graph recording: results of ops inside do not require grad."""

    _enabled = False

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled = False
        self._tag = grad_mode_entered("no_grad()")


class enable_grad(_NoParamMode):
    """Re-enable graph recording inside a `no_grad` block."""

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled = True
        self._tag, NO_GRAD[0] = NO_GRAD[0], None


class set_grad_enabled(_Mode):
    """Set grad mode to `mode` when called; restored on exit when used in `with`."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled = self.mode
        if self.mode:
            self._tag, NO_GRAD[0] = NO_GRAD[0], None
        else:
            self._tag = grad_mode_entered("set_grad_enabled(False)")

    def __enter__(self) -> None:
        STATE.enabled = self.mode

    def __call__(self, func: Callable) -> Callable:
        # Used as a decorator the constructor already flipped the mode: undo that first.
        STATE.enabled, STATE.inference = self._prev
        NO_GRAD[0] = self._tag
        return super().__call__(func)

    def clone(self) -> set_grad_enabled:
        prev = STATE.enabled
        out = set_grad_enabled(self.mode)
        out._prev = (prev, STATE.inference)
        STATE.enabled = prev
        return out


class inference_mode(_Mode):
    """Like `no_grad`, for code that never needs gradients (`mode=False` is a no-op)."""

    def __new__(cls, mode: bool | Callable = True):
        self = super().__new__(cls)
        if callable(mode):
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode: bool | Callable = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        self._tag = NO_GRAD[0]
        if self.mode:
            STATE.enabled = False
            STATE.inference = True
            self._tag = grad_mode_entered("inference_mode()")

    def clone(self) -> inference_mode:
        return inference_mode(self.mode)
