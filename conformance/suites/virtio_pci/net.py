"""Frames both ways through a network device brought up by our driver: the whole transport at
work (VIRTIO-STATUS-008, notifications VIRTIO-PCI-030, interrupts VIRTIO-PCI-031, VIRTIO-PCI-032,
VIRTIO-PCI-042,
configuration changes VIRTIO-PCI-050)."""

from __future__ import annotations

from virtiospec.conformance.cases import Outcome, Result, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import (
    CONFIG_VECTOR,
    RX,
    RX_VECTOR,
    TX,
    TX_VECTOR,
)
from virtiospec.conformance.suites.virtio_pci.session import (
    do,
    frame,
    session,
    transport,
    up_session,
    with_vectors,
)
from virtiospec.reference.pci.regs import STATUS, STATUS_INTERRUPT
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DRIVER,
    ISR_CONFIG,
    ISR_QUEUE,
    NET_S_LINK_UP,
    NO_VECTOR,
)
from virtiospec.reference.virtio_pci.wait import poll, quiet


@case("pci.net.transmit", ("VIRTIO-STATUS-008", "VIRTIO-PCI-030", "VIRTIO-PCI-042"),
      "device", "pci",
      "after initialization a frame sent on the transmit queue leaves byte for byte, the "
      "buffer comes back with len 0 and the transmit vector fires")
def transmit(target: object) -> None:
    with up_session(target) as (s, drv):
        require(drv.mac == s.mac, "MAC in the device configuration", s.mac.hex(),
                (drv.mac or b"").hex())
        sent = frame(1, 200, src=s.mac, dst=b"\xff" * 6)
        token = drv.send(sent)
        got = s.capture(2.0)
        require(got == sent, "the frame on the wire", sent.hex(), (got or b"").hex())
        back = drv.wait_tx()
        require(back == [(token, 0)], "the transmit buffer returned with len 0",
                str([(token, 0)]), str(back))
        drv.wait_irq(TX_VECTOR)
        require(drv.irq_count(RX_VECTOR) == 0 and drv.irq_count(CONFIG_VECTOR) == 0,
                "only the transmit vector fired", "tx", "rx or config too")


@case("pci.net.receive", ("VIRTIO-STATUS-008", "VIRTIO-PCI-042"), "device", "pci",
      "a frame from the wire lands in a receive buffer after the 12-byte header, with the "
      "receive vector")
def receive(target: object) -> Result:
    with up_session(target) as (s, drv):
        sent = frame(2, 300)
        s.inject(sent)
        header, got = drv.wait_rx()
        require(got == sent, "the received frame", sent.hex(), got.hex())
        require(header[:10] == bytes(10), "header flags, gso and checksum fields", "zero",
                header.hex())
        drv.wait_irq(RX_VECTOR)
        num_buffers = int.from_bytes(header[10:12], "little")
        return Result(Outcome.PASS, f"num_buffers = {num_buffers} (virtio-net asks for 1 "
                                    f"without VIRTIO_NET_F_MRG_RXBUF)")


@case("pci.net.both-ways", ("VIRTIO-STATUS-008", "VIRTIO-PCI-030", "RING-SPLIT-092"),
      "device", "pci",
      "40 frames each way through queues of 8, in order, sizes 60 to 1514")
def both_ways(target: object) -> None:
    with up_session(target, queue_size=8) as (s, drv):
        sizes = [60 + (k * 197) % 1455 for k in range(40)]
        for k, size in enumerate(sizes):
            out = frame(k, size, src=s.mac, dst=b"\xff" * 6)
            drv.send(out)
            got = s.capture(2.0)
            require(got == out, f"transmitted frame {k} ({size} bytes)", out[:32].hex(),
                    (got or b"")[:32].hex())
            drv.wait_tx()
            inbound = frame(1000 + k, size)
            s.inject(inbound)
            _, received = drv.wait_rx()
            require(received == inbound, f"received frame {k} ({size} bytes)",
                    inbound[:32].hex(), received[:32].hex())


