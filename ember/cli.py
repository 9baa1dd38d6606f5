"""The `ember` command line (placeholder until the run/compat tooling lands)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """`ember run script.py [args]` runs a PyTorch script on ember."""
    raise SystemExit("ember: the command line is not available yet")
