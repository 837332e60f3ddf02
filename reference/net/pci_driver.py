"""The network driver behind the virtio-pci transport: the reference
:class:`~virtiospec.reference.net.driver.NetDriver` on queues built above the transport, as
the seed's layering puts them, by :class:`~virtiospec.reference.net.pci_queues.PciQueueDriver`
(split rings, or packed ones with VIRTIO_F_RING_PACKED, indirect tables with
VIRTIO_F_INDIRECT_DESC too).

Bring-up is VIRTIO-STATUS-008 (:class:`~virtiospec.reference.virtio_pci.VirtioPciDriver`):
reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and its re-read; then the device
configuration through generation loops (:class:`TransportConfig`), MSI-X vector 0 for
configuration changes and 1 + q for queue q (VIRTIO-PCI-041, VIRTIO-PCI-042), each message a
word in guest RAM the driver polls (without MSI-X, or with a table too small, the ISR:
VIRTIO-PCI-114); then each queue in fresh, zeroed guest RAM, its areas given to the transport
(``setup_queue``: VIRTIO-PCI-025); DRIVER_OK; then the network driver gets the rings and
posts its receive buffers. The transport never sees a ring: it is given addresses and gives
back where to notify.

A kick the ring decides on is the transport's notification (VIRTIO-PCI-030). A message on a
queue's vector is that queue's used-buffer notification (:meth:`NetDriver.interrupt`); one on
the configuration vector is DEVICE_NEEDS_RESET (VIRTIO-STATUS-004) or a configuration change
(NET-021). After a device reset every buffer is taken back (NET-062) and the device is
brought up again. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import OFF_MAX_PAIRS, OFF_MTU, ConfigSpace
from virtiospec.reference.net.driver import CTRL_BUF, DEFAULT_RX_BUF, NetDriver, RxFrame
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import HDR_LEN, max_frame
from virtiospec.reference.net.pci_queues import PciQueue, PciQueueDriver
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host
from virtiospec.reference.ring import RingError, SplitDriver
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.virtio_pci.errors import (
    QueueUnavailable,
    Timeout,
    VectorRefused,
    VirtioPciError,
)
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, DEVICE_NET
from virtiospec.reference.virtio_pci.transport import TransportConfig, VirtioPciTransport

DRIVER_FEATURES = F.of(F.VERSION_1, F.MAC, F.STATUS, F.MRG_RXBUF, F.RING_EVENT_IDX)


class PciNetDriver(PciQueueDriver[PciQueue]):
    """``mmio``: the window BARs are assigned from; ``ram``: guest RAM for rings, buffers and
    the interrupt words; ``packed``: ask for VIRTIO_F_RING_PACKED as well."""

    def __init__(self, host: Host, *, mmio: Window, ram: Window, queue_size: int = 16,
                 wanted: int = DRIVER_FEATURES, rx_buf_size: int = DEFAULT_RX_BUF,
                 packed: bool = False, msix: bool = True) -> None:
        super().__init__(host, None, ram, queue_size=queue_size, wanted=wanted, packed=packed,
                         msix=msix)
        self.mem = self.memory
        self.mmio = mmio
        self.rx_buf_size = rx_buf_size
        self.net: NetDriver | None = None
        self.needs_reset = False

    @property
    def rings(self) -> dict[int, SplitDriver | PackedDriver]:
        return {index: q.any_ring for index, q in self.queues.items()}

    # -- bring-up ---------------------------------------------------------------------------
    def probe(self) -> VirtioPciTransport:
        """The virtio-net function on bus 0, its BARs assigned, its structures found."""
        self.attach_transport(VirtioPciTransport.probe(self.host, DEVICE_NET, self.mmio))
        return self.transport

    def bring_up(self) -> int:
        """VIRTIO-STATUS-008 with the queues built here; returns the negotiated features. A
        vector mapping the device refuses (read back as NO_VECTOR, VIRTIO-PCI-041) makes the
        driver start again without MSI-X, one of the ways out that section allows."""
        if self._transport is None:
            self.probe()
        try:
            return self._bring_up()
        except VectorRefused:
            if self.irq_page is None:
                raise
            self.drop_msix()
            return self._bring_up()

    def _bring_up(self) -> int:
        t, virtio = self.transport, self.driver
        features = self.negotiate()
        try:
            if self.net is None:
                self.net = self._net_driver(features, TransportConfig(t, self.mem))
            elif self.net.features != features:
                raise VirtioPciError("the device negotiated other features after a reset",
                                     "VIRTIO-FEAT-010")
            indices = self._indices()
            have = self.run(t.read("num_queues"))
            if have < max(indices) + 1:
                raise QueueUnavailable(f"{have} queues, {max(indices) + 1} needed")
            self.queues = {}
            msix = self.setup_interrupts(len(indices))
            self.setup_queues(indices, msix)
        except VectorRefused:
            raise
        except (VirtioPciError, RingError, NetError) as err:
            self.run(virtio.fail())  # VIRTIO-STATUS-009
            raise err
        self.run(virtio.go_live())
        self.needs_reset = False
        self.net.attach(self.rings)
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

    # -- notifications ----------------------------------------------------------------------
    def _kick(self, index: int) -> None:
        """The ring decided to kick: the transport's available-buffer notification."""
        q = self.queues[index]
        self.run(self.driver.notify(q.notify_id, q.notify_addr, self.notify_data(q)))

    def service(self) -> int:
        """Handle every interrupt that arrived; returns how many causes were served."""
        if self.net is None:
            return 0
        config, queues = self.causes()
        if config:
            self._config_changed()
        for index in sorted(queues) if not self.needs_reset else ():
            self.net.interrupt(index)
        return int(config) + len(queues)

    def _config_changed(self) -> None:
        """VIRTIO-STATUS-004 first; else the device configuration changed (NET-021)."""
        assert self.net is not None
        if self.run(self.transport.status()) & DEVICE_NEEDS_RESET:
            self.needs_reset = True
            return
        self.net.config_changed()

    def set_mac(self, mac: bytes) -> int | None:
        """Through the control queue's MAC_ADDR_SET (VIRTIO 1.4 §5.1.9.5.2) when negotiated;
        never by writing the device configuration (NET-022)."""
        assert self.net is not None
        if F.has(self.net.features, F.CTRL_MAC_ADDR):
            return self.net.set_mac(mac)
        self.write_mac(mac)
        return None

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
        self.run(self.driver.reset())
        if self.net is not None:
            self.net.recover()
        self.queues = {}
        return self.bring_up()
