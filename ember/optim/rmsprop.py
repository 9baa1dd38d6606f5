"""`RMSprop`: gradients scaled by a running root mean square, optionally centered and with
momentum, with torch's update order (torch's single-tensor CPU path)."""

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
    lerp_,
    new_state,
    scalar,
    scalar_step,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """`v <- alpha v + (1 - alpha) g^2`, `avg = sqrt(v - mean(g)^2 if centered else v) + eps`,
    then `p <- p - lr g / avg`, or with momentum `buf <- momentum buf + g / avg`,
    `p <- p - lr buf`."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        # Matches torch: capturable/foreach/differentiable are kept as group options (they show
        # in repr and state_dict); ember has one implementation, torch's single-tensor one.
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = self.state[p]
        if not state:
            state["step"] = scalar_step()
            state["square_avg"] = new_state(np.zeros_like(p._data))
            if group["momentum"] > 0:
                state["momentum_buffer"] = new_state(np.zeros_like(p._data))
            if group["centered"]:
                state["grad_avg"] = new_state(np.zeros_like(p._data))
        return state

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop update of every parameter that has a gradient; returns the closure's
        loss."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, wd, eps = scalar(group["lr"]), group["weight_decay"], group["eps"]
            alpha, momentum = group["alpha"], group["momentum"]
            for p in self._params_with_grad(group):
                state = self._init_state(p, group)
                increment(state["step"])
                x, g = p._data, p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * x
                x, g = as_real(x), as_real(g)
                v = as_real(state["square_avg"]._data)
                v *= alpha
                v += (1 - alpha) * g * g
                if group["centered"]:
                    mean = as_real(state["grad_avg"]._data)
                    lerp_(mean, g, 1 - alpha)
                    avg = np.sqrt(v - mean * mean)
                else:
                    avg = np.sqrt(v)
                avg += eps
                if momentum > 0:
                    buf = as_real(state["momentum_buffer"]._data)
                    buf *= momentum
                    buf += g / avg
                    x -= lr * buf
                else:
                    # Matches torch's addcdiv: p + (value * g) / avg.
                    x += (-lr * g) / avg
                bump(p, *state.values())
        return loss
