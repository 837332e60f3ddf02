"""The layers of the stepped network stack (models/stack/net_machine.py) and what a run
switches in them: the run's configuration, the known-bad variants planted in a layer (the
reference classes with one protocol line off), and the mixed builds, where ring.c or shm.c
(their stepped builds) do the device's ring and signal operations under the Python
:class:`~virtiospec.reference.stack.rings.DeviceRing` -- from the start of a run, and for every
ring the device builds later (after a device reset, after a queue reset) from its creation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from virtiospec.models.memory.tso import Mode
from virtiospec.reference.access import Op
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver, NetDriverLines
from virtiospec.reference.ring import Chain, SplitDevice
from virtiospec.reference.ring.c.stepped import CSplitDevice
from virtiospec.reference.shm.c.stepped import CSignalReceiver, CSignalSender
from virtiospec.reference.shm.signal import SignalReceiver
from virtiospec.reference.stack.net_backend import NetBackend, NetBackendLines
from virtiospec.reference.stack.net_stack import Stack
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.virtio_pci.queues import QueueRegs

SIZE = 64  # bytes of every frame
RAM = 2 << 20  # guest RAM: the driver's buffers from 1 MiB
RX0, TX0, RX1, TX1, CTRL = 0, 1, 2, 3, 4  # the queues of two pairs and the control queue
PAIRS = 2  # two pairs: the device then offers queue classes, a second field to tear
CLASSES = ((0x0F, 0xF0), (0xF0, 0x0F), (0xFF, 0x00))  # class masks per pair (NET-050)


@dataclass(frozen=True)
class StackNetConfig:
    mode: Mode = "tso"
    event_idx: bool = True
    frames: int = 5  # at most this many frames each way in a run
    resets: int = 1  # device resets a run may do
    changes: int = 3  # configuration changes a run may do
    queue_resets: int = 0  # queue resets (VIRTIO_F_RING_RESET) a run may do
    # both pairs (VIRTIO_NET_F_MQ): frames of every class (so both pairs carry them), resets
    # of any queue (rx0, tx0, rx1, tx1, ctrl), VQ_PAIRS_SET again after a device reset
    mq: bool = False
    # known-bad variants, each planted in the layer it belongs to
    driver_bug: type[NetDriver] | None = None  # net: mixed under the stack's net driver
    device_bug: type[NetDevice] | None = None  # net: the back-end's network device
    device_ring_bug: type[SplitDevice] | None = None  # ring: mixed under every DeviceRing
    receiver_cls: type[SignalReceiver] | None = None  # shm: every receiver of both sides
    backend_bug: type[NetBackend] | None = None  # the seam in the stack's device service
    c_device: bool = False  # the device's rings are ring.c (its stepped build), not Python
    c_mutant: str | None = None  # ... built with this mutant of ring_mutants.h
    c_shm: bool = False  # the device's signals are shm.c (its stepped build), not Python
    c_shm_mutant: str | None = None  # ... built with this mutant of shm_mutants.h
    c_keeps_indices: bool = False  # ring.c variant: a reset queue's ring keeps its indices
    tx_vector: int | None = None  # virtio-pci: tx0's MSI-X vector (None: as set up)
    steps: int = 60


class BackendStopsAfterIdlePass(NetBackend):
    """The seam of ring and signal in the stack's device: a pass that found no work ends
    the service even though the re-check before waiting found a kick."""

    lines = NetBackendLines(rerun_on_recheck=False)  # BUG (SHM-RING-004)


class BackendKeepsOldRing(NetBackend):
    """virtio-pci queue reset in the stack's device: at ``queue_reset`` the network device
    keeps the queue's ring and its state, and serves it after the driver enabled the queue
    again, instead of the new one."""

    lines = NetBackendLines(forget_ring_at_queue_reset=False)  # BUG (VIRTIO-VQRESET-002)


class TornConfigDriver(NetDriver):
    """PCI configuration layer: the driver reads status and queue classes without the
    generation loop around them."""

    lines = NetDriverLines(config_generation_loop=False)  # BUG (VIRTIO-PCI-051)


class CDeviceOps(SplitDevice):
    """The ring operations of a :class:`DeviceRing` done by ring.c: its stepped build
    (reference/ring/c/stepped.py) on the same layout, in ``self.c``. Mixed under
    ``DeviceRing``, so the stack's shm checks and counters stay on top."""

    c: CSplitDevice

    def init(self) -> Op[None]:
        yield from self.c.init()

    def pop(self) -> Op[Chain | None]:
        return (yield from self.c.pop())

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        yield from self.c.push(used)

    def should_notify(self) -> Op[bool]:
        return (yield from self.c.should_notify())

    def disable_notify(self) -> Op[None]:
        yield from self.c.disable_notify()

    def enable_notify(self) -> Op[bool]:
        return (yield from self.c.enable_notify())


