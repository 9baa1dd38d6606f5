"""The examples run as a user runs them and reach what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_fit_sine_fits_the_cubic(tmp_path):
    out = run("fit_sine.py", "--out", str(tmp_path / "fit.png"), cwd=tmp_path)
    losses = [float(line.split()[1]) for line in out.splitlines() if re.match(r"\d+ [\d.]+$", line)]
    assert len(losses) == 20 and losses[-1] < 10 < losses[0]
    b, c1, c2, c3 = map(float, re.findall(r"-?\d+\.\d+", out.split("Result:")[1]))
    assert abs(c1 - 0.85) < 0.05 and abs(c3 + 0.092) < 0.01  # sin x ~ 0.85 x - 0.092 x^3
    assert (tmp_path / "fit.png").exists() or "matplotlib is not installed" in out


def test_digits_reaches_the_promised_accuracy(tmp_path):
    out = run("digits.py", cwd=tmp_path)
    acc = dict(re.findall(r"(\w+): test accuracy ([\d.]+)%", out))
    assert float(acc["mlp"]) >= 95.0 and float(acc["cnn"]) >= 97.0, out


def test_finetune_resnet_changes_only_the_head(tmp_path):
    out = run("finetune_resnet.py", "--steps", "2", cwd=tmp_path)
    assert "trainable: ['fc.weight', 'fc.bias']" in out
    assert "parameters that changed: ['fc.weight', 'fc.bias']" in out
