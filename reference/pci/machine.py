"""An in-process PC: guest RAM from address 0, PCI bus 0 behind configuration mechanism #1,
and the MSI window where interrupt messages land. It is a :class:`~.host.Host`.

Accesses are checked before they happen (PCI-CFG-008): port I/O of 1, 2 or 4 bytes inside the
64 KiB port space; memory accesses of 1, 2, 4 or 8 bytes, naturally aligned outside RAM, never
straddling the end of RAM. An access no function claims is a master abort: reads return all
ones, writes vanish, and :attr:`Machine.master_aborts` counts them.

Functions reach memory through :meth:`device_memory`: RAM, and the MSI window (a write there
is recorded in :attr:`Machine.msi_messages`); nothing else, so a device cannot poke another
device's registers.
"""

from __future__ import annotations

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.pci.bus import PciBus
from virtiospec.reference.pci.errors import BadAccess, OutOfRange
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.pci.regs import ALL_ONES, MSI_WINDOW

PORT_SPACE = 0x1_0000
ADDRESS_SPACE = 1 << 64


def _check(addr: int, size: int, value: int | None, limit: int, sizes: tuple[int, ...],
           what: str) -> None:
    if size not in sizes:
        raise BadAccess(f"{what} access of {size} bytes ({', '.join(map(str, sizes))})")
    if addr < 0 or addr + size > limit:
        raise OutOfRange(f"{what} access of {size} bytes at {addr:#x} is outside [0, {limit:#x})")
    if value is not None and not 0 <= value < 1 << (8 * size):
        raise BadAccess(f"value {value:#x} does not fit {size} bytes")


class DeviceMemory:
    """Memory as a bus master sees it: RAM, plus MSI messages into the MSI window."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    @property
    def size(self) -> int:
        """The end of RAM: buffers and rings must lie below it."""
        return self.machine.ram.size

    def read(self, addr: int, size: int) -> int:
        return self.machine.ram.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        base, length = MSI_WINDOW
        if base <= addr < base + length:
            self.machine.msi_messages.append((addr, value))
            return
        self.machine.ram.write(addr, size, value)


class Machine:
    def __init__(self, ram_size: int = 32 << 20) -> None:
        self.ram = GuestMemory(ram_size)
        self.bus = PciBus()
        self.master_aborts = 0
        self.msi_messages: list[tuple[int, int]] = []
        self._device_memory = DeviceMemory(self)

    def plug(self, dev: int, fn: int, function: PciFunction) -> PciFunction:
        self.bus.plug(dev, fn, function)
        function.memory = self._device_memory
        return function

    # -- port I/O -----------------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        _check(port, size, None, PORT_SPACE, (1, 2, 4), "port")
        value = self.bus.io_read(port, size)
        if value is None:
            self.master_aborts += 1
            return ALL_ONES[size]
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        _check(port, size, value, PORT_SPACE, (1, 2, 4), "port")
        if not self.bus.io_write(port, size, value):
            self.master_aborts += 1

    # -- physical memory ----------------------------------------------------------------
    def _in_ram(self, addr: int, size: int) -> bool:
        if addr < self.ram.size < addr + size:
            raise OutOfRange(f"access of {size} bytes at {addr:#x} straddles the end of RAM")
        return addr + size <= self.ram.size

    def mem_read(self, addr: int, size: int) -> int:
        _check(addr, size, None, ADDRESS_SPACE, (1, 2, 4, 8), "memory")
        if self._in_ram(addr, size):
            return self.ram.read(addr, size)
        if addr % size:
            raise BadAccess(f"MMIO read of {size} bytes at {addr:#x} is not aligned")
        value = self.bus.mem_read(addr, size)
        if value is None:
            self.master_aborts += 1
            return ALL_ONES[size]
        return value

    def mem_write(self, addr: int, size: int, value: int) -> None:
        _check(addr, size, value, ADDRESS_SPACE, (1, 2, 4, 8), "memory")
        if self._in_ram(addr, size):
            self.ram.write(addr, size, value)
            return
        if addr % size:
            raise BadAccess(f"MMIO write of {size} bytes at {addr:#x} is not aligned")
        if not self.bus.mem_write(addr, size, value):
            self.master_aborts += 1

    def read_bytes(self, addr: int, length: int) -> bytes:
        return self.ram.read_bytes(addr, length)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.ram.write_bytes(addr, data)
