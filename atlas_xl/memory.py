"""Process memory settings for the headless job (`atlas-xl`), not for the engines.

Why: a daily run allocates and frees hundreds of column arrays of 3.65 M rows (29-58 MB each). glibc serves
blocks above its mmap threshold (at most 32 MiB by default) with fresh mmap() pages and unmaps them on free,
so the next array pays a page fault and a zeroing for every 4 KiB again: ~1.5 s of a 10,000-client run's load
phase in a fresh process, and the reason the same load ran twice as fast the second time in one process.
Raising the thresholds keeps freed blocks in the heap for reuse. The cost is that freed memory stays
reserved until the process ends (peak RSS ~1.4 -> ~1.6 GiB at 10,000 clients; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt(3) parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 256 << 20  # blocks up to 256 MiB come from the reusable heap
TRIM_THRESHOLD = 1 << 30  # give the heap's free top back to the system only past 1 GiB
TOP_PAD = 64 << 20  # grow the heap 64 MiB beyond each request: fewer brk() calls


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed large blocks instead of unmapping them; True when it took the settings.

    A no-op (False) where the C library is not glibc (macOS, Windows, musl): those allocators decide alone.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD)))
