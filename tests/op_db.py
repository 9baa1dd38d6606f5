"""The op table: every OpInfo entry, gathered from the per-module files tests/opdb_*.py.

Each file holds the entries for one ops module (pointwise, reduction, shape, indexing, linalg,
conv, nn, and the registry's own ops in opdb_core.py) so that an op's entry sits next to its
neighbours'. test_ops.py generates every check from `OPS`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

OPS = []
for _path in sorted(Path(__file__).parent.glob("opdb_*.py")):
    OPS += importlib.import_module(_path.stem).OPS
