"""Hostile device against our virtio-pci network driver: ``hostile.device.pci.needs-reset-*``
and ``hostile.device.pci.storm-*``.

A device that breaks itself in the middle of traffic (DEVICE_NEEDS_RESET, VIRTIO-STATUS-004)
at every stage of it (idle, after frames both ways, with transmit buffers it will never use,
with used buffers the driver has not taken, with a received frame waiting), and a device that
fires interrupts with nothing used (RING-SPLIT-054), by the thousand, on every vector and on
INTx. What the suite's driver (conformance/suites/virtio_pci/driver.py) must do: see the
broken device (DeviceNeedsReset naming VIRTIO-STATUS-004), notify it no more (NotLive,
VIRTIO-STATUS-010),
reset it and wait for status 0 (VIRTIO-STATUS-006), and get back from its rings exactly the
buffers it had out, each once (detach_unused); and through a storm take nothing, then still
receive the next honest frame. Run against the in-process machine of the reference target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from virtiospec.conformance.cases import CaseSkipped, Outcome, Result, case, expect_reject, require
from virtiospec.conformance.suites.virtio_pci.case_driver import RX, TX, CaseDriver
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession, frame, up

Stage = Callable[[ReferenceSession, CaseDriver], None]


def _session(target: object) -> ReferenceSession:
    if getattr(target, "name", "") != "reference":
        raise CaseSkipped(f"target {getattr(target, 'name', target)} has no virtio-pci driver "
                          "of its own (the Python reference's is tested under 'reference')")
    return ReferenceSession()


def _break(s: ReferenceSession) -> None:
    s.device.fail(RuntimeError("the hostile device broke itself"))


def _idle(s: ReferenceSession, drv: CaseDriver) -> None:
    _break(s)


def _after_traffic(s: ReferenceSession, drv: CaseDriver) -> None:
    drv.send(frame(1, src=s.mac, dst=b"\xff" * 6))
    drv.wait_tx()
    s.inject(frame(2))
    drv.wait_rx()
    _break(s)


def _tx_outstanding(s: ReferenceSession, drv: CaseDriver) -> None:
    _break(s)
    for n in range(3):  # the driver does not know yet: the device ignores the notifications
        drv.send(frame(n, src=s.mac, dst=b"\xff" * 6))


def _used_not_taken(s: ReferenceSession, drv: CaseDriver) -> None:
    drv.send(frame(1, src=s.mac, dst=b"\xff" * 6))  # used by the device, never reclaimed
    _break(s)


def _rx_waiting(s: ReferenceSession, drv: CaseDriver) -> None:
    s.inject(frame(3))  # a used receive buffer the driver has not taken
    _break(s)


STAGES: list[tuple[str, str, Stage]] = [
    ("needs-reset-idle", "DEVICE_NEEDS_RESET with receive buffers posted", _idle),
    ("needs-reset-after-traffic", "DEVICE_NEEDS_RESET after frames both ways", _after_traffic),
    ("needs-reset-tx-outstanding", "DEVICE_NEEDS_RESET, then three frames it never sends",
     _tx_outstanding),
    ("needs-reset-used-not-taken", "DEVICE_NEEDS_RESET with a used transmit buffer not yet "
     "reclaimed", _used_not_taken),
    ("needs-reset-rx-waiting", "DEVICE_NEEDS_RESET with a received frame not yet taken",
     _rx_waiting),
]


def _needs_reset_case(name: str, summary: str, stage: Stage) -> None:
    def run_case(target: object) -> Result:
        s = _session(target)
        drv = up(s)
        stage(s, drv)
        res = expect_reject(lambda: drv.run(drv.driver.check_device()), {"VIRTIO-STATUS-004"},
                            summary)
        expect_reject(lambda: drv.send(frame(9, src=s.mac)), {"VIRTIO-STATUS-010"},
                      f"{summary}: a notification after the driver saw the device broken")
        out = {i: set(q.outstanding) for i, q in drv.queues.items()}
        drv.run(drv.driver.reset())
        status = drv.run(drv.transport.status())
        require(status == 0, f"{summary}: the reset is done (VIRTIO-STATUS-006)", "0",
                hex(status))
        for index, q in drv.queues.items():
            tokens = [cast(int, t) for t in q.any_ring.detach_unused()]
            require(sorted(tokens) == sorted(out[index]) and len(set(tokens)) == len(tokens),
                    f"{summary}: queue {index} gives back every buffer it had out, once",
                    str(sorted(out[index])), str(sorted(tokens)))
        return res

    case(f"hostile.device.pci.{name}", ("VIRTIO-STATUS-004", "VIRTIO-STATUS-006",
                                         "VIRTIO-STATUS-010"), "driver", "hostile",
         summary, budget=10.0)(run_case)


for _name, _summary, _stage in STAGES:
    _needs_reset_case(_name, _summary, _stage)


def _storm_case(name: str, summary: str, fire: Callable[[ReferenceSession], None],
                msix: bool = True) -> None:
    def run_case(target: object) -> Result:
        s = _session(target)
        drv = up(s, msix=msix)
        mac = drv.mac
        out = {i: set(q.outstanding) for i, q in drv.queues.items()}
        for _ in range(1000):
            fire(s)
        require(drv.receive() == 0 and not drv.inbox, f"{summary}: no frame out of nothing")
        require(drv.reclaim_tx() == [], f"{summary}: no transmit buffer out of nothing")
        now = {i: set(q.outstanding) for i, q in drv.queues.items()}
        require(now == out, f"{summary}: every buffer still out", str(out), str(now))
        require(drv.read_mac() == mac, f"{summary}: the configuration unchanged")
        sent = frame(4)
        s.inject(sent)
        _, got = drv.wait_rx()
        require(got == sent, f"{summary}: the next honest frame is received", sent.hex()[:32],
                got.hex()[:32])
        return Result(Outcome.PASS, f"{summary}: 1000 interrupts, nothing taken")

    case(f"hostile.device.pci.{name}", ("RING-SPLIT-054",), "driver", "hostile", summary,
         budget=10.0)(run_case)


_storm_case("storm-rx-vector", "receive vector with nothing used",
            lambda s: s.device.queue_interrupt(RX))
_storm_case("storm-tx-vector", "transmit vector with nothing used",
            lambda s: s.device.queue_interrupt(TX))
_storm_case("storm-config-vector", "configuration change with nothing changed",
            lambda s: s.device.config_interrupt())
_storm_case("storm-intx-isr", "INTx with ISR bit 0 set and nothing used",
            lambda s: s.device.queue_interrupt(RX), msix=False)
_storm_case("storm-intx-config", "INTx with ISR bit 1 set and nothing changed",
            lambda s: s.device.config_interrupt(), msix=False)
