"""The common configuration structure from the driver's seat: reset, feature negotiation
through the select registers, queue registers and MSI-X vectors (VIRTIO-PCI-020, VIRTIO-PCI-021,
VIRTIO-PCI-022, VIRTIO-PCI-023, VIRTIO-PCI-024, VIRTIO-PCI-025, VIRTIO-PCI-026, VIRTIO-PCI-027,
VIRTIO-PCI-030, VIRTIO-PCI-031, VIRTIO-PCI-032, VIRTIO-PCI-040,
VIRTIO-FEAT-*, VIRTIO-STATUS-005, VIRTIO-STATUS-007).

Cases named ``rejects-*`` feed the device something a driver must not do and expect it to
stay unmoved: they end in REJECT.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, Outcome, Result, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import (
    RX,
    RX_VECTOR,
    TX,
    TX_VECTOR,
    CaseDriver,
)
from virtiospec.conformance.suites.virtio_pci.session import (
    PciSession,
    do,
    frame,
    need_vectors,
    net_driver,
    session,
    with_vectors,
)
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DRIVER,
    F_EVENT_IDX,
    F_VERSION_1,
    FEATURES_OK,
    NET_F_MAC,
    NO_VECTOR,
    bit,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport
from virtiospec.reference.virtio_pci.wait import quiet


def _negotiate_by_hand(s: PciSession, t: VirtioPciTransport, features: int) -> int:
    """Reset, ACKNOWLEDGE, DRIVER, write ``features``, FEATURES_OK; the status read back."""
    do(s, t.reset())
    do(s, t.set_status(ACKNOWLEDGE))
    do(s, t.set_status(ACKNOWLEDGE | DRIVER))
    do(s, t.set_driver_features(features))
    do(s, t.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK))
    return do(s, t.status())


def _used_then_reset(s: PciSession, queue_size: int = 8) -> tuple[CaseDriver, list[int]]:
    """Bring the device up, pass a frame, reset it; the largest queue sizes seen before."""
    drv = net_driver(s, queue_size=queue_size)
    t = drv.transport
    queues = do(s, t.read("num_queues"))
    largest = [do(s, t.max_queue_size(q)) for q in range(queues)]
    drv.bring_up()
    sent = frame(1)
    drv.send(sent)
    drv.wait_tx()
    require(s.capture(2.0) == sent, "the frame before the reset is sent", "the frame", "nothing")
    do(s, t.set_status(0))
    return drv, largest


RESET_REQ = {"queue_size": "VIRTIO-PCI-024", "queue_enable": "VIRTIO-PCI-026",
             "queue_msix_vector": "VIRTIO-PCI-040"}


@case("pci.virtio.reset", ("VIRTIO-STATUS-005", "VIRTIO-PCI-024", "VIRTIO-PCI-026",
      "VIRTIO-PCI-040", "VIRTIO-FEAT-010"), "device", "pci",
      "after writing 0: status 0, queues disabled at full size, events unmapped, old rings "
      "left alone, the same features negotiate again")
def reset(target: object) -> None:
    with session(target) as s:
        drv, largest = _used_then_reset(s)
        t = drv.transport
        status = do(s, t.status())
        require(status == 0, "device_status right after writing 0", "0", f"{status:#x}",
                req="VIRTIO-STATUS-005")
        cfg_vector = do(s, t.read("config_msix_vector"))
        require(cfg_vector == NO_VECTOR, "config_msix_vector after reset", f"{NO_VECTOR:#x}",
                f"{cfg_vector:#x}", req="VIRTIO-PCI-040")
        for q, size in enumerate(largest):
            do(s, t.write("queue_select", q))
            got = {name: do(s, t.read(name)) for name in (
                "queue_size", "queue_enable", "queue_msix_vector")}
            want = {"queue_size": size, "queue_enable": 0, "queue_msix_vector": NO_VECTOR}
            wrong = [name for name in want if got[name] != want[name]]
            require(not wrong, f"queue {q} registers after reset", str(want), str(got),
                    req=RESET_REQ[wrong[0]] if wrong else "")
        txq = drv.queues[TX]
        used_before = s.host.mem_read(txq.ring.layout.used_idx, 2)
        do(s, txq.ring.add([(txq.buffers[0], 60)], [], 0))
        do(s, t.notify(TX, txq.notify_addr))
        require(s.capture(0.2) is None, "a reset device sends nothing from its old queue",
                "no frame", "a frame", req="VIRTIO-STATUS-005")
        used_after = s.host.mem_read(txq.ring.layout.used_idx, 2)
        require(used_after == used_before, "the old used ring is left alone after reset",
                str(used_before), str(used_after), req="VIRTIO-STATUS-005")
        features = drv.driver.features
        got_features = do(s, VirtioPciDriver(t, features).negotiate())
        require(got_features == features, "the same features negotiate again after reset",
                f"{features:#x}", f"{got_features:#x}", req="VIRTIO-FEAT-010")


@case("pci.virtio.reset-forgets", ("VIRTIO-STATUS-007",), "device", "pci",
      "after writing 0 nothing of the previous life shows: accepted features, selects, "
      "queue addresses")
def reset_forgets(target: object) -> None:
    with session(target) as s:
        drv, largest = _used_then_reset(s)
        t = drv.transport
        left = {}
        for name in ("device_feature_select", "driver_feature_select"):
            value = do(s, t.read(name))
            if value:
                left[name] = hex(value)
        accepted = do(s, t.driver_features())
        if accepted:
            left["driver_feature"] = hex(accepted)
        for q in range(len(largest)):
            do(s, t.write("queue_select", q))
            for name in ("queue_desc", "queue_driver", "queue_device"):
                value = do(s, t.read(name))
                if value:
                    left[f"{name}[{q}]"] = hex(value)
        require(not left, "registers back at their reset values", "all 0", str(left))


@case("pci.virtio.feature-select", ("VIRTIO-PCI-021", "VIRTIO-FEAT-001", "VIRTIO-FEAT-004"),
      "device", "pci",
      "device_feature shows 32 bits per select value; VERSION_1 offered; selects >= 4 read 0")
def feature_select(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        words = {}
        for sel in (0, 1, 4, 5, 0x80, 0):
            do(s, t.write("device_feature_select", sel))
            words[sel] = do(s, t.read("device_feature"))
        require(bool(words[1] & 1), "VIRTIO_F_VERSION_1 (bit 32) offered", "bit 0 of word 1",
                f"word 1 = {words[1]:#x}")
        # bits 64..127 (selects 2, 3) may be device-type features; none is above 127
        high = {sel: words[sel] for sel in (4, 5, 0x80)}
        require(not any(high.values()), "device_feature for selects above 3", "0", str(high))
        features = do(s, t.device_features())
        require(features == words[0] | words[1] << 32, "the two words make the 64-bit set",
                f"{words[0] | words[1] << 32:#x}", f"{features:#x}")


@case("pci.virtio.features-ok", ("VIRTIO-FEAT-005", "VIRTIO-PCI-022", "VIRTIO-PCI-052"),
      "device", "pci",
      "a valid subset keeps FEATURES_OK and reads back; the MAC is readable before it")
def features_ok(target: object) -> None:
    with session(target) as s:
        drv = net_driver(s)
        t = drv.transport
        do(s, t.reset())
        do(s, t.set_status(ACKNOWLEDGE))
        do(s, t.set_status(ACKNOWLEDGE | DRIVER))
        mac = drv.read_mac()
        require(mac == s.mac, "MAC read before FEATURES_OK", s.mac.hex(), mac.hex())
        offered = do(s, t.device_features())
        want = offered & (bit(F_VERSION_1) | bit(NET_F_MAC))
        do(s, t.set_driver_features(want))
        do(s, t.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK))
        status = do(s, t.status())
        require(bool(status & FEATURES_OK), "FEATURES_OK kept for VERSION_1|MAC", "set",
                f"status {status:#x}")
        back = do(s, t.driver_features())
        require(back == want, "driver_feature shows the bits written", f"{want:#x}",
                f"{back:#x}")


@case("pci.virtio.rejects-unoffered-feature", ("VIRTIO-FEAT-006",), "device", "pci",
      "FEATURES_OK does not stick when the driver accepted a feature that was not offered")
def rejects_unoffered(target: object) -> Result:
    with session(target) as s:
        t = net_driver(s).transport
        offered = do(s, t.device_features())
        extra = next(n for n in range(24) if not offered & bit(n))
        wanted = bit(F_VERSION_1) | (offered & bit(NET_F_MAC)) | bit(extra)
        status = _negotiate_by_hand(s, t, wanted)
        require(not status & FEATURES_OK, f"FEATURES_OK with unoffered feature bit {extra}",
                "FEATURES_OK clear on the re-read", f"status {status:#x}: kept")
        return Result(Outcome.REJECT, f"feature bit {extra} (not offered): FEATURES_OK refused")


@case("pci.virtio.rejects-late-features", ("VIRTIO-FEAT-008",), "device", "pci",
      "a driver_feature write after FEATURES_OK (EVENT_IDX) changes no behaviour")
def rejects_late_features(target: object) -> Result:
    with session(target) as s:
        drv = net_driver(s)
        drv.negotiate()
        t = drv.transport
        if not drv.driver.offered & bit(F_EVENT_IDX):
            raise CaseSkipped("the device does not offer VIRTIO_F_EVENT_IDX")
        do(s, t.set_driver_features(drv.driver.features | bit(F_EVENT_IDX)))  # too late
        need_vectors(drv)
        drv.setup_queue(RX, RX_VECTOR)
        txq = drv.setup_queue(TX, TX_VECTOR)
        do(s, drv.driver.go_live())
        do(s, txq.ring.disable_cb())  # avail.flags = NO_INTERRUPT; used_event stays 0
        sent = frame(1)
        drv.send(sent)
        drv.wait_tx()
        require(s.capture(2.0) == sent, "the frame is sent", "the frame", "nothing")
        silent = quiet(lambda: drv.irq_count(TX_VECTOR) > 0, 0.2)
        require(silent, "no interrupt: without EVENT_IDX the device honours NO_INTERRUPT",
                "no message", "a message, as if EVENT_IDX (written after FEATURES_OK) counted")
        return Result(Outcome.REJECT, "EVENT_IDX written after FEATURES_OK had no effect")


# VIRTIO 1.4 §4.1.4.3 says an unavailable queue's queue_size reads 0; that every queue_select
# at or above num_queues selects such a queue (and so is kept as written) is ours.
SELECT_BEYOND = ("a queue_select at or above num_queues reading queue_size 0 is virtiospec's "
                 "rule, not VIRTIO 1.4's")


@case("pci.virtio.queue-sizes", ("VIRTIO-PCI-024", "VIRTIO-PCI-027"), "device", "pci",
      "existing queues have a power-of-2 size; a queue_select at or past num_queues reads 0")
def queue_sizes(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        queues = do(s, t.read("num_queues"))
        require(queues >= 2, "num_queues of a network device", ">= 2", str(queues))
        for q in range(queues):
            size = do(s, t.max_queue_size(q))
            require(size == 0 or size & (size - 1) == 0, f"queue {q} size", "0 or a power of 2",
                    str(size))
            if q < 2:
                require(size > 0, f"queue {q} (receive/transmit) exists", "> 0", "0")
        for sel in (queues, 1023, 0x8000, 0xFFFF):
            do(s, t.write("queue_select", 0))
            size = do(s, t.max_queue_size(sel))
            back = do(s, t.read("queue_select"))
            require(size == 0, f"queue_size with queue_select {sel:#x} (num_queues {queues})",
                    "0", f"{size} (queue_select reads {back:#x})", req="VIRTIO-PCI-027",
                    extension=SELECT_BEYOND)


@case("pci.virtio.rejects-odd-queue-size", ("VIRTIO-PCI-024",), "device", "pci",
      "a queue_size write that is not a power of 2 leaves queue_size a power of 2")
def rejects_odd_queue_size(target: object) -> Result:
    with session(target) as s:
        t = net_driver(s).transport
        largest = do(s, t.max_queue_size(0))
        for odd in (3, largest - 1, 100):
            do(s, t.write("queue_size", odd))
            size = do(s, t.read("queue_size"))
            require(size == 0 or size & (size - 1) == 0,
                    f"queue_size after the driver wrote {odd}", "0 or a power of 2", str(size))
        return Result(Outcome.REJECT, f"queue_size stayed a power of 2 ({size})")


@case("pci.virtio.queue-enable", ("VIRTIO-PCI-026", "VIRTIO-PCI-025"), "device", "pci",
      "queue_enable reads 0 after reset, 1 once enabled, only for the queue enabled")
def queue_enable(target: object) -> None:
    with session(target) as s:
        drv = net_driver(s)
        t = drv.transport
        drv.negotiate()
        queues = do(s, t.read("num_queues"))
        for q in range(queues):
            do(s, t.write("queue_select", q))
            got = do(s, t.read("queue_enable"))
            require(got == 0, f"queue {q} enable after reset", "0", str(got))
        drv.setup_queue(RX, None)
        enabled = [(do(s, t.write("queue_select", q)), do(s, t.read("queue_enable")))[1]
                   for q in (RX, TX)]
        require(enabled == [1, 0], "queue_enable of receive and transmit", "[1, 0]",
                str(enabled))


@case("pci.virtio.vectors", ("VIRTIO-PCI-040",), "device", "pci",
      "queue and configuration events map to vectors in the table and back to NO_VECTOR")
def vectors(target: object) -> None:
    with session(target) as s:
        drv = with_vectors(s)
        t = drv.transport
        for name, select in (("queue_msix_vector", 0), ("queue_msix_vector", 1),
                             ("config_msix_vector", None)):
            if select is not None:
                do(s, t.write("queue_select", select))
            for vector in (1, 2, NO_VECTOR, 0):
                do(s, t.write(name, vector))
                got = do(s, t.read(name))
                require(got == vector, f"{name} (queue {select}) after writing {vector:#x}",
                        f"{vector:#x}", f"{got:#x}")


@case("pci.virtio.rejects-vector-outside-table", ("VIRTIO-PCI-040",), "device", "pci",
      "mapping an event to a vector past the MSI-X table reads back NO_VECTOR")
def rejects_vector(target: object) -> Result:
    with session(target) as s:
        drv = with_vectors(s)
        t = drv.transport
        assert t.msix is not None
        do(s, t.write("queue_select", 0))
        for name in ("queue_msix_vector", "config_msix_vector"):
            for vector in (t.msix.vectors, 0x7FF):
                do(s, t.write(name, vector))
                got = do(s, t.read(name))
                require(got == NO_VECTOR, f"{name} after writing {vector:#x} (table of "
                        f"{t.msix.vectors})", f"{NO_VECTOR:#x}", f"{got:#x}")
        return Result(Outcome.REJECT, f"vectors {t.msix.vectors} and 0x7ff read back NO_VECTOR")


@case("pci.virtio.rejects-read-only-writes", ("VIRTIO-PCI-023",), "device", "pci",
      "writes to num_queues, device_feature, config_generation, queue_notify_off are ignored")
def rejects_read_only(target: object) -> Result:
    with session(target) as s:
        t = net_driver(s).transport
        do(s, t.write("queue_select", 1))
        do(s, t.write("device_feature_select", 1))
        names = ("num_queues", "device_feature", "config_generation", "queue_notify_off")
        before = {n: do(s, t.read(n)) for n in names}
        for n in names:
            _, width = t.field_addr(n)
            do(s, t.write(n, before[n] ^ ((1 << (8 * width)) - 1)))
        after = {n: do(s, t.read(n)) for n in names}
        require(after == before, "read-only fields unchanged", str(before), str(after))
        return Result(Outcome.REJECT, "writes to read-only fields were ignored")
