"""Pretrained weights without a network: torchvision's weight names resolve to files on disk.

ember never downloads. A builder's `weights=` is one of:
- None: random initialisation (torchvision's);
- a path (str or os.PathLike) to a state dict saved by `ember.save` or a torchvision `.pth`
  written by `torch.save` (read by ember.serialization, without torch);
- a torchvision weights name (`"DEFAULT"`, `"IMAGENET1K_V1"`, ...) or a `ResNet18_Weights`-style
  member: the file torchvision would have downloaded, looked up where torch's hub keeps it
  (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`). If it is not there,
  the error names the URL to fetch and the ways to pass the file.

`pretrained=True` (torchvision's legacy argument) means the builder's IMAGENET1K_V1 weights.
"""

from __future__ import annotations

import enum
import os
import warnings
from pathlib import Path
from typing import Any


class WeightsEnum(enum.Enum):
    """torchvision's weights enum, reduced to what ember can use offline: each member's value
    is the URL torchvision downloads from; `filename` is where torch's hub caches it."""

    @property
    def url(self) -> str:
        return self.value

    @property
    def filename(self) -> str:
        return self.value.rsplit("/", 1)[-1]


def hub_checkpoint_dir() -> Path:
    """Where torch's hub (and so torchvision) caches downloaded weights."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))) / "hub" / "checkpoints"


def resolve_weights(
    builder: str, enum_cls: type[WeightsEnum], weights: Any, pretrained: bool | None
) -> WeightsEnum | Path | None:
    """The weights a builder was asked for: None, an enum member or a file path."""
    if pretrained is not None:
        # Matches torchvision: the legacy flag still works, with its deprecation warning.
        warnings.warn(
            "The parameter 'pretrained' is deprecated since 0.13 and may be removed in the "
            "future, please use 'weights' instead.",
            UserWarning,
            stacklevel=3,
        )
        if weights is None and pretrained:
            weights = enum_cls.IMAGENET1K_V1
    if weights is None or isinstance(weights, enum_cls):
        return weights
    if isinstance(weights, WeightsEnum):
        raise ValueError(f"{builder}() cannot use {weights}: it is for another model")
    if isinstance(weights, str):
        name = weights.rsplit(".", 1)[-1] if weights.startswith(enum_cls.__name__) else weights
        if name in enum_cls.__members__:
            return enum_cls[name]
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"{builder}(weights={str(weights)!r}): no such file. Pass the path of a state "
                f"dict saved with ember.save or torch.save, or one of "
                f"{', '.join(enum_cls.__members__)}"
            )
        return path
    raise TypeError(
        f"{builder}(): weights must be None, a file path or a {enum_cls.__name__} member, "
        f"not {type(weights).__name__}"
    )


def weights_file(builder: str, weights: WeightsEnum | Path) -> Path:
    """The file holding resolved weights; named weights must already be in the hub cache."""
    if isinstance(weights, Path):
        return weights
    path = hub_checkpoint_dir() / weights.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{builder}: the {type(weights).__name__}.{weights.name} weights are not on this "
            f"machine, and ember does not download. Fetch {weights.url} yourself and either "
            f"pass its path, `{builder}(weights='path/to/{weights.filename}')`, or put it at "
            f"{path}."
        )
    return path
