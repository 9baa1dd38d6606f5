"""Seed 001: fit sin(x) with a cubic polynomial, written as a Linear layer.

    python polyfit.py [--steps N] [--lr LR]

A plain PyTorch script (`ember run polyfit.py` runs it on ember). The start is fixed rather
than random so that every run, on either library, prints the same numbers.
"""

import argparse
import math

import torch
import torch.nn as nn

parser = argparse.ArgumentParser(description="fit sin(x) with a cubic polynomial")
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--lr", type=float, default=1e-6)
args = parser.parse_args()

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))  # (2000, 3): x, x^2, x^3

model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.1, -0.2, 0.05]]))
    model[0].bias.fill_(0.3)
loss_fn = nn.MSELoss(reduction="sum")

for t in range(args.steps):
    loss = loss_fn(model(xx), y)
    if t % 100 == 99:
        print(t, round(loss.item(), 1))
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= args.lr * param.grad

layer = model[0]
b, w = layer.bias.item(), layer.weight[0].tolist()
print(f"Result: y = {b:.3f} + {w[0]:.3f} x + {w[1]:.3f} x^2 + {w[2]:.3f} x^3")
