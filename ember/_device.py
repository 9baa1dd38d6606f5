"""`ember.device`: ember computes on the CPU only; other devices are refused clearly."""

from __future__ import annotations


class device:
    """A device description; only 'cpu' exists (`device('cpu')`, `device('cpu', 0)`)."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(
                f"device() received an invalid combination of arguments - got ({type!r})"
            )
        kind, _, idx = type.partition(":")
        if kind != "cpu":
            raise RuntimeError(
                f"ember runs on the CPU only: device {type!r} is not available "
                "(use device='cpu' or leave it out)"
            )
        self.type = "cpu"
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        if self.index is None:
            return "device(type='cpu')"
        return f"device(type='cpu', index={self.index})"

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def check_device(d: object) -> None:
    """Accept None, 'cpu', 'cpu:0' or a cpu device; anything else raises a clear error."""
    if d is not None and not isinstance(d, device):
        device(d)
