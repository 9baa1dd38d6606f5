"""mlp-step and cnn-step: one training step of small networks, ember vs torch, in one run.

- mlp-step: 784 -> 256 -> 256 -> 10 with ReLU, cross-entropy on a batch of 128, backward, SGD.
- cnn-step: batch 32 x 1 x 28 x 28, conv3x3(1->8, pad 1) + ReLU + maxpool2, conv3x3(8->16, pad 1)
  + ReLU + maxpool2, flatten, linear 784 -> 10, cross-entropy, backward, SGD.

The same PyTorch-style code runs on both libraries, each in its own subprocess (torch with 2
threads): warm-up, then repeated ~0.3 s trials; the median time per step counts. Before timing,
the first step's loss is compared between the two libraries from identical weights.

    python bench/nn_steps.py [--trials 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
lib, workload, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
if lib == "torch":
    import torch as m
    m.set_num_threads(2)
else:
    import ember as m
nn, F = m.nn, m.nn.functional
rng = np.random.default_rng(0)

def param(*shape, scale):
    return m.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))

if workload == "mlp":
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    x = m.from_numpy(rng.standard_normal((128, 784)).astype(np.float32))
    y = m.from_numpy(rng.integers(0, 10, 128))
else:
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(784, 10))
    x = m.from_numpy(rng.standard_normal((32, 1, 28, 28)).astype(np.float32))
    y = m.from_numpy(rng.integers(0, 10, 32))
with m.no_grad():
    for p in model.parameters():
        p.copy_(param(*p.shape, scale=0.05))
opt = m.optim.SGD(model.parameters(), lr=0.01)

def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss

first = step().item()
for _ in range(5):
    step()
times = []
for _ in range(trials):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        step()
        n += 1
    times.append((time.perf_counter() - t0) / n)
print(json.dumps({"loss": first, "times": times}))
"""


def measure(lib: str, workload: str, trials: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, lib, workload, str(trials)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=9)
    args = ap.parse_args()
    for workload in ("mlp", "cnn"):
        res = {lib: measure(lib, workload, args.trials) for lib in ("torch", "ember")}
        lt, le = res["torch"]["loss"], res["ember"]["loss"]
        assert abs(lt - le) <= 1e-4 * max(1.0, abs(lt)), f"losses differ: {lt} vs {le}"
        med = {lib: statistics.median(r["times"]) * 1e3 for lib, r in res.items()}
        print(
            f"{workload}-step: torch {med['torch']:.2f} ms, ember {med['ember']:.2f} ms, "
            f"ratio {med['ember'] / med['torch']:.2f}x (first loss {le:.5f})"
        )


if __name__ == "__main__":
    main()
