"""The suite's own side of a split virtqueue, written by hand so it can also lie.

:class:`HandDriver` writes descriptors and the available ring directly (a hostile driver
writes what no honest one would); :class:`HandDevice` writes used elements directly. Both
work on the same :class:`~virtiospec.conformance.ring.api.RingSetup` as the target.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseFailed
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.reference.access import GuestMemory
from virtiospec.reference.ring.layout import (
    U16,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    SplitLayout,
)

RING_BASE = 0x1000
INDIRECT_AREA = 0x20000
DATA = 0x40000
MEMORY_SIZE = 0x80000


def make_setup(q: int = 8, *, event_idx: bool = False, indirect: bool = False,
               start: int = 0) -> RingSetup:
    """A queue of size ``q`` at RING_BASE in a fresh 512 KiB guest memory."""
    return RingSetup(SplitLayout.packed_at(RING_BASE, q), GuestMemory(MEMORY_SIZE),
                     event_idx=event_idx, indirect=indirect, indirect_area=INDIRECT_AREA,
                     start_index=start)


def buf(n: int, size: int = 64) -> tuple[int, int]:
    """The n-th data buffer of the data area."""
    return DATA + n * 0x100, size


class HandDriver:
    def __init__(self, setup: RingSetup) -> None:
        self.lay: SplitLayout = setup.layout
        self.mem = setup.memory
        self.avail_idx = setup.start_index
        self.last_used = setup.start_index

    def desc(self, i: int, addr: int, length: int, flags: int = 0, nxt: int = 0,
             table: int | None = None) -> None:
        at = self.lay.desc_addr(i, table)
        self.mem.write(at, 8, addr)
        self.mem.write(at + 8, 4, length)
        self.mem.write(at + 12, 2, flags)
        self.mem.write(at + 14, 2, nxt)

    def chain(self, first: int, segments: list[tuple[int, int, bool]],
              table: int | None = None) -> None:
        """Descriptors first, first+1, ... for (addr, len, writable) segments."""
        for k, (addr, length, writable) in enumerate(segments):
            last = k == len(segments) - 1
            self.desc(first + k, addr, length,
                      (VIRTQ_DESC_F_WRITE if writable else 0) | (0 if last else VIRTQ_DESC_F_NEXT),
                      0 if last else first + k + 1, table)

    def publish(self, *heads: int) -> None:
        for head in heads:
            self.mem.write(self.lay.avail_ring(self.lay.slot(self.avail_idx)), 2, head)
            self.avail_idx = (self.avail_idx + 1) & U16
        self.mem.write(self.lay.avail_idx, 2, self.avail_idx)

    def take_used(self) -> list[tuple[int, int]]:
        """Used elements the device published since the last call, as (id, len)."""
        used_idx = self.mem.read(self.lay.used_idx, 2)
        out = []
        while self.last_used != used_idx:
            at = self.lay.used_ring(self.lay.slot(self.last_used))
            out.append((self.mem.read(at, 4), self.mem.read(at + 4, 4)))
            self.last_used = (self.last_used + 1) & U16
        return out


class HandDevice:
    def __init__(self, setup: RingSetup) -> None:
        self.lay = setup.layout
        self.mem = setup.memory
        self.last_avail = setup.start_index
        self.used_idx = setup.start_index

    def pop_heads(self) -> list[int]:
        avail_idx = self.mem.read(self.lay.avail_idx, 2)
        out = []
        while self.last_avail != avail_idx:
            out.append(self.mem.read(self.lay.avail_ring(self.lay.slot(self.last_avail)), 2))
            self.last_avail = (self.last_avail + 1) & U16
        return out

    def read_desc(self, i: int, table: int | None = None) -> tuple[int, int, int, int]:
        at = self.lay.desc_addr(i, table)
        return (self.mem.read(at, 8), self.mem.read(at + 8, 4), self.mem.read(at + 12, 2),
                self.mem.read(at + 14, 2))

    def walk(self, head: int, limit: int = 64) -> list[tuple[int, int, int]]:
        """(addr, len, flags) of a chain the driver under test wrote, following INDIRECT."""
        out: list[tuple[int, int, int]] = []
        table: int | None = None
        index = head
        while len(out) < limit:
            addr, length, flags, nxt = self.read_desc(index, table)
            if flags & 4:
                table, index = addr, 0
                continue
            out.append((addr, length, flags))
            if not flags & VIRTQ_DESC_F_NEXT:
                return out
            index = nxt
        raise CaseFailed(f"the chain of head {head} does not end within {limit} descriptors",
                         expected="a chain ending without NEXT", observed="a longer chain")

    def used(self, *elems: tuple[int, int]) -> None:
        for head, length in elems:
            at = self.lay.used_ring(self.lay.slot(self.used_idx))
            self.mem.write(at, 4, head)
            self.mem.write(at + 4, 4, length)
            self.used_idx = (self.used_idx + 1) & U16
        self.mem.write(self.lay.used_idx, 2, self.used_idx)

