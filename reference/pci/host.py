"""What a driver's CPU can do to a machine: port I/O, physical memory reads and writes (RAM
and MMIO alike), and bulk copies to and from RAM.

Two hosts implement it: :class:`~virtiospec.reference.pci.machine.Machine` (the in-process
PC with our devices) and ``conformance.qtest.QtestHost`` (QEMU through its qtest protocol).
The driver code in ``reference/virtio_pci`` only ever sees this protocol.
"""

from __future__ import annotations

from typing import Protocol


class Host(Protocol):
    def io_read(self, port: int, size: int) -> int: ...
    def io_write(self, port: int, size: int, value: int) -> None: ...
    def mem_read(self, addr: int, size: int) -> int: ...
    def mem_write(self, addr: int, size: int, value: int) -> None: ...
    def read_bytes(self, addr: int, length: int) -> bytes: ...
    def write_bytes(self, addr: int, data: bytes) -> None: ...


class PhysMemory:
    """Physical memory of a host as a :class:`~virtiospec.reference.access.Memory`, so that
    ``access.run`` executes ring and register operations on it."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, addr: int, size: int) -> int:
        return self.host.mem_read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        self.host.mem_write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self.host.read_bytes(addr, size)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.host.write_bytes(addr, data)
