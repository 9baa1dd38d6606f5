"""A tiny training loop: a two-layer network learns which side of a circle a point is on.

    python train_classifier.py [--epochs N]

Plain PyTorch (`ember run train_classifier.py` runs it on ember): TensorDataset and
DataLoader, nn.Sequential, CrossEntropyLoss, optim.SGD with momentum. The data and the
starting weights are fixed, not random, so both libraries print the same. Exits with
status 1 if the network has not learnt the task.
"""

import argparse
import sys

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
args = parser.parse_args()

# 256 points on a grid; class 1 inside the circle of radius 0.6
g = torch.linspace(-1, 1, 16)
points = torch.stack([g.view(16, 1).expand(16, 16).reshape(-1), g.repeat(16)], dim=1)
labels = (points.pow(2).sum(dim=1) < 0.36).long()
loader = DataLoader(TensorDataset(points, labels), batch_size=32, shuffle=False)

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (i + 1.3)).view_as(p))
loss_fn = nn.CrossEntropyLoss()
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(args.epochs):
    total = 0.0
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: loss {total / len(points):.2f}")

with torch.no_grad():
    accuracy = (model(points).argmax(dim=1) == labels).float().mean().item()
print(f"accuracy {accuracy:.2f}")
sys.exit(0 if accuracy > 0.9 else 1)
