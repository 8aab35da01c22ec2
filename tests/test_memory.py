"""cap_mmap_threshold(): large buffers are mapped and unmapped directly, checked with glibc's mallinfo2."""

from __future__ import annotations

import ctypes
import sys

import pytest

from mrlkit.training.memory import _mallopt, cap_mmap_threshold

MB = 1024 * 1024


_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]  # noqa: RUF012


def _mapped_bytes() -> int:
    """Bytes glibc holds in directly mapped blocks right now."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().hblkhd)


glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or _mallopt() is None, reason="glibc only")


@glibc
def test_blocks_above_the_threshold_are_mapped_and_returned_on_free():
    assert cap_mmap_threshold(8) is True
    before = _mapped_bytes()
    big = bytearray(12 * MB)
    assert _mapped_bytes() - before >= 12 * MB  # mapped, not carved from the heap
    del big
    assert _mapped_bytes() - before < 1 * MB  # unmapped on free: back to the OS at once
    small = bytearray(4 * MB)
    assert _mapped_bytes() - before < 1 * MB  # below the threshold: from the heap
    del small


@glibc
def test_the_threshold_stays_fixed_after_a_mapped_block_is_freed():
    # glibc's default would raise the threshold to 12 MB after this free and put the next 10 MB
    # block in the heap; fixed at 8 MB, it is mapped again.
    cap_mmap_threshold(8)
    block = bytearray(12 * MB)
    del block
    before = _mapped_bytes()
    again = bytearray(10 * MB)
    assert _mapped_bytes() - before >= 10 * MB
    del again


def test_zero_leaves_glibc_alone(monkeypatch):
    monkeypatch.setattr("mrlkit.training.memory._mallopt", lambda: pytest.fail("mallopt called"))
    assert cap_mmap_threshold(0) is False
