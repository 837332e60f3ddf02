"""What an shm target provides: the sides of the idempotent table and of shm-signal
(spec/shm.md), and how the suite lays them out, runs and steps them.

A target provides any of these factories (a case whose factory is missing SKIPs):

* ``shm_table_writer(TableSetup) -> TableWriterSide`` -- the suite reads;
* ``shm_table_reader(TableSetup) -> TableReaderSide`` -- the suite writes;
* ``shm_signal_sender(SignalSetup) -> SignalSenderSide`` -- the suite receives;
* ``shm_signal_receiver(SignalSetup) -> SignalReceiverSide`` -- the suite sends;
* ``shm_clock_driver(ClockSetup) -> SteppedClockDriver`` -- a table reader and signal
  receiver together (the clock's driver, SHM-CLOCK-003), stepped only.

A factory builds its side on the setup's region and raises an error whose ``req`` names the
requirement when the layout is refused (SHM-REGION-007, SHM-REGION-008, SHM-TABLE-001,
SHM-SIGNAL-001).
Every side runs whole operations. A side that also offers the ``*_op`` methods of the
``Stepped*`` protocols speaks the access protocol of :mod:`virtiospec.reference.access`: its
operations yield each load, store and barrier, so a case can interleave them with its own
side one access at a time. The Python reference and the stepped build of shm.c do; a
library behind conformance/shm/virtiospec_shm.h runs whole operations only, and the cases order
those deterministically.

Memory: one :class:`ShmMemory` per case, the region at ``base`` inside it. Bytes outside the
region, and the region's bytes outside the structure under test, hold canaries that a case
checks afterwards (SHM-REGION-007, SHM-TABLE-002).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from virtiospec.conformance.cases import CaseFailed
from virtiospec.reference.access import Access, Fence, GuestMemory, Load, Op, Store
from virtiospec.reference.shm import Region, Snapshot, TableLayout
from virtiospec.reference.shm.clock import ClockLayout
from virtiospec.reference.shm.signal import SIGNAL_SIZE, SignalLayout

T = TypeVar("T")

MEMORY_SIZE = 0x300
REGION_BASE = 0x100
REGION_LENGTH = 0x100
OUTSIDE = 0xA5  # every byte of memory outside the region
SPARE = 0x5A  # every byte of the region outside the structure under test
WORD = 4  # every shared word of a table or signal is a le32 (SHM-TABLE-001, SHM-SIGNAL-001)
OP_BUDGET = 1_000  # accesses of any operation but a read; an honest one makes a few dozen


class ShmMemory(GuestMemory):
    """Guest memory for the shm cases: byte-addressed and bounds-checked like
    :class:`~virtiospec.reference.access.GuestMemory`, on a host block aligned on 8, so that a C
    target's pointer to a region is aligned when the region's guest base is (SHM-REGION-008).
    A C target gets :attr:`host_address` (no buffer export: the block lives as long as this
    object, which the C side must keep)."""

    def __init__(self, size: int = MEMORY_SIZE) -> None:
        self._block = (ctypes.c_uint64 * ((size + 7) // 8))()
        self.buf = memoryview(self._block).cast("B")[:size]

    @property
    def host_address(self) -> int:
        """The host address of guest address 0."""
        return ctypes.addressof(self._block)

    def fill(self, start: int, end: int, byte: int) -> None:
        self.check(start, end - start)
        self.buf[start:end] = bytes([byte]) * (end - start)


# -- setups -----------------------------------------------------------------------------------

@dataclass
class ShmSetup:
    """A region ``[base, base + length)`` of the case's memory. The numbers are as the case
    chose them, possibly hostile: the target checks them when it builds its side."""

    memory: ShmMemory = field(default_factory=ShmMemory)
    base: int = REGION_BASE
    length: int = REGION_LENGTH

    def region(self) -> Region:
        return Region(0, self.base, self.length)

    def span(self) -> tuple[int, int]:
        """The structure under test: offset in the region and size in bytes."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Canaries outside the region and in the region around the structure, the structure
        itself all zero (the device is set up)."""
        mem = self.memory
        mem.fill(0, mem.size, OUTSIDE)
        start = max(0, min(self.base, mem.size))
        end = max(start, min(self.base + self.length, mem.size))
        mem.fill(start, end, SPARE)
        offset, size = self.span()
        lo = max(start, min(self.base + offset, end))
        hi = max(lo, min(self.base + offset + size, end))
        mem.fill(lo, hi, 0)

    def addr(self, offset: int) -> int:
        """The guest address of ``offset`` in the region."""
        return self.base + offset


@dataclass
class TableSetup(ShmSetup):
    offset: int = 0x20
    slots: int = 3
    words: int = 3
    max_attempts: int = 8  # the reader's bound (SHM-TABLE-011)

    @property
    def slot_size(self) -> int:
        return WORD * (1 + self.words)

    def span(self) -> tuple[int, int]:
        return self.offset, self.slots * self.slot_size

    def layout(self) -> TableLayout:
        return TableLayout(self.region(), self.offset, self.slots, self.words)

    def seq_addr(self, slot: int) -> int:
        return self.addr(self.offset + slot * self.slot_size)

    def word_addr(self, slot: int, k: int) -> int:
        return self.seq_addr(slot) + WORD * (1 + k)

    def seq(self, slot: int) -> int:
        return self.memory.read(self.seq_addr(slot), WORD)

    def value(self, slot: int) -> tuple[int, ...]:
        return tuple(self.memory.read(self.word_addr(slot, k), WORD) for k in range(self.words))

    def read_budget(self) -> int:
        """Accesses after which a read counts as hung: four times what ``max_attempts``
        attempts of ``words + 4`` accesses make, and some."""
        return 4 * self.max_attempts * (self.words + 4) + 64


@dataclass
class SignalSetup(ShmSetup):
    offset: int = 0x10

    def span(self) -> tuple[int, int]:
        return self.offset, SIGNAL_SIZE

    def layout(self) -> SignalLayout:
        return SignalLayout(self.region(), self.offset)

    @property
    def enabled_addr(self) -> int:
        return self.addr(self.offset)

    @property
    def pending_addr(self) -> int:
        return self.addr(self.offset + 4)


@dataclass
class ClockSetup(ShmSetup):
    """The clock of SHM-CLOCK-001: its signal at ``offset``, a table of one slot of two words
    8 bytes after."""

    offset: int = 0x80
    max_attempts: int = 8

    def span(self) -> tuple[int, int]:
        return self.offset, SIGNAL_SIZE + WORD * 3

    def layout(self) -> ClockLayout:
        return ClockLayout(self.region(), self.offset)

    def table(self) -> TableSetup:
        return TableSetup(self.memory, self.base, self.length, self.offset + SIGNAL_SIZE, 1, 2,
                          self.max_attempts)

    def signal(self) -> SignalSetup:
        return SignalSetup(self.memory, self.base, self.length, self.offset)


# -- what a target's sides do -----------------------------------------------------------------

class TableWriterSide(Protocol):
    def init(self) -> None: ...
    def update(self, slot: int, value: Sequence[int]) -> None: ...


class TableReaderSide(Protocol):
    """``read`` raises an error with ``req`` SHM-TABLE-011 and ``last`` (the last good value,
    a :class:`Snapshot`) when every attempt failed."""

    def read(self, slot: int) -> Snapshot: ...
    def poll(self, slot: int) -> Snapshot | None: ...


class SignalSenderSide(Protocol):
    def inject(self) -> bool: ...


class SignalReceiverSide(Protocol):
    def disable(self) -> None: ...
    def acknowledge(self) -> None: ...
    def enable(self) -> bool: ...
    def pending(self) -> bool: ...


@runtime_checkable
class SteppedTableWriter(Protocol):
    def update_op(self, slot: int, value: Sequence[int]) -> Op[None]: ...


@runtime_checkable
class SteppedTableReader(Protocol):
    def read_op(self, slot: int) -> Op[Snapshot]: ...
    def poll_op(self, slot: int) -> Op[Snapshot | None]: ...


@runtime_checkable
class SteppedSignalSender(Protocol):
    def inject_op(self) -> Op[bool]: ...


@runtime_checkable
class SteppedSignalReceiver(Protocol):
    def disable_op(self) -> Op[None]: ...
    def acknowledge_op(self) -> Op[None]: ...
    def enable_op(self) -> Op[bool]: ...


@runtime_checkable
class SteppedClockDriver(Protocol):
    """Disable, acknowledge, poll slot 0 (SHM-TABLE-012); the new time or None."""

    def service_op(self) -> Op[int | None]: ...
    def wait_prepare_op(self) -> Op[bool]: ...


# -- running and stepping operations ---------------------------------------------------------

class NoAnswer(Exception):
    """An operation made more accesses than any bounded one could: the target is stuck in it
    (the case reports WEDGED)."""


def perform(access: Access, setup: ShmSetup) -> int | None:
    """Apply one access of the target to the case's memory (sequentially consistent), after
    checking it: inside the region (SHM-REGION-007), a naturally aligned le32
    (SHM-REGION-008). A violation is the target's: :class:`CaseFailed`."""
    if isinstance(access, Fence):
        return None
    assert isinstance(access, (Load, Store))
    what = f"{type(access).__name__.lower()} of {access.size} bytes at {access.addr:#x}"
    if not (setup.base <= access.addr and access.addr + access.size <= setup.base + setup.length):
        raise CaseFailed(f"SHM-REGION-007: {what} is outside the region",
                         expected=f"inside [{setup.base:#x}, {setup.base + setup.length:#x})",
                         observed=what)
    if access.size != WORD or access.addr % WORD:
        raise CaseFailed(f"SHM-REGION-008: {what} is not an aligned le32 access",
                         expected="4 bytes at a 4-aligned address", observed=what)
    if isinstance(access, Load):
        return setup.memory.read(access.addr, access.size)
    setup.memory.write(access.addr, access.size, access.value)
    return None


