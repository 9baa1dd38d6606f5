"""The founding documents' programs (shared/conformance) print on ember what they print on torch.

Runs every case through the shared runner, which maps `import torch` to `import ember` (and
torchviz/torchvision to ember.viz/ember.vision) and compares the output token by token with
real torch's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "run.py"
CASES = sorted(p.stem for p in (RUNNER.parent / "cases").glob("*.py"))


@pytest.mark.skipif(not RUNNER.exists(), reason=f"no conformance runner at {RUNNER}")
@pytest.mark.parametrize("case", CASES)
def test_seed_program_matches_torch(case):
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--python", sys.executable, "--only", case, "-v"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conformance: 1/1 passed" in proc.stdout
