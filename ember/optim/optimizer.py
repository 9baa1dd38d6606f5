"""`Optimizer`: the base class every optimizer shares: parameter groups, per-parameter state,
state dicts, step hooks, `zero_grad`.

Conventions, all torch's: `param_groups` is a list of dicts holding `'params'` (a list of leaf
tensors) followed by every default the group did not set; `state` maps a parameter (by
identity) to a dict of its buffers; `state_dict()` replaces parameters by their running index
over all groups. Subclasses update parameters in place on their NumPy arrays (`p._data`), so a
parameter stays the same object and every alias of it (a module's `state_dict()`) sees the
step; each in-place write bumps the tensor's version counter as torch's in-place ops do.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from .. import _factories
from .._dtype import float64, get_default_dtype
from .._tensor import Tensor
from ..autograd._where import note_inplace, site
from ..autograd.grad_mode import enable_grad
from ..autograd.graph import RemovableHandle

__all__ = ["Optimizer"]

_DUPLICATE_PARAMS = (
    "optimizer contains a parameter group with duplicate parameters; "
    "in future, this will cause an error; "
    "see github.com/pytorch/pytorch/issues/40967 for more information"
)


def _typename(obj: Any) -> str:
    """torch.typename: `torch.FloatTensor` for a tensor, else the qualified type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        module, qualname = type(obj).__module__ or "", type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def _with_step_hooks(step: Callable) -> Callable:
    """Wrap a class's `step` to run the step hooks around it and to record, for the lr
    schedulers' order check, that the optimizer has stepped."""

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        # Matches torch: hooks receive `args` including the optimizer itself.
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), but got "
                        f"{result}."
                    )
                args, kwargs = result
        if hasattr(self, "_opt_called"):
            self._opt_called = True
        outer = _STEP_SITE[0]
        _STEP_SITE[0] = site(1)
        try:
            out = step(*args, **kwargs)
        finally:
            _STEP_SITE[0] = outer
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


def closure_loss(closure: Callable[[], Any] | None) -> Any:
    """Re-evaluate the loss with grad enabled (a step itself runs under no_grad)."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


# The user's line that called the running optimizer step (_NOT_IN_STEP outside a step): every
# parameter and state tensor a step writes was written from there, so the frame walk that
# finds it runs once per step, not once per tensor.
_NOT_IN_STEP = object()
_STEP_SITE: list = [_NOT_IN_STEP]


def bump(*tensors: Tensor) -> None:
    """Record an in-place write, as torch's in-place ops do, so that a graph which saved the
    old values fails at backward instead of silently using the new ones."""
    where = _STEP_SITE[0]
    bump_at(tensors, site(2) if where is _NOT_IN_STEP else where)


def bump_at(tensors: Iterable[Tensor], where: tuple | None) -> None:
    """`bump`, with the user's line that ran the step given (a compiled step's replay)."""
    for t in tensors:
        t._vc[0] += 1
        note_inplace(t._vc, where=where)  # so that error says it was optimizer.step() (#4)


def as_real(a: np.ndarray) -> np.ndarray:
    """A complex array as a real view with a trailing (re, im) axis: torch.view_as_real.
    Matches torch: the adaptive optimizers treat a complex parameter as a pair of reals."""
    return a[..., None].view(a.real.dtype) if np.iscomplexobj(a) else a


def lerp_(a: np.ndarray, b: np.ndarray, w: float) -> None:
    """a <- lerp(a, b, w) in place, with torch's formula for the size of w (exact at w=1)."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        np.subtract(b, (b - a) * (1 - w), out=a)


class Optimizer:
    """Base class for optimizers: holds the parameter groups and per-parameter state.

    `params` is an iterable of tensors, of `(name, tensor)` pairs, or of dicts each holding
    `'params'` and per-group options; `defaults` fills every option a group does not set.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if defaults.get("differentiable"):
            raise NotImplementedError(
                "ember.optim does not support differentiable=True: steps update the parameters' "
                "arrays in place, outside the autograd graph"
            )
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._patch_step_function()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        if defaults.get("fused") and defaults.get("foreach"):
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def _patch_step_function(self) -> None:
        # Matches torch: the class's own `step` is wrapped once, on first instantiation.
        cls = type(self)
        if not getattr(cls.step, "hooked", False):
            cls.step = _with_step_hooks(cls.step)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())
        self._patch_step_function()

    def __repr__(self) -> str:
        # Matches torch: each group opens with a newline, so groups are blank-line separated.
        out = f"{type(self).__name__} ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            out += "".join(f"    {k}: {group[k]}\n" for k in sorted(group) if k != "params")
        return out + ")"

    # ---- parameter groups ---------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a group: its params must be leaf tensors not already in another group."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        named = [p for p in params if isinstance(p, tuple)]
        if named:
            if len(named) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = [name for name, _ in named]
            params = [p for _, p in named]
        param_group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + _typename(p)
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn(_DUPLICATE_PARAMS, stacklevel=3)
        seen: set[Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                kind = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {kind} to the optimizer"
                )
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; `closure` re-evaluates and returns the loss."""
        raise NotImplementedError

    def _params_with_grad(self, group: dict[str, Any]) -> Iterator[Tensor]:
        """The group's parameters that have a gradient. Matches torch: the others are skipped
        (no state is created for them)."""
        return (p for p in group["params"] if p.grad is not None)

    # ---- hooks ----------------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs before each step; it may return new
        `(args, kwargs)`."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs after each step."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    # ---- state dicts ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """`{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}`.

        Matches torch: the per-parameter state dicts and their tensors are the live ones, not
        copies (save or deepcopy the result to keep a snapshot).
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load groups' options and per-parameter state saved by `state_dict()`, matching the
        saved parameters to this optimizer's by position."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict[Any, Any] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = _cast(id_map[k], v)
            else:
                state[k] = v
        for group, new in zip(groups, saved_groups):
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})


def _cast(param: Tensor, value: Any, key: Any = None) -> Any:
    """Loaded state for `param`: floating tensors take the parameter's dtype, except `step`.

    Matches torch: a tensor already of the right dtype is kept, not copied.
    """
    if isinstance(value, Tensor):
        if key != "step" and param.is_floating_point():
            return value.to(dtype=param.dtype)
        return value
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v) for v in value)
    return value


def check_lr(lr: float | Tensor) -> None:
    """torch's checks on a learning rate: non-negative, and one element if a tensor."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def scalar(x: float | Tensor) -> float:
    """A hyperparameter as a Python number (a one-element tensor lr is read as its value)."""
    return x.item() if isinstance(x, Tensor) else x


def new_state(a: np.ndarray) -> Tensor:
    """A state buffer wrapping `a` (no grad, no history)."""
    return Tensor._make(a)


def scalar_step() -> Tensor:
    """A fresh `step` counter. Matches torch: a 0-d tensor, float64 when that is the default
    dtype and float32 otherwise."""
    dtype = np.float64 if get_default_dtype() is float64 else np.float32
    return _factories.zeros_const((), dtype)


def increment(step: Tensor) -> float:
    """Add one to a `step` counter in place and return its new value."""
    step._data += 1
    return float(step._data)
