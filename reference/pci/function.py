"""A PCI function: its configuration space, its BARs and the registers they map, its view of
memory as a bus master, and its INTx pin.

A function decodes a memory (I/O) access only while the command register enables memory (I/O)
space and the BAR holds a non-zero address (PCI-CFG-004); it reaches memory only while Bus
Master Enable is set (PCI-CFG-005).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from virtiospec.reference.access import Memory
from virtiospec.reference.pci import bar as bars
from virtiospec.reference.pci.bar import BarSpec
from virtiospec.reference.pci.config import ConfigSpace
from virtiospec.reference.pci.errors import BadAccess, BadBar, BusMasterDisabled, OutOfRange
from virtiospec.reference.pci.regs import (
    CLASS_CODE,
    CMD_BUS_MASTER,
    CMD_INTX_DISABLE,
    CMD_IO,
    CMD_MEMORY,
    CMD_WRITABLE,
    COMMAND,
    DEVICE_ID,
    HEADER_MULTI_FUNCTION,
    HEADER_TYPE,
    INTERRUPT_LINE,
    INTERRUPT_PIN,
    REVISION_ID,
    STATUS,
    STATUS_ERRORS_W1C,
    STATUS_INTERRUPT,
    SUBSYSTEM_ID,
    SUBSYSTEM_VENDOR_ID,
    VENDOR_ID,
)

if TYPE_CHECKING:
    from virtiospec.reference.pci.msix import Msix


class Region(Protocol):
    """Registers mapped at some offset of a BAR. Offsets are relative to the region."""

    @property
    def size(self) -> int: ...
    def read(self, offset: int, size: int) -> int: ...
    def write(self, offset: int, size: int, value: int) -> None: ...


@dataclass(frozen=True)
class PciFunctionLines:
    """The lines of :class:`PciFunction` a known-bad variant
    (models/virtio_pci/driver_rule_mutants.py) may turn off; every default is the protocol."""

    decode_gate: bool = True  # claims: no decoding while the command register says off
    #                           (PCI-CFG-004)


class PciFunction:
    lines = PciFunctionLines()

    def __init__(self, *, vendor: int, device: int, class_code: int, revision: int = 0,
                 subsystem_vendor: int = 0, subsystem: int = 0, interrupt_pin: int = 1,
                 multi_function: bool = False) -> None:
        cfg = self.config = ConfigSpace()
        cfg.init(VENDOR_ID, 2, vendor)
        cfg.init(DEVICE_ID, 2, device)
        cfg.init(COMMAND, 2, 0, wmask=CMD_WRITABLE)
        cfg.init(STATUS, 2, 0, w1c=STATUS_ERRORS_W1C)
        cfg.init(REVISION_ID, 1, revision)
        cfg.init(CLASS_CODE, 3, class_code)
        cfg.init(HEADER_TYPE, 1, HEADER_MULTI_FUNCTION if multi_function else 0)
        cfg.init(SUBSYSTEM_VENDOR_ID, 2, subsystem_vendor)
        cfg.init(SUBSYSTEM_ID, 2, subsystem)
        cfg.init(INTERRUPT_LINE, 1, 0, wmask=0xFF)
        cfg.init(INTERRUPT_PIN, 1, interrupt_pin)
        self.bars: dict[int, BarSpec] = {}
        self.regions: dict[int, list[tuple[int, Region]]] = {}
        self.memory: Memory | None = None  # the platform's memory as this function sees it
        self.msix: Msix | None = None
        self.irq_level = False  # the function's own interrupt request (before masking)

    # -- set-up -------------------------------------------------------------------------
    def add_bar(self, spec: BarSpec) -> None:
        taken = {i + k for i, b in self.bars.items() for k in range(b.slots)}
        if {spec.index + k for k in range(spec.slots)} & taken:
            raise BadBar(f"BAR{spec.index} overlaps a BAR already present")
        bars.install(self.config, spec)
        self.bars[spec.index] = spec
        self.regions[spec.index] = []

    def map(self, index: int, offset: int, region: Region) -> None:
        """Map ``region`` at ``offset`` of BAR ``index``; regions never overlap."""
        spec = self.bars.get(index)
        if spec is None:
            raise BadBar(f"no BAR{index} to map a region in")
        if offset < 0 or offset + region.size > spec.size:
            raise BadBar(f"region [{offset:#x}, +{region.size:#x}) is outside BAR{index}")
        for at, other in self.regions[index]:
            if offset < at + other.size and at < offset + region.size:
                raise BadBar(f"region at {offset:#x} overlaps one at {at:#x} in BAR{index}")
        self.regions[index].append((offset, region))

    # -- command register -----------------------------------------------------------------
    @property
    def command(self) -> int:
        return self.config.get(COMMAND, 2)

    @property
    def bus_master(self) -> bool:
        return bool(self.command & CMD_BUS_MASTER)

    def bar_address(self, index: int) -> int:
        return bars.address(self.config, self.bars[index])

    # -- decoding (PCI-CFG-004) -----------------------------------------------------------
    def claims(self, addr: int, size: int, io: bool) -> tuple[int, int] | None:
        """``(bar index, offset)`` if this function decodes the access, else None. An access
        that starts inside a BAR and runs past its end is refused (PCI-CFG-008)."""
        enable = CMD_IO if io else CMD_MEMORY
        if not self.command & enable and self.lines.decode_gate:
            return None
        for index, spec in self.bars.items():
            if spec.is_memory == io:
                continue
            base = bars.address(self.config, spec)
            if base == 0:  # not assigned: not decoded
                continue
            if base <= addr < base + spec.size:
                if addr + size > base + spec.size:
                    raise OutOfRange(f"access of {size} bytes at {addr:#x} crosses the end of "
                                     f"BAR{index} [{base:#x}, +{spec.size:#x})")
                return index, addr - base
        return None

    def _region(self, index: int, offset: int, size: int) -> tuple[int, Region] | None:
        for at, region in self.regions[index]:
            if at <= offset < at + region.size:
                if offset + size > at + region.size:
                    raise BadAccess(f"access of {size} bytes at BAR{index}+{offset:#x} crosses "
                                    f"the end of a register block")
                return at, region
        return None

    def bar_read(self, index: int, offset: int, size: int) -> int:
        found = self._region(index, offset, size)
        if found is None:
            return 0  # a hole inside the BAR: reads as zero
        at, region = found
        return region.read(offset - at, size)

    def bar_write(self, index: int, offset: int, size: int, value: int) -> None:
        found = self._region(index, offset, size)
        if found is not None:
            at, region = found
            region.write(offset - at, size, value)

    # -- bus mastering (PCI-CFG-005) -----------------------------------------------------
    def dma(self) -> Memory:
        """Memory as the function reaches it: only while Bus Master Enable is set."""
        return BusMasterView(self)

    # -- INTx (PCI-CFG-012) ---------------------------------------------------------------
    def set_irq(self, level: bool) -> None:
        self.irq_level = level
        status = self.config.get(STATUS, 2)
        self.config.put(STATUS, 2, (status | STATUS_INTERRUPT) if level
                        else (status & ~STATUS_INTERRUPT))

    @property
    def intx_asserted(self) -> bool:
        msix_on = self.msix is not None and self.msix.enabled
        return self.irq_level and not msix_on and not self.command & CMD_INTX_DISABLE


class BusMasterView:
    """A :class:`~virtiospec.reference.access.Memory` that refuses every access while the
    function's Bus Master Enable is clear."""

    def __init__(self, function: PciFunction) -> None:
        self.function = function

    def _memory(self, addr: int, size: int) -> Memory:
        if not self.function.bus_master:
            raise BusMasterDisabled(f"access of {size} bytes at {addr:#x} with Bus Master "
                                    f"Enable clear")
        if self.function.memory is None:
            raise BusMasterDisabled("the function is not plugged into a machine")
        return self.function.memory

    def read(self, addr: int, size: int) -> int:
        return self._memory(addr, size).read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        self._memory(addr, size).write(addr, size, value)
