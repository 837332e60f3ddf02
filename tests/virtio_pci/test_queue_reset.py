"""Queue reset (VIRTIO_F_RING_RESET): the pci.virtio.queue-reset* cases pass on the reference
device and fail its known-bad variants; the reference driver keeps its side of the reset
against a device that watches it (reference/virtio_pci/queue_reset_watch.py), and known-bad
drivers are caught there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.virtio_pci.case_driver import (
    DEFAULT_FEATURES,
    TX,
    TX_VECTOR,
    CaseDriver,
    CaseQueue,
)
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession, frame, net_driver
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.virtio_pci import VirtioPciDevice
from virtiospec.reference.virtio_pci.queue_reset_watch import QueueResetWatch
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regs import F_RING_RESET, bit
from virtiospec.reference.virtio_pci.transport import TransportLines, VirtioPciTransport

CASES = ("pci.virtio.queue-reset", "pci.virtio.queue-reset-reenable",
         "pci.virtio.queue-reset-same-memory", "pci.virtio.queue-reset-rx")


# -- known-bad devices -------------------------------------------------------------------

class KeepsUsing(VirtioPciDevice):
    """Known-bad: the registers read as reset, but the old ring stays live."""

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        ring = q.ring
        super().reset_queue(index, q)
        q.ring = ring


class NeverDone(VirtioPciDevice):
    """Known-bad: ``queue_reset`` keeps reading 1."""

    def common_read(self, name: str) -> int:
        if name == "queue_reset" and self.queues[self.queue_select].resetting:
            return 1
        return super().common_read(name)

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        super().reset_queue(index, q)
        q.resetting = 1


class KeepsVector(VirtioPciDevice):
    """Known-bad: the queue's MSI-X vector survives the queue reset."""

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        vector = q.msix_vector
        super().reset_queue(index, q)
        q.msix_vector = vector


class KeepsPositions(VirtioPciDevice):
    """Known-bad: the re-enabled ring carries on from the old ring's positions."""

    saved: dict[int, tuple[int, int]]

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        if isinstance(q.ring, SplitDevice):
            self.saved = {index: (q.ring.last_avail, q.ring.used_idx)}
        super().reset_queue(index, q)

    def _make_ring(self, index: int, q: QueueRegs) -> None:
        super()._make_ring(index, q)
        if isinstance(q.ring, SplitDevice) and index in getattr(self, "saved", {}):
            q.ring.last_avail, q.ring.used_idx = self.saved.pop(index)


class OldAddresses(VirtioPciDevice):
    """Known-bad: re-enabling uses the addresses from before the reset."""

    old: dict[int, tuple[int, int, int]]

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        self.old = {index: (q.desc, q.driver, q.device)}
        super().reset_queue(index, q)

    def _make_ring(self, index: int, q: QueueRegs) -> None:
        if index in getattr(self, "old", {}):
            q.desc, q.driver, q.device = self.old.pop(index)
        super()._make_ring(index, q)


class Broken:
    def __init__(self, device_cls: type[VirtioPciDevice]) -> None:
        self.name = f"broken-{device_cls.__name__}"
        self.device_cls = device_cls

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(self.device_cls)


def _run(case_id: str, target: object) -> cases.Result:
    return runner.run_case(cases.discover()[case_id], target)


@pytest.mark.req("VIRTIO-PCI-102", "VIRTIO-VQRESET-001", "VIRTIO-VQRESET-002",
                 "VIRTIO-VQRESET-004")
@pytest.mark.parametrize("case_id", CASES)
def test_reference_device_passes(case_id: str) -> None:
    res = _run(case_id, targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.expected, res.observed)


@pytest.mark.parametrize(("device_cls", "case_id", "req"), [
    (KeepsUsing, "pci.virtio.queue-reset", "VIRTIO-VQRESET-001"),
    (KeepsUsing, "pci.virtio.queue-reset-rx", "VIRTIO-VQRESET-001"),
    (NeverDone, "pci.virtio.queue-reset", "VIRTIO-PCI-102"),
    (KeepsVector, "pci.virtio.queue-reset", "VIRTIO-VQRESET-002"),
    (KeepsPositions, "pci.virtio.queue-reset-reenable", "VIRTIO-VQRESET-002"),
    (KeepsPositions, "pci.virtio.queue-reset-same-memory", "VIRTIO-VQRESET-002"),
    (OldAddresses, "pci.virtio.queue-reset-reenable", "VIRTIO-VQRESET-004"),
])
def test_known_bad_devices_fail(device_cls: type[VirtioPciDevice], case_id: str,
                                req: str) -> None:
    res = _run(case_id, Broken(device_cls))
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == req, (res.req, res.detail)


