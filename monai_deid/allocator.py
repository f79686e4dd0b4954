"""Freed memory kept in the process for reuse, so that large arrays made for every file do not fault in fresh pages.

glibc's ``malloc`` serves a request above its mmap threshold (128 KiB at start, raised as such blocks are freed, to
32 MiB at most) with a fresh mapping and unmaps it on ``free``: the next array of that size faults every one of its
pages in again, and the kernel zeroes each. The OCR networks' activations are such arrays, made and freed for every
batch (the recogniser's first convolution on 16 crops 256 columns wide: 34 MB), and so are a cine's views. On this
project's 2-core VM, one warm pass of the pipeline over 18 benchmark files took about 14,000 page faults and 6.6 to
6.9 s; with the thresholds below, under 10 faults and 6.3 to 6.4 s, for 20 MB more resident memory.
"""

from __future__ import annotations

import ctypes
from functools import cache

__all__ = ["keep_freed_memory"]

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Requests up to this size come from the heap; larger ones (a whole long cine) are still mapped and unmapped.
_MMAP_THRESHOLD = 256 << 20
# Free memory at the heap's top kept for reuse, at most.
_TRIM_THRESHOLD = 512 << 20


@cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, once: arrays up to 256 MiB are carved from the heap,
    and up to 512 MiB of freed heap is kept for the next ones instead of being returned to the kernel.

    The memory a process holds then stays near its peak use between files. Outside glibc (musl, macOS, Windows)
    nothing changes.

    Returns:
        whether glibc took both settings.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) & bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
