"""The network device behind the virtio-pci transport: the reference
:class:`~virtiospec.reference.net.device.NetDevice` as a device type of
:class:`~virtiospec.reference.virtio_pci.VirtioPciDevice`, with its rings built here, on the
queue registers the transport provides.

The layering is the seed's: the transport provides each queue's memory (size and the
addresses the driver wrote) and its signal path (the notification it decodes, the MSI-X
vector it sends); when a queue goes live it asks this device type for the queue
(:meth:`PciNetDevice.build_queue`), which builds a
:class:`~virtiospec.reference.ring.SplitDevice` on those addresses (the ring layer); the
network device works that ring. The transport never sees the ring's inside.

The device works inside the transport's calls, as a device thread that answers each
doorbell at once: an available-buffer notification or the link coming up runs
:meth:`NetDevice.poll`; DRIVER_OK or a frame from the wire delivers waiting frames only
(buffers made available without a notification wait for one). Before it waits, the device
re-enables the kicks of each queue that has work for it and re-checks it (RING-SPLIT-072:
with VIRTIO_F_EVENT_IDX, ``avail_event`` follows what the device took). Before it works,
the network device is given the queues the transport says are live
(:meth:`VirtioPciDevice.live_queue`: DRIVER_OK, DEVICE_NEEDS_RESET clear, bus mastering on,
the queue enabled and not reset), so a queue the transport stops is never touched again. A
ring the driver broke stops that queue and breaks the device (RING-SPLIT-084,
VIRTIO-STATUS-004).

Defaults match a plain virtio-net-pci: one queue pair (receiveq1 = 0, transmitq1 = 1), the
configuration of :class:`~virtiospec.reference.net.config.NetConfig`, the receive filter off
(every frame from the wire reaches the driver), and the features :data:`PCI_NET_FEATURES`.
Its far side is a :class:`Wire`.
"""

from __future__ import annotations

from collections import deque

from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.errors import BadFeatures
from virtiospec.reference.pci.errors import BusMasterDisabled
from virtiospec.reference.pci.function import PciFunction
from virtiospec.reference.ring import RingError, SplitDevice, SplitLayout
from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_NET,
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    F_NOTIFICATION_DATA,
    F_RING_RESET,
    F_VERSION_1,
    NET_F_MAC,
    NET_F_STATUS,
    bit,
)

# VIRTIO-FEAT-004: VERSION_1 is always offered; VIRTIO_F_RING_RESET: queues reset one by one
# (VIRTIO-PCI-102), VIRTIO_F_NOTIFICATION_DATA: 32-bit notifications (VIRTIO-PCI-101), both
# kept by the transport
PCI_NET_FEATURES = (bit(F_VERSION_1) | bit(F_EVENT_IDX) | bit(F_INDIRECT_DESC) | bit(NET_F_MAC)
                    | bit(NET_F_STATUS) | bit(F_RING_RESET) | bit(F_NOTIFICATION_DATA))
RX, TX = 0, 1
MAX_PASSES = 1000


class Wire:
    """The network on the far side of the device."""

    def __init__(self) -> None:
        self.sent: deque[bytes] = deque()  # frames the device transmitted, oldest first

    def take(self) -> bytes | None:
        return self.sent.popleft() if self.sent else None


class FunctionMemory:
    """Guest memory as the function reaches it as a bus master (PCI-CFG-005), with the bulk
    copies the network device makes of frames."""

    def __init__(self, function: PciFunction) -> None:
        self.function = function
        self.view = function.dma()

    def read(self, addr: int, size: int) -> int:
        return self.view.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        self.view.write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        bulk = getattr(self._memory(), "read_bytes", None)
        if bulk is not None:
            return bytes(bulk(addr, size))
        return bytes(self.view.read(addr + i, 1) for i in range(size))

    def write_bytes(self, addr: int, data: bytes) -> None:
        bulk = getattr(self._memory(), "write_bytes", None)
        if bulk is not None:
            bulk(addr, data)
            return
        for i, byte in enumerate(data):
            self.view.write(addr + i, 1, byte)

    def _memory(self) -> object:
        """The platform's memory, as long as Bus Master Enable is set (PCI-CFG-005)."""
        if not self.function.bus_master or self.function.memory is None:
            raise BusMasterDisabled("a frame copy with Bus Master Enable clear")
        return self.function.memory


