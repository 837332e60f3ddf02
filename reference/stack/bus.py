"""Bus 0 of the stack's machine, counting the config cycles it carries (PCI-CFG-001).

A config cycle is counted when the bus performs it, whether a function answers or the read
returns all ones; port accesses that are not config cycles are not counted here, nor are
memory accesses (the function that decodes one counts it, see :mod:`.net_function`).
"""

from __future__ import annotations

from virtiospec.reference.pci.bus import PciBus
from virtiospec.reference.pci.machine import Machine
from virtiospec.reference.stack.counters import PciCounters


class CountingBus(PciBus):
    def __init__(self, counters: PciCounters) -> None:
        super().__init__()
        self.counters = counters

    def config_read(self, bus: int, dev: int, fn: int, offset: int, size: int) -> int:
        value = super().config_read(bus, dev, fn, offset, size)
        self.counters.config_reads += 1
        return value

    def config_write(self, bus: int, dev: int, fn: int, offset: int, size: int,
                     value: int) -> None:
        super().config_write(bus, dev, fn, offset, size, value)
        self.counters.config_writes += 1


def counting_machine(ram_size: int, counters: PciCounters) -> Machine:
    """An in-process PC whose bus counts config cycles; plug functions after this."""
    machine = Machine(ram_size)
    machine.bus = CountingBus(counters)
    return machine
