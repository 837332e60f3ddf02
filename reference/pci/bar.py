"""Base address registers: their kinds, how a function presents them, how they decode.

Sizing by writing all ones (PCI-CFG-003) falls out of the write masks: only the address bits
at or above the BAR's size are writable, the type bits are read-only, so after all ones are
written the register reads back ``~(size - 1) | type bits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from virtiospec.reference.pci.config import ConfigSpace
from virtiospec.reference.pci.errors import BadBar
from virtiospec.reference.pci.regs import (
    BAR0,
    BAR_COUNT,
    BAR_IO,
    BAR_IO_FLAGS,
    BAR_MEM_64,
    BAR_MEM_FLAGS,
    BAR_MEM_PREFETCH,
)


class BarKind(Enum):
    MEM32 = "mem32"
    MEM64 = "mem64"
    IO = "io"


@dataclass(frozen=True)
class BarSpec:
    index: int
    kind: BarKind
    size: int
    prefetchable: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.index < BAR_COUNT:
            raise BadBar(f"BAR index {self.index} is not 0..5")
        if self.kind is BarKind.MEM64 and self.index == BAR_COUNT - 1:
            raise BadBar("a 64-bit BAR needs the next slot and BAR5 has none")
        least = 4 if self.kind is BarKind.IO else 16
        if self.size < least or self.size & (self.size - 1):
            raise BadBar(f"BAR{self.index} size {self.size:#x} is not a power of 2 >= {least}")
        if self.kind is BarKind.IO and (self.prefetchable or self.size > 256):
            raise BadBar(f"I/O BAR{self.index} is prefetchable or larger than 256 bytes")
        if self.kind is BarKind.MEM32 and self.size > 1 << 31:
            raise BadBar(f"32-bit BAR{self.index} of {self.size:#x} bytes")

    @property
    def flags(self) -> int:
        if self.kind is BarKind.IO:
            return BAR_IO
        return (BAR_MEM_64 if self.kind is BarKind.MEM64 else 0) | (
            BAR_MEM_PREFETCH if self.prefetchable else 0)

    @property
    def is_memory(self) -> bool:
        return self.kind is not BarKind.IO

    @property
    def slots(self) -> int:
        return 2 if self.kind is BarKind.MEM64 else 1


def install(config: ConfigSpace, spec: BarSpec) -> None:
    """Present ``spec`` in configuration space: type bits read-only, address bits writable
    from the size up."""
    at = BAR0 + 4 * spec.index
    low_flags = BAR_IO_FLAGS if spec.kind is BarKind.IO else BAR_MEM_FLAGS
    mask = ~(spec.size - 1) & ~low_flags & 0xFFFF_FFFF
    config.init(at, 4, spec.flags, wmask=mask)
    if spec.kind is BarKind.MEM64:
        high_mask = (~(spec.size - 1) >> 32) & 0xFFFF_FFFF
        config.init(at + 4, 4, 0, wmask=high_mask)


def address(config: ConfigSpace, spec: BarSpec) -> int:
    """The base address currently programmed in the BAR."""
    at = BAR0 + 4 * spec.index
    low = config.get(at, 4)
    if spec.kind is BarKind.IO:
        return low & ~BAR_IO_FLAGS & 0xFFFF_FFFF
    base = low & ~BAR_MEM_FLAGS & 0xFFFF_FFFF
    if spec.kind is BarKind.MEM64:
        base |= config.get(at + 4, 4) << 32
    return base
