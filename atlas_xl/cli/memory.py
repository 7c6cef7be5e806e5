"""Process settings for the headless job (`atlas-xl`): how it takes memory, and how often it collects garbage.

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
import gc
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
        from numpy._core import multiarray
    except ImportError:  # a numpy without the switch (it is in 1.20-2.x): nothing to turn off
        return False
    switch = getattr(multiarray, "_set_madvise_hugepage", None)  # private: numpy's type stubs leave it out
    return switch is not None and bool(switch(False))


# Python's default is 700: with ~400,000 objects from pandas, pyarrow, SQLAlchemy and openpyxl alive, a
# 10,000-client run made ~370 young and 3 full collections (0.14 s) that found next to nothing.
YOUNG_COLLECTION_THRESHOLD = 10_000


def fewer_collections() -> None:
    """Run the cyclic garbage collector less often in the batch job.

    The job's big data lives in numpy and Arrow buffers, freed by reference counting the moment the last
    frame lets go; the collector only ever finds the odd cycle, and each of its passes walks the imported
    libraries' objects. Collecting 14x less often cuts its cost from ~0.14 s to ~0.04 s per 10,000-client run.
    """
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def skip_exit_collections() -> None:
    """Let the interpreter end without walking every object again.

    At exit CPython runs full collections while it tears the modules down; at 10,000 clients they took
    ~0.17 s of pure CPU (perf: gc_collect_main) after the last output was written. Frozen objects are left out of
    every collection; they are still freed by reference counting. Call it only when the process is about
    to end: frozen cycles are never collected.
    """
    gc.freeze()
