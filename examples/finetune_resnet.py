"""The founding document's transfer-learning recipe: freeze a ResNet-18, train a new head.

`import torchvision` code on ember: every parameter of `resnet18()` gets requires_grad=False,
`model.fc` is replaced by a fresh `nn.Linear(512, 100)`, and SGD with momentum trains only it
on synthetic images. Shows that only the head's parameters change. (No network: pretrained
weights would come from a local file, see ember.vision.models.)

    python examples/finetune_resnet.py [--steps 5]
"""

from __future__ import annotations

import argparse

import ember as torch
import ember.vision as torchvision
from ember import nn, optim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)

    model = torchvision.models.resnet18()
    for param in model.parameters():
        param.requires_grad = False
    model.fc = nn.Linear(512, 100)
    optimizer = optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)

    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    total = sum(p.numel() for p in model.parameters())
    print(f"{total} parameters, trainable: {trainable}")

    images = torch.randn(4, 3, 64, 64)
    labels = torch.randint(0, 100, (4,))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(args.steps):
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.4f}")
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    print(f"parameters that changed: {changed}")


if __name__ == "__main__":
    main()
