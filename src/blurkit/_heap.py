"""Give the C heap's free pages back to the operating system between batches.

Why this exists. A CPU forward pass allocates and frees many tensors of a few
hundred kB to tens of MB. glibc's ``malloc`` serves those under its (dynamic)
mmap threshold from the heap, and a heap fragmented by one batch's tensors keeps
its free pages resident: over thousands of batches the process's *peak* RSS
creeps up although the memory in use stays flat (measured on
``efficientnet_lite0``, batch 64, 224 px, 2 threads: the peak went from 1.92 to
2.0-2.2 GiB over 25-80 forward passes; with ``malloc_trim(0)`` after each pass it
stayed at 1.96 GiB at the same speed; in ``benchmarks/evaluate_scale.py`` the 20k-image
peak fell from 2.52 to 1.99 GiB, ``benchmarks/RESULTS.md``).
PyTorch has no API for this on the CPU (``torch.cuda.empty_cache`` is the
CUDA allocator's), so the one glibc call is made here through :mod:`ctypes`.

``malloc_trim`` only releases pages that are already free; it changes no
allocation and no result. On other C libraries (musl, macOS, Windows) it is
absent and :func:`release_free_heap` does nothing. Set the environment variable
``BLURKIT_MALLOC_TRIM=0`` to turn it off.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

__all__ = ["release_free_heap", "heap_trim_available"]


@cache
def _malloc_trim():
    if os.environ.get("BLURKIT_MALLOC_TRIM", "1").strip() in ("0", "false", "no", "off"):
        return None
    try:
        # the symbols already loaded into this process (its C library among them), not
        # ctypes.util.find_library, which forks a subprocess (ldconfig) to search
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def heap_trim_available() -> bool:
    """Whether :func:`release_free_heap` does anything here (glibc, not turned off)."""
    return _malloc_trim() is not None


def release_free_heap() -> bool:
    """Return the C heap's free pages to the OS (glibc ``malloc_trim(0)``); ``True`` if called."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True
