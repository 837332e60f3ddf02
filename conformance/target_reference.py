"""The built-in target: the Python reference of every layer, run straight through."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import cast

from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup, Segment
from virtiospec.conformance.shm.target_reference import ReferenceShmSides
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import (
    Chain,
    PackedDevice,
    PackedDriver,
    SplitDevice,
    SplitDriver,
)


class _DeviceSide:
    """A device-side ring of the reference, each operation run straight through."""

    mem: GuestMemory
    dev: SplitDevice | PackedDevice

    def pop(self) -> Chain | None:
        return run(self.dev.pop(), self.mem)

    def push(self, used: list[tuple[int, int]]) -> None:
        run(self.dev.push(used), self.mem)

    def should_notify(self) -> bool:
        return run(self.dev.should_notify(), self.mem)

    def enable_notify(self) -> bool:
        return run(self.dev.enable_notify(), self.mem)

    def disable_notify(self) -> None:
        run(self.dev.disable_notify(), self.mem)

    @property
    def needs_reset(self) -> bool:
        return self.dev.needs_reset


class _DriverSide:
    """A driver-side ring of the reference, each operation run straight through."""

    mem: GuestMemory
    drv: SplitDriver | PackedDriver

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return run(self.drv.add(out, in_, token), self.mem)

    def kick_prepare(self) -> bool:
        return run(self.drv.kick_prepare(), self.mem)

    def get_used(self) -> tuple[int, int] | None:
        got = run(self.drv.get_used(), self.mem)
        return None if got is None else (cast(int, got[0]), got[1])

    def enable_cb(self) -> bool:
        return run(self.drv.enable_cb(), self.mem)

    def disable_cb(self) -> None:
        run(self.drv.disable_cb(), self.mem)

    @property
    def num_free(self) -> int:
        return self.drv.num_free

    def detach_unused(self) -> list[int]:
        return [cast(int, t) for t in self.drv.detach_unused()]


class ReferenceRingDevice(_DeviceSide):
    dev: SplitDevice

    def __init__(self, setup: RingSetup) -> None:
        self.mem = setup.memory
        self.dev = SplitDevice(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                               indirect=setup.indirect)
        run(self.dev.init(), self.mem)
        self.dev.last_avail = self.dev.used_idx = setup.start_index
        self.mem.write(setup.layout.used_idx, 2, setup.start_index)


class ReferenceRingDriver(_DriverSide):
    drv: SplitDriver

    def __init__(self, setup: RingSetup) -> None:
        self.mem = setup.memory
        self.drv = SplitDriver(setup.layout, event_idx=setup.event_idx,
                               indirect_area=setup.indirect_area if setup.indirect else None,
                               indirect_max=setup.indirect_max)
        run(self.drv.init(), self.mem)
        self.drv.avail_idx = self.drv.last_used = setup.start_index
        self.mem.write(setup.layout.avail_idx, 2, setup.start_index)

    def enable_cb_delayed(self) -> bool:
        return run(self.drv.enable_cb_delayed(), self.mem)


class ReferencePackedDevice(_DeviceSide):
    """The packed-ring device of reference/ring/packed/device.py (spec/ring_packed.md)."""

    def __init__(self, setup: PackedRingSetup) -> None:
        self.mem = setup.memory
        self.dev = PackedDevice(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                                indirect=setup.indirect)
        run(self.dev.init(), self.mem)


class ReferencePackedDriver(_DriverSide):
    """The packed-ring driver of reference/ring/packed/driver.py (spec/ring_packed.md)."""

    drv: PackedDriver

    def __init__(self, setup: PackedRingSetup) -> None:
        self.mem = setup.memory
        self.drv = PackedDriver(setup.layout, event_idx=setup.event_idx,
                                indirect_area=setup.indirect_area if setup.indirect else None,
                                indirect_max=setup.indirect_max)
        run(self.drv.init(), self.mem)

    def kick_data(self) -> int:
        return self.drv.kick_data()


class ReferenceTarget(ReferenceShmSides):  # the shm sides: target_shm_reference.py
    name = "reference"
    sides = ("driver", "device")
    # SplitDriver's layout keeps VIRTIO_F_IN_ORDER's driver rules (RING-SPLIT-016,
    # RING-SPLIT-026: a FIFO free list, tables in order): suites/ring/in_order.py
    ring_in_order = True
    # the Python sides are stepped by nature: the races of suites/ring/stepped.py run them
    ring_stepped = (SplitDriver, SplitDevice)

    def ring_device(self, setup: RingSetup) -> ReferenceRingDevice:
        return ReferenceRingDevice(setup)

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        return ReferenceRingDriver(setup)

    def ring_packed_device(self, setup: PackedRingSetup) -> ReferencePackedDevice:
        return ReferencePackedDevice(setup)

    def ring_packed_driver(self, setup: PackedRingSetup) -> ReferencePackedDriver:
        return ReferencePackedDriver(setup)

    def pci_session(self) -> AbstractContextManager[object]:
        """The in-process machine: our virtio-pci device on our PCI bus (spec/pci.md)."""
        from virtiospec.conformance.suites.virtio_pci.session import reference_session

        return reference_session()


def make(arg: str) -> ReferenceTarget:
    if arg:
        raise ValueError(f"the reference target takes no argument (got {arg!r})")
    return ReferenceTarget()
