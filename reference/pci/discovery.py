"""The driver's side of PCI: config cycles through ports 0xCF8/0xCFC, scanning bus 0, sizing
and assigning BARs, enabling decoding, walking the capability list.

Everything here works on a :class:`~.host.Host`, so the same code enumerates the in-process
machine and QEMU's q35. Nothing the function reports is trusted: BAR sizes are checked
(PCI-CFG-003) and the capability walk is bounded (PCI-CFG-007).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtiospec.reference.pci.bar import BarKind
from virtiospec.reference.pci.config import check_config_access
from virtiospec.reference.pci.errors import BadBar, BadCapabilityList
from virtiospec.reference.pci.host import Host
from virtiospec.reference.pci.regs import (
    BAR0,
    BAR_COUNT,
    BAR_IO,
    BAR_IO_FLAGS,
    BAR_MEM_64,
    BAR_MEM_FLAGS,
    BAR_MEM_PREFETCH,
    CAPABILITY_POINTER,
    COMMAND,
    CONFIG_ADDRESS_PORT,
    CONFIG_DATA_PORT,
    CONFIG_SPACE_SIZE,
    DEVICE_ID,
    HEADER_END,
    HEADER_MULTI_FUNCTION,
    HEADER_TYPE,
    MAX_CAPABILITIES,
    REVISION_ID,
    STATUS,
    STATUS_CAP_LIST,
    SUBSYSTEM_ID,
    SUBSYSTEM_VENDOR_ID,
    VENDOR_ID,
    config_address,
)


@dataclass(frozen=True, order=True)
class Bdf:
    bus: int
    dev: int
    fn: int

    def __str__(self) -> str:
        return f"{self.bus:02x}:{self.dev:02x}.{self.fn}"


class ConfigMechanism1:
    """Config cycles of a host through ports 0xCF8 (address) and 0xCFC..0xCFF (data)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, bdf: Bdf, offset: int, size: int) -> int:
        check_config_access(offset, size)
        self.host.io_write(CONFIG_ADDRESS_PORT, 4,
                           config_address(bdf.bus, bdf.dev, bdf.fn, offset))
        return self.host.io_read(CONFIG_DATA_PORT + (offset & 3), size)

    def write(self, bdf: Bdf, offset: int, size: int, value: int) -> None:
        check_config_access(offset, size, value)
        self.host.io_write(CONFIG_ADDRESS_PORT, 4,
                           config_address(bdf.bus, bdf.dev, bdf.fn, offset))
        self.host.io_write(CONFIG_DATA_PORT + (offset & 3), size, value)


@dataclass(frozen=True)
class FoundFunction:
    bdf: Bdf
    vendor: int
    device: int
    revision: int
    class_code: int
    subsystem_vendor: int
    subsystem: int


@dataclass
class FoundBar:
    index: int
    kind: BarKind
    size: int
    prefetchable: bool
    address: int = 0

    @property
    def is_memory(self) -> bool:
        return self.kind is not BarKind.IO


def read_function(cfg: ConfigMechanism1, bdf: Bdf) -> FoundFunction | None:
    vendor = cfg.read(bdf, VENDOR_ID, 2)
    if vendor in (0xFFFF, 0x0000):
        return None
    return FoundFunction(bdf, vendor, cfg.read(bdf, DEVICE_ID, 2), cfg.read(bdf, REVISION_ID, 1),
                         cfg.read(bdf, REVISION_ID, 4) >> 8,
                         cfg.read(bdf, SUBSYSTEM_VENDOR_ID, 2), cfg.read(bdf, SUBSYSTEM_ID, 2))


def scan(cfg: ConfigMechanism1, bus: int = 0) -> list[FoundFunction]:
    """Every function on ``bus``: function 0 of each device, and functions 1..7 of a
    multi-function device (PCI-CFG-001, PCI-CFG-002)."""
    found = []
    for dev in range(32):
        first = read_function(cfg, Bdf(bus, dev, 0))
        if first is None:
            continue
        found.append(first)
        if cfg.read(Bdf(bus, dev, 0), HEADER_TYPE, 1) & HEADER_MULTI_FUNCTION:
            for fn in range(1, 8):
                other = read_function(cfg, Bdf(bus, dev, fn))
                if other is not None:
                    found.append(other)
    return found


