"""Bus 0 of a PC: its functions, configuration mechanism #1 on ports 0xCF8/0xCFC, and the
routing of memory and I/O accesses to the function whose BAR decodes them.

A config read of a function that is not there returns all ones (PCI-CFG-001); an access no
function claims returns ``None`` here and the machine turns it into all ones (master abort).
"""

from __future__ import annotations

from virtiospec.reference.pci.config import check_config_access
from virtiospec.reference.pci.errors import BadAccess, SlotTaken
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.pci.regs import (
    ALL_ONES,
    CONFIG_ADDRESS_PORT,
    CONFIG_DATA_PORT,
    decode_config_address,
)


class PciBus:
    def __init__(self) -> None:
        self.functions: dict[tuple[int, int], PciFunction] = {}
        self.config_address = 0  # the latch behind port 0xCF8

    def plug(self, dev: int, fn: int, function: PciFunction) -> None:
        if not (0 <= dev < 32 and 0 <= fn < 8):
            raise SlotTaken(f"no slot {dev:02x}.{fn} on a PCI bus")
        if (dev, fn) in self.functions:
            raise SlotTaken(f"slot {dev:02x}.{fn} is taken")
        self.functions[(dev, fn)] = function

    # -- config cycles ------------------------------------------------------------------
    def config_read(self, bus: int, dev: int, fn: int, offset: int, size: int) -> int:
        check_config_access(offset, size)
        function = self.functions.get((dev, fn)) if bus == 0 else None
        if function is None:
            return ALL_ONES[size]
        return function.config.read(offset, size)

    def config_write(self, bus: int, dev: int, fn: int, offset: int, size: int,
                     value: int) -> None:
        check_config_access(offset, size, value)
        function = self.functions.get((dev, fn)) if bus == 0 else None
        if function is not None:
            function.config.write(offset, size, value)

    # -- configuration mechanism #1 (PCI-CFG-001) -----------------------------------------
    def _data_port(self, port: int, size: int) -> tuple[int, int, int, int] | None:
        """(bus, dev, fn, register) for an access to 0xCFC..0xCFF, or None if the latch is
        not enabled (then the access is an ordinary, unclaimed I/O access)."""
        n = port - CONFIG_DATA_PORT
        if n % size or n + size > 4:
            raise BadAccess(f"access of {size} bytes at port {port:#x} crosses the config "
                            f"data dword")
        enabled, bus, dev, fn, reg = decode_config_address(self.config_address)
        return (bus, dev, fn, reg + n) if enabled else None

    def io_read(self, port: int, size: int) -> int | None:
        if port == CONFIG_ADDRESS_PORT and size == 4:
            return self.config_address
        if CONFIG_DATA_PORT <= port < CONFIG_DATA_PORT + 4:
            target = self._data_port(port, size)
            return None if target is None else self.config_read(*target, size)
        for function in self.functions.values():
            claim = function.claims(port, size, io=True)
            if claim is not None:
                return function.bar_read(*claim, size)
        return None

    def io_write(self, port: int, size: int, value: int) -> bool:
        if port == CONFIG_ADDRESS_PORT and size == 4:
            self.config_address = value
            return True
        if CONFIG_DATA_PORT <= port < CONFIG_DATA_PORT + 4:
            target = self._data_port(port, size)
            if target is None:
                return False
            self.config_write(*target, size, value)
            return True
        for function in self.functions.values():
            claim = function.claims(port, size, io=True)
            if claim is not None:
                function.bar_write(*claim, size, value)
                return True
        return False

    # -- memory space (PCI-CFG-004) -----------------------------------------------------
    def mem_read(self, addr: int, size: int) -> int | None:
        for function in self.functions.values():
            claim = function.claims(addr, size, io=False)
            if claim is not None:
                return function.bar_read(*claim, size)
        return None

    def mem_write(self, addr: int, size: int, value: int) -> bool:
        for function in self.functions.values():
            claim = function.claims(addr, size, io=False)
            if claim is not None:
                function.bar_write(*claim, size, value)
                return True
        return False
