"""MSI-X: the capability, the vector table and the pending-bit array in a BAR (PCI-CFG-010),
and message delivery with masking (PCI-CFG-011).

A message is a 32-bit write of the entry's data to the entry's address, made as a bus master.
On x86 the address normally lies in the local APIC window; pointing it at guest RAM instead
turns every interrupt into a word the driver can poll, which is how the suite sees interrupts
from a device with no CPU listening (the same trick works on QEMU).
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.pci.errors import BadAccess, BadBar, BusMasterDisabled, OutOfRange
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.pci.regs import (
    CAP_ID_MSIX,
    MSIX_CONTROL,
    MSIX_ENABLE,
    MSIX_ENTRY_ADDR_HI,
    MSIX_ENTRY_ADDR_LO,
    MSIX_ENTRY_CONTROL,
    MSIX_ENTRY_DATA,
    MSIX_ENTRY_MASKED,
    MSIX_ENTRY_SIZE,
    MSIX_FUNCTION_MASK,
    MSIX_TABLE_SIZE_MASK,
)

MAX_VECTORS = 2048


@dataclass
class Entry:
    addr_lo: int = 0
    addr_hi: int = 0
    data: int = 0
    control: int = MSIX_ENTRY_MASKED

    @property
    def address(self) -> int:
        return self.addr_hi << 32 | self.addr_lo

    @property
    def masked(self) -> bool:
        return bool(self.control & MSIX_ENTRY_MASKED)


def _check_table_access(offset: int, size: int, limit: int, what: str) -> None:
    if size not in (4, 8) or offset % size:
        raise BadAccess(f"{what} access of {size} bytes at {offset:#x}: only aligned dword or "
                        f"qword accesses")
    if offset + size > limit:
        raise OutOfRange(f"{what} access at {offset:#x} is outside its {limit} bytes")


class Msix:
    def __init__(self, function: PciFunction, vectors: int, table_bar: int, table_offset: int,
                 pba_bar: int, pba_offset: int) -> None:
        if not 1 <= vectors <= MAX_VECTORS:
            raise BadBar(f"MSI-X with {vectors} vectors (1..{MAX_VECTORS})")
        if table_offset % 8 or pba_offset % 8:
            raise BadBar("MSI-X table and PBA offsets must be 8-byte aligned")
        self.function = function
        self.entries = [Entry() for _ in range(vectors)]
        self.pending: set[int] = set()
        self.sent: list[tuple[int, int, int]] = []  # (vector, address, data), for tests
        body = ((vectors - 1).to_bytes(2, "little")
                + (table_offset | table_bar).to_bytes(4, "little")
                + (pba_offset | pba_bar).to_bytes(4, "little"))
        wmask = (MSIX_ENABLE | MSIX_FUNCTION_MASK).to_bytes(2, "little")
        self.cap = function.config.add_capability(CAP_ID_MSIX, body, wmask)
        function.config.hook(self.cap + MSIX_CONTROL, self.cap + MSIX_CONTROL + 2,
                             on_write=lambda *_: self._deliver_pending())
        function.map(table_bar, table_offset, _Table(self))
        function.map(pba_bar, pba_offset, _Pba(self))
        function.msix = self

    @property
    def vectors(self) -> int:
        return len(self.entries)

    @property
    def control(self) -> int:
        return self.function.config.get(self.cap + MSIX_CONTROL, 2)

    @property
    def enabled(self) -> bool:
        return bool(self.control & MSIX_ENABLE)

    @property
    def function_masked(self) -> bool:
        return bool(self.control & MSIX_FUNCTION_MASK)

    def masked(self, vector: int) -> bool:
        return self.function_masked or self.entries[vector].masked

    def reset(self) -> None:
        """PCI-CFG-010: disabled, function unmasked, every entry masked, nothing pending."""
        control = self.control & MSIX_TABLE_SIZE_MASK
        self.function.config.put(self.cap + MSIX_CONTROL, 2, control)
        self.entries = [Entry() for _ in self.entries]
        self.pending.clear()

    # -- delivery (PCI-CFG-011) ---------------------------------------------------------
    def notify(self, vector: int) -> bool:
        """Signal ``vector``: send its message now, or leave it pending. True if sent."""
        if not 0 <= vector < len(self.entries):
            raise OutOfRange(f"MSI-X vector {vector} of a table of {len(self.entries)}")
        if not self.enabled or self.masked(vector):
            self.pending.add(vector)
            return False
        return self._send(vector)

    def _send(self, vector: int) -> bool:
        entry = self.entries[vector]
        try:
            self.function.dma().write(entry.address, 4, entry.data)
        except BusMasterDisabled:
            self.pending.add(vector)  # PCI-CFG-005: no message without bus mastering
            return False
        self.pending.discard(vector)
        self.sent.append((vector, entry.address, entry.data))
        return True

    def _deliver_pending(self) -> None:
        if not self.enabled:
            return
        for vector in sorted(self.pending):
            if not self.masked(vector):
                self._send(vector)


class _Table:
    def __init__(self, msix: Msix) -> None:
        self.msix = msix

    @property
    def size(self) -> int:
        return MSIX_ENTRY_SIZE * len(self.msix.entries)

    def read(self, offset: int, size: int) -> int:
        _check_table_access(offset, size, self.size, "MSI-X table")
        if size == 8:
            return self.read(offset, 4) | self.read(offset + 4, 4) << 32
        entry = self.msix.entries[offset // MSIX_ENTRY_SIZE]
        field = offset % MSIX_ENTRY_SIZE
        return {MSIX_ENTRY_ADDR_LO: entry.addr_lo, MSIX_ENTRY_ADDR_HI: entry.addr_hi,
                MSIX_ENTRY_DATA: entry.data, MSIX_ENTRY_CONTROL: entry.control}[field]

    def write(self, offset: int, size: int, value: int) -> None:
        _check_table_access(offset, size, self.size, "MSI-X table")
        if not 0 <= value < 1 << (8 * size):
            raise BadAccess(f"value {value:#x} does not fit {size} bytes")
        if size == 8:
            self.write(offset, 4, value & 0xFFFF_FFFF)
            self.write(offset + 4, 4, value >> 32)
            return
        entry = self.msix.entries[offset // MSIX_ENTRY_SIZE]
        field = offset % MSIX_ENTRY_SIZE
        if field == MSIX_ENTRY_ADDR_LO:
            entry.addr_lo = value & ~3  # message addresses are dword aligned
        elif field == MSIX_ENTRY_ADDR_HI:
            entry.addr_hi = value
        elif field == MSIX_ENTRY_DATA:
            entry.data = value
        else:
            entry.control = value & MSIX_ENTRY_MASKED
            self.msix._deliver_pending()


class _Pba:
    def __init__(self, msix: Msix) -> None:
        self.msix = msix

    @property
    def size(self) -> int:
        return 8 * ((len(self.msix.entries) + 63) // 64)

    def read(self, offset: int, size: int) -> int:
        _check_table_access(offset, size, self.size, "MSI-X PBA")
        bits = sum(1 << v for v in self.msix.pending)
        return (bits >> (8 * offset)) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        _check_table_access(offset, size, self.size, "MSI-X PBA")  # read-only: ignored

