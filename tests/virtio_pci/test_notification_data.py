"""VIRTIO_F_NOTIFICATION_DATA: the pci.virtio.notification-data cases pass on the reference
device and driver, and fail known-bad devices (a notification area that cannot take 32-bit
notifications) and known-bad drivers (data off by one, a 16-bit notification, the index where
the queue's queue_notif_config_data belongs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.virtio_pci.case_driver import CaseDriver, CaseQueue
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession
from virtiospec.reference.access import Op
from virtiospec.reference.net.pci import PciNetDevice as NetDevice
from virtiospec.reference.net.pci_queues import PciQueue
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import PackedLayout
from virtiospec.reference.virtio_pci import VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import F_NOTIFICATION_DATA, bit
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

DEVICE_CASE = "pci.virtio.notification-data"
DRIVER_CASE = "pci.virtio.driver.notification-data"


def _run(case_id: str, target: object) -> cases.Result:
    return runner.run_case(cases.discover()[case_id], target)


class Multiplier2(VirtioPciDevice):
    """Known-bad: offers NOTIFICATION_DATA with notify_off_multiplier 2."""

    def __init__(self, backend: Any, **kw: Any) -> None:
        super().__init__(backend, notify_multiplier=2, **kw)
        backend.features |= bit(F_NOTIFICATION_DATA)


class ShortArea(VirtioPciDevice):
    """Known-bad: the notification area ends 2 bytes after the last queue's address."""

    def __init__(self, backend: Any, **kw: Any) -> None:
        super().__init__(backend, **kw)
        for n, (cfg_type, bar, at, length) in enumerate(self.structures):
            if cfg_type == 2:  # NOTIFY_CFG: shrink the advertised length
                self.structures[n] = (cfg_type, bar, at, length - 2)
        cap = self._notify_cap()
        self.config.put(cap + 12, 4, self.config.get(cap + 12, 4) - 2)

    def _notify_cap(self) -> int:
        at = self.config.get(0x34, 1)
        while at:
            if self.config.get(at, 1) == 0x09 and self.config.get(at + 3, 1) == 2:
                return at
            at = self.config.get(at + 1, 1)
        raise AssertionError("no notify capability")


class BrokenDevice:
    def __init__(self, device_cls: type[VirtioPciDevice]) -> None:
        self.name = f"broken-{device_cls.__name__}"
        self.device_cls = device_cls

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(self.device_cls)


class OffByOne(CaseDriver):
    """Known-bad driver: sends the position of the last buffer it made available, not the
    next one."""

    @staticmethod
    def notify_data(q: PciQueue) -> int:
        return (CaseDriver.notify_data(q) - 1) & 0xFFFF


class IndexNotConfigData(CaseDriver):
    """Known-bad driver: with VIRTIO_F_NOTIF_CONFIG_DATA, still writes the queue index."""

    def setup_queue(self, index: int, vector: int | None, at: int | None = None,
                    buffers: list[int] | None = None) -> CaseQueue:
        q = super().setup_queue(index, vector, at, buffers)
        q.notify_id = index
        return q


class SixteenBit(VirtioPciTransport):
    """Known-bad driver: negotiates the feature, then notifies with the 16-bit index."""

    def notify(self, index: int, addr: int, data: int | None = None) -> Op[None]:
        return super().notify(index, addr, None)


class DriverTarget:
    def __init__(self, driver_cls: type[CaseDriver] = CaseDriver,
                 transport_cls: type[VirtioPciTransport] = VirtioPciTransport) -> None:
        self.name = f"broken-{driver_cls.__name__}-{transport_cls.__name__}"
        self.driver_cls, self.transport_cls = driver_cls, transport_cls

    def pci_net_driver(self, host: Any, transport: VirtioPciTransport, ram: Any,
                       **kw: Any) -> CaseDriver:
        transport.__class__ = self.transport_cls
        return self.driver_cls(host, transport, ram, **kw)


@pytest.mark.req("VIRTIO-PCI-101", "VIRTIO-PCI-115")
@pytest.mark.parametrize("case_id", [DEVICE_CASE, DRIVER_CASE])
def test_reference_passes(case_id: str) -> None:
    res = _run(case_id, targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.expected, res.observed)


@pytest.mark.parametrize("device_cls", [Multiplier2, ShortArea])
def test_known_bad_devices_fail(device_cls: type[VirtioPciDevice]) -> None:
    res = _run(DEVICE_CASE, BrokenDevice(device_cls))
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "VIRTIO-PCI-101", res.detail


@pytest.mark.parametrize("target", [DriverTarget(driver_cls=OffByOne),
                                    DriverTarget(transport_cls=SixteenBit),
                                    DriverTarget(driver_cls=IndexNotConfigData)],
                         ids=["off-by-one", "sixteen-bit", "index-not-config-data"])
def test_known_bad_drivers_fail(target: DriverTarget) -> None:
    res = _run(DRIVER_CASE, target)
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "VIRTIO-PCI-115", res.detail


def test_device_withdraws_the_feature_it_cannot_keep() -> None:
    """A multiplier that is not a multiple of 4 cannot keep VIRTIO-PCI-101: not offered."""
    backend = NetDevice()
    VirtioPciDevice(backend, notify_multiplier=2)
    assert not backend.features & bit(F_NOTIFICATION_DATA)
    kept = NetDevice()
    VirtioPciDevice(kept, notify_multiplier=8)
    assert kept.features & bit(F_NOTIFICATION_DATA)


def test_packed_data_is_next_off_and_wrap() -> None:
    """RING-PACKED-024 through the driver: after a full lap, next_wrap flips to 0."""
    ring = PackedDriver(PackedLayout.packed_at(0x1000, 4))
    q = CaseQueue(0, ring, 0, [])
    assert CaseDriver.notify_data(q) == 1 << 15  # position 0, wrap counter 1
    ring.next_avail, ring.avail_wrap = 3, 0
    assert CaseDriver.notify_data(q) == 3
