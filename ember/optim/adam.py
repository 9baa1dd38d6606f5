"""`Adam` and `AdamW`: bias-corrected moment estimates, L2 or decoupled weight decay, AMSGrad,
maximize, with torch's update order (torch's single-tensor CPU path)."""

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

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """`m <- lerp(m, g, 1 - beta1)`, `v <- beta2 v + (1 - beta2) g^2`,
    `p <- p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)`; with `amsgrad` the
    running maximum of `v` replaces `v` in the denominator."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            all(isinstance(b, float) for b in betas) or all(isinstance(b, Tensor) for b in betas)
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        # Matches torch: foreach/capturable/differentiable/fused are kept as group options
        # (they show in repr and state_dict); ember has one implementation, torch's
        # single-tensor one.
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, amsgrad: bool) -> dict[str, Tensor]:
        state = self.state[p]
        if not state:
            state["step"] = scalar_step()
            state["exp_avg"] = new_state(np.zeros_like(p._data))
            state["exp_avg_sq"] = new_state(np.zeros_like(p._data))
            if amsgrad:
                state["max_exp_avg_sq"] = new_state(np.zeros_like(p._data))
        return state

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns the closure's loss."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, wd, eps = scalar(group["lr"]), group["weight_decay"], group["eps"]
            beta1, beta2 = (scalar(b) for b in group["betas"])
            amsgrad = group["amsgrad"]
            for p in self._params_with_grad(group):
                state = self._init_state(p, amsgrad)
                t = increment(state["step"])
                x, g = p._data, p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        x *= 1 - lr * wd
                    else:
                        g = g + wd * x
                x, g = as_real(x), as_real(g)
                m, v = as_real(state["exp_avg"]._data), as_real(state["exp_avg_sq"]._data)
                lerp_(m, g, 1 - beta1)
                v *= beta2
                v += (1 - beta2) * g * g
                if amsgrad:
                    vmax = as_real(state["max_exp_avg_sq"]._data)
                    np.maximum(vmax, v, out=vmax)
                    v = vmax
                step_size = lr / (1 - beta1**t)
                denom = np.sqrt(v) / (1 - beta2**t) ** 0.5
                denom += eps
                # Matches torch's addcdiv: p + (value * m) / denom.
                x += (-step_size * m) / denom
                bump(p, *state.values())
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: `p <- p * (1 - lr * weight_decay)` before the Adam
    update, so the decay never enters the moment estimates."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # Matches torch: loaded groups of an AdamW always decay decoupled.
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
