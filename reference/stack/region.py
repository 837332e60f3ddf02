"""The memory of the stack: the device's shared memory region, and each side's view of memory.

The region's bytes live in the device (:class:`ShmWindow`), mapped in its shared memory BAR
(SHM-REGION-004, SHM-REGION-005: the network function maps its one region at offset 0, the
clock device of the clock stack its two, see clock_device.py). The driver reaches them only
through that BAR, with MMIO loads and stores the machine has already checked (PCI-CFG-008);
the device reaches them directly. Before a driver store changes a byte the device judges it
(the rings' parts and signal words have one writer each, SHM-RING-002, SHM-SIGNAL-001; the
clock's table and signals, SHM-CLOCK-010): a refused store changes nothing and breaks the
device (VIRTIO-STATUS-004), as a device cannot fault the CPU's write.

:class:`DeviceMemory` is what the device's network code and rings run on: its region, and
guest RAM as a bus master (PCI-CFG-005) where the driver's buffers are. :class:`HostMemory` is
the driver's: physical memory of the host, RAM and MMIO alike.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.pci.errors import BusMasterDisabled
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.shm.errors import RegionOutOfBounds, ShmError
from virtiospec.reference.stack.counters import RegionCounters

Guard = Callable[[int, int, int], ShmError | None]  # (offset, size, value) -> refusal or None
Refuse = Callable[[ShmError], None]


class ShmWindow:
    """``length`` bytes of device memory holding region ``shmid``, zero at set-up. As a BAR
    region (``size``, ``read``, ``write``) it serves the driver; ``load`` and ``store`` serve
    the device. ``guard`` judges each driver store (a refusal, or None to apply it); a refusal
    goes to ``refuse``. Every access is counted in ``counters``."""

    def __init__(self, shmid: int, length: int, counters: RegionCounters, *,
                 guard: Guard | None = None, refuse: Refuse | None = None) -> None:
        self.shmid = shmid
        self.memory = GuestMemory(length)
        self.counters = counters
        self.guard = guard
        self.refuse = refuse

    @property
    def size(self) -> int:
        return self.memory.size

    # -- the driver, through the BAR (offset and size already inside the region) ----------
    def read(self, offset: int, size: int) -> int:
        c = self.counters
        c.driver_loads += 1
        c.driver_bytes += size
        return self.memory.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        refusal = self.guard(offset, size, value) if self.guard is not None else None
        if refusal is not None:
            self.counters.driver_refused += 1
            self.counters.refused[refusal.req] += 1
            if self.refuse is not None:
                self.refuse(refusal)
            return
        c = self.counters
        c.driver_stores += 1
        c.driver_bytes += size
        self.memory.write(offset, size, value)

    # -- the device, directly (SHM-REGION-007: checked before anything is touched) --------
    def _check(self, offset: int, size: int) -> None:
        if offset < 0 or size <= 0 or offset + size > self.size:
            self.counters.refused[RegionOutOfBounds.req] += 1
            raise RegionOutOfBounds(f"device access of {size} bytes at offset {offset:#x} is "
                                    f"outside region {self.shmid} of {self.size:#x} bytes")

    def load(self, offset: int, size: int) -> int:
        self._check(offset, size)
        c = self.counters
        c.device_loads += 1
        c.device_bytes += size
        return self.memory.read(offset, size)

    def store(self, offset: int, size: int, value: int) -> None:
        self._check(offset, size)
        c = self.counters
        c.device_stores += 1
        c.device_bytes += size
        self.memory.write(offset, size, value)

    def snapshot(self) -> bytes:
        return self.memory.read_bytes(0, self.size)


class DeviceMemory:
    """The device's memory: an access touching its region goes to the region (and must lie
    inside it, SHM-REGION-007); any other goes to guest RAM as a bus master, refused while
    Bus Master Enable is clear (PCI-CFG-005) or outside RAM (RING-SPLIT-082). Nothing else is
    reachable: not another function's registers, not the MSI window."""

    def __init__(self, function: PciFunction, ram: GuestMemory, window: ShmWindow,
                 base: Callable[[], int]) -> None:
        self.function = function
        self.ram = ram
        self.window = window
        self.base = base  # the region's guest-physical address (the BAR may move)

    @property
    def size(self) -> int:
        """The end of guest RAM, where buffers must lie."""
        return self.ram.size

    def _offset(self, addr: int, size: int) -> int | None:
        base = self.base()
        if base and addr < base + self.window.size and base < addr + size:
            return addr - base
        return None

    def _bus_master(self, addr: int, size: int) -> GuestMemory:
        if not self.function.bus_master:
            raise BusMasterDisabled(f"device access of {size} bytes at {addr:#x} with Bus "
                                    "Master Enable clear")
        return self.ram

    def read(self, addr: int, size: int) -> int:
        offset = self._offset(addr, size)
        if offset is not None:
            return self.window.load(offset, size)
        return self._bus_master(addr, size).read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        offset = self._offset(addr, size)
        if offset is not None:
            self.window.store(offset, size, value)
            return
        self._bus_master(addr, size).write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self._bus_master(addr, size).read_bytes(addr, size)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self._bus_master(addr, len(data)).write_bytes(addr, data)


class HostMemory(PhysMemory):
    """The driver's memory: words anywhere in physical memory (RAM or MMIO, so the region
    through its BAR), bytes in RAM (buffers)."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self.host.read_bytes(addr, size)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.host.write_bytes(addr, data)
