"""Host-memory policy of a training process: keep freed blocks in glibc's heap for reuse.

glibc's ``malloc`` serves every block above its mmap threshold (dynamic, at most 32 MiB on 64-bit) with a fresh
``mmap`` and unmaps it on ``free``. A U-Net activation of a 16-image batch is larger than that from 128² on
(16 x 32 x 256² float32 is 128 MiB), so on CPU every step mapped, zero-filled and page-faulted its activations
again: the default run counted 27.6 million minor page faults, and GSD-Net's knowledge-transfer step at 256² ran
at 0.72 of the bare loop's rate. Raising the mmap and trim thresholds to :data:`RETAINED_BLOCK_BYTES` keeps the
freed memory in the heap, where the next step's tensors reuse it (measured in ``docs/benchmarks.md``).

Only where allocation happens changes, never a value: the numbers a run computes are the same bit for bit.
A user who sets glibc's own malloc variables (:data:`USER_MALLOC_VARIABLES`) keeps them: nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: ``mallopt`` parameters (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and up to this much free memory stays at its top (the largest
#: value ``mallopt``'s int argument takes, 2 GiB - 1).
RETAINED_BLOCK_BYTES = 2**31 - 1
#: Environment variables by which a user configures glibc's malloc; with any of them set, the policy is theirs.
USER_MALLOC_VARIABLES = ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                         "MALLOC_MMAP_MAX_")


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to :data:`RETAINED_BLOCK_BYTES` for this process; returns whether
    they were set (False off glibc, or when the user configured malloc through :data:`USER_MALLOC_VARIABLES`).
    Idempotent."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in USER_MALLOC_VARIABLES):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, RETAINED_BLOCK_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, RETAINED_BLOCK_BYTES))
