"""The founding document's polynomial fit: y = a + b x + c x^2 + d x^3 fitted to sin(x).

Plain PyTorch code (`import ember as torch`): nn.Sequential(Linear(3, 1), Flatten(0, 1)),
MSELoss(reduction='sum'), 2000 steps of gradient descent with manual `param -= lr * grad`.
Prints the loss every 100 steps; writes fit_sine.png when matplotlib is installed.

    python examples/fit_sine.py [--out fit_sine.png]
"""

from __future__ import annotations

import argparse
import math

import ember as torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="fit_sine.png", help="where to write the plot")
    args = ap.parse_args()

    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))  # (2000, 3): x, x^2, x^3

    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    learning_rate = 1e-6
    for t in range(2000):
        loss = loss_fn(model(xx), y)
        if t % 100 == 99:
            print(t, round(loss.item(), 2))
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad

    layer = model[0]
    b, w = layer.bias.item(), layer.weight[0].tolist()
    print(f"Result: y = {b:.4f} + {w[0]:.4f} x + {w[1]:.4f} x^2 + {w[2]:.4f} x^3")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot written)")
        return
    with torch.no_grad():
        fit = model(xx)
    plt.figure(figsize=(6, 3.5))
    plt.plot(x.numpy(), y.numpy(), label="sin(x)")
    plt.plot(x.numpy(), fit.numpy(), "--", label="cubic fit (ember)")
    plt.legend()
    plt.tight_layout()
    plt.savefig(args.out, dpi=100)
    print(f"plot written to {args.out}")


if __name__ == "__main__":
    main()
