"""The device's view of the clock device's shared memory regions (SHM-CLOCK-006).

Each region's bytes are a :class:`~.region.ShmWindow` (reference/stack/region.py, as the
network stack's region), which the driver reaches through the device's shared memory BAR and
whose stores the device type judges first (SHM-CLOCK-010, clock_device.py).

The device reaches the same bytes directly, through :class:`DeviceView`: its own address space
in which region ``shmid`` starts at ``shmid * REGION_SIZE``, so that the reference code of
reference/shm runs on the device side unchanged, as ``Op``\\s, stepped or straight through.
"""

from __future__ import annotations

from collections.abc import Mapping

from virtiospec.reference.shm.errors import RegionOutOfBounds
from virtiospec.reference.stack.clock_numbers import REGION_SIZE
from virtiospec.reference.stack.region import ShmWindow


class DeviceView:
    """The device's address space over its regions: a
    :class:`~virtiospec.reference.access.Memory` in which region ``shmid`` starts at
    ``shmid * REGION_SIZE``. An access that is not inside one region is refused."""

    def __init__(self, regions: Mapping[int, ShmWindow]) -> None:
        self.regions = regions

    @staticmethod
    def base(shmid: int) -> int:
        return shmid * REGION_SIZE

    def _locate(self, addr: int, size: int) -> tuple[ShmWindow, int]:
        backing = self.regions.get(addr // REGION_SIZE)
        offset = addr % REGION_SIZE
        if backing is None or offset + size > backing.size:
            raise RegionOutOfBounds(f"device access of {size} bytes at {addr:#x} is not inside "
                                    "one of its regions")
        return backing, offset

    def read(self, addr: int, size: int) -> int:
        backing, offset = self._locate(addr, size)
        return backing.load(offset, size)

    def write(self, addr: int, size: int, value: int) -> None:
        backing, offset = self._locate(addr, size)
        backing.store(offset, size, value)
