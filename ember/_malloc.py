"""Keep freed multi-MB NumPy buffers in the process instead of returning them to the OS.

glibc's malloc hands every block above 128 KiB back to the kernel on free (mmap/munmap), so a
training step that allocates the same temporaries each time pays thousands of page faults:
measured here, a small CNN step went from 7.1 to 4.7 ms with the thresholds below
(shared/PERF_NOTES.md saw the same on plain NumPy). torch avoids this with its own caching
allocator; ember raises glibc's thresholds once at import. Set EMBER_MALLOC_TUNING=0 to keep the
process's defaults. Other C libraries (musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # blocks below this come from the heap and are reused
_TRIM_THRESHOLD = 64 * 1024 * 1024  # free heap kept before memory is returned to the OS


def tune() -> bool:
    """Raise glibc's mmap/trim thresholds; returns whether it did."""
    if os.environ.get("EMBER_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
