"""The shared-memory access protocol.

Every piece of reference code that touches memory shared between driver and device is a
generator of type ``Op[T]``: it yields one :class:`Load`, :class:`Store` or :class:`Fence`
per access, receives the loaded value back from ``send`` (``None`` for stores and fences),
and returns its result. Private state (a driver's free list, shadow indices) lives in plain
Python attributes and is not yielded.

This is what lets one piece of readable code be executed three ways:

* :func:`run` -- straight through, against a :class:`GuestMemory` (normal use);
* stepped one access at a time by the Hypothesis state machines in ``models/``, which
  interleave the two sides and route stores through x86-TSO store buffers;
* the C reference (``reference/ring.c``) exposes the same sequence of accesses through its
  access macros, so the same machines step it.

Values are little-endian unsigned integers of 1, 2, 4 or 8 bytes (RING-SPLIT-004).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

T = TypeVar("T")

FenceKind = Literal["mb", "wmb", "rmb"]


@dataclass(frozen=True, slots=True)
class Load:
    addr: int
    size: int


@dataclass(frozen=True, slots=True)
class Store:
    addr: int
    size: int
    value: int


@dataclass(frozen=True, slots=True)
class Fence:
    """``mb``: full barrier (drains the store buffer); ``wmb``: store-store; ``rmb``: load-load."""

    kind: FenceKind = "mb"


Access = Load | Store | Fence
Op = Generator[Access, int | None, T]


class MemoryError_(Exception):
    """Base of the errors raised for accesses outside a memory or region."""


class OutOfBounds(MemoryError_):
    def __init__(self, addr: int, size: int, limit: int) -> None:
        super().__init__(f"access of {size} bytes at {addr:#x} is outside [0, {limit:#x})")
        self.addr, self.size, self.limit = addr, size, limit


class Memory(Protocol):
    def read(self, addr: int, size: int) -> int: ...
    def write(self, addr: int, size: int, value: int) -> None: ...


class GuestMemory:
    """Byte-addressed guest memory; every access is bounds-checked (RING-SPLIT-082). ``buf``
    is a bytearray here; a subclass may hold any writable byte buffer (a ``memoryview``)."""

    def __init__(self, size: int) -> None:
        self.buf: bytearray | memoryview = bytearray(size)

    @property
    def size(self) -> int:
        return len(self.buf)

    def check(self, addr: int, size: int) -> None:
        if addr < 0 or size < 0 or addr + size > len(self.buf):
            raise OutOfBounds(addr, size, len(self.buf))

    def read(self, addr: int, size: int) -> int:
        self.check(addr, size)
        return int.from_bytes(self.buf[addr : addr + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        self.check(addr, size)
        self.buf[addr : addr + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read_bytes(self, addr: int, size: int) -> bytes:
        self.check(addr, size)
        return bytes(self.buf[addr : addr + size])

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.check(addr, len(data))
        self.buf[addr : addr + len(data)] = data


def run(op: Op[T], mem: Memory) -> T:
    """Execute an operation to completion with sequentially consistent memory."""
    value: int | None = None
    try:
        while True:
            access = op.send(value)
            if isinstance(access, Load):
                value = mem.read(access.addr, access.size)
            elif isinstance(access, Store):
                mem.write(access.addr, access.size, access.value)
                value = None
            else:
                barrier = getattr(mem, "barrier", None)  # a memory that steps its accesses
                if barrier is not None:  # (models/stack/stepping.py) sees the fences too
                    barrier(access.kind)
                value = None
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def load(addr: int, size: int) -> Op[int]:
    value = yield Load(addr, size)
    assert value is not None
    return value


def store(addr: int, size: int, value: int) -> Op[None]:
    yield Store(addr, size, value)


def fence(kind: FenceKind = "mb") -> Op[None]:
    yield Fence(kind)
