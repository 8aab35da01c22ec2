"""Keep CPU training's peak memory down: large activation buffers go straight back to the OS.

glibc serves a request of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and unmaps it on
free; smaller ones come from the heap, which keeps freed memory for reuse. The threshold starts at
128 KB but rises (up to 32 MB) every time a mapped block is freed, so after model loading a training
step's activation tensors (several to tens of MB each) land in the heap, where fragmentation makes
the process's resident memory grow to several hundred MB above what the step needs. Fixing the
threshold keeps the largest buffers mapped (glibc still carves a block from a free heap chunk that
fits, so the threshold is fixed before training, when the heap holds only what set-up left). Lower
thresholds save more memory but re-fault more pages each step; benchmark 2 (benchmarks/README.md)
measures both sides.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from functools import cache

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


@cache
def _mallopt() -> Callable[[int, int], int] | None:
    """The C library's ``mallopt`` if it is glibc; None elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl has mallopt as a no-op stub)
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def cap_mmap_threshold(megabytes: int) -> bool:
    """Fix glibc's mmap threshold at ``megabytes`` MB for this process (0: leave it alone).

    Returns True when the threshold was set; False where there is no glibc or ``megabytes`` is 0.
    The setting is process-wide and stays after training (glibc's own adjustment is switched off).
    """
    if megabytes <= 0:
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, megabytes * 1024 * 1024))
    logger.debug("mmap threshold fixed at %d MB: %s", megabytes, ok)
    return ok
