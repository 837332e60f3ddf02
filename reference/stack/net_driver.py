"""The guest's side of the stack: PCI enumeration, virtio-pci bring-up, the queues in the
device's shared memory region, interrupts, and the full reference network driver on top.

Bring-up is VIRTIO-STATUS-008 with one addition, where the queues go:

1-6. reset, ACKNOWLEDGE, DRIVER, 128 feature bits, FEATURES_OK and its re-read
     (:class:`~virtiospec.reference.virtio_pci.VirtioPciDriver` over a :class:`WideTransport`);
7.   region 0 looked up among the shared memory capabilities (SHM-REGION-001, SHM-REGION-002,
SHM-REGION-003, SHM-REGION-004, SHM-REGION-005); the
     device configuration read through generation loops; MSI-X programmed, vector 0 for
     configuration changes and vector 1 + q for queue q (VIRTIO-PCI-041, VIRTIO-PCI-042); each queue
     placed in the region as a ring on shm, its driver fields initialised, then set up through
     the common configuration (VIRTIO-PCI-025, SHM-RING-005);
8.   DRIVER_OK, then every call signal enabled and the network driver started.

A kick the ring decides on injects the queue's kick signal, and only an injection that says
so writes the notification register (SHM-RING-003, SHM-RING-006). A message of a queue's
vector runs that queue's handler: disable and acknowledge, consume, re-enable and re-check
(SHM-RING-004). After a device reset every buffer is taken back (NET-062) and the device is
brought up again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import ByteMemory
from virtiospec.reference.net.config import OFF_MAX_PAIRS, OFF_MTU, ConfigSpace
from virtiospec.reference.net.driver import (
    CTRL_BUF,
    DEFAULT_RX_BUF,
    CtrlToken,
    NetDriver,
    RxFrame,
    RxToken,
    TxToken,
)
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import HDR_LEN, max_frame
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host
from virtiospec.reference.pci.regs import MSI_WINDOW
from virtiospec.reference.ring import RingError, SplitDriver
from virtiospec.reference.ring.on_shm import ShmRingLayout
from virtiospec.reference.shm.errors import ShmError
from virtiospec.reference.shm.region import Region, RegionSet
from virtiospec.reference.stack.counters import Counters
from virtiospec.reference.stack.net_function import RING_ALIGN, SHM_ID
from virtiospec.reference.stack.region import HostMemory
from virtiospec.reference.stack.rings import DriverRing
from virtiospec.reference.stack.transport import WideTransport
from virtiospec.reference.virtio_pci.errors import QueueUnavailable, VirtioPciError
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, DEVICE_NET, F_RING_RESET
from virtiospec.reference.virtio_pci.transport import TransportConfig

MSI_ADDRESS = MSI_WINDOW[0]  # where x86 MSI messages go (the local APICs)
MSI_DATA = 0x4E00  # the message data of vector v is MSI_DATA + v
CONFIG_VECTOR = 0
MAX_ROUNDS = 1000

DRIVER_FEATURES = F.of(F.VERSION_1, F.MAC, F.STATUS, F.MTU, F.MRG_RXBUF, F.CTRL_VQ,
                       F.CTRL_RX, F.CTRL_MAC_ADDR, F.MQ, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES,
                       F.RING_EVENT_IDX)


def queue_vector(index: int) -> int:
    return 1 + index


class CountingNetDriver(NetDriver):
    """The reference network driver, counting the frames it receives on each queue pair."""

    def __init__(self, features: int, config: ConfigSpace, mem: ByteMemory,
                 area: tuple[int, int], queue_size: int, counters: Counters, *,
                 notify: Callable[[int], None], rx_buf_size: int = DEFAULT_RX_BUF) -> None:
        self.counters = counters
        super().__init__(features, config, mem, area, queue_size,
                         notify=notify, rx_buf_size=rx_buf_size)

    def receive_one(self, pair: int) -> RxFrame | None:
        got = super().receive_one(pair)
        if got is not None:
            c = self.counters.pair(pair)
            c.rx_frames += 1
            c.rx_bytes += len(got.frame)
        return got

    # -- one queue reset (VIRTIO_F_RING_RESET) ----------------------------------------------
    def take_back_queue(self, index: int) -> None:
        """Queue ``index`` was reset (the transport saw ``queue_reset`` read 0): as at a
        device reset (NET-062) but for this queue alone, first what the device made used --
        frames received are delivered, transmitted buffers freed --, then every buffer still
        made available, each once; the frames of those transmit buffers go back to the front
        of their pair's pending list, in order. The queue is forgotten until
        :meth:`restart_queue`. Frames of other queues are not touched."""
        if index not in self.queues:
            return
        keep = self.lines.take_back_at_reset  # else the buffers are forgotten with the queue
        pair = index // 2
        if keep and self.lines.reap_used_at_reset:
            if index == self.ctrl_q:
                self.ctrl_poll()
            elif index % 2 == 0:
                self.inbox += self._drain_rx(pair)
            else:
                self._reap(pair)
        q = self.queues.pop(index)
        requeue: list[tuple[int, bytes, bool]] = []
        for token in q.detach_unused() if keep else ():
            if isinstance(token, RxToken):
                self.rx_pool.release(token.addr)
            elif isinstance(token, TxToken):
                self.tx_pool.release(token.addr)
                requeue.append((token.seq, token.frame, token.csum))
                self.stats.tx_requeued += 1
            elif isinstance(token, CtrlToken):
                self.ctrl_pool.release(token.addr)
        if requeue:
            pend = self.pending[pair]
            pend.frames = deque(sorted(requeue) + list(pend.frames))

    def restart_queue(self, index: int, queue: SplitDriver) -> None:
        """The queue enabled again: receive buffers posted, pending frames sent."""
        self.queues[index] = queue
        if index == self.ctrl_q:
            return
        if index % 2 == 0:
            self.post_rx(index // 2)
        else:
            self.flush(index // 2)


class StackDriver:
    """``mmio``: the window BARs are assigned from; ``ram``: guest RAM the driver may use for
    buffers (the region holds the rings)."""

    def __init__(self, host: Host, counters: Counters, *, mmio: Window, ram: Window,
                 queue_size: int, event_idx: bool = True, ring_reset: bool = False,
                 rx_buf_size: int = DEFAULT_RX_BUF) -> None:
        self.host = host
        self.counters = counters
        self.mem = HostMemory(host)
        self.mmio = mmio
        self.ram = ram
        self.queue_size = queue_size
        self.wanted = DRIVER_FEATURES if event_idx else DRIVER_FEATURES & ~F.bit(F.RING_EVENT_IDX)
        if ring_reset:  # queues reset one by one (VIRTIO_F_RING_RESET)
            self.wanted |= F.bit(F_RING_RESET)
        self.rx_buf_size = rx_buf_size
        self.transport: WideTransport | None = None
        self.virtio: VirtioPciDriver | None = None
        self.net: CountingNetDriver | None = None
        self.region: Region | None = None
        self.rings: dict[int, DriverRing] = {}
        self.notify_at: dict[int, int] = {}
        self.area: tuple[int, int] | None = None
        self.needs_reset = False  # the device said DEVICE_NEEDS_RESET, or broke a ring
        self.faults: list[Exception] = []

    # -- bring-up ---------------------------------------------------------------------------------
    def probe(self) -> WideTransport:
        """Enumerate bus 0, size and assign the BARs, find the structures (VIRTIO-PCI-002,
        VIRTIO-PCI-011, VIRTIO-PCI-012, VIRTIO-PCI-013, VIRTIO-PCI-014, PCI-CFG-001, PCI-CFG-002,
        PCI-CFG-003, PCI-CFG-004, PCI-CFG-005, PCI-CFG-006, PCI-CFG-007)."""
        transport = WideTransport.probe(self.host, DEVICE_NET, self.mmio)
        assert isinstance(transport, WideTransport)  # probe makes an instance of its class
        self.transport = transport
        return transport

    def bring_up(self) -> int:
        """Steps 1-8 of VIRTIO-STATUS-008 with the queues on shm; the negotiated features."""
        t = self.transport if self.transport is not None else self.probe()
        self.virtio = virtio = VirtioPciDriver(t, self.wanted)
        features = run(virtio.negotiate(), self.mem)
        try:
            self.region = self._region(t)
            config = TransportConfig(t, self.mem)
            if self.net is None:
                self.net = self._net_driver(features, config)
            elif self.net.features != features:
                raise VirtioPciError("the device negotiated other features after a reset",
                                     "VIRTIO-FEAT-010")
            self._interrupts(t, len(self._indices()))
            self._queues(t, features)
        except (VirtioPciError, ShmError, RingError, NetError) as err:
            run(virtio.fail(), self.mem)  # VIRTIO-STATUS-009
            raise err
        run(virtio.go_live(), self.mem)
        for ring in self.rings.values():
            run(ring.call.enable(), self.mem)
        self.needs_reset = False
        self.net.attach(dict(self.rings))
        self.net.start()
        return features

    @staticmethod
    def _region(t: WideTransport) -> Region:
        """Region 0 among the device's regions (SHM-REGION-001, -002, -003)."""
        regions = RegionSet(Region(shmid, addr, length)
                            for shmid, (addr, length) in t.structures.shm.items())
        return regions[SHM_ID]

    def _net_driver(self, features: int, config: ConfigSpace) -> CountingNetDriver:
        pairs = F.pairs(features, config.read(OFF_MAX_PAIRS, 2) if F.has(features, F.MQ) else 1)
        mtu = config.read(OFF_MTU, 2) if F.has(features, F.MTU) else 1500
        size = self.queue_size
        area = size * pairs * (self.rx_buf_size + HDR_LEN + max_frame(features, mtu) + 64) \
            + size * CTRL_BUF
        self.area = (self.ram.allocate(area, 0x1000), area)
        return CountingNetDriver(features, config, self.mem, self.area, size, self.counters,
                                 notify=self._kick, rx_buf_size=self.rx_buf_size)

    def _indices(self) -> list[int]:
        assert self.net is not None
        ctrl = self.net.ctrl_q
        return list(range(2 * self.net.n_pairs)) + ([ctrl] if ctrl is not None else [])

    def _interrupts(self, t: WideTransport, queues: int) -> None:
        """MSI-X: one vector for configuration changes, one per queue (VIRTIO-PCI-041)."""
        t.msix_program([(MSI_ADDRESS, MSI_DATA + v) for v in range(1 + queues)])
        run(t.map_vector("config_msix_vector", CONFIG_VECTOR), self.mem)

    def _queues(self, t: WideTransport, features: int) -> None:
        """Each queue packed in the region one after the other (SHM-RING-005)."""
        assert self.region is not None
        indices = self._indices()
        have = run(t.read("num_queues"), self.mem)
        if have < max(indices) + 1:
            raise QueueUnavailable(f"{have} queues, {max(indices) + 1} needed")
        self.rings, self.notify_at = {}, {}
        offset = 0
        for index in indices:
            layout = ShmRingLayout(self.region, offset, self.queue_size)
            ring = DriverRing(index, layout, self.counters,
                              event_idx=F.has(features, F.RING_EVENT_IDX))
            run(ring.init(), self.mem)
            self.notify_at[index] = run(t.setup_queue(index, layout.ring, queue_vector(index)),
                                        self.mem)
            self.rings[index] = ring
            offset = (layout.end + RING_ALIGN - 1) & ~(RING_ALIGN - 1)

    # -- notifications ----------------------------------------------------------------------------
    def _kick(self, index: int) -> None:
        """The ring decided to kick: inject the kick signal; write the notification register
        only if the injection says so (SHM-RING-003, VIRTIO-PCI-030)."""
        assert self.virtio is not None
        ring = self.rings[index]
        if run(ring.kick.inject(), self.mem):
            run(self.virtio.notify(index, self.notify_at[index]), self.mem)

    def on_message(self, addr: int, data: int) -> None:
        """An MSI-X message reached the interrupt controller."""
        vector = data - MSI_DATA
        self.counters.virtio_pci.irqs_delivered[vector] += 1
        try:
            if vector == CONFIG_VECTOR:
                self._config_changed()
            else:
                self._queue_interrupt(vector - 1)
        except (RingError, ShmError, NetError, VirtioPciError) as err:
            self.faults.append(err)  # the device broke something: stop using it
            self.needs_reset = True

    def poll_queues(self) -> None:
        """A timer: handle every queue as if its interrupt had come (a dropped notification's
        recovery; harmless otherwise, like a spurious interrupt)."""
        for index in sorted(self.rings):
            try:
                self._queue_interrupt(index)
            except (RingError, ShmError, NetError, VirtioPciError) as err:
                self.faults.append(err)
                self.needs_reset = True

    def _queue_interrupt(self, index: int) -> None:
        ring = self.rings.get(index)
        if ring is None or self.net is None or self.needs_reset:
            return  # spurious (SHM-SIGNAL-007)
        for _ in range(MAX_ROUNDS):
            run(ring.begin(), self.mem)
            self.net.interrupt(index)
            if not run(ring.finish(), self.mem):
                return

    def _config_changed(self) -> None:
        """VIRTIO-STATUS-004 first; else the device configuration changed (NET-021)."""
        assert self.transport is not None
        if run(self.transport.status(), self.mem) & DEVICE_NEEDS_RESET:
            self.needs_reset = True
            return
        if self.net is not None:
            self.net.config_changed()

    # -- one queue reset (VIRTIO_F_RING_RESET) -------------------------------------------------
    def reset_queue(self, index: int) -> None:
        """Reset queue ``index`` alone with buffers in flight, take its buffers back and enable
        it again at the same place: ``queue_reset`` written and read until 0 before anything
        of the queue is touched (VIRTIO-PCI-105, VIRTIO-VQRESET-003); the ring and its signals
        initialised and the queue set up as the first time (VIRTIO-VQRESET-005)."""
        assert self.transport is not None and self.net is not None
        t = self.transport
        old = self.rings.pop(index)  # its interrupts are spurious from now on
        run(t.reset_queue(index), self.mem)
        self.net.take_back_queue(index)
        ring = DriverRing(index, old.shm_layout, self.counters, event_idx=old.event_idx)
        run(ring.init(), self.mem)
        self.notify_at[index] = run(t.setup_queue(index, ring.shm_layout.ring,
                                                  queue_vector(index)), self.mem)
        self.rings[index] = ring
        run(ring.call.enable(), self.mem)
        self.net.restart_queue(index, ring)

    # -- reset ------------------------------------------------------------------------------------
    def reset(self) -> int:
        """Reset the device with buffers in flight, take every buffer back (NET-062) and bring
        the device up again; returns the negotiated features."""
        assert self.virtio is not None
        run(self.virtio.reset(), self.mem)
        if self.net is not None:
            self.net.recover()
        self.rings = {}
        return self.bring_up()
