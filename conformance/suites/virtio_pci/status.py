"""The device status machine seen from a driver that misbehaves on purpose: notifications
before DRIVER_OK (VIRTIO-STATUS-003) and a hostile ring that must break the device rather
than be used (VIRTIO-STATUS-004). Both end in REJECT: refused, and the device recovers after
a reset."""

from __future__ import annotations

from virtiospec.conformance.cases import Outcome, Result, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import NET_HDR_SIZE
from virtiospec.conformance.suites.virtio_pci.session import (
    do,
    frame,
    session,
    up,
    up_session,
    with_vectors,
)
from virtiospec.reference.net.pci_queues import CONFIG_VECTOR, RX, RX_VECTOR, TX, TX_VECTOR
from virtiospec.reference.ring.layout import U16
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, DRIVER_OK
from virtiospec.reference.virtio_pci.wait import poll, quiet


@case("pci.status.rejects-notify-before-driver-ok", ("VIRTIO-STATUS-003",), "device", "pci",
      "a queue notified before DRIVER_OK is not used; after DRIVER_OK the buffer goes out")
def rejects_early_notify(target: object) -> Result:
    with session(target) as s:
        drv = with_vectors(s)
        drv.setup_queue(RX, RX_VECTOR)
        txq = drv.setup_queue(TX, TX_VECTOR)
        lay = txq.ring.layout
        sent = frame(7)
        s.host.write_bytes(txq.buffers[0], bytes(NET_HDR_SIZE) + sent)
        do(s, txq.ring.add([(txq.buffers[0], NET_HDR_SIZE + len(sent))], [], 0))
        txq.outstanding.add(0)
        do(s, drv.transport.notify(TX, txq.notify_addr))  # by hand: the driver refuses to
        early = s.capture(0.3)
        require(early is None, "no frame sent before DRIVER_OK", "nothing",
                f"{len(early or b'')} bytes")
        used = s.host.mem_read(lay.used_idx, 2)
        require(used == 0, "used.idx before DRIVER_OK", "0", str(used))
        require(drv.irq_count(TX_VECTOR) == 0, "no used-buffer notification before DRIVER_OK",
                "none", "a message")
        flags = s.host.mem_read(lay.used_flags, 2)
        do(s, drv.driver.go_live())
        do(s, drv.transport.notify(TX, txq.notify_addr))
        got = s.capture(2.0)
        require(got == sent, "after DRIVER_OK the same buffer is sent", sent.hex(),
                (got or b"").hex())
        return Result(Outcome.REJECT, f"notification before DRIVER_OK ignored (used.flags was "
                                      f"{flags:#x} meanwhile)")


@case("pci.status.rejects-bad-head", ("VIRTIO-STATUS-004", "VIRTIO-STATUS-005",
      "RING-SPLIT-080"), "device", "pci",
      "a transmit head past the queue size is not used; DEVICE_NEEDS_RESET comes with a "
      "configuration interrupt; a reset brings the device back")
def rejects_bad_head(target: object) -> Result:
    with up_session(target) as (s, drv):
        txq = drv.queues[TX]
        lay, ring = txq.ring.layout, txq.ring
        s.host.mem_write(lay.avail_ring(lay.slot(ring.avail_idx)), 2, 0x1000)
        s.host.mem_write(lay.avail_idx, 2, (ring.avail_idx + 1) & U16)
        do(s, drv.transport.notify(TX, txq.notify_addr))
        got = s.capture(0.3)
        require(got is None, "nothing sent for head 0x1000", "nothing", f"{len(got or b'')} B")
        used = s.host.mem_read(lay.used_idx, 2)
        require(used == 0, "used.idx after the bad head", "0", str(used))
        status = do(s, drv.transport.status())
        detail = f"status {status:#x}"
        if status & DEVICE_NEEDS_RESET:
            require(bool(status & DRIVER_OK), "DRIVER_OK still set", "set", detail)
            poll(lambda: drv.irq_count(CONFIG_VECTOR) or None, 2.0,
                 "the configuration interrupt after DEVICE_NEEDS_RESET")
            detail += ", DEVICE_NEEDS_RESET with a configuration interrupt"
        else:
            detail += ", DEVICE_NEEDS_RESET not set (a SHOULD)"
        again = up(s)
        sent = frame(2)
        again.send(sent)
        again.wait_tx()
        got = s.capture(2.0)
        require(got == sent, "after a reset and a new initialization a frame goes out",
                sent.hex(), (got or b"").hex())
        require(quiet(lambda: again.irq_count(CONFIG_VECTOR) > 0, 0.05),
                "no configuration interrupt after recovery", "none", "a message")
        return Result(Outcome.REJECT, detail)
