"""Train an MLP and a small CNN on scikit-learn's bundled 8x8 digits (no download).

Standard PyTorch training code on ember: TensorDataset + DataLoader (shuffled with a seeded
generator), nn.Sequential models, CrossEntropyLoss, SGD with momentum / Adam, a tqdm progress
bar per epoch when tqdm is installed. Prints test accuracy for each model.

    pip install scikit-learn tqdm
    python examples/digits.py [--epochs 30]
"""

from __future__ import annotations

import argparse

import numpy as np

import ember as torch
from ember import nn
from ember.utils.data import DataLoader, TensorDataset


def load(seed: int = 0):
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SystemExit("this example needs scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 5
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])


def progress(iterable, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, leave=False)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    model.train()
    return (pred == y).float().mean().item()


def train(name: str, model: nn.Module, optimizer, data, epochs: int, shape) -> float:
    (xtr, ytr), (xte, yte) = data
    xtr, xte = torch.from_numpy(xtr).reshape(shape), torch.from_numpy(xte).reshape(shape)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
    loader = DataLoader(
        TensorDataset(xtr, ytr),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    loss_fn = nn.CrossEntropyLoss()
    for _ in progress(range(epochs), name):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    acc = accuracy(model, xte, yte)
    print(
        f"{name}: test accuracy {acc:.1%} after {epochs} epochs (last batch loss {loss.item():.4f})"
    )
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    data = load()

    mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    train(
        "mlp",
        mlp,
        torch.optim.SGD(mlp.parameters(), lr=0.1, momentum=0.9),
        data,
        args.epochs,
        (-1, 64),
    )

    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    train("cnn", cnn, torch.optim.Adam(cnn.parameters(), lr=1e-2), data, args.epochs, (-1, 1, 8, 8))


if __name__ == "__main__":
    main()
