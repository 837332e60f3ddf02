"""virtio-pci, driver side: the target's virtio-net driver over virtio-pci (the reference's
own for the reference target, see ``pci_net_driver_of``) against the reference device
watching it (reference/virtio_pci/driver_watch.py), for the driver MUSTs of VIRTIO 1.4
§4.1.5.1.2.2 (MSI-X Vector Configuration) and §4.1.5.4.2 (Notification of Device
Configuration Changes).

A target that is a device (QEMU) or a vhost-user front-end (DPDK) has no such driver here:
these cases SKIP there.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import CaseDriver
from virtiospec.conformance.suites.virtio_pci.queue_reset import pci_net_driver_of
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession, frame, transport
from virtiospec.reference.pci import Window
from virtiospec.reference.virtio_pci.driver_watch import DriverWatch
from virtiospec.reference.virtio_pci.errors import Timeout, VectorRefused
from virtiospec.reference.virtio_pci.regs import ISR_CONFIG, ISR_QUEUE

TABLE_SIZES = (0, 1, 2, 3, 4, 0x800)  # vectors; 0: no MSI-X capability at all
LINK_DOWN = 0


def watched(target: Any, vectors: int, refuse: tuple[int, ...] = (),
            **options: Any) -> tuple[ReferenceSession, DriverWatch, CaseDriver]:
    factory = pci_net_driver_of(target)

    def device(backend: Any) -> DriverWatch:
        return DriverWatch(backend, msix_vectors=vectors, refuse=refuse)

    s = ReferenceSession(cast(type[DriverWatch], device))
    assert isinstance(s.device, DriverWatch)
    drv = factory(s.host, transport(s), Window(*s.ram), **options)
    return s, s.device, drv


def no_violations(dev: DriverWatch, what: str) -> None:
    for req, seen in dev.violations:
        require(False, what, "no violation", seen, req=req)


def exchange(s: ReferenceSession, drv: CaseDriver, n: int, req: str, what: str) -> None:
    """One frame each way through a driver that is up."""
    sent = frame(n)
    try:
        drv.send(sent)
        drv.wait_tx()
        got = s.capture(1.0)
        require(got == sent, f"{what}: a frame is sent", sent.hex()[:32],
                "nothing" if got is None else got.hex()[:32], req=req)
        s.inject(frame(n + 1))
        _, back = drv.wait_rx()
    except Timeout as err:
        require(False, f"{what}: frames pass both ways", "a frame each way", str(err), req=req)
    require(back == frame(n + 1), f"{what}: a frame is received", frame(n + 1).hex()[:32],
            back.hex()[:32], req=req)


@case("pci.virtio.driver.msix-table-sizes", ("VIRTIO-PCI-114", "VIRTIO-PCI-041"), "driver",
      "pci", "the driver brings the device up and passes frames whatever the MSI-X Table Size "
      "(no MSI-X, 1, 2, 3, 4 and 0x800 vectors), mapping no vector beyond the table")
def msix_table_sizes(target: object) -> None:
    for vectors in TABLE_SIZES:
        s, dev, drv = watched(target, vectors)
        what = f"{vectors} MSI-X vectors" if vectors else "no MSI-X capability"
        try:
            drv.bring_up()
        except Exception as err:  # any refusal to work is the finding
            require(False, f"{what}: the driver brings the device up", "DRIVER_OK",
                    f"{type(err).__name__}: {err}", req="VIRTIO-PCI-114")
        no_violations(dev, what)
        exchange(s, drv, 10 * vectors, "VIRTIO-PCI-114", what)


@case("pci.virtio.driver.vector-mapping", ("VIRTIO-PCI-041",), "driver", "pci",
      "the driver maps no event beyond the MSI-X table, reads every mapping back, and on a "
      "mapping the device refuses (NO_VECTOR) goes on another way or reports the failure")
def vector_mapping(target: object) -> None:
    s, dev, drv = watched(target, 2)  # fewer vectors than one per event
    drv.bring_up()
    no_violations(dev, "a device with 2 MSI-X vectors")
    exchange(s, drv, 1, "VIRTIO-PCI-041", "2 MSI-X vectors")
    s, dev, drv = watched(target, 4, refuse=(2,))
    try:
        drv.bring_up()
    except VectorRefused:
        no_violations(dev, "a device that refuses vector 2")
        return  # reporting the failure is one of the ways out
    no_violations(dev, "a device that refuses vector 2")
    require(bool(dev.mapped), "the driver mapped vectors on a device with 4", "some mappings",
            "none")
    exchange(s, drv, 3, "VIRTIO-PCI-041", "after vector 2 was refused")


def _shared(target: object, options: dict[str, Any], what: str) -> None:
    s, dev, drv = watched(target, 4, **options)
    drv.bring_up()
    drv.service()  # whatever bring-up left pending
    sent = frame(7)
    s.inject(sent)
    s.set_link(False)
    signalled = drv.irq_count(0) if drv.irq_page is not None else \
        (dev.isr & (ISR_CONFIG | ISR_QUEUE)) == ISR_CONFIG | ISR_QUEUE
    require(bool(signalled), f"{what}: the device signalled both on the one interrupt",
            "signalled", "nothing pending")
    done = drv.service()
    require(done["config"] == 1, f"{what}: the configuration change is served",
            "configuration read again", str(done), req="VIRTIO-PCI-116")
    require(drv.link is not None and drv.link & 1 == LINK_DOWN,
            f"{what}: the driver saw the link go down", "status without LINK_UP",
            str(drv.link), req="VIRTIO-PCI-116")
    got = [f for _, f in drv.inbox]
    require(sent in got, f"{what}: the used buffers of the same interrupt are served",
            "the frame received", f"{len(got)} frames, {done}", req="VIRTIO-PCI-116")


SHARED: list[tuple[dict[str, Any], str]] = [
    ({"msix": False}, "INTx and the ISR"),
    ({"share_irq": True}, "one MSI-X vector for everything"),
]


@case("pci.virtio.driver.shared-interrupt", ("VIRTIO-PCI-116",), "driver", "pci",
      "one interrupt standing for a configuration change and a used buffer (INTx with both "
      "ISR bits; one MSI-X vector for configuration and queues): the driver serves both")
def shared_interrupt(target: object) -> None:
    for options, what in SHARED:
        _shared(target, options, what)


@case("pci.virtio.driver.config-read-only", ("NET-022",), "driver", "pci",
      "through bring-up, frames, a configuration change and a request to change the MAC "
      "address, the driver never writes the network device's configuration structure")
def config_read_only(target: object) -> None:
    s, dev, drv = watched(target, 4)
    drv.bring_up()
    exchange(s, drv, 20, "NET-022", "a device that records configuration writes")
    s.set_link(False)
    drv.service()
    set_mac = getattr(drv, "set_mac", None)
    if set_mac is not None:
        with contextlib.suppress(Exception):  # refusing is the reference's way here
            set_mac(bytes.fromhex("02aabbccdd01"))
    no_violations(dev, "the device configuration is the driver's to read")


@case("pci.virtio.driver.packed-queue-size", ("VIRTIO-PCI-104",), "driver", "pci",
      "with VIRTIO_F_RING_PACKED negotiated the driver never writes 0 to queue_size, not "
      "even for a queue it does not use (the device watches the set-up only)")
def packed_queue_size(target: object) -> None:
    factory = pci_net_driver_of(target)

    def device(backend: Any) -> DriverWatch:
        return DriverWatch(backend, msix_vectors=4, packed=True, extra_queues=1)

    s = ReferenceSession(cast(type[DriverWatch], device))
    assert isinstance(s.device, DriverWatch)
    drv = factory(s.host, transport(s), Window(*s.ram), packed=True)
    drv.bring_up()
    if not drv.packed:
        raise CaseSkipped("the driver did not take VIRTIO_F_RING_PACKED")
    no_violations(s.device, "a packed set-up")
    sizes = [q.size for q in s.device.queues[:2]]
    require(all(sizes), "queue_size of the queues the driver set up", "non-zero", str(sizes),
            req="VIRTIO-PCI-104")


@case("pci.virtio.driver.capabilities", ("VIRTIO-PCI-011",), "driver", "pci",
      "the driver passes over vendor capabilities with a reserved cfg_type, a reserved BAR "
      "or a BAR without memory, accepts cap_len and length larger than it needs, and writes "
      "no vendor capability but the PCI configuration access one")
def capabilities(target: object) -> None:
    factory = pci_net_driver_of(target)

    def device(backend: Any) -> DriverWatch:
        return DriverWatch(backend, msix_vectors=4, decoys=True)

    s = ReferenceSession(cast(type[DriverWatch], device))
    assert isinstance(s.device, DriverWatch)
    try:
        drv = factory(s.host, transport(s), Window(*s.ram))
        drv.bring_up()
    except Exception as err:  # any refusal to work with these capabilities is the finding
        require(False, "the driver finds its structures behind capabilities it must pass "
                "over", "DRIVER_OK", f"{type(err).__name__}: {err}", req="VIRTIO-PCI-011")
    exchange(s, drv, 30, "VIRTIO-PCI-011", "capabilities to pass over first")
    no_violations(s.device, "vendor capabilities")
