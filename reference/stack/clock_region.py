"""The memory behind the clock device's shared memory regions (SHM-CLOCK-006, SHM-CLOCK-010).

One :class:`RegionBacking` per region. The driver reaches it through the device's shared
memory BAR: :meth:`RegionBacking.read` and :meth:`RegionBacking.write` are the BAR region of
reference/pci/function.py, which has already checked that the access lies inside the region;
the machine has checked its alignment. A load is answered anywhere in the region; a store is
first judged by the device type, and one the driver may not make is refused before it changes
a byte (the device then sets DEVICE_NEEDS_RESET).

The device reaches the same bytes directly, through :class:`DeviceView`: its own address space
in which region ``shmid`` starts at ``shmid * REGION_SIZE``, so that the reference code of
reference/shm runs on the device side unchanged, as ``Op``\\s, stepped or straight through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.shm.errors import RegionOutOfBounds, ShmError, WrongWriter
from virtiospec.reference.stack.clock_numbers import REGION_SIZE

Judge = Callable[[int, int, int], str | None]  # (offset, size, value) -> broken requirement
Refuse = Callable[[ShmError], None]


@dataclass
class RegionCounters:
    driver_loads: int = 0
    driver_stores: int = 0
    refused_stores: int = 0
    device_loads: int = 0
    device_stores: int = 0


class RegionBacking:
    """``length`` bytes of device memory holding region ``shmid``, zero at set-up."""

    def __init__(self, shmid: int, length: int, judge: Judge, refuse: Refuse) -> None:
        self.shmid = shmid
        self.memory = GuestMemory(length)
        self.judge = judge
        self.refuse = refuse
        self.counters = RegionCounters()

    @property
    def size(self) -> int:
        return self.memory.size

    # -- the driver, through the BAR -------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self.counters.driver_loads += 1
        return self.memory.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        """A driver store: applied only if the device type allows it (SHM-CLOCK-010). A
        refused store is not an error of the bus: the write completes, nothing changes, and
        the device is told (a device cannot fault the CPU's write)."""
        broken = self.judge(offset, size, value)
        if broken is not None:
            self.counters.refused_stores += 1
            self.refuse(WrongWriter(f"driver store of {value:#x} ({size} bytes) at offset "
                                    f"{offset:#x} of region {self.shmid} refused", broken))
            return
        self.counters.driver_stores += 1
        self.memory.write(offset, size, value)

    # -- the device, directly ------------------------------------------------------------
    def device_read(self, offset: int, size: int) -> int:
        self.counters.device_loads += 1
        return self.memory.read(offset, size)

    def device_write(self, offset: int, size: int, value: int) -> None:
        self.counters.device_stores += 1
        self.memory.write(offset, size, value)

    def snapshot(self) -> bytes:
        return self.memory.read_bytes(0, self.memory.size)


class DeviceView:
    """The device's address space over its regions: a
    :class:`~virtiospec.reference.access.Memory` in which region ``shmid`` starts at
    ``shmid * REGION_SIZE``. An access that is not inside one region is refused."""

    def __init__(self, regions: Mapping[int, RegionBacking]) -> None:
        self.regions = regions

    @staticmethod
    def base(shmid: int) -> int:
        return shmid * REGION_SIZE

    def _locate(self, addr: int, size: int) -> tuple[RegionBacking, int]:
        backing = self.regions.get(addr // REGION_SIZE)
        offset = addr % REGION_SIZE
        if backing is None or offset + size > backing.size:
            raise RegionOutOfBounds(f"device access of {size} bytes at {addr:#x} is not inside "
                                    "one of its regions")
        return backing, offset

    def read(self, addr: int, size: int) -> int:
        backing, offset = self._locate(addr, size)
        return backing.device_read(offset, size)

    def write(self, addr: int, size: int, value: int) -> None:
        backing, offset = self._locate(addr, size)
        backing.device_write(offset, size, value)
