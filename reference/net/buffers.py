"""Guest memory as the network layer sees it, and the driver's buffer pools.

The ring code touches ring structures through the access protocol (one yielded access at a
time); frame contents are copied in bulk with ``read_bytes`` / ``write_bytes`` over the
segments of a chain. :class:`ByteMemory` is what both need: a
:class:`~virtiospec.reference.access.GuestMemory` is one, and so is the vhost-user memory table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from virtiospec.reference.access import MemoryError_, Op, T, run
from virtiospec.reference.ring.errors import BufferOutsideMemory

Segment = tuple[int, int]


class ByteMemory(Protocol):
    def read(self, addr: int, size: int) -> int: ...
    def write(self, addr: int, size: int, value: int) -> None: ...
    def read_bytes(self, addr: int, size: int) -> bytes: ...
    def write_bytes(self, addr: int, data: bytes) -> None: ...


def run_op(op: Op[T], mem: ByteMemory) -> T:
    """Run a ring operation; an access outside the memory is the ring's RING-SPLIT-082."""
    try:
        return run(op, mem)
    except MemoryError_ as err:
        raise BufferOutsideMemory(str(err)) from None


def gather(mem: ByteMemory, segments: Sequence[Segment]) -> bytes:
    try:
        return b"".join(mem.read_bytes(addr, n) for addr, n in segments)
    except MemoryError_ as err:
        raise BufferOutsideMemory(str(err)) from None


def scatter(mem: ByteMemory, segments: Sequence[Segment], data: bytes) -> int:
    """Write ``data`` over ``segments`` from the first on; returns the bytes written."""
    done = 0
    try:
        for addr, n in segments:
            if done == len(data):
                break
            piece = data[done:done + n]
            mem.write_bytes(addr, piece)
            done += len(piece)
    except MemoryError_ as err:
        raise BufferOutsideMemory(str(err)) from None
    return done


class BufferPool:
    """Fixed-size buffers carved from ``[base, base + count * size)`` of guest memory."""

    def __init__(self, base: int, size: int, count: int) -> None:
        if size <= 0 or count <= 0:
            raise ValueError("a pool needs a positive buffer size and count")
        self.base, self.size, self.count = base, size, count
        self.free: list[int] = [base + i * size for i in range(count)]
        self.free.reverse()
        self._free = set(self.free)

    @property
    def end(self) -> int:
        return self.base + self.size * self.count

    def alloc(self) -> int | None:
        if not self.free:
            return None
        addr = self.free.pop()
        self._free.discard(addr)
        return addr

    def release(self, addr: int) -> None:
        if not self.base <= addr < self.end or (addr - self.base) % self.size:
            raise ValueError(f"{addr:#x} is not a buffer of this pool")
        if addr in self._free:
            raise ValueError(f"buffer {addr:#x} released twice")
        self.free.append(addr)
        self._free.add(addr)

    @property
    def in_use(self) -> int:
        return self.count - len(self.free)