class Stepper(Generic[T]):
    """One operation of a side, advanced one access at a time against the case's memory;
    ``accesses`` records what it did. :meth:`step` raises what the operation raises, and
    :class:`NoAnswer` past ``budget`` accesses."""

    def __init__(self, op: Op[T], setup: ShmSetup, budget: int = OP_BUDGET,
                 what: str = "operation") -> None:
        self.op, self.setup, self.budget, self.what = op, setup, budget, what
        self.accesses: list[Access] = []
        self.done = False
        self.result: T | None = None
        self._answer: int | None = None

    def step(self) -> Access | None:
        """Perform the next access and return it; None once the operation has returned."""
        if self.done:
            return None
        if len(self.accesses) >= self.budget:
            self.op.close()
            raise NoAnswer(f"{self.what} made {self.budget} accesses without returning")
        try:
            access = self.op.send(self._answer)
        except StopIteration as ret:
            self.done, self.result = True, ret.value
            return None
        except BaseException:
            self.done = True
            raise
        self._answer = perform(access, self.setup)
        self.accesses.append(access)
        return access

    def steps(self, n: int) -> None:
        for _ in range(n):
            if self.step() is None:
                return

    def finish(self) -> T:
        while self.step() is not None:
            pass
        return self.result  # type: ignore[return-value]


def run_checked(op: Op[T], setup: ShmSetup, budget: int = OP_BUDGET,
                what: str = "operation") -> T:
    """Run ``op`` to completion with every access checked (:func:`perform`)."""
    return Stepper(op, setup, budget, what).finish()
