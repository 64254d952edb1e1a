"""Keep freed tensor memory in the process heap (glibc), so the next batch does not fault it in again.

A packed forward allocates and frees tens of MiB of activations per layer (MLP intermediates reach
~100 MiB in a 16K-token batch). With glibc's defaults, large freed blocks go back to the kernel (the
mmap threshold and heap trimming), and the next batch takes page faults to get them back,
zero-filled: 170K-370K minor faults and 0.35-0.73 s of system time per encode of 24 texts on the
0.6B shape at 2 threads (docs/benchmarks.md, "Settled findings").
Three ``mallopt`` calls keep those blocks in the heap, with no new dependency (vLLM's CPU docs
recommend preloading tcmalloc instead).

It is process-wide, so the library never calls it on import: the ``q3embed`` command calls it for its
own process (every verb, the server included). Library users may call it at start-up. Set
``Q3EMBED_MALLOC_TUNING=0`` to keep the C library's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's malloc.h parameter numbers
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's ceiling on 64-bit: blocks up to 32 MiB come from the heap
TRIM_THRESHOLD = 2**31 - 1  # never give the heap's top back (mallopt takes an int)
TOP_PAD = 256 << 20  # grow the heap in 256 MiB steps: fewer brk calls while the first batch warms up
ENV = "Q3EMBED_MALLOC_TUNING"


def keep_freed_memory() -> bool:
    """Apply the three settings; True when glibc took them all (False elsewhere, or when opted out)."""
    if os.environ.get(ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; all three are attempted whatever the first ones return
    results = [mallopt(p, v) for p, v in ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                          (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))]
    return all(r == 1 for r in results)