@case("pci.net.intx-isr", ("VIRTIO-PCI-031", "PCI-CFG-012"), "device", "pci",
      "without MSI-X a used buffer sets ISR bit 0 and PCI status bit 3; reading ISR clears "
      "both")
def intx_isr(target: object) -> None:
    with up_session(target, msix=False) as (s, drv):
        t = drv.transport
        drv.send(frame(3))
        drv.wait_tx()
        pending = poll(lambda: t.cfg.read(t.bdf, STATUS, 2) & STATUS_INTERRUPT or None, 2.0,
                       "PCI status bit 3 (interrupt pending)")
        require(bool(pending), "interrupt status", "set", "clear")
        isr = do(s, t.read_isr())
        require(bool(isr & ISR_QUEUE), "ISR after a used buffer", "bit 0 set", f"{isr:#x}")
        again = do(s, t.read_isr())
        require(again == 0, "ISR read again", "0 (read clears it)", f"{again:#x}")
        status = t.cfg.read(t.bdf, STATUS, 2)
        require(not status & STATUS_INTERRUPT, "PCI status bit 3 after the ISR read", "clear",
                f"status {status:#x}")


@case("pci.net.no-vector", ("VIRTIO-PCI-042",), "device", "pci",
      "with MSI-X on and the transmit queue on NO_VECTOR, transmitting sends no message")
def no_vector(target: object) -> None:
    with session(target) as s:
        drv = with_vectors(s)
        rx = drv.setup_queue(RX, RX_VECTOR)
        drv.setup_queue(TX, NO_VECTOR)
        for token in range(rx.ring.q):
            drv._post_rx(rx, token)
        do(s, drv.driver.go_live())
        drv.kick(rx)
        drv.send(frame(4))
        drv.wait_tx()

        def words() -> list[int]:
            return [drv.irq_count(v) for v in range(3)]

        require(quiet(lambda: any(words()), 0.2), "no MSI-X message at all", "[0, 0, 0]",
                str(words()))


@case("pci.net.config-change", ("VIRTIO-PCI-032", "VIRTIO-PCI-042", "VIRTIO-PCI-050"),
      "device", "pci",
      "link down after DRIVER_OK: configuration vector fires, ISR bit 1 set, status reads "
      "0 and config_generation moved")
def config_change(target: object) -> None:
    with up_session(target) as (s, drv):
        t = drv.transport
        require(bool(drv.read_link() & NET_S_LINK_UP), "link up at first", "1", "0")
        generation = do(s, t.generation())
        s.set_link(False)
        drv.wait_irq(CONFIG_VECTOR)
        isr = do(s, t.read_isr())
        require(bool(isr & ISR_CONFIG), "ISR bit 1 before the configuration notification",
                "set", f"ISR {isr:#x}")
        link = drv.read_link()
        require(link & NET_S_LINK_UP == 0, "status after link down", "0", str(link))
        now = do(s, t.generation())
        require(now != generation, "config_generation after reading the changed status",
                f"not {generation}", str(now))


@case("pci.virtio.generation-before-driver-ok", ("VIRTIO-PCI-050", "VIRTIO-PCI-052"),
      "device", "pci",
      "before FEATURES_OK: a configuration value read changed, so config_generation changes")
def generation_early(target: object) -> None:
    with session(target) as s:
        t = transport(s)
        do(s, t.reset())
        do(s, t.set_status(ACKNOWLEDGE))
        do(s, t.set_status(ACKNOWLEDGE | DRIVER))
        before = do(s, t.generation())
        assert t.structures.device is not None
        link = s.host.mem_read(t.structures.device + 6, 2)
        s.set_link(False)
        link_after = s.host.mem_read(t.structures.device + 6, 2)
        after = do(s, t.generation())
        require(bool(link & NET_S_LINK_UP) and not link_after & NET_S_LINK_UP,
                "the status field changed between the two reads", "1 then 0",
                f"{link} then {link_after}")
        require(after != before, "config_generation after reading a changed value",
                f"not {before}", f"{after}")
