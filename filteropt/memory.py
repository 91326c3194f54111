"""Process memory settings that keep torch's CPU work from page-faulting on every call."""

from __future__ import annotations

import ctypes

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum; larger blocks are always mapped afresh
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Ask the C allocator to keep freed memory for reuse instead of returning it to the OS.

    torch on CPU allocates and frees frame-sized buffers on every call. By default glibc maps
    large blocks afresh and trims freed memory back to the OS, so the next call page-faults the
    same memory in again (a 4-frame 576x324 VMAF forward: about 6000 faults and 2.7 ms of
    system time per frame). This sets glibc's mmap threshold to its maximum (32 MiB) and its
    trim threshold to 1 GiB: freed memory stays in the process, up to its peak use.

    Process-wide; the `filteropt` command calls it at start. Returns False where the C library
    has no mallopt (e.g. macOS) or refuses the settings.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library already loaded into this process
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
