"""Shared-memory regions (spec/shm.md, SHM-REGION-*): a device's fixed set of regions, found
through PCI capabilities, and bounds-checked access to each.

A :class:`Region` is addressed by offset (SHM-REGION-006). Its :meth:`Region.load` and
:meth:`Region.store` are operations of the access protocol
(:mod:`virtiospec.reference.access`): they check the access first and yield it only if it
lies inside the region and is naturally aligned, so an access outside a region never reaches
memory, inside the region or elsewhere (SHM-REGION-007, SHM-REGION-008).

Placing signals, tables or rings in a region is what VIRTIO 1.4 forbids its device types to
do (SHM-REGION-009); the devices of this package are defined on virtio-shm, which permits it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise

from virtiospec.reference.access import Op, load, store
from virtiospec.reference.shm.errors import (
    BadCapability,
    BadRegionSet,
    Misaligned,
    RegionOutOfBounds,
    RegionOutsideBar,
    UnknownRegion,
)

PCI_CAP_ID_VNDR = 0x09
VIRTIO_PCI_CAP_SHARED_MEMORY_CFG = 8
CAP64_LEN = 24  # sizeof(struct virtio_pci_cap64)
MAX_BAR = 5
WORD_SIZES = (1, 2, 4, 8)
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Region:
    """``[base, base + length)`` of guest-physical memory, identified by ``shmid``."""

    shmid: int
    base: int
    length: int

    def __post_init__(self) -> None:
        if self.shmid < 0:
            raise BadRegionSet(f"shmid {self.shmid} is negative", "SHM-REGION-001")
        if self.length <= 0:
            raise BadRegionSet(f"region {self.shmid} has length {self.length}")
        if self.base < 0 or self.base + self.length - 1 > U64:
            raise BadRegionSet(f"region {self.shmid} [{self.base:#x}, +{self.length:#x}) is "
                               "outside the 64-bit address space")
        if self.base % 8:
            raise Misaligned(f"region {self.shmid} base {self.base:#x} is not aligned on 8")

    @property
    def end(self) -> int:
        return self.base + self.length

    def address(self, offset: int, size: int) -> int:
        """The guest-physical address of ``size`` bytes at ``offset``, after the checks of
        SHM-REGION-007 (inside) and SHM-REGION-008 (a word, naturally aligned)."""
        if size not in WORD_SIZES:
            raise Misaligned(f"access of {size} bytes is not a word access")
        if offset < 0 or offset + size > self.length:
            raise RegionOutOfBounds(f"access of {size} bytes at offset {offset:#x} is outside "
                                    f"region {self.shmid} of {self.length:#x} bytes")
        if offset % size:
            raise Misaligned(f"access of {size} bytes at offset {offset:#x} of region "
                             f"{self.shmid} is not naturally aligned")
        return self.base + offset

    def contains(self, addr: int, size: int) -> bool:
        """Whether ``[addr, addr + size)`` (guest-physical) lies inside the region."""
        return self.base <= addr and addr + size <= self.end

    def check_span(self, offset: int, length: int, what: str) -> None:
        """A structure of ``length`` bytes at ``offset`` lies inside the region."""
        if offset < 0 or length < 0 or offset + length > self.length:
            raise RegionOutOfBounds(f"{what} [{offset:#x}, +{length:#x}) does not fit region "
                                    f"{self.shmid} of {self.length:#x} bytes")

    def load(self, offset: int, size: int) -> Op[int]:
        addr = self.address(offset, size)
        return (yield from load(addr, size))

    def store(self, offset: int, size: int, value: int) -> Op[None]:
        addr = self.address(offset, size)
        yield from store(addr, size, value)


@dataclass(frozen=True)
class ShmCap:
    """A VIRTIO_PCI_CAP_SHARED_MEMORY_CFG capability (``struct virtio_pci_cap64``,
    SHM-REGION-005): region ``shmid`` at ``offset`` in BAR ``bar``, ``length`` bytes."""

    bar: int
    shmid: int
    offset: int
    length: int

    @classmethod
    def decode(cls, raw: bytes) -> ShmCap:
        """The capability at the start of ``raw`` (PCI configuration space from ``cap_vndr``
        on). Refuses what a driver must ignore (SHM-REGION-005)."""
        if len(raw) < CAP64_LEN:
            raise BadCapability(f"{len(raw)} bytes cannot hold a virtio_pci_cap64")
        vndr, _next, cap_len, cfg_type, bar, shmid = raw[:6]
        if vndr != PCI_CAP_ID_VNDR:
            raise BadCapability(f"cap_vndr {vndr:#x} is not a vendor-specific capability")
        if cfg_type != VIRTIO_PCI_CAP_SHARED_MEMORY_CFG:
            raise BadCapability(f"cfg_type {cfg_type} is not VIRTIO_PCI_CAP_SHARED_MEMORY_CFG")
        if cap_len < CAP64_LEN:
            raise BadCapability(f"cap_len {cap_len} is below {CAP64_LEN}")
        if bar > MAX_BAR:
            raise BadCapability(f"bar {bar} is reserved")
        off_lo, len_lo, off_hi, len_hi = (int.from_bytes(raw[k : k + 4], "little")
                                          for k in (8, 12, 16, 20))
        return cls(bar, shmid, off_hi << 32 | off_lo, len_hi << 32 | len_lo)

    def encode(self, cap_next: int = 0) -> bytes:
        """The 24 bytes of the capability, as a device presents it."""
        head = bytes([PCI_CAP_ID_VNDR, cap_next, CAP64_LEN, VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
                      self.bar, self.shmid, 0, 0])
        words = (self.offset & 0xFFFFFFFF, self.length & 0xFFFFFFFF, self.offset >> 32,
                 self.length >> 32)
        return head + b"".join(w.to_bytes(4, "little") for w in words)


class RegionSet(Mapping[int, Region]):
    """The regions of one device, fixed when the device is set up (SHM-REGION-002): there is
    no way to add, remove or change one afterwards. Identifiers are unique (SHM-REGION-003)
    and regions do not overlap."""

    def __init__(self, regions: Iterable[Region]) -> None:
        by_id: dict[int, Region] = {}
        for region in regions:
            if region.shmid in by_id:
                raise BadRegionSet(f"shmid {region.shmid} is used twice", "SHM-REGION-003")
            by_id[region.shmid] = region
        ordered = sorted(by_id.values(), key=lambda r: r.base)
        for a, b in pairwise(ordered):
            if b.base < a.end:
                raise BadRegionSet(f"regions {a.shmid} and {b.shmid} overlap")
        self._regions = by_id

    @classmethod
    def from_pci(cls, caps: Iterable[ShmCap], bars: Mapping[int, tuple[int, int]]) -> RegionSet:
        """The regions described by ``caps``; ``bars`` maps a BAR number to its
        ``(address, size)``. Each region must lie inside its BAR (SHM-REGION-004)."""
        regions = []
        for cap in caps:
            if cap.bar not in bars:
                raise RegionOutsideBar(f"region {cap.shmid} is in BAR {cap.bar}, which the "
                                       "device does not implement")
            bar_addr, bar_size = bars[cap.bar]
            if cap.offset + cap.length > bar_size:
                raise RegionOutsideBar(
                    f"region {cap.shmid} [{cap.offset:#x}, +{cap.length:#x}) is not inside "
                    f"BAR {cap.bar} of {bar_size:#x} bytes")
            regions.append(Region(cap.shmid, bar_addr + cap.offset, cap.length))
        return cls(regions)

    def __getitem__(self, shmid: int) -> Region:
        try:
            return self._regions[shmid]
        except KeyError:
            raise UnknownRegion(f"the device has no region {shmid}") from None

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._regions))

    def __len__(self) -> int:
        return len(self._regions)
