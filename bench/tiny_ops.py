"""tiny-ops: the per-op cost of recording and differentiating small ops, ember vs torch.

Workload (float32): a 16-element vector, 100 x `x = tanh(x * 1.01 + 0.1)`, `sum`, backward.
Each library runs in its own subprocess (warm-up, then repeated trials; the median counts).
Prints microseconds per op (300 recorded ops + sum per step) and ember's ratio to torch.

    python bench/tiny_ops.py [--trials 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time
lib = sys.argv[1]
trials = int(sys.argv[2])
if lib == "torch":
    import torch as m
    m.set_num_threads(int(sys.argv[3]))
else:
    import ember as m
x0 = m.randn(16)
def step():
    x = x0.clone().requires_grad_(True)
    y = x
    for _ in range(100):
        y = (y * 1.01 + 0.1).tanh()
    y.sum().backward()
    return x.grad
for _ in range(20):
    step()
times = []
for _ in range(trials):
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.2:
        step()
        n += 1
    times.append((time.perf_counter() - t0) / n)
print(json.dumps(times))
"""

OPS_PER_STEP = 301  # 100 x (mul, add, tanh) + sum


def measure(lib: str, trials: int, threads: int = 2) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, lib, str(trials), str(threads)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=15)
    args = ap.parse_args()
    results = {}
    for lib in ("torch", "ember"):
        times = measure(lib, args.trials)
        results[lib] = statistics.median(times) / OPS_PER_STEP * 1e6
        best = min(times) / OPS_PER_STEP * 1e6
        print(f"{lib:6s} {results[lib]:6.2f} us/op (best {best:.2f})")
    print(f"ratio ember/torch: {results['ember'] / results['torch']:.2f}x")


if __name__ == "__main__":
    main()