def test_cases_skip_without_the_feature() -> None:
    class NoRingReset(VirtioPciDevice):
        def __init__(self, backend: Any, **kw: Any) -> None:
            backend.features &= ~bit(F_RING_RESET)
            super().__init__(backend, **kw)

    res = _run("pci.virtio.queue-reset", Broken(NoRingReset))
    assert res.outcome is Outcome.SKIP, res.detail


# -- the driver's side, watched ------------------------------------------------------------

class NoPoll(VirtioPciTransport):
    """Known-bad driver: takes the queue reset as done right after writing 1."""

    lines = TransportLines(queue_reset_poll=False)


class NoReinit(CaseDriver):
    """Known-bad driver: re-enables the reset queue without setting it up again."""

    def reenable_queue(self, index: int, vector: int | None,
                       same_memory: bool = False) -> CaseQueue:
        self.run(self.transport.write("queue_select", index))
        self.run(self.transport.write("queue_enable", 1))
        return self.queues[index]


class DriverTarget:
    """A target whose virtio-pci network driver is ``driver_cls`` over ``transport_cls``."""

    def __init__(self, driver_cls: type[CaseDriver] = CaseDriver,
                 transport_cls: type[VirtioPciTransport] = VirtioPciTransport) -> None:
        self.name = f"broken-{driver_cls.__name__}-{transport_cls.__name__}"
        self.driver_cls, self.transport_cls = driver_cls, transport_cls

    def pci_net_driver(self, host: Any, transport: VirtioPciTransport, ram: Any,
                       **kw: Any) -> CaseDriver:
        transport.__class__ = self.transport_cls
        return self.driver_cls(host, transport, ram, **kw)


DRIVER_CASE = "pci.virtio.driver.queue-reset"


@pytest.mark.req("VIRTIO-VQRESET-003", "VIRTIO-VQRESET-005", "VIRTIO-PCI-105")
def test_reference_driver_passes() -> None:
    res = _run(DRIVER_CASE, targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.expected, res.observed)


@pytest.mark.parametrize(("target", "req"), [
    (DriverTarget(transport_cls=NoPoll), "VIRTIO-PCI-105"),
    (DriverTarget(driver_cls=NoReinit), "VIRTIO-VQRESET-005"),
])
def test_known_bad_drivers_fail(target: DriverTarget, req: str) -> None:
    res = _run(DRIVER_CASE, target)
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == req, (res.req, res.detail)


@pytest.mark.req("VIRTIO-VQRESET-003", "VIRTIO-VQRESET-005", "VIRTIO-PCI-105")
@pytest.mark.parametrize("same_memory", [False, True])
def test_reference_driver_keeps_its_side(same_memory: bool) -> None:
    s = ReferenceSession(QueueResetWatch)
    drv = net_driver(s, wanted=DEFAULT_FEATURES | bit(F_RING_RESET))
    drv.bring_up()
    drv.send(frame(1))
    drv.wait_tx()
    txq = drv.queues[TX]
    drv.run(txq.ring.add([(txq.buffers[2], 60)], [], 2))
    assert drv.reset_queue(TX) == [2]  # the unused buffer comes back (detach_unused)
    drv.reenable_queue(TX, TX_VECTOR, same_memory=same_memory)
    drv.send(frame(2))
    drv.wait_tx()
    assert s.capture(1.0) == frame(1)
    assert s.capture(1.0) == frame(2)
    assert isinstance(s.device, QueueResetWatch)
    assert s.device.violations == []


def test_ring_state_is_fresh_after_reset() -> None:
    """The ring layer: after a queue reset the device side starts from position 0."""
    s = ReferenceSession()
    drv = net_driver(s, wanted=DEFAULT_FEATURES | bit(F_RING_RESET))
    drv.bring_up()
    for n in range(3):
        drv.send(frame(n))
        drv.wait_tx()
    ring = s.device.queues[TX].ring
    assert isinstance(ring, SplitDevice) and ring.last_avail == 3
    drv.reset_queue(TX)
    assert s.device.queues[TX].ring is None
    drv.reenable_queue(TX, TX_VECTOR, same_memory=True)
    fresh = s.device.queues[TX].ring
    assert isinstance(fresh, SplitDevice) and (fresh.last_avail, fresh.used_idx) == (0, 0)
