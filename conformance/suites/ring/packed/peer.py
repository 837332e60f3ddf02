"""The suite's own side of a packed virtqueue, written by hand so it can also lie.

:class:`PackedHandDriver` writes descriptors straight into the ring (a hostile driver writes
what no honest one would); :class:`PackedHandDevice` reads lists and writes used descriptors
straight into it. Both work on the same :class:`~virtiospec.conformance.ring.api.PackedRingSetup`
as the target, keep their own positions and wrap bits (RING-PACKED-012) and follow
spec/ring_packed.md independently of ``reference/ring/packed_*.py``. No cases live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtiospec.conformance.cases import CaseFailed
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.ring.peer import DATA, INDIRECT_AREA, MEMORY_SIZE, RING_BASE, buf
from virtiospec.reference.access import GuestMemory
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
    PackedLayout,
)

__all__ = ["DATA", "PackedHandDevice", "PackedHandDriver", "buf", "make_packed_setup"]

Elem = tuple[int, int, bool]  # (addr, len, device-writable)


def make_packed_setup(q: int = 8, *, event_idx: bool = False,
                      indirect: bool = False) -> PackedRingSetup:
    """A fresh packed queue of size ``q`` at RING_BASE in a 512 KiB guest memory."""
    return PackedRingSetup(PackedLayout.packed_at(RING_BASE, q), GuestMemory(MEMORY_SIZE),
                           event_idx=event_idx, indirect=indirect, indirect_area=INDIRECT_AREA)


def _step(q: int, pos: int, wrap: int) -> tuple[int, int]:
    return (0, wrap ^ 1) if pos + 1 == q else (pos + 1, wrap)


def _avail(wrap: int) -> int:
    return VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED


class _Peer:
    def __init__(self, setup: PackedRingSetup) -> None:
        self.lay: PackedLayout = setup.layout
        self.mem = setup.memory
        self.q = setup.layout.size

    def read_desc(self, pos: int, table: int | None = None) -> tuple[int, int, int, int]:
        """(addr, len, id, flags) of ring descriptor ``pos`` (or table entry ``pos``)."""
        at = self.lay.desc_addr(pos, table)
        return (self.mem.read(at, 8), self.mem.read(at + 8, 4), self.mem.read(at + 12, 2),
                self.mem.read(at + 14, 2))

    def write_desc(self, pos: int, addr: int, length: int, buf_id: int, flags: int,
                   table: int | None = None) -> None:
        at = self.lay.desc_addr(pos, table)
        self.mem.write(at, 8, addr)
        self.mem.write(at + 8, 4, length)
        self.mem.write(at + 12, 2, buf_id)
        self.mem.write(at + 14, 2, flags)

    def event(self, which: str) -> tuple[int, int, int]:
        """(flags, off, wrap) of the ``driver`` or ``device`` event-suppression structure."""
        at = self.lay.driver_event if which == "driver" else self.lay.device_event
        word = self.mem.read(at, 4)
        return word >> 16, word & 0x7FFF, (word >> 15) & 1

    def set_event(self, which: str, flags: int, off: int = 0, wrap: int = 0) -> None:
        at = self.lay.driver_event if which == "driver" else self.lay.device_event
        self.mem.write(at, 4, off | wrap << 15 | flags << 16)


class PackedHandDriver(_Peer):
    """Publishes lists at its own position; ``lie`` lets a case bend any flag."""

    def __init__(self, setup: PackedRingSetup) -> None:
        super().__init__(setup)
        self.next_avail, self.avail_wrap = 0, 1
        self.last_used, self.used_wrap = 0, 1
        self.sizes: dict[int, int] = {}  # buffer ID -> ring descriptors of its list

    def marks(self, k: int = 0) -> int:
        """The available marks of the position ``k`` ahead of the next one."""
        pos, wrap = self.next_avail, self.avail_wrap
        for _ in range(k):
            pos, wrap = _step(self.q, pos, wrap)
        return _avail(wrap)

    def publish(self, buf_id: int, elems: list[Elem], *, table: int | None = None,
                extra: dict[int, int] | None = None, marks: dict[int, int] | None = None,
                ring_flags: int = 0) -> None:
        """Write one list and make it available, its first descriptor's ``flags`` last.
        ``table``: put ``elems`` in an indirect table there and one INDIRECT descriptor in the
        ring. ``extra``: flags OR-ed into descriptor ``k`` of the ring part; ``marks``:
        replace the AVAIL/USED marks of descriptor ``k`` (the lies of a hostile driver);
        ``ring_flags``: OR-ed into the INDIRECT descriptor."""
        extra, marks = extra or {}, marks or {}
        if table is not None:
            for k, (addr, length, w) in enumerate(elems):
                self.write_desc(k, addr, length, 0, VIRTQ_DESC_F_WRITE if w else 0, table)
            ring: list[tuple[int, int, int]] = [(table, 16 * len(elems),
                                                 VIRTQ_DESC_F_INDIRECT | ring_flags)]
        else:
            ring = [(a, n, VIRTQ_DESC_F_WRITE if w else 0) for a, n, w in elems]
        positions = []
        pos, wrap = self.next_avail, self.avail_wrap
        for k, (addr, length, flags) in enumerate(ring):
            flags |= (0 if k == len(ring) - 1 else VIRTQ_DESC_F_NEXT) | extra.get(k, 0)
            flags = (flags & ~MARKS) | marks.get(k, _avail(wrap))
            positions.append((pos, flags))
            at = self.lay.desc_addr(pos)
            self.mem.write(at, 8, addr)
            self.mem.write(at + 8, 4, length)
            self.mem.write(at + 12, 2, buf_id)
            if k:
                self.mem.write(at + 14, 2, flags)
            pos, wrap = _step(self.q, pos, wrap)
        self.mem.write(self.lay.desc_addr(positions[0][0]) + 14, 2, positions[0][1])
        self.next_avail, self.avail_wrap = pos, wrap
        self.sizes[buf_id] = len(ring)

    def take_used(self) -> list[tuple[int, int, int]]:
        """Used descriptors the device wrote since the last call, as (id, len, flags);
        each skips the descriptors of its list (RING-PACKED-026)."""
        out: list[tuple[int, int, int]] = []
        while True:
            _, length, buf_id, flags = self.read_desc(self.last_used)
            wrap = self.used_wrap
            if bool(flags & VIRTQ_DESC_F_AVAIL) != bool(wrap) or \
                    bool(flags & VIRTQ_DESC_F_USED) != bool(wrap):
                return out
            out.append((buf_id, length, flags))
            n = self.sizes.pop(buf_id, None)
            if n is None:
                raise CaseFailed(f"used descriptor at {self.last_used} names ID {buf_id}, "
                                 "which was not made available", expected="an outstanding ID",
                                 observed=str(buf_id))
            for _ in range(n):
                self.last_used, self.used_wrap = _step(self.q, self.last_used, self.used_wrap)


@dataclass
class HandList:
    """A list the hand device took: its buffer ID, elements in order, ring descriptors."""

    id: int
    elems: list[tuple[int, int, int]] = field(default_factory=list)  # (addr, len, flags)
    ndesc: int = 0


class PackedHandDevice(_Peer):
    """Takes lists the driver under test made available; writes used descriptors, honest
    or not."""

    def __init__(self, setup: PackedRingSetup) -> None:
        super().__init__(setup)
        self.last_avail, self.avail_wrap = 0, 1
        self.used_pos, self.used_wrap = 0, 1
        self.held: dict[int, int] = {}  # buffer ID -> ring descriptors

    def _available(self, pos: int, wrap: int) -> bool:
        flags = self.read_desc(pos)[3]
        return (bool(flags & VIRTQ_DESC_F_AVAIL) == bool(wrap)
                and bool(flags & VIRTQ_DESC_F_USED) != bool(wrap))

    def pop_all(self) -> list[HandList]:
        """Every list available now, in ring order, indirect tables expanded."""
        out = []
        while self._available(self.last_avail, self.avail_wrap):
            pos, wrap = self.last_avail, self.avail_wrap
            got = HandList(-1)
            for _ in range(self.q):
                if not self._available(pos, wrap):
                    raise CaseFailed(f"descriptor {pos} of a list is not available",
                                     expected="every descriptor of a list available "
                                     "(RING-PACKED-035)", observed=f"flags "
                                     f"{self.read_desc(pos)[3]:#06x}")
                addr, length, buf_id, flags = self.read_desc(pos)
                got.ndesc += 1
                pos, wrap = _step(self.q, pos, wrap)
                if flags & VIRTQ_DESC_F_INDIRECT:
                    got.elems += [(a, n, f) for a, n, _, f in
                                  (self.read_desc(k, addr) for k in range(length // 16))]
                    got.id = buf_id
                    break
                got.elems.append((addr, length, flags & ~MARKS))
                if not flags & VIRTQ_DESC_F_NEXT:
                    got.id = buf_id
                    break
            else:
                raise CaseFailed("a list does not end within Q descriptors",
                                 expected="at most Q descriptors (RING-PACKED-030)",
                                 observed="more")
            self.last_avail, self.avail_wrap = pos, wrap
            self.held[got.id] = got.ndesc
            out.append(got)
        return out

    def used(self, buf_id: int, length: int, *, write: bool | None = None,
             ndesc: int | None = None, marks: int | None = None) -> None:
        """Write a used descriptor at the used position and skip the list's descriptors.
        ``write``: the WRITE flag (default: ``length > 0``); ``ndesc`` and ``marks`` let a
        hostile device lie about the skip and the marks."""
        n = ndesc if ndesc is not None else self.held.pop(buf_id, 1)
        flags = (MARKS if self.used_wrap else 0) if marks is None else marks
        if write if write is not None else length > 0:
            flags |= VIRTQ_DESC_F_WRITE
        at = self.lay.desc_addr(self.used_pos)
        self.mem.write(at + 12, 2, buf_id)
        self.mem.write(at + 8, 4, length)
        self.mem.write(at + 14, 2, flags)
        for _ in range(n):
            self.used_pos, self.used_wrap = _step(self.q, self.used_pos, self.used_wrap)
