"""What the pci suite needs from a target, and the in-process session of the reference.

The pci cases are written from the driver's seat: the suite is the driver (our reference
driver, plus hand-made hostile accesses), the target is a virtio-net device behind PCI. A
target provides ``pci_session()``, a context manager yielding a :class:`PciSession`: a
:class:`~virtiospec.reference.pci.Host` (port I/O, physical memory), windows of guest RAM and
of MMIO addresses the driver may use, and the network on the device's far side.

Targets: the reference (an in-process :class:`~virtiospec.reference.pci.Machine` with our
:class:`~virtiospec.reference.virtio_pci.VirtioPciDevice`) and ``qemu``
(``conformance/virtio_pci/target_qemu.py``). This module registers no case.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar, cast

import dpkt
from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.suites.virtio_pci.case_driver import CaseDriver
from virtiospec.reference.access import Op, run
from virtiospec.reference.net.pci import PciNetDevice
from virtiospec.reference.pci import Bdf, ConfigMechanism1, Machine, PciFunction, Window, scan
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.virtio_pci import VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import DEVICE_NET
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport, virtio_type

T = TypeVar("T")
MAC = bytes.fromhex("525400123456")
PEER = bytes.fromhex("02aabbccddee")
ETHERTYPE = 0x88B5  # IEEE local experimental


class PciSession(Protocol):
    name: str
    ram: tuple[int, int]  # (base, size) of guest RAM the driver may use
    mmio: tuple[int, int]  # (base, size) of addresses for memory BARs
    mac: bytes  # the MAC address the device was given

    @property
    def host(self) -> Host: ...
    def inject(self, frame: bytes) -> None: ...
    def capture(self, timeout: float) -> bytes | None: ...
    def set_link(self, up: bool) -> None: ...


class ReferenceSession:
    """Bus 0 of an in-process machine: a host bridge at 00.0, our virtio-net at 03.0."""

    name = "reference"
    ram = (0x0010_0000, 0x01F0_0000)
    mmio = (0xE000_0000, 0x1000_0000)
    mac = MAC

    def __init__(self, device_cls: type[VirtioPciDevice] = VirtioPciDevice) -> None:
        self.machine = Machine(32 << 20)
        self.machine.plug(0, 0, PciFunction(vendor=0x1B36, device=0x0008, class_code=0x060000,
                                            interrupt_pin=0))
        self.net = PciNetDevice(MAC)
        self.device = device_cls(self.net)
        self.machine.plug(3, 0, self.device)

    @property
    def host(self) -> Host:
        return self.machine

    def inject(self, frame: bytes) -> None:
        self.net.receive(frame)

    def capture(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            got = self.net.wire.take()
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(0.001)

    def set_link(self, up: bool) -> None:
        self.net.set_link(up)


@contextmanager
def reference_session() -> Iterator[ReferenceSession]:
    yield ReferenceSession()


@contextmanager
def session(target: object) -> Iterator[PciSession]:
    """The target's PCI session (the reference target's is the in-process machine)."""
    factory = getattr(target, "pci_session", None)
    if factory is None:
        raise CaseSkipped(f"target {getattr(target, 'name', target)} provides no PCI device")
    with cast(AbstractContextManager[Any], factory()) as s:
        yield cast(PciSession, s)


# -- the suite's driver-side helpers ----------------------------------------------------

def do(s: PciSession, op: Op[T]) -> T:
    """Run a register or ring operation on the session's host."""
    return run(op, PhysMemory(s.host))


def find_net(s: PciSession) -> Bdf:
    """The virtio-net function on bus 0 (VIRTIO-PCI-002)."""
    for function in scan(ConfigMechanism1(s.host)):
        if virtio_type(function) == DEVICE_NET:
            return function.bdf
    raise AssertionError("no virtio-net function found on bus 0")


def net_config(s: PciSession) -> tuple[ConfigMechanism1, Bdf]:
    """The configuration mechanism of the session's host and the virtio-net function on it."""
    return ConfigMechanism1(s.host), find_net(s)


def transport(s: PciSession) -> VirtioPciTransport:
    return VirtioPciTransport.probe(s.host, DEVICE_NET, Window(*s.mmio))


def net_driver(s: PciSession, **options: Any) -> CaseDriver:
    return CaseDriver(s.host, transport(s), Window(*s.ram), **options)


def up(s: PciSession, **options: Any) -> CaseDriver:
    """A network driver that went through the whole initialization (with its three MSI-X
    vectors unless ``msix=False``: SKIP when the device's configuration has fewer)."""
    drv = net_driver(s, **options)
    drv.bring_up()
    if drv.use_msix and drv.irq_page is None:
        raise CaseSkipped(few_vectors(drv))
    return drv


@contextmanager
def up_session(target: object, **options: Any) -> Iterator[tuple[PciSession, CaseDriver]]:
    """The target's session with a network driver brought up in it (:func:`up`)."""
    with session(target) as s:
        yield s, up(s, **options)


def few_vectors(drv: CaseDriver) -> str:
    msix = drv.transport.msix
    have = f"{msix.vectors} MSI-X vectors" if msix is not None else "no MSI-X"
    return f"the device has {have}; the case maps 3 (configuration, receive, transmit)"


def need_vectors(drv: CaseDriver) -> None:
    """Map the three MSI-X vectors, or SKIP: this configuration of the device has fewer."""
    if not drv.setup_interrupts():
        raise CaseSkipped(few_vectors(drv))


def with_vectors(s: PciSession, **options: Any) -> CaseDriver:
    """A network driver that negotiated and mapped its three MSI-X vectors (or SKIP: this
    configuration of the device has fewer), its queues not set up yet."""
    drv = net_driver(s, **options)
    drv.negotiate()
    need_vectors(drv)
    return drv


def frame(n: int, size: int = 64, src: bytes = PEER, dst: bytes = MAC) -> bytes:
    """Ethernet frame number ``n``: ``size`` bytes, payload saying which one it is."""
    payload = f"virtiospec frame {n:05d} ".encode()
    payload = (payload * (size // len(payload) + 1))[: max(0, size - 14)]
    return bytes(dpkt.ethernet.Ethernet(dst=dst, src=src, type=ETHERTYPE, data=payload))
