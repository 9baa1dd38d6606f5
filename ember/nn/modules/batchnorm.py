"""BatchNorm1d and BatchNorm2d: normalise each channel (dim 1) over the batch and spatial dims.

In training mode the batch statistics normalise the input and, when `track_running_stats`,
update the `running_mean`/`running_var` buffers (unbiased variance) by `momentum`, or by a
cumulative average when `momentum=None`; `num_batches_tracked` counts the updates. In eval
mode the running statistics are used instead (the batch's if none are tracked). Buffers,
defaults, input-dimension errors and reprs are torch's; `F.batch_norm` does the arithmetic.
"""

from __future__ import annotations

import ember

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d"]

Tensor = ember.Tensor


class _NormBase(Module):
    """Parameters (weight = 1, bias = 0) and running-statistics buffers of the batch norms."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ember.empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(ember.empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer(
                "running_mean", ember.zeros(num_features, dtype=dtype, device=device)
            )
            self.register_buffer(
                "running_var", ember.ones(num_features, dtype=dtype, device=device)
            )
            self.register_buffer(
                "num_batches_tracked", ember.tensor(0, dtype=ember.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, then weight = 1, bias = 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """The forward shared by every batch norm: choose the statistics, update the buffers."""

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            # Matches torch: momentum=None is a cumulative moving average over all batches.
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        # Matches torch: in eval mode the batch's statistics are used only when no running
        # statistics exist; in training mode untracked statistics are not passed at all.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        pass_running = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if pass_running else None,
            self.running_var if pass_running else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) input."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")
