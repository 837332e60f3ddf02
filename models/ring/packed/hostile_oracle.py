"""The oracles of the packed ring's hostile-peer checks (models/ring/packed/hostile.py),
written from spec/ring_packed.md: each keeps its own copy of a side's positions, wrap bits
and held lists and says what pop or get_used must give, or :class:`Refused` naming the
requirement the input breaks. The device's oracle walks a list descriptor by descriptor in
ring order and reports the first violation it meets, checking, for each descriptor: the bound
of RING-PACKED-080, the marks of RING-PACKED-081 (after the first), the indirect rules of
RING-PACKED-082 (then the table's size against Q), guest memory (RING-PACKED-083), the order
of RING-PACKED-084; and last the buffer ID (RING-PACKED-085).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.packed.layout import (
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    PackedLayout,
)

ITAB = 8  # entries of the scratch indirect table
DATA = 256
INDIRECT_MAX = 4


class Refused(Exception):
    """The oracle's verdict that the input breaks requirement ``req``."""

    def __init__(self, req: str, why: str) -> None:
        super().__init__(f"{req}: {why}")
        self.req = req


def _step(q: int, pos: int, wrap: int) -> tuple[int, int]:
    return (0, wrap ^ 1) if pos + 1 == q else (pos + 1, wrap)


def _avail(flags: int, wrap: int) -> bool:
    """spec/ring_packed.md RING-PACKED-015, read afresh: AVAIL is the lap's bit, USED is not."""
    a, u = (flags >> 7) & 1, (flags >> 15) & 1
    return a == wrap and u != wrap


def _used(flags: int, wrap: int) -> bool:
    return (flags >> 7) & 1 == wrap and (flags >> 15) & 1 == wrap


@dataclass
class Geometry:
    q: int
    lay: PackedLayout
    itab: int
    data: int
    size: int

    @classmethod
    def make(cls, q: int) -> Geometry:
        lay = PackedLayout.packed_at(0, q)
        itab = (lay.end + 15) & ~15
        data = itab + max(ITAB, q * INDIRECT_MAX) * 16
        return cls(q, lay, itab, data, data + DATA)

    def desc(self, g: GuestMemory, at: int) -> tuple[int, int, int, int]:
        return g.read(at, 8), g.read(at + 8, 4), g.read(at + 12, 2), g.read(at + 14, 2)


# -- the oracles ---------------------------------------------------------------------------
@dataclass
class DeviceModel:
    """The device's state as the oracle keeps it."""

    pos: int = 0
    wrap: int = 1
    used_pos: int = 0
    used_wrap: int = 1
    held: dict[int, tuple[int, int]] = field(default_factory=dict)  # ID -> (ndesc, writable)

    @property
    def held_descs(self) -> int:
        return sum(n for n, _ in self.held.values())


def expect_pop(geo: Geometry, g: GuestMemory, m: DeviceModel,
               indirect: bool) -> tuple[Chain, int] | None:
    """What popping must give by spec/ring_packed.md: None, (list, ndesc), or Refused."""
    q = geo.q
    if not _avail(geo.desc(g, geo.lay.desc_addr(m.pos))[3], m.wrap):
        return None
    chain = Chain(-1)
    pos, wrap, n = m.pos, m.wrap, 0

    def element(addr: int, length: int, writable: bool) -> None:
        if addr + length > geo.size:
            raise Refused("RING-PACKED-083", f"[{addr:#x}, +{length:#x}) outside memory")
        if writable:
            chain.writable.append((addr, length))
        elif chain.writable:
            raise Refused("RING-PACKED-084", "readable after writable")
        else:
            chain.readable.append((addr, length))

    while True:
        n += 1
        if m.held_descs + n > q:
            raise Refused("RING-PACKED-080", f"{n} descriptors with {m.held_descs} held")
        addr, length, buf_id, flags = geo.desc(g, geo.lay.desc_addr(pos))
        if n > 1 and not _avail(flags, wrap):
            raise Refused("RING-PACKED-081", f"descriptor {pos} not available")
        if flags & VIRTQ_DESC_F_INDIRECT:
            if not indirect or n > 1 or flags & VIRTQ_DESC_F_NEXT or not length or length % 16:
                raise Refused("RING-PACKED-082", "bad INDIRECT")
            if length // 16 > q:
                raise Refused("RING-PACKED-080", "table longer than Q")
            if addr + length > geo.size:
                raise Refused("RING-PACKED-083", "table outside memory")
            for k in range(length // 16):
                a, ln, _, f = geo.desc(g, addr + 16 * k)
                element(a, ln, bool(f & VIRTQ_DESC_F_WRITE))
            chain.head, ndesc = buf_id, 1
            break
        element(addr, length, bool(flags & VIRTQ_DESC_F_WRITE))
        if not flags & VIRTQ_DESC_F_NEXT:
            chain.head, ndesc = buf_id, n
            break
        pos, wrap = _step(q, pos, wrap)
    if chain.head in m.held:
        raise Refused("RING-PACKED-085", f"ID {chain.head} already held")
    return chain, ndesc


@dataclass
class DriverModel:
    pos: int = 0
    wrap: int = 1
    outstanding: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    # ID -> (token, ndesc, writable)


def expect_get(geo: Geometry, g: GuestMemory, m: DriverModel) -> tuple[int, int, int] | None:
    """What get_used must give: None, (ID, token, len), or Refused (RING-PACKED-086)."""
    _, length, buf_id, flags = geo.desc(g, geo.lay.desc_addr(m.pos))
    if not _used(flags, m.wrap):
        return None
    if buf_id not in m.outstanding:
        raise Refused("RING-PACKED-086", f"ID {buf_id} not outstanding")
    token, _, writable = m.outstanding[buf_id]
    written = length if flags & VIRTQ_DESC_F_WRITE else 0
    if written > writable:
        raise Refused("RING-PACKED-086", f"len {written} > {writable}")
    return buf_id, token, written
