"""The worker's allocator settings: large blocks stay mappings of their own, cycles are freed."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
import weakref

import pytest

from image2model import heap

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")

# Frees a 16 MiB block (which makes glibc raise its threshold to 16 MiB), then asks for 8 MiB
# and prints how many blocks are mappings of their own while it is held (mallinfo2.hblks).
PROBE = """
import ctypes, ctypes.util, sys
from image2model import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert heap.keep_large_blocks_mapped()
libc.free(libc.malloc(16 << 20))
before = libc.mallinfo2().hblks
block = libc.malloc(8 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def mapped_blocks_gained(mode: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(run.stdout)


@glibc
def test_a_large_block_stays_a_mapping_after_a_larger_one_was_freed() -> None:
    assert mapped_blocks_gained("default") == 0, "glibc's own behaviour: from the heap"
    assert mapped_blocks_gained("fixed") == 1


def test_give_back_frees_what_only_the_cycle_collector_would() -> None:
    class Mesh:
        pass

    gc.disable()
    try:
        mesh = Mesh()
        mesh.cache = mesh  # type: ignore[attr-defined]
        alive = weakref.ref(mesh)
        del mesh
        assert alive() is not None
        heap.give_back()
        assert alive() is None
    finally:
        gc.enable()
