"""The one network device and driver of reference/net behind the virtio-pci transport, with
the queues built above it (reference/net/pci.py, reference/net/pci_driver.py): frames both
ways, a link change, a device reset with frames in flight; and the same driver against
QEMU's virtio-net-pci (a real peer, through qtest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, cast

import pytest
from virtiospec.conformance.suites.virtio_pci.session import (
    MAC,
    PciSession,
    ReferenceSession,
    frame,
)
from virtiospec.conformance.virtio_pci.target_qemu import QemuTarget, qemu_binary
from virtiospec.reference.net import features as F
from virtiospec.reference.net.pci_driver import DRIVER_FEATURES, PciNetDriver
from virtiospec.reference.pci import Window
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.virtio_pci.device import VirtioPciDevice

PEER_MAC = bytes.fromhex("02aabbccddee")


def _driver(s: PciSession) -> PciNetDriver:
    return PciNetDriver(s.host, mmio=Window(*s.mmio), ram=Window(*s.ram), queue_size=8)


def _need_qemu() -> None:
    """As tests/virtio_pci/test_pci_qemu.py: a skip without QEMU, a failure in CI."""
    if qemu_binary() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("qemu-system-x86_64 is missing in CI")
        pytest.skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")


def _sessions() -> Iterator[tuple[str, Any]]:
    yield "reference", ReferenceSession
    yield "qemu", lambda: QemuTarget().pci_session()


@pytest.fixture(params=[name for name, _ in _sessions()])
def session(request: pytest.FixtureRequest) -> Iterator[PciSession]:
    if request.param == "qemu":
        _need_qemu()
    factory = dict(_sessions())[request.param]
    made = factory()
    if isinstance(made, ReferenceSession):
        yield made
        return
    with cast(AbstractContextManager[PciSession], made) as s:
        yield s


def test_frames_pass_both_ways_in_order(session: PciSession) -> None:
    drv = _driver(session)
    features = drv.bring_up()
    assert F.has(features, F.VERSION_1) and F.has(features, F.MAC)
    assert drv.net is not None and drv.net.mac == session.mac
    sent = [frame(n, src=session.mac, dst=PEER_MAC) for n in range(5)]
    for f in sent:
        drv.send(f)
    drv.wait_tx()
    got = [session.capture(2.0) for _ in sent]
    assert got == sent
    for n in range(5, 10):
        session.inject(frame(n))
    received = [drv.wait_rx() for _ in range(5)]
    assert [r.frame for r in received] == [frame(n) for n in range(5, 10)]
    assert all(r.hdr.num_buffers == 1 and r.buffers == 1 for r in received)


def test_link_change_reaches_the_network_driver(session: PciSession) -> None:
    drv = _driver(session)
    drv.bring_up()
    assert drv.net is not None and drv.net.link_up
    session.set_link(False)
    net = drv.net
    drv.wait(lambda: not net.link_up, "link down")
    assert net.stats.config_changes >= 1


def test_reset_then_frames_pass_again(session: PciSession) -> None:
    drv = _driver(session)
    drv.bring_up()
    net = drv.net
    assert net is not None
    session.inject(frame(1))
    first = drv.wait_rx()
    assert first.frame == frame(1)
    drv.reset()
    assert net.stats.recoveries == 1
    session.inject(frame(2))
    assert drv.wait_rx().frame == frame(2)
    out = frame(3, src=session.mac, dst=PEER_MAC)
    drv.send(out)
    drv.wait_tx()
    assert session.capture(2.0) == out


def test_qemu_num_buffers_zero_is_refused() -> None:
    """Without MRG_RXBUF QEMU 7.2 writes num_buffers = 0 (docs/pci.md, "num_buffers is 0"):
    the network driver refuses each such frame (NET-016) and takes nothing from it."""
    _need_qemu()
    with QemuTarget().pci_session() as s:
        drv = PciNetDriver(s.host, mmio=Window(*s.mmio), ram=Window(*s.ram), queue_size=8,
                           wanted=DRIVER_FEATURES & ~F.bit(F.MRG_RXBUF))
        drv.bring_up()
        net = drv.net
        assert net is not None
        s.inject(frame(1))
        drv.wait(lambda: bool(net.faults), "refusal")
        assert [e.req for e in net.faults] == ["NET-016"] and not net.inbox


def test_the_device_builds_its_rings_on_the_transport_registers() -> None:
    """The transport holds registers; the ring of each live queue is the network device
    type's, built at the addresses the driver wrote."""
    s = ReferenceSession()
    drv = _driver(s)
    drv.bring_up()
    device: VirtioPciDevice = s.device
    for index in drv.queues:
        ring = drv.queues[index].ring  # split: the reference device offers no RING_PACKED
        regs = device.queues[index]
        built = regs.ring
        assert isinstance(built, SplitDevice)
        assert (regs.desc, regs.driver, regs.device) == (ring.layout.desc, ring.layout.avail,
                                                         ring.layout.used)
        assert built.layout == ring.layout
    assert drv.net is not None and s.mac == MAC


@pytest.mark.req("RING-PACKED-012", "VIRTIO-PCI-025", "NET-016")
@pytest.mark.parametrize("msix", [True, False], ids=["msix", "isr"])
def test_qemu_packed_rings_carry_the_network_driver(msix: bool) -> None:
    """With VIRTIO_F_RING_PACKED (QEMU's packed=on) the same network driver runs on packed
    rings the transport side built (indirect tables offered too), with MSI-X words or, without
    MSI-X, the ISR: frames go out in order over more laps than the ring has slots. QEMU 7.2
    marks no used receive descriptor WRITE (conformance/deviations/qemu.toml,
    pci.packed.receive-written), so its len is reserved and the driver refuses each received
    buffer as holding no header (NET-016) rather than read what the device did not vouch for."""
    _need_qemu()
    with QemuTarget(props={"packed": "on"}).pci_session() as s:
        drv = PciNetDriver(s.host, mmio=Window(*s.mmio), ram=Window(*s.ram), queue_size=8,
                           wanted=DRIVER_FEATURES | F.bit(F.RING_INDIRECT_DESC), packed=True,
                           msix=msix)
        features = drv.bring_up()
        assert F.has(features, F.RING_PACKED) and (drv.irq_page is not None) == msix
        assert all(isinstance(ring, PackedDriver) for ring in drv.rings.values())
        for n in range(20):
            out = frame(n, src=s.mac, dst=PEER_MAC)
            drv.send(out)
            drv.wait_tx()
            assert s.capture(2.0) == out
        net = drv.net
        assert net is not None and net.stats.tx_done == 20
        s.inject(frame(100))
        drv.wait(lambda: bool(net.faults), "refusal")
        assert [e.req for e in net.faults] == ["NET-016"] and not net.inbox