def size_bars(cfg: ConfigMechanism1, bdf: Bdf) -> list[FoundBar]:
    """Size every BAR by writing all ones with decoding off, then restore it (PCI-CFG-003)."""
    command = cfg.read(bdf, COMMAND, 2)
    cfg.write(bdf, COMMAND, 2, command & ~0x3)  # no decoding while the BARs hold all ones
    out: list[FoundBar] = []
    index = 0
    try:
        while index < BAR_COUNT:
            at = BAR0 + 4 * index
            original = cfg.read(bdf, at, 4)
            cfg.write(bdf, at, 4, 0xFFFF_FFFF)
            probe = cfg.read(bdf, at, 4)
            cfg.write(bdf, at, 4, original)
            if probe & BAR_IO:
                mask = probe & ~BAR_IO_FLAGS & 0xFFFF
                if mask:
                    out.append(FoundBar(index, BarKind.IO, (~mask & 0xFFFF) + 1, False))
                index += 1
                continue
            kind_bits = probe & 0b110
            if kind_bits not in (0, BAR_MEM_64):
                raise BadBar(f"BAR{index} of {bdf} has reserved memory type {kind_bits >> 1}")
            mask = probe & ~BAR_MEM_FLAGS & 0xFFFF_FFFF
            if kind_bits == BAR_MEM_64:
                if index == BAR_COUNT - 1:
                    raise BadBar(f"64-bit BAR5 of {bdf} has no upper half")
                high_at = at + 4
                high_original = cfg.read(bdf, high_at, 4)
                cfg.write(bdf, high_at, 4, 0xFFFF_FFFF)
                mask |= cfg.read(bdf, high_at, 4) << 32
                cfg.write(bdf, high_at, 4, high_original)
                width, kind = 64, BarKind.MEM64
            else:
                width, kind = 32, BarKind.MEM32
            if mask:
                size = (~mask & ((1 << width) - 1)) + 1
                if size & (size - 1) or size < 16:
                    raise BadBar(f"BAR{index} of {bdf} answers mask {mask:#x}: not a power of 2")
                out.append(FoundBar(index, kind, size, bool(probe & BAR_MEM_PREFETCH)))
            index += 2 if kind is BarKind.MEM64 else 1
    finally:
        cfg.write(bdf, COMMAND, 2, command)
    return out


@dataclass
class Window:
    """A range of addresses to hand out: to BARs (each naturally aligned on its size), or to
    rings and buffers in guest RAM."""

    base: int
    size: int
    next: int = field(init=False)

    def __post_init__(self) -> None:
        self.next = self.base

    def allocate(self, size: int, align: int | None = None) -> int:
        """``size`` bytes aligned on ``align`` (default: on ``size``, as a BAR needs)."""
        step = align if align is not None else size
        at = (self.next + step - 1) & ~(step - 1)
        if at + size > self.base + self.size:
            raise BadBar(f"no room for {size:#x} bytes in [{self.base:#x}, +{self.size:#x})")
        self.next = at + size
        return at


def assign_bars(cfg: ConfigMechanism1, bdf: Bdf, bars: list[FoundBar], mmio: Window,
                io: Window | None = None) -> list[FoundBar]:
    """Give every memory BAR (and I/O BAR, if ``io`` is given) an address, largest first."""
    for found in sorted(bars, key=lambda b: -b.size):
        if not found.is_memory and io is None:
            continue
        window = mmio if found.is_memory else io
        assert window is not None
        found.address = window.allocate(found.size)
        if found.kind is BarKind.MEM32 and found.address >> 32:
            raise BadBar(f"32-bit BAR{found.index} cannot sit at {found.address:#x}")
        at = BAR0 + 4 * found.index
        cfg.write(bdf, at, 4, found.address & 0xFFFF_FFFF)
        if found.kind is BarKind.MEM64:
            cfg.write(bdf, at + 4, 4, found.address >> 32)
    return bars


def enable(cfg: ConfigMechanism1, bdf: Bdf, *, memory: bool = True, io: bool = False,
           bus_master: bool = True) -> None:
    """Set the decoding and bus-master bits of the command register (PCI-CFG-004, PCI-CFG-005)."""
    command = cfg.read(bdf, COMMAND, 2) & ~0x7
    command |= (1 if io else 0) | (2 if memory else 0) | (4 if bus_master else 0)
    cfg.write(bdf, COMMAND, 2, command)


def capabilities(cfg: ConfigMechanism1, bdf: Bdf) -> list[tuple[int, int]]:
    """``(offset, id)`` of every capability, in list order, walked with the bounds of
    PCI-CFG-007."""
    if not cfg.read(bdf, STATUS, 2) & STATUS_CAP_LIST:
        return []
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    ptr = cfg.read(bdf, CAPABILITY_POINTER, 1) & ~3
    while ptr:
        if ptr < HEADER_END or ptr > CONFIG_SPACE_SIZE - 4:
            raise BadCapabilityList(f"capability pointer {ptr:#x} of {bdf} is outside "
                                    f"[0x40, 0xfc]", "PCI-CFG-007")
        if ptr in seen:
            raise BadCapabilityList(f"capability list of {bdf} loops at {ptr:#x}", "PCI-CFG-007")
        if len(out) == MAX_CAPABILITIES:
            raise BadCapabilityList(f"more than {MAX_CAPABILITIES} capabilities in {bdf}",
                                    "PCI-CFG-007")
        seen.add(ptr)
        header = cfg.read(bdf, ptr, 2)
        out.append((ptr, header & 0xFF))
        ptr = (header >> 8) & ~3
    return out
