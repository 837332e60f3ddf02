"""Queue reset (VIRTIO_F_RING_RESET, VIRTIO 1.4 §2.6.1, the ``queue_reset`` field of
§4.1.4.3) from the driver's seat: one queue of a live virtio-net device is reset while the
other keeps working, then set up again.

Device-side requirements: VIRTIO-PCI-102 (``queue_reset`` reads 0 once done, ``queue_enable``
reads 0), VIRTIO-VQRESET-001 (nothing more is used from or notified for the reset queue),
VIRTIO-VQRESET-002 (the queue's registers and ring positions are back at their values after a
device reset), VIRTIO-VQRESET-004 (re-enabling takes the configuration written since). The
driver's side (VIRTIO-VQRESET-003, VIRTIO-VQRESET-005, VIRTIO-PCI-105) is checked by
``pci.virtio.driver.queue-reset``: the target's driver against a device that watches it
(reference/virtio_pci/queue_reset_watch.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import (
    DEFAULT_FEATURES,
    RX,
    RX_VECTOR,
    TX,
    TX_VECTOR,
    CaseDriver,
)
from virtiospec.conformance.suites.virtio_pci.session import (
    PciSession,
    ReferenceSession,
    do,
    frame,
    net_driver,
    session,
    transport,
)
from virtiospec.reference.pci import Window
from virtiospec.reference.virtio_pci.errors import Timeout
from virtiospec.reference.virtio_pci.queue_reset_watch import QueueResetWatch
from virtiospec.reference.virtio_pci.regs import F_RING_RESET, NO_VECTOR, bit
from virtiospec.reference.virtio_pci.wait import poll

RESET_WAIT = 2.0  # seconds a device gets to finish a queue reset


def _up(s: PciSession) -> CaseDriver:
    """A live network driver that negotiated VIRTIO_F_RING_RESET (SKIP if not offered), one
    frame already passed."""
    drv = net_driver(s, wanted=DEFAULT_FEATURES | bit(F_RING_RESET))
    drv.bring_up()
    if not drv.driver.has(F_RING_RESET):
        raise CaseSkipped("the device does not offer VIRTIO_F_RING_RESET")
    if drv.irq_page is None:
        raise CaseSkipped("the case maps 3 MSI-X vectors; the device has fewer")
    sent = frame(1)
    drv.send(sent)
    drv.wait_tx()
    require(s.capture(2.0) == sent, "a frame passes before any queue reset", "the frame",
            "nothing")
    return drv


def _reset_by_hand(s: PciSession, drv: CaseDriver, index: int) -> None:
    """Write 1 to ``queue_reset`` of ``index`` and wait (bounded) for it to read 0; then
    ``queue_enable`` must read 0 (VIRTIO-PCI-102)."""
    t = drv.transport
    do(s, t.write("queue_select", index))
    before = do(s, t.read("queue_reset"))
    require(before == 0, f"queue_reset of enabled queue {index}", "0", str(before),
            req="VIRTIO-PCI-102")
    do(s, t.write("queue_reset", 1))
    try:
        poll(lambda: do(s, t.read("queue_reset")) == 0, RESET_WAIT, "queue_reset to read 0")
    except Timeout:
        require(False, f"queue {index}: queue_reset reads 0 once the reset is done",
                f"0 within {RESET_WAIT:g} s", "still 1", req="VIRTIO-PCI-102")
    enable = do(s, t.read("queue_enable"))
    require(enable == 0, f"queue_enable of queue {index} after its reset", "0", str(enable),
            req="VIRTIO-PCI-102")


def _registers(s: PciSession, drv: CaseDriver, index: int) -> dict[str, int]:
    t = drv.transport
    do(s, t.write("queue_select", index))
    return {name: do(s, t.read(name)) for name in ("queue_size", "queue_msix_vector")}


@case("pci.virtio.queue-reset", ("VIRTIO-PCI-102", "VIRTIO-VQRESET-001", "VIRTIO-VQRESET-002"),
      "device", "pci",
      "a queue reset completes (queue_reset and queue_enable read 0), returns the queue's "
      "registers to their reset values, and the device uses nothing more from the old ring")
def queue_reset(target: object) -> None:
    with session(target) as s:
        drv = _up(s)
        largest = do(s, drv.transport.max_queue_size(TX))  # enabled: the size in use
        txq = drv.queues[TX]
        used_before = s.host.mem_read(txq.ring.layout.used_idx, 2)
        do(s, txq.ring.add([(txq.buffers[1], 60)], [], 1))  # made available, not notified
        drv.clear_irq(TX_VECTOR)
        _reset_by_hand(s, drv, TX)
        regs = _registers(s, drv, TX)
        require(regs["queue_msix_vector"] == NO_VECTOR, "queue_msix_vector after a queue reset",
                f"{NO_VECTOR:#x}", f"{regs['queue_msix_vector']:#x}", req="VIRTIO-VQRESET-002")
        require(regs["queue_size"] >= largest, "queue_size after a queue reset",
                f"the largest size (>= {largest})", str(regs["queue_size"]),
                req="VIRTIO-VQRESET-002")
        s.host.write_bytes(txq.buffers[1], bytes(12) + frame(9))
        do(s, drv.transport.notify(TX, txq.notify_addr))
        require(s.capture(0.3) is None, "a notification of the reset queue sends nothing",
                "no frame", "the old ring's buffer was sent", req="VIRTIO-VQRESET-001")
        used_after = s.host.mem_read(txq.ring.layout.used_idx, 2)
        require(used_after == used_before, "the reset queue's used ring is left alone",
                str(used_before), str(used_after), req="VIRTIO-VQRESET-001")
        require(not drv.irq_count(TX_VECTOR), "no used-buffer notification for the reset queue",
                "no MSI-X message", "one", req="VIRTIO-VQRESET-001")
        rx_frame = frame(2)
        s.inject(rx_frame)  # the other queue still works
        _, got = drv.wait_rx()
        require(got == rx_frame, "the receive queue works through the transmit queue's reset",
                "the injected frame", got.hex()[:40], req="VIRTIO-VQRESET-001")


def _reenable_passes(s: PciSession, drv: CaseDriver, same_memory: bool) -> None:
    txq = drv.queues[TX]
    do(s, txq.ring.add([(txq.buffers[1], 60)], [], 1))  # left behind in the old ring
    s.host.write_bytes(txq.buffers[1], bytes(12) + frame(8)[:48])
    old_used_at = txq.ring.layout.used_idx
    old_used = s.host.mem_read(old_used_at, 2)
    _reset_by_hand(s, drv, TX)
    back = drv.queues[TX].any_ring.detach_unused()
    require(back == [1], "the driver takes back the buffer the device never used", "[1]",
            str(back))
    drv.queues[TX].outstanding.clear()
    q = drv.reenable_queue(TX, TX_VECTOR, same_memory=same_memory)
    sent = frame(3)
    drv.send(sent)
    try:
        drv.wait_tx()
    except Timeout:
        if not same_memory:
            now = s.host.mem_read(old_used_at, 2)
            require(now == old_used, "the device works the new ring, not the old one",
                    f"old used index {old_used}", str(now), req="VIRTIO-VQRESET-004")
        require(False, "the re-enabled ring's buffer comes back (its positions start at 0)",
                "used within 2 s", "nothing", req="VIRTIO-VQRESET-002")
    got = s.capture(2.0)
    require(got == sent, "the first frame after re-enabling is the new one",
            sent.hex()[:40], "nothing" if got is None else got.hex()[:40],
            req="VIRTIO-VQRESET-002")
    extra = s.capture(0.2)
    require(extra is None, "nothing else is sent (no stale buffer of the old ring)", "nothing",
            extra.hex()[:40] if extra else "", req="VIRTIO-VQRESET-002")
    used = s.host.mem_read(q.ring.layout.used_idx, 2)
    require(used == 1, "the re-enabled ring's used index counts from 0", "1", str(used),
            req="VIRTIO-VQRESET-002")
    if not same_memory:
        now = s.host.mem_read(old_used_at, 2)
        require(now == old_used, "the old ring is left alone after re-enabling elsewhere",
                str(old_used), str(now), req="VIRTIO-VQRESET-004")


@case("pci.virtio.queue-reset-reenable", ("VIRTIO-VQRESET-002", "VIRTIO-VQRESET-004"),
      "device", "pci",
      "a reset transmit queue set up again at new addresses works from scratch: the new ring "
      "is used, the old one is not, positions start at 0")
def queue_reset_reenable(target: object) -> None:
    with session(target) as s:
        _reenable_passes(s, _up(s), same_memory=False)


@case("pci.virtio.queue-reset-same-memory", ("VIRTIO-VQRESET-002", "VIRTIO-VQRESET-004"),
      "device", "pci",
      "a reset transmit queue set up again at the same (zeroed) addresses works from scratch")
def queue_reset_same_memory(target: object) -> None:
    with session(target) as s:
        _reenable_passes(s, _up(s), same_memory=True)


@case("pci.virtio.queue-reset-rx", ("VIRTIO-VQRESET-001", "VIRTIO-VQRESET-004"),
      "device", "pci",
      "while the receive queue is reset no frame lands in its old buffers; set up again, "
      "frames arrive in the new ring")
def queue_reset_rx(target: object) -> None:
    with session(target) as s:
        drv = _up(s)
        rxq = drv.queues[RX]
        used_before = s.host.mem_read(rxq.ring.layout.used_idx, 2)
        _reset_by_hand(s, drv, RX)
        back = drv.queues[RX].any_ring.detach_unused()
        require(len(back) == rxq.any_ring.q, "every posted receive buffer comes back",
                str(rxq.any_ring.q), str(len(back)))
        drv.queues[RX].outstanding.clear()
        drv.clear_irq(RX_VECTOR)
        s.inject(frame(4))
        ok = True
        try:
            poll(lambda: s.host.mem_read(rxq.ring.layout.used_idx, 2) != used_before, 0.3, "")
            ok = False
        except Timeout:
            pass
        require(ok, "no frame is written to the reset receive queue", str(used_before),
                str(s.host.mem_read(rxq.ring.layout.used_idx, 2)), req="VIRTIO-VQRESET-001")
        require(not drv.irq_count(RX_VECTOR), "no notification for the reset receive queue",
                "no MSI-X message", "one", req="VIRTIO-VQRESET-001")
        drv.reenable_queue(RX, RX_VECTOR)
        after = frame(5)
        s.inject(after)
        seen = []
        try:
            while True:
                _, got = drv.wait_rx(1.0)
                seen.append(got)
                if got == after:
                    break
        except Timeout:
            require(False, "a frame reaches the re-enabled receive queue", after.hex()[:40],
                    f"{len(seen)} other frames", req="VIRTIO-VQRESET-004")


# -- the driver's side: the target's driver against a device that watches it ----------------

def pci_net_driver_of(target: Any) -> Callable[..., CaseDriver]:
    """The target's virtio-net driver over virtio-pci, called as ``CaseDriver`` is (the
    reference's own for the reference target), or SKIP."""
    factory = getattr(target, "pci_net_driver", None)
    if factory is None and getattr(target, "name", None) == "reference":
        factory = CaseDriver
    if factory is None:
        raise CaseSkipped(f"target {getattr(target, 'name', target)} provides no virtio-pci "
                          "network driver")
    return cast(Callable[..., CaseDriver], factory)


