"""The front-end's memory table (VHOST-USER-003): regions mapped from the file descriptors of
SET_MEM_TABLE, addressed by guest address (descriptors) or user address (ring addresses).

A :class:`MemoryTable` is the network layer's
:class:`~virtiospec.reference.net.buffers.ByteMemory` in guest addresses: an access outside
every region raises :class:`~virtiospec.reference.access.OutOfBounds`, which the ring and net
code turn into RING-SPLIT-082; nothing outside a mapping is ever touched.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from itertools import pairwise

from virtiospec.reference.access import OutOfBounds
from virtiospec.reference.vhost_user.messages import MAX_REGIONS, REGION, ProtocolError


@dataclass(frozen=True)
class Region:
    guest_addr: int
    size: int
    user_addr: int
    mmap_offset: int


def parse_table(payload: bytes) -> list[Region]:
    """The regions of a SET_MEM_TABLE payload: ``u32 nregions, u32 padding, regions[]``."""
    if len(payload) < 8:
        raise ProtocolError(f"SET_MEM_TABLE payload of {len(payload)} bytes")
    n = int.from_bytes(payload[:4], "little")
    if not 1 <= n <= MAX_REGIONS or len(payload) < 8 + n * REGION.size:
        raise ProtocolError(f"SET_MEM_TABLE with {n} regions in {len(payload)} bytes")
    regions = [Region(*REGION.unpack_from(payload, 8 + i * REGION.size)) for i in range(n)]
    for r in regions:
        if r.size == 0 or r.guest_addr + r.size > 1 << 64 or r.user_addr + r.size > 1 << 64:
            raise ProtocolError(f"SET_MEM_TABLE region {r} is empty or wraps")
    return regions


def check_disjoint(regions: list[Region]) -> None:
    """VHOST-USER-008: no two regions share a guest address or a user address."""
    for key in ("guest_addr", "user_addr"):
        spans = sorted((getattr(r, key), getattr(r, key) + r.size) for r in regions)
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                raise ProtocolError(f"SET_MEM_TABLE regions overlap in {key.split('_')[0]} "
                                    f"addresses at {start:#x} (VHOST-USER-008)")


class _Mapped:
    def __init__(self, region: Region, fd: int) -> None:
        self.region = region
        page = mmap.PAGESIZE
        start = region.mmap_offset & ~(page - 1)
        self.skip = region.mmap_offset - start
        self.map = mmap.mmap(fd, region.size + self.skip, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        self.view = memoryview(self.map)[self.skip:self.skip + region.size]
        self.gpa = region.guest_addr
        self.end = region.guest_addr + region.size

    def close(self) -> None:
        self.view.release()
        self.map.close()


class MemoryTable:
    """The mapped regions of the current memory table."""

    def __init__(self) -> None:
        self.maps: list[_Mapped] = []
        self._last: _Mapped | None = None

    def set(self, regions: list[Region], fds: list[int]) -> None:
        """Replace the table: map every region from its fd (the fds are closed after)."""
        if len(fds) != len(regions):
            raise ProtocolError(f"{len(regions)} regions but {len(fds)} file descriptors")
        new: list[_Mapped] = []
        try:
            for region, fd in zip(regions, fds, strict=True):
                new.append(_Mapped(region, fd))
        except (OSError, ValueError) as err:
            for m in new:
                m.close()
            raise ProtocolError(f"cannot map a region: {err}") from None
        finally:
            for fd in fds:
                os.close(fd)
        self.close()
        self.maps = sorted(new, key=lambda m: m.gpa)
        self._last = None

    def close(self) -> None:
        for m in self.maps:
            m.close()
        self.maps = []
        self._last = None

    @property
    def regions(self) -> list[Region]:
        return [m.region for m in self.maps]

    def spans(self) -> list[tuple[int, int, mmap.mmap, int]]:
        """Every region as ``(guest address, size, its mapping, offset of the region in the
        mapping)``, for the C fast path (:mod:`.fast`), which holds an export of each mapping
        while it uses it, so that none is unmapped under it."""
        return [(m.gpa, m.region.size, m.map, m.skip) for m in self.maps]

    @property
    def limit(self) -> int:
        """One past the highest guest address of any region."""
        return max((m.end for m in self.maps), default=0)

    def user_to_guest(self, user_addr: int, size: int = 1) -> int:
        """Translate a user address (SET_VRING_ADDR) to a guest address (VHOST-USER-003)."""
        for m in self.maps:
            r = m.region
            if r.user_addr <= user_addr and user_addr + size <= r.user_addr + r.size:
                return user_addr - r.user_addr + r.guest_addr
        raise OutOfBounds(user_addr, size, 0)

    def _find(self, addr: int, size: int) -> tuple[_Mapped, int]:
        m = self._last
        if m is not None and m.gpa <= addr and addr + size <= m.end:
            return m, addr - m.gpa
        for m in self.maps:
            if m.gpa <= addr and addr + size <= m.end:
                self._last = m
                return m, addr - m.gpa
        raise OutOfBounds(addr, size, self.limit)

    # -- ByteMemory ----------------------------------------------------------------------------
    def read(self, addr: int, size: int) -> int:
        m, off = self._find(addr, size)
        return int.from_bytes(m.view[off:off + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        m, off = self._find(addr, size)
        m.view[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read_bytes(self, addr: int, size: int) -> bytes:
        m, off = self._find(addr, size)
        return bytes(m.view[off:off + size])

    def write_bytes(self, addr: int, data: bytes) -> None:
        m, off = self._find(addr, len(data))
        m.view[off:off + len(data)] = data