def to_c(ring: DeviceRing, mutant: str | None,
         start: tuple[int, int] | None = None) -> None:
    """Hand an idle device ring's state to ring.c, which does its operations from now on;
    ``start``: (last_avail, used_idx) to start from instead of the ring's own."""
    if isinstance(ring, CDeviceOps):
        return
    # ring.c checks ring parts and buffers against one bound: the region's end (the ring
    # lies in the region, above RAM); a buffer beyond RAM is refused by the device's memory
    c = CSplitDevice(ring.layout, ring.shm_layout.region.end, event_idx=ring.event_idx,
                     mutant=mutant)
    c.last_avail, c.used_idx = start or (ring.last_avail, ring.used_idx)
    ring.__class__ = type("CDeviceRing", (DeviceRing, CDeviceOps), {})
    ring.c = c  # type: ignore[attr-defined]


def shm_to_c(ring: DeviceRing, mutant: str | None) -> None:
    """The device's kick receiver and call sender of ``ring`` done by shm.c (its stepped
    build, reference/shm/c/stepped.py) on the same signal words; neither side of a signal
    keeps private state beyond its counters, so the switch may happen between any two
    operations. The C sides join the stack's shm counters."""
    if not isinstance(ring.kick, CSignalReceiver):
        ring.kick = CSignalReceiver(ring.shm_layout.kick, mutant=mutant)  # type: ignore[assignment]
        ring.shm.receivers["kick"].append(ring.kick)
    if not isinstance(ring.call, CSignalSender):
        ring.call = CSignalSender(ring.shm_layout.call, mutant=mutant)  # type: ignore[assignment]
        ring.shm.senders["call"].append(ring.call)


def plant_ring(ring: object, bug: type | None, base: type) -> None:
    if bug is not None and not isinstance(ring, bug):
        ring.__class__ = type(f"Planted{base.__name__}", (base, bug), {})


class BackendResetsPairZero(NetBackend):
    """virtio-pci queue reset in the stack's device with two pairs: at ``queue_reset`` the
    back-end drops the queue of the same direction in pair 0 (``index % 2``, as a one-pair
    device would) instead of the queue the driver reset: right for rx0 and tx0; a reset of
    rx1 or tx1 leaves rx0 or tx0 live in the driver and never served again."""

    def queue_reset(self, index: int) -> None:
        super().queue_reset(index % 2 if index < 2 * PAIRS else index)  # BUG (VIRTIO-VQRESET-001)


class DeviceTransmitsNewestFirst(NetDevice):
    """net: the device takes every buffer available on its transmit queues first, then puts
    each queue's frames on the wire newest first, not in the order placed (NET-060)."""

    def process_tx(self, budget: int = 1 << 30) -> int:
        order = self.tx_order()
        for pair in order:
            while self.tx_take(pair):
                pass
        return sum(self.tx_complete(pair) for pair in order)

    def tx_complete(self, pair: int) -> int:
        self.tx_staged.get(pair, []).reverse()  # BUG (NET-060)
        return super().tx_complete(pair)


def build_in_c(stack: Stack, mutant: str | None, c_device: bool, c_shm: bool,
               shm_mutant: str | None, keeps_indices: bool = False) -> None:
    """Every ring the device builds from now on (after a device reset, after a queue reset)
    has its operations in ring.c and/or its signals in shm.c from its creation, before the
    device serves it once. ``keeps_indices`` plants a ring.c device that starts a reset
    queue's new ring at the indices its old ring had reached (VIRTIO-VQRESET-002 broken)."""
    build: Callable[[int, QueueRegs], DeviceRing] = stack.backend.build_queue
    resets = stack.counters.virtio_pci.resets
    last = {index: (resets, q.ring)  # queue -> (device resets then, its latest ring)
            for index, q in enumerate(stack.function.queues) if isinstance(q.ring, DeviceRing)}

    def build_queue(index: int, q: QueueRegs) -> DeviceRing:
        ring = build(index, q)
        resets = stack.counters.virtio_pci.resets
        start = None
        old = last.get(index)
        if keeps_indices and old is not None and old[0] == resets and \
                isinstance(old[1], CDeviceOps):  # the same device life: a queue reset
            start = old[1].c.last_avail, old[1].c.used_idx  # BUG (VIRTIO-VQRESET-002)
        if c_device:
            to_c(ring, mutant, start)
        if c_shm:
            shm_to_c(ring, shm_mutant)
        last[index] = resets, ring
        return ring

    stack.backend.build_queue = build_queue  # type: ignore[method-assign]
