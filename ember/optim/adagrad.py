"""`Adagrad`: gradients scaled by the root of their accumulated squares, with learning-rate
decay, with torch's update order (torch's single-tensor CPU path)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from .optimizer import (
    Optimizer,
    as_real,
    bump,
    check_lr,
    closure_loss,
    increment,
    new_state,
    scalar,
    scalar_step,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """`sum <- sum + g^2`, `p <- p - clr g / (sqrt(sum) + eps)` with
    `clr = lr / (1 + (t - 1) lr_decay)`. The state (`step`, `sum`) is created for every
    parameter at construction, as in torch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        # Matches torch: foreach/differentiable/fused are kept as group options (they show in
        # repr and state_dict); ember has one implementation, torch's single-tensor one.
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = self.state[p]
        if not state:
            init = group["initial_accumulator_value"]
            if np.iscomplexobj(p._data):
                # Matches torch: both parts of a complex accumulator start at the value.
                init = complex(init, init)
            state["step"] = scalar_step()
            state["sum"] = new_state(np.full_like(p._data, init))
        return state

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adagrad update of every parameter that has a gradient; returns the closure's
        loss."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, wd, eps = scalar(group["lr"]), group["weight_decay"], group["eps"]
            for p in self._params_with_grad(group):
                state = self._init_state(p, group)
                t = increment(state["step"])
                x, g = p._data, p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * x
                clr = lr / (1 + (t - 1) * group["lr_decay"])
                x, g = as_real(x), as_real(g)
                acc = as_real(state["sum"]._data)
                acc += g * g
                std = np.sqrt(acc)
                std += eps
                # Matches torch's addcdiv: p + (value * g) / std.
                x += (-clr * g) / std
                bump(p, *state.values())
        return loss