class PciNetDevice:
    """``queue_size``: the largest size of each queue; ``features``: what is offered."""

    device_id = DEVICE_NET
    class_code = 0x020000  # network controller, Ethernet
    faults: tuple[type[Exception], ...] = (RingError,)

    def __init__(self, mac: bytes = b"\x52\x54\x00\x12\x34\x56", queue_size: int = 256,
                 features: int = PCI_NET_FEATURES) -> None:
        self.features = features
        self.queue_sizes: tuple[int, ...] = (queue_size, queue_size)
        self.net_config = NetConfig(mac=mac)
        self.config = DeviceConfig(self.net_config.layout())
        self.net_config.on_change = self._config_changed
        self.wire = Wire()
        self.device: VirtioPciDevice | None = None
        self.net: NetDevice | None = None
        self.reported: set[int] = set()  # queues whose failure broke the device already

    # -- DeviceType ----------------------------------------------------------------------------
    def attach(self, device: VirtioPciDevice) -> None:
        self.device = device
        self.net = self._device(self.features & ~_transport_bits())

    def _device(self, features: int) -> NetDevice:
        assert self.device is not None
        return NetDevice(self.net_config, features, FunctionMemory(self.device),
                         notify=self._used, on_transmit=self._transmit, filtering=False)

    def validate_features(self, features: int) -> bool:
        """NET-027; the network device is made for the negotiated set, frames waiting on the
        wire move to it (NET-063)."""
        try:
            F.check(features)
        except BadFeatures:
            return False
        old = self.net
        net_features = features & ~_transport_bits()
        if old is None or old.features != net_features:
            self.net = self._device(net_features)
            if old is not None:
                for _, frame in sorted(item for q in old.backlog for item in q):
                    self.net.receive(frame)
        return True

    def build_queue(self, index: int, q: QueueRegs) -> SplitDevice:
        """The ring layer's split ring on the queue's registers (RING-SPLIT-002)."""
        device = self._function()
        layout = SplitLayout(q.size, q.desc, q.driver, q.device)
        return SplitDevice(layout, getattr(device.memory, "size", 0),
                           event_idx=device.has(F_EVENT_IDX),
                           indirect=device.has(F_INDIRECT_DESC))

    def live(self) -> None:
        self._work(kicked=False)  # frames waiting on the wire go to the receive buffers

    def queue_notified(self, index: int) -> None:
        self._work()

    def reset(self) -> None:
        if self.net is not None:
            self.net.reset()  # frames on the wire stay on the wire (NET-063)
        self.reported.clear()

    def queue_reset(self, index: int) -> None:
        """One queue reset (VIRTIO-VQRESET-001): what the network device held for it goes."""
        if self.net is not None:
            self.net.detach(index)
            self.net.broken.pop(index, None)
        self.reported.discard(index)

    # -- the wire and the host ---------------------------------------------------------------
    def receive(self, frame: bytes) -> None:
        """A frame arrives from the network; it reaches the driver as soon as it can."""
        assert self.net is not None
        self.net.receive(frame)
        self._function().guarded(lambda: self._work(kicked=False))

    def set_link(self, up: bool) -> None:
        """Change ``status`` (a configuration change the driver is told about, NET-021)."""
        self.net_config.set_link(up)
        if up:
            self._function().guarded(self._work)

    def _config_changed(self) -> None:
        if self.config.update(0, self.net_config.layout()) and self.device is not None:
            self.device.config_changed()

    def _transmit(self, pair: int, frame: bytes) -> None:
        self.wire.sent.append(frame)

    def _used(self, index: int) -> None:
        """The ring decided to notify (RING-SPLIT-052, RING-SPLIT-053): the transport sends
        the queue's used-buffer notification."""
        self._function().queue_interrupt(index)

    # -- the device's work ---------------------------------------------------------------------
    def _work(self, kicked: bool = True) -> None:
        """Work the live queues: all of them after a doorbell (``kicked``), else only the
        receive queues (frames from the wire, DRIVER_OK): buffers the driver made available
        without a notification wait for one, as on a device that sleeps until kicked."""
        device, net = self._function(), self.net
        if net is None:
            return
        for index in range(len(device.queues)):
            ring = device.live_queue(index)
            if isinstance(ring, SplitDevice):
                if net.queues.get(index) is not ring:
                    try:
                        net.attach(index, ring)
                    except ValueError:
                        continue  # a queue these features do not use
            else:
                net.queues.pop(index, None)  # not live: the device does not touch it
        if not net.queues:
            return
        memory = FunctionMemory(device)
        for _ in range(MAX_PASSES):
            if kicked:
                net.poll()
            else:
                for pair in net.tx_order():
                    net.deliver(pair)
            # before it waits for the next doorbell: kicks wanted again, and a re-check of
            # what the driver made available meanwhile (RING-SPLIT-072)
            again = False
            for index, ring in list(net.queues.items()):
                if (index not in net.broken and self._wants_kicks(index)
                        and (kicked or self._receives(index))):
                    again = run(ring.enable_notify(), memory) or again
            if not again:
                break
        for index, err in net.broken.items():
            if index not in self.reported:
                self.reported.add(index)
                device.fail(err)  # RING-SPLIT-084, VIRTIO-STATUS-004

    def _receives(self, index: int) -> bool:
        assert self.net is not None
        return index != self.net.ctrl_q and index % 2 == 0

    def _wants_kicks(self, index: int) -> bool:
        """Transmit and control queues: every buffer made available is work; a receive
        queue's buffers are work only while frames wait for them."""
        net = self.net
        assert net is not None
        if index == net.ctrl_q or index % 2:
            return True
        return bool(net.backlog[index // 2]) and net.config.link_up

    def _function(self) -> VirtioPciDevice:
        if self.device is None:
            raise RuntimeError("the network device is not attached to a function")
        return self.device


def _transport_bits() -> int:
    """Feature bits the transport keeps (the network device does not see them)."""
    return bit(F_RING_RESET) | bit(F_NOTIFICATION_DATA)
