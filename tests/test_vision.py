"""ember.vision.models ResNets against torchvision's published architecture (torchvision itself
is not installed): the state dict's names, shapes and order come from an independent description
of the architecture below, whose parameter counts are torchvision's published ones; the forward
pass is checked against torch.nn.functional running the same weights; pretrained weights load
from files written by ember.save and by real torch.save."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ember
from ember.vision import models

# torchvision's architecture table: (block kind, blocks per stage), and each model's published
# parameter count (torchvision's weights meta "num_params").
ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2], 11689512),
    "resnet34": ("basic", [3, 4, 6, 3], 21797672),
    "resnet50": ("bottleneck", [3, 4, 6, 3], 25557032),
}
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def reference_entries(kind: str, layers: list[int], num_classes: int = 1000) -> list:
    """(name, shape) of every state-dict entry, in torchvision's order."""
    expansion = 4 if kind == "bottleneck" else 1
    out = []

    def conv(name, cout, cin, k):
        out.append((f"{name}.weight", (cout, cin, k, k)))

    def bn(name, c):
        out.extend((f"{name}.{p}", (c,)) for p in ("weight", "bias", *BUFFERS[:2]))
        out.append((f"{name}.num_batches_tracked", ()))

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for i in range(blocks):
            p = f"layer{stage}.{i}"
            if kind == "basic":
                conv(f"{p}.conv1", planes, inplanes, 3)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
            else:
                conv(f"{p}.conv1", planes, inplanes, 1)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3)
                bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", planes * 4, planes, 1)
                bn(f"{p}.bn3", planes * 4)
            if i == 0 and (stage > 1 or inplanes != planes * expansion):
                conv(f"{p}.downsample.0", planes * expansion, inplanes, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    out += [("fc.weight", (num_classes, 512 * expansion)), ("fc.bias", (num_classes,))]
    return out


def is_parameter(name: str) -> bool:
    return not name.endswith(BUFFERS)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_reference_description_matches_published_counts(arch):
    kind, layers, published = ARCHS[arch]
    entries = reference_entries(kind, layers)
    assert sum(math.prod(s) for n, s in entries if is_parameter(n)) == published


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_names_shapes_and_count(arch):
    kind, layers, published = ARCHS[arch]
    model = getattr(models, arch)()
    got = [(n, tuple(t.shape)) for n, t in model.state_dict().items()]
    assert got == reference_entries(kind, layers)
    params = list(model.named_parameters())
    assert [(n, tuple(p.shape)) for n, p in params] == [
        e for e in reference_entries(kind, layers) if is_parameter(e[0])
    ]
    assert sum(p.numel() for _, p in params) == published


def test_num_classes_and_blocks():
    model = models.resnet18(num_classes=10)
    assert tuple(model.fc.weight.shape) == (10, 512)
    assert isinstance(model.layer1[0], models.BasicBlock)
    assert isinstance(models.resnet50().layer4[2], models.Bottleneck)
    assert model.layer1[0].downsample is None and model.layer2[0].downsample is not None


def test_torchvision_initialisation():
    ember.manual_seed(0)
    model = models.resnet18()
    for name, m in model.named_modules():
        if isinstance(m, ember.nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            w = m.weight.detach().numpy()
            # kaiming_normal_(mode="fan_out", nonlinearity="relu"): std sqrt(2 / fan_out).
            assert abs(w.std() / math.sqrt(2 / fan_out) - 1) < 0.1, name
        if isinstance(m, ember.nn.BatchNorm2d):
            assert (m.weight.detach().numpy() == 1).all() and (m.bias.detach().numpy() == 0).all()
    bound = 1 / math.sqrt(512)
    assert np.abs(model.fc.weight.detach().numpy()).max() <= bound
    zero = models.resnet18(zero_init_residual=True)
    assert (zero.layer3[1].bn2.weight.detach().numpy() == 0).all()
    assert (zero.layer3[1].bn1.weight.detach().numpy() == 1).all()


def random_state_dict(kind: str, layers: list[int], num_classes: int) -> dict:
    """torch tensors for every reference entry, scaled so activations stay O(1)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for name, shape in reference_entries(kind, layers, num_classes):
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(3)
        elif name.endswith("running_var"):
            sd[name] = torch.rand(shape, generator=g) + 0.5
        elif name.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")):
            sd[name] = torch.rand(shape, generator=g) * 0.5 + 0.5
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[name] = torch.randn(shape, generator=g) * math.sqrt(1 / fan_in)
        else:
            sd[name] = torch.randn(shape, generator=g) * 0.1
    return sd


def torch_forward(sd: dict, x: torch.Tensor, kind: str, layers: list[int]) -> torch.Tensor:
    """ResNet v1.5 in eval mode with torch.nn.functional, driven by the state dict's names."""

    def bn(p, y):
        w, b = sd[f"{p}.weight"], sd[f"{p}.bias"]
        return F.batch_norm(y, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], w, b)

    def conv(p, y, stride=1, padding=0):
        return F.conv2d(y, sd[f"{p}.weight"], stride=stride, padding=padding)

    y = F.max_pool2d(F.relu(bn("bn1", conv("conv1", x, 2, 3))), 3, 2, 1)
    for stage, blocks in enumerate(layers, start=1):
        for i in range(blocks):
            p, stride = f"layer{stage}.{i}", 2 if stage > 1 and i == 0 else 1
            if kind == "basic":
                out = F.relu(bn(f"{p}.bn1", conv(f"{p}.conv1", y, stride, 1)))
                out = bn(f"{p}.bn2", conv(f"{p}.conv2", out, 1, 1))
            else:
                out = F.relu(bn(f"{p}.bn1", conv(f"{p}.conv1", y)))
                out = F.relu(bn(f"{p}.bn2", conv(f"{p}.conv2", out, stride, 1)))
                out = bn(f"{p}.bn3", conv(f"{p}.conv3", out))
            if f"{p}.downsample.0.weight" in sd:
                y = bn(f"{p}.downsample.1", conv(f"{p}.downsample.0", y, stride))
            y = F.relu(out + y)
    return F.linear(y.mean((2, 3)), sd["fc.weight"], sd["fc.bias"])


def test_forward_shape_and_backward():
    ember.manual_seed(0)
    model = models.resnet18(num_classes=10)
    out = model(ember.randn(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 10) and out.requires_grad
    out.sum().backward()
    assert model.conv1.weight.grad is not None and model.fc.bias.grad is not None


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_pretrained_from_torch_checkpoint_matches_torch(arch, tmp_path):
    kind, layers, _ = ARCHS[arch]
    sd = random_state_dict(kind, layers, num_classes=7)
    path = tmp_path / f"{arch}.pth"
    torch.save(sd, path)
    model = getattr(models, arch)(weights=str(path), num_classes=7).eval()
    for name, t in model.state_dict().items():
        np.testing.assert_array_equal(t.numpy(), sd[name].numpy())
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    got = model(ember.from_numpy(x.numpy())).detach().numpy()
    np.testing.assert_allclose(
        got, torch_forward(sd, x, kind, layers).numpy(), rtol=1e-4, atol=1e-4
    )


def test_pretrained_from_ember_file(tmp_path):
    ember.manual_seed(0)
    trained = models.resnet18(num_classes=5)
    path = tmp_path / "resnet18.pt"
    ember.save(trained.state_dict(), path)
    ember.manual_seed(1)
    loaded = models.resnet18(weights=path, num_classes=5)
    for (name, a), (_, b) in zip(trained.state_dict().items(), loaded.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_pretrained_file_with_other_shapes_is_refused(tmp_path):
    path = tmp_path / "r18.pt"
    ember.save(models.resnet18(num_classes=3).state_dict(), path)
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight"):
        models.resnet18(weights=path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pretrained": True},
        {"weights": "DEFAULT"},
        {"weights": "IMAGENET1K_V1"},
        {"weights": models.ResNet18_Weights.IMAGENET1K_V1},
        {"weights": "ResNet18_Weights.DEFAULT"},
    ],
)
def test_missing_pretrained_weights_say_how_to_supply_them(kwargs, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(FileNotFoundError) as info:
        warnings.simplefilter("always")
        models.resnet18(**kwargs)
    deprecated = [w for w in caught if "'pretrained' is deprecated" in str(w.message)]
    assert len(deprecated) == ("pretrained" in kwargs)
    message = str(info.value)
    assert "ember does not download" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "resnet18(weights='path/to/resnet18-f37072fd.pth')" in message


def test_named_weights_load_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    sd = random_state_dict("basic", [2, 2, 2, 2], num_classes=1000)
    torch.save(sd, checkpoints / "resnet18-f37072fd.pth")
    model = models.resnet18(weights=models.ResNet18_Weights.DEFAULT)
    np.testing.assert_array_equal(model.fc.bias.detach().numpy(), sd["fc.bias"].numpy())
    with pytest.raises(ValueError, match="'num_classes' expected value 1000 but got 10"):
        models.resnet18(weights="DEFAULT", num_classes=10)


@pytest.mark.parametrize(
    "weights, error, message",
    [
        ("no/such/file.pth", FileNotFoundError, "no such file"),
        (3, TypeError, "weights must be None, a file path or a ResNet18_Weights member"),
        (models.ResNet50_Weights.IMAGENET1K_V2, ValueError, "for another model"),
    ],
)
def test_bad_weights_arguments(weights, error, message):
    with pytest.raises(error, match=message):
        models.resnet18(weights=weights)
