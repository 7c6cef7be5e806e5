"""Process memory settings for the headless job (`atlas-xl`), not for the engines.

A daily run at 10,000 clients touches ~1.7 GiB of fresh memory, and how the process gets it from the kernel
costs more than some of the computing. Measured on the benchmark machine, 5 fresh runs each (whole run /
load phase / peak RSS): neither setting 5.1-5.6 s / 2.2-2.4 s / 1.5 GiB; `skip_hugepage_advice` alone
4.5-5.0 s / 1.5-1.9 s / 1.5 GiB; both 4.3-4.9 s / 1.35-1.85 s / 1.7 GiB.

`keep_freed_memory`: the run allocates and frees hundreds of column arrays of 3.65 M rows (29-58 MB each).
glibc serves blocks above its mmap threshold (at most 32 MiB by default) with fresh mmap() pages and unmaps
them on free, so the next array pays a page fault and a zeroing for every 4 KiB again. Raising the
thresholds keeps freed blocks in the heap for reuse; the cost is that freed memory stays reserved until
the process ends (+0.2 GiB peak RSS).
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


def skip_hugepage_advice() -> bool:
    """Stop numpy from asking the kernel for transparent huge pages for large arrays; True if it was asking.

    Why: numpy marks every array of 4 MiB or more MADV_HUGEPAGE. Where the kernel's THP defrag setting is
    `madvise` (a common default) each fault in such an array first tries to compact memory for a 2 MiB page;
    on a machine whose free memory is fragmented, or a VM like the benchmark machine, that attempt fails
    and costs more than the plain 4 KiB faults: touching 1 GiB took 2.3 s instead of 0.42 s there, and the
    10,000-client run 5.1-5.9 s instead of 4.5 s. Plain pages cost at most a few TLB misses elsewhere.
    """
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # a numpy without the switch (it is in 1.20-2.x): nothing to turn off
        return False
    return bool(_set_madvise_hugepage(False))
