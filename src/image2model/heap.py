"""Keep a worker's resident memory at one image's peak, not the sum of its history.

glibc serves blocks of 128 KiB and more from mappings of their own, returned to the system
when freed, but it raises that threshold to the size of every such block freed (up to
32 MiB). After the first image, the matte's activations and the mesh arrays (blocks of a few
MiB each) then come from the heap instead, stay resident when freed, and fragment it: a
worker's peak ratcheted from 364 MB to 526 MB over five photos at 1024 px. Fixing the
threshold at 4 MiB keeps it at 366 MB over six (a lower threshold maps more of the smaller
arrays too, whose page faults cost time for no memory saved).

Meshes (trimesh keeps a reference cycle per mesh) are freed only by the cyclic collector,
which may not run for several images; `give_back` runs it after each task that made or
finished a model and hands the freed heap pages back.

Elsewhere than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt's parameter numbers (malloc.h)."""
LARGE_BLOCK = 4 * 1024 * 1024
"""Blocks this large and larger are mapped; setting any threshold stops glibc raising it."""
TRIM_THRESHOLD = 64 * 1024 * 1024
"""Free space at the heap's top kept for reuse. Fixing the mmap threshold also fixes this
one at its 128 KiB default, which would shrink and regrow the heap around every array;
`give_back` trims it after each task instead."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def keep_large_blocks_mapped(threshold: int = LARGE_BLOCK) -> bool:
    """Serve blocks of `threshold` bytes and more from their own mappings, for good.

    Call once per process, before the work that allocates; the setting survives `fork`.
    False where the C library is not glibc or refuses the value.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )


def give_back() -> None:
    """Collect unreachable cycles now and return the heap's free pages to the system."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
