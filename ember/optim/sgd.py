"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov momentum, L2 weight
decay and maximize, with torch's update order (torch's single-tensor CPU path)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, bump, check_lr, closure_loss, new_state, scalar

__all__ = ["SGD"]


class SGD(Optimizer):
    """`p <- p - lr * v`, where `v` is the (weight-decayed, possibly negated) gradient or its
    momentum buffer `buf <- momentum * buf + (1 - dampening) * g` (Nesterov: `g + momentum *
    buf`). The buffer starts as the first gradient, as in torch."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        # Matches torch: foreach/differentiable/fused are kept as group options (they show in
        # repr and state_dict); ember has one NumPy implementation, torch's single-tensor one.
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a gradient; returns the closure's loss."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, wd = scalar(group["lr"]), group["weight_decay"]
            momentum, dampening = group["momentum"], group["dampening"]
            for p in self._params_with_grad(group):
                x, g = p._data, p.grad._data
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * x
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # np.array, not g.copy(): a 0-d result may be a NumPy scalar.
                        buf = state["momentum_buffer"] = new_state(np.array(g))
                    else:
                        b = buf._data
                        b *= momentum
                        b += (1 - dampening) * g
                        bump(buf)
                    g = g + momentum * buf._data if group["nesterov"] else buf._data
                x -= lr * g
                bump(p)
        return loss

    def _plain_lrs(self) -> list[float] | None:
        """For ember.compile's replay: each group's lr when the next step is the plain
        `p -= lr * p.grad` everywhere (no momentum, weight decay, maximize or step hooks, a
        number lr), else None. The replay then does that update in its own straight-line
        code instead of calling `step()`."""
        if self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks:
            return None
        lrs = []
        for group in self.param_groups:
            lr = group["lr"]
            if group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"]:
                return None
            if type(lr) is not float and type(lr) is not int:
                return None
            lrs.append(lr)
        return lrs
