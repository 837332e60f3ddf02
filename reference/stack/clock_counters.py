"""Counters of the clock stack that the layers below do not keep themselves: a host that
counts what the driver's CPU does (config cycles, BAR and RAM accesses), and a table writer
and reader that count updates, reads and attempts. They change no access: the same loads and
stores reach memory, in the same order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from virtiospec.reference.access import Op
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.pci.machine import Machine
from virtiospec.reference.pci.regs import CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT
from virtiospec.reference.shm.errors import TableBusy
from virtiospec.reference.shm.table import (
    MAX_ATTEMPTS,
    Snapshot,
    TableLayout,
    TableReader,
    TableWriter,
)


@dataclass
class HostCounters:
    config_reads: int = 0  # config cycles (a data-port access after the address latch)
    config_writes: int = 0
    bar_reads: Counter[int] = field(default_factory=Counter)  # BAR index -> accesses
    bar_writes: Counter[int] = field(default_factory=Counter)
    ram_reads: int = 0
    ram_writes: int = 0
    other: int = 0  # port I/O and MMIO that is neither config nor the function's BARs


class CountingHost:
    """A :class:`~virtiospec.reference.pci.host.Host` over a :class:`Machine` that counts the
    driver's accesses, classifying MMIO by the BAR of ``function`` that holds it."""

    def __init__(self, machine: Machine, function: PciFunction) -> None:
        self.machine = machine
        self.function = function
        self.counters = HostCounters()

    def _bar(self, addr: int) -> int | None:
        for index, spec in self.function.bars.items():
            base = self.function.bar_address(index)
            if spec.is_memory and base and base <= addr < base + spec.size:
                return index
        return None

    def _mem(self, addr: int, write: bool) -> None:
        c = self.counters
        if addr < self.machine.ram.size:
            if write:
                c.ram_writes += 1
            else:
                c.ram_reads += 1
            return
        bar = self._bar(addr)
        if bar is None:
            c.other += 1
        elif write:
            c.bar_writes[bar] += 1
        else:
            c.bar_reads[bar] += 1

    def io_read(self, port: int, size: int) -> int:
        if CONFIG_DATA_PORT <= port < CONFIG_DATA_PORT + 4:
            self.counters.config_reads += 1
        elif port != CONFIG_ADDRESS_PORT:
            self.counters.other += 1
        return self.machine.io_read(port, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        if CONFIG_DATA_PORT <= port < CONFIG_DATA_PORT + 4:
            self.counters.config_writes += 1
        elif port != CONFIG_ADDRESS_PORT:
            self.counters.other += 1
        self.machine.io_write(port, size, value)

    def mem_read(self, addr: int, size: int) -> int:
        self._mem(addr, write=False)
        return self.machine.mem_read(addr, size)

    def mem_write(self, addr: int, size: int, value: int) -> None:
        self._mem(addr, write=True)
        self.machine.mem_write(addr, size, value)

    def read_bytes(self, addr: int, length: int) -> bytes:
        self.counters.ram_reads += 1
        return self.machine.read_bytes(addr, length)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.counters.ram_writes += 1
        self.machine.write_bytes(addr, data)


class CountingWriter(TableWriter):
    """A :class:`TableWriter` that counts its updates."""

    def __init__(self, layout: TableLayout) -> None:
        super().__init__(layout)
        self.updates = 0

    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        self.updates += 1
        yield from super().update(slot, value)


class CountingReader(TableReader):
    """A :class:`TableReader` that counts its reads, its attempts (SHM-TABLE-005) and the reads
    that gave up (SHM-TABLE-011)."""

    def __init__(self, layout: TableLayout, max_attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(layout, max_attempts)
        self.reads = 0
        self.total_attempts = 0
        self.busy = 0

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each read: each one an update that overlapped."""
        return self.total_attempts - self.reads

    def attempt(self, slot: int) -> Op[Snapshot | None]:
        self.total_attempts += 1
        return (yield from super().attempt(slot))

    def read(self, slot: int) -> Op[Snapshot]:
        self.reads += 1
        try:
            return (yield from super().read(slot))
        except TableBusy:
            self.busy += 1
            raise
