"""ResNet-18/34/50 with torchvision's architecture, parameter names and initialisation, so that
torchvision code and checkpoints work unchanged (torchvision/models/resnet.py, "ResNet v1.5":
a Bottleneck downsamples in its 3x3 convolution).

Names as torchvision's: `conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`, ...
Initialisation as torchvision's: convolutions kaiming_normal_(mode="fan_out",
nonlinearity="relu"), batch norms weight 1 and bias 0, the final Linear its default init.
Pretrained weights come from local files only (see _weights.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ember
from ember import nn

from ._weights import WeightsEnum, resolve_weights, weights_file

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "ResNet18_Weights",
    "ResNet34_Weights",
    "ResNet50_Weights",
    "resnet18",
    "resnet34",
    "resnet50",
]

NormLayer = Callable[[int], nn.Module]


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution with padding, no bias (a batch norm follows)."""
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a residual connection (ResNet-18/34)."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer | None = None,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, and a residual (ResNet-50)."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer | None = None,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A 7x7 stem, four stages of residual blocks (64, 128, 256, 512 planes), global average
    pooling and a Linear classifier; torchvision's constructor arguments."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: list[bool] | None = None,
        norm_layer: NormLayer | None = None,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                "replace_stride_with_dilation should be None or a 3-element tuple, "
                f"got {replace_stride_with_dilation}"
            )
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(
            block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0]
        )
        self.layer3 = self._make_layer(
            block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1]
        )
        self.layer4 = self._make_layer(
            block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2]
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        # Zero the last batch norm of each block, so each residual branch starts as the
        # identity (https://arxiv.org/abs/1706.02677); torchvision's option, off by default.
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(
        self,
        block: type[BasicBlock | Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
        dilate: bool = False,
    ) -> nn.Sequential:
        """One stage: its first block changes width/stride (with a 1x1 downsample), the rest
        keep them."""
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [
            block(
                self.inplanes,
                planes,
                stride,
                downsample,
                self.groups,
                self.base_width,
                previous_dilation,
                norm_layer,
            )
        ]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(
                block(
                    self.inplanes,
                    planes,
                    groups=self.groups,
                    base_width=self.base_width,
                    dilation=self.dilation,
                    norm_layer=norm_layer,
                )
            )
        return nn.Sequential(*layers)

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = ember.flatten(self.avgpool(x), 1)
        return self.fc(x)


class ResNet18_Weights(WeightsEnum):
    """torchvision's ImageNet weights for ResNet-18 (top-1 69.758%)."""

    IMAGENET1K_V1 = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):
    """torchvision's ImageNet weights for ResNet-34 (top-1 73.314%)."""

    IMAGENET1K_V1 = "https://download.pytorch.org/models/resnet34-b627a593.pth"
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):
    """torchvision's ImageNet weights for ResNet-50 (top-1 76.130% for V1, 80.858% for V2)."""

    IMAGENET1K_V1 = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    IMAGENET1K_V2 = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    DEFAULT = IMAGENET1K_V2


def _resnet(
    name: str,
    block: type[BasicBlock | Bottleneck],
    layers: list[int],
    weights_enum: type[WeightsEnum],
    weights: Any,
    pretrained: bool | None,
    kwargs: dict,
) -> ResNet:
    resolved = resolve_weights(name, weights_enum, weights, pretrained)
    # Matches torchvision: ImageNet weights fix num_classes at 1000.
    if isinstance(resolved, WeightsEnum) and kwargs.get("num_classes", 1000) != 1000:
        raise ValueError(
            f"The parameter 'num_classes' expected value 1000 but got {kwargs['num_classes']} "
            "instead."
        )
    path = None if resolved is None else weights_file(name, resolved)
    model = ResNet(block, layers, **kwargs)
    if path is not None:
        # Strict: every name and shape must match, as torchvision's load does.
        model.load_state_dict(ember.load(path, map_location="cpu"))
    return model


def resnet18(
    *, weights: Any = None, progress: bool = True, pretrained: bool | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); `weights=` None, a file path, or a
    ResNet18_Weights name (a local copy of torchvision's file; ember never downloads)."""
    return _resnet(
        "resnet18", BasicBlock, [2, 2, 2, 2], ResNet18_Weights, weights, pretrained, kwargs
    )


def resnet34(
    *, weights: Any = None, progress: bool = True, pretrained: bool | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]); `weights=` as for resnet18."""
    return _resnet(
        "resnet34", BasicBlock, [3, 4, 6, 3], ResNet34_Weights, weights, pretrained, kwargs
    )


def resnet50(
    *, weights: Any = None, progress: bool = True, pretrained: bool | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); `weights=` as for resnet18."""
    return _resnet(
        "resnet50", Bottleneck, [3, 4, 6, 3], ResNet50_Weights, weights, pretrained, kwargs
    )
