"""The network driver behind the virtio-pci transport: the reference
:class:`~virtiospec.reference.net.driver.NetDriver` on queues this module builds, above the
transport, as the seed's layering puts them.

Bring-up is VIRTIO-STATUS-008 (:class:`~virtiospec.reference.virtio_pci.VirtioPciDriver`):
reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and its re-read; then the device
configuration through generation loops (:class:`TransportConfig`), MSI-X vector 0 for
configuration changes and 1 + q for queue q (VIRTIO-PCI-041, VIRTIO-PCI-042), each message a
word in guest RAM the driver polls; then each queue: the ring layer's
:class:`~virtiospec.reference.ring.SplitDriver` placed in fresh, zeroed guest RAM, its areas
given to the transport (``setup_queue``: VIRTIO-PCI-025); DRIVER_OK; then the network driver
gets the rings and posts its receive buffers. The transport never sees a ring: it is given
addresses and gives back where to notify.

A kick the ring decides on is the transport's notification (VIRTIO-PCI-030). A message on a
queue's vector is that queue's used-buffer notification (:meth:`NetDriver.interrupt`); one on
the configuration vector is DEVICE_NEEDS_RESET (VIRTIO-STATUS-004) or a configuration change
(NET-021). After a device reset every buffer is taken back (NET-062) and the device is
brought up again. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import OFF_MAX_PAIRS, OFF_MTU, ConfigSpace
from virtiospec.reference.net.driver import CTRL_BUF, DEFAULT_RX_BUF, NetDriver, RxFrame
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import HDR_LEN, max_frame
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.ring import RingError, SplitDriver, SplitLayout
from virtiospec.reference.virtio_pci.errors import QueueUnavailable, Timeout, VirtioPciError
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, DEVICE_NET
from virtiospec.reference.virtio_pci.transport import TransportConfig, VirtioPciTransport

DRIVER_FEATURES = F.of(F.VERSION_1, F.MAC, F.STATUS, F.MRG_RXBUF, F.RING_EVENT_IDX)
CONFIG_VECTOR = 0
IRQ_DATA = 0x5EC1_0000  # the message data of vector v is IRQ_DATA + v
RING_ALIGN = 0x1000


def queue_vector(index: int) -> int:
    return 1 + index


class PciNetDriver:
    """``mmio``: the window BARs are assigned from; ``ram``: guest RAM for rings, buffers and
    the interrupt words."""

    def __init__(self, host: Host, *, mmio: Window, ram: Window, queue_size: int = 16,
                 wanted: int = DRIVER_FEATURES, rx_buf_size: int = DEFAULT_RX_BUF) -> None:
        self.host = host
        self.mem = PhysMemory(host)
        self.mmio = mmio
        self.ram = ram
        self.queue_size = queue_size
        self.wanted = wanted
        self.rx_buf_size = rx_buf_size
        self.transport: VirtioPciTransport | None = None
        self.virtio: VirtioPciDriver | None = None
        self.net: NetDriver | None = None
        self.rings: dict[int, SplitDriver] = {}
        self.notify_at: dict[int, int] = {}
        self.irq_page: int | None = None
        self.needs_reset = False

    # -- bring-up ---------------------------------------------------------------------------
    def probe(self) -> VirtioPciTransport:
        """The virtio-net function on bus 0, its BARs assigned, its structures found."""
        self.transport = VirtioPciTransport.probe(self.host, DEVICE_NET, self.mmio)
        return self.transport

    def bring_up(self) -> int:
        """VIRTIO-STATUS-008 with the queues built here; returns the negotiated features."""
        t = self.transport if self.transport is not None else self.probe()
        self.virtio = virtio = VirtioPciDriver(t, self.wanted)
        features = run(virtio.negotiate(), self.mem)
        try:
            if self.net is None:
                self.net = self._net_driver(features, TransportConfig(t, self.mem))
            elif self.net.features != features:
                raise VirtioPciError("the device negotiated other features after a reset",
                                     "VIRTIO-FEAT-010")
            indices = self._indices()
            self._interrupts(t, len(indices))
            self._queues(t, indices)
        except (VirtioPciError, RingError, NetError) as err:
            run(virtio.fail(), self.mem)  # VIRTIO-STATUS-009
            raise err
        run(virtio.go_live(), self.mem)
        self.needs_reset = False
        self.net.attach(dict(self.rings))
        self.net.start()
        return features

    def _net_driver(self, features: int, config: ConfigSpace) -> NetDriver:
        pairs = F.pairs(features, config.read(OFF_MAX_PAIRS, 2) if F.has(features, F.MQ) else 1)
        mtu = config.read(OFF_MTU, 2) if F.has(features, F.MTU) else 1500
        size = self.queue_size
        area = size * pairs * (self.rx_buf_size + HDR_LEN + max_frame(features, mtu) + 64) \
            + size * CTRL_BUF
        at = self.ram.allocate(area, 0x1000)
        return NetDriver(features, config, self.mem, (at, area), size, notify=self._kick,
                         rx_buf_size=self.rx_buf_size)

    def _indices(self) -> list[int]:
        assert self.net is not None
        ctrl = self.net.ctrl_q
        return list(range(2 * self.net.n_pairs)) + ([ctrl] if ctrl is not None else [])

    def _interrupts(self, t: VirtioPciTransport, queues: int) -> None:
        """MSI-X: one vector for configuration changes, one per queue (VIRTIO-PCI-041), each
        message a word in a page of guest RAM."""
        if self.irq_page is None:
            self.irq_page = self.ram.allocate(0x1000, 0x1000)
        self.host.write_bytes(self.irq_page, bytes(0x1000))
        t.msix_program([(self.irq_page + 4 * v, IRQ_DATA + v) for v in range(1 + queues)])
        run(t.map_vector("config_msix_vector", CONFIG_VECTOR), self.mem)

    def _queues(self, t: VirtioPciTransport, indices: list[int]) -> None:
        """Each queue a split ring in fresh, zeroed RAM (VIRTIO 1.4 §2.7), its areas written
        to the transport's queue registers (VIRTIO-PCI-025)."""
        assert self.net is not None
        have = run(t.read("num_queues"), self.mem)
        if have < max(indices) + 1:
            raise QueueUnavailable(f"{have} queues, {max(indices) + 1} needed")
        event_idx = F.has(self.net.features, F.RING_EVENT_IDX)
        self.rings, self.notify_at = {}, {}
        for index in indices:
            size = min(self.queue_size, run(t.max_queue_size(index), self.mem))
            probe = SplitLayout.packed_at(0, size)
            at = self.ram.allocate(probe.end, RING_ALIGN)
            self.host.write_bytes(at, bytes(probe.end))
            ring = SplitDriver(SplitLayout.packed_at(at, size), event_idx=event_idx)
            run(ring.init(), self.mem)
            self.notify_at[index] = run(t.setup_queue(index, ring.layout, queue_vector(index)),
                                        self.mem)
            self.rings[index] = ring

    # -- notifications ----------------------------------------------------------------------
    def _kick(self, index: int) -> None:
        """The ring decided to kick: the transport's available-buffer notification."""
        assert self.virtio is not None
        run(self.virtio.notify(index, self.notify_at[index]), self.mem)

    def service(self) -> int:
        """Handle every MSI-X message that arrived; returns how many."""
        if self.irq_page is None or self.net is None:
            return 0
        handled = 0
        for vector in range(1 + len(self.rings)):
            at = self.irq_page + 4 * vector
            if self.host.mem_read(at, 4) != IRQ_DATA + vector:
                continue
            self.host.mem_write(at, 4, 0)
            handled += 1
            if vector == CONFIG_VECTOR:
                self._config_changed()
            elif not self.needs_reset:
                self.net.interrupt(vector - 1)
        return handled

    def _config_changed(self) -> None:
        """VIRTIO-STATUS-004 first; else the device configuration changed (NET-021)."""
        assert self.transport is not None and self.net is not None
        if run(self.transport.status(), self.mem) & DEVICE_NEEDS_RESET:
            self.needs_reset = True
            return
        self.net.config_changed()

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
        """Handle messages until ``done()``; at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if not self.service():
                if time.monotonic() >= deadline:
                    raise Timeout(f"no {what} after {timeout} s")
                time.sleep(0.0005)

    # -- frames -----------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        assert self.net is not None
        self.net.send(frame)

    def wait_tx(self, timeout: float = 2.0) -> None:
        """Until every frame sent so far came back from the device."""
        net = self.net
        assert net is not None
        self.wait(lambda: net.stats.tx_done == net.stats.tx_queued and not net.tx_waiting,
                  "transmit buffers back", timeout)

    def wait_rx(self, timeout: float = 2.0) -> RxFrame:
        """The next received frame, waiting at most ``timeout``."""
        net = self.net
        assert net is not None
        self.wait(lambda: bool(net.inbox), "received frame", timeout)
        return net.inbox.pop(0)

    # -- reset ------------------------------------------------------------------------------
    def reset(self) -> int:
        """Reset the device with buffers in flight, take every buffer back (NET-062) and
        bring the device up again; returns the negotiated features."""
        assert self.virtio is not None
        run(self.virtio.reset(), self.mem)
        if self.net is not None:
            self.net.recover()
        self.rings = {}
        return self.bring_up()