@case("pci.virtio.driver.queue-reset", ("VIRTIO-VQRESET-003", "VIRTIO-VQRESET-005",
                                        "VIRTIO-PCI-105"), "driver", "pci",
      "the driver waits for queue_reset to read 0 before touching the queue again, takes back "
      "its unused buffers, and sets the queue up again in full before enabling it")
def driver_queue_reset(target: object) -> None:
    factory = pci_net_driver_of(target)
    s = ReferenceSession(QueueResetWatch)
    drv = factory(s.host, transport(s), Window(*s.ram),
                  wanted=DEFAULT_FEATURES | bit(F_RING_RESET))
    drv.bring_up()
    require(drv.driver.has(F_RING_RESET), "the driver negotiates VIRTIO_F_RING_RESET when "
            "asked to", "negotiated", f"features {drv.driver.features:#x}")
    txq = drv.queues[TX]
    drv.run(txq.any_ring.add([(txq.buffers[2], 60)], [], 2))  # never notified: unused
    back = drv.reset_queue(TX)
    require(back == [2], "the unused transmit buffer comes back after the reset", "[2]",
            str(back), req="VIRTIO-VQRESET-003")
    for index, vector, same in ((TX, TX_VECTOR, False), (RX, RX_VECTOR, True)):
        if index == RX:
            drv.reset_queue(RX)
        drv.reenable_queue(index, vector, same_memory=same)
    assert isinstance(s.device, QueueResetWatch)
    for req, what in s.device.violations:
        require(False, "the driver's side of a queue reset", "no violation", what, req=req)
    sent = frame(6)
    drv.send(sent)
    try:
        drv.wait_tx()
    except Timeout:
        require(False, "a frame passes the re-enabled transmit queue", "used within 2 s",
                "nothing", req="VIRTIO-VQRESET-005")
    got = s.capture(1.0)
    require(got == sent, "the frame sent through the re-enabled queue", sent.hex()[:40],
            "nothing" if got is None else got.hex()[:40], req="VIRTIO-VQRESET-005")
