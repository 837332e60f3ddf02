"""The oracle of the split ring's hostile-peer checks (models/ring/hostile.py): what popping
and get_used must give, computed from spec/ring.md alone, for ring contents written by a
hostile peer. A verdict is a result, nothing (the ring is empty), or :class:`Refused` naming
the requirement the input breaks (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082,
RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-085, RING-SPLIT-092).
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    U16,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)


class Refused(Exception):
    """The oracle's verdict that the input breaks requirement ``req``."""

    def __init__(self, req: str, why: str) -> None:
        super().__init__(f"{req}: {why}")
        self.req = req


def _desc(g: GuestMemory, at: int) -> tuple[int, int, int, int]:
    return g.read(at, 8), g.read(at + 8, 4), g.read(at + 12, 2), g.read(at + 14, 2)


def expect_pop(g: GuestMemory, lay: SplitLayout, last_avail: int, held: set[int],
               indirect: bool) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]] | None:
    """What popping must give by spec/ring.md: None, (head, readable, writable), or Refused."""
    q = lay.size
    moved = (g.read(lay.avail_idx, 2) - last_avail) & U16
    if moved == 0:
        return None
    if moved > q:
        raise Refused("RING-SPLIT-084", f"avail.idx moved {moved} > Q")
    head = g.read(lay.avail_ring(last_avail % q), 2)
    if head >= q:
        raise Refused("RING-SPLIT-080", f"head {head} >= Q")
    bufs: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    i = head
    table: tuple[int, int, int] | None = None
    while True:  # the chain in the descriptor table
        if i in seen:
            raise Refused("RING-SPLIT-080", f"descriptor {i} revisited")
        seen.add(i)
        addr, length, flags, nxt = _desc(g, lay.desc + DESC_SIZE * i)
        if flags & VIRTQ_DESC_F_INDIRECT:
            table = (addr, length, flags)
            break
        bufs.append((addr, length, flags))
        if len(bufs) > q:
            raise Refused("RING-SPLIT-080", "chain longer than Q")
        if not flags & VIRTQ_DESC_F_NEXT:
            break
        if nxt >= q:
            raise Refused("RING-SPLIT-080", f"next {nxt} >= Q")
        i = nxt
    if table is not None:
        addr, length, flags = table
        if not indirect or flags & VIRTQ_DESC_F_NEXT or length == 0 or length % DESC_SIZE:
            raise Refused("RING-SPLIT-081", "bad indirect descriptor")
        if addr + length > len(g.buf):
            raise Refused("RING-SPLIT-082", "indirect table outside memory")
        n = length // DESC_SIZE
        if len(bufs) + n > q:
            raise Refused("RING-SPLIT-080", "chain with its table longer than Q")
        seen, j = set(), 0
        while True:
            if j in seen:
                raise Refused("RING-SPLIT-080", f"table entry {j} revisited")
            seen.add(j)
            a, ln, fl, nx = _desc(g, addr + DESC_SIZE * j)
            if fl & VIRTQ_DESC_F_INDIRECT:
                raise Refused("RING-SPLIT-081", "INDIRECT inside an indirect table")
            bufs.append((a, ln, fl))
            if not fl & VIRTQ_DESC_F_NEXT:
                break
            if nx >= n:
                raise Refused("RING-SPLIT-080", f"table next {nx} >= {n}")
            j = nx
    readable: list[tuple[int, int]] = []
    writable: list[tuple[int, int]] = []
    for a, ln, fl in bufs:
        if a + ln > len(g.buf):
            raise Refused("RING-SPLIT-082", f"buffer [{a:#x}, +{ln:#x}) outside memory")
        if fl & VIRTQ_DESC_F_WRITE:
            writable.append((a, ln))
        elif writable:
            raise Refused("RING-SPLIT-083", "readable after writable")
        else:
            readable.append((a, ln))
    if head in held:
        raise Refused("RING-SPLIT-092", f"head {head} is already held by the device")
    return head, readable, writable


@dataclass
class Held:
    token: int
    writable: int
    descs: list[int]


def expect_get(g: GuestMemory, lay: SplitLayout, last_used: int, outstanding: int,
               chains: dict[int, Held]) -> tuple[int, int] | None:
    """What get_used must give by spec/ring.md: None, (token, len), or Refused."""
    moved = (g.read(lay.used_idx, 2) - last_used) & U16
    if moved == 0:
        return None
    if moved > outstanding:
        raise Refused("RING-SPLIT-085", f"used.idx moved {moved} > {outstanding} outstanding")
    at = lay.used_ring(last_used % lay.size)
    head, length = g.read(at, 4), g.read(at + 4, 4)
    if head not in chains:
        raise Refused("RING-SPLIT-085", f"id {head} is not outstanding")
    if length > chains[head].writable:
        raise Refused("RING-SPLIT-085", f"len {length} > {chains[head].writable}")
    return chains[head].token, length
