"""A minimal virtio-net device type, enough to exercise the transport the way QEMU's
virtio-net-pci is exercised: queue 0 receives, queue 1 transmits, every buffer starts with the
12-byte ``virtio_net_hdr_v1``, configuration is ``mac[6]``, ``status`` and
``max_virtqueue_pairs``. Offloads, control queue and multiqueue are the net layer's business
and are not offered.

Its other end is a :class:`Wire`: frames the driver transmits appear in ``Wire.sent``;
:meth:`NetDevice.receive` puts a frame on the wire towards the driver.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_NET,
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    F_NOTIFICATION_DATA,
    F_RING_RESET,
    F_VERSION_1,
    NET_F_MAC,
    NET_F_STATUS,
    NET_S_LINK_UP,
    bit,
)

if TYPE_CHECKING:
    from virtiospec.reference.virtio_pci.device import VirtioPciDevice

NET_HDR_SIZE = 12
RX, TX = 0, 1
STATUS_AT = 6
# VIRTIO-FEAT-004: VERSION_1 is always offered; VIRTIO_F_RING_RESET: queues reset one by one
# (VIRTIO-PCI-102), VIRTIO_F_NOTIFICATION_DATA: 32-bit notifications (VIRTIO-PCI-101), both
# in the transport
NET_FEATURES = (bit(F_VERSION_1) | bit(F_EVENT_IDX) | bit(F_INDIRECT_DESC) | bit(NET_F_MAC)
                | bit(NET_F_STATUS) | bit(F_RING_RESET) | bit(F_NOTIFICATION_DATA))


class Wire:
    """The network on the far side of the device."""

    def __init__(self) -> None:
        self.sent: deque[bytes] = deque()  # frames the device transmitted, oldest first
        self.waiting: deque[bytes] = deque()  # frames for the driver, not yet received

    def take(self) -> bytes | None:
        return self.sent.popleft() if self.sent else None


class NetDevice:
    device_id = DEVICE_NET
    class_code = 0x020000

    def __init__(self, mac: bytes = b"\x52\x54\x00\x12\x34\x56", queue_size: int = 256,
                 features: int = NET_FEATURES) -> None:
        self.mac = mac
        self.features = features
        self.queue_sizes: tuple[int, ...] = (queue_size, queue_size)
        self.config = DeviceConfig(mac + NET_S_LINK_UP.to_bytes(2, "little")
                                   + (1).to_bytes(2, "little"))
        self.wire = Wire()
        self.dropped = 0  # frames that found no big enough receive buffer
        self.device: VirtioPciDevice | None = None

    def attach(self, device: VirtioPciDevice) -> None:
        self.device = device

    def validate_features(self, features: int) -> bool:
        return True  # nothing offered here depends on anything else

    def reset(self) -> None:
        pass  # frames on the wire stay on the wire

    def live(self) -> None:
        self._deliver()

    def queue_notified(self, index: int) -> None:
        if index == TX:
            self._transmit()
        elif index == RX:
            self._deliver()

    # -- the wire ------------------------------------------------------------------------
    def receive(self, frame: bytes) -> None:
        """A frame arrives from the network; it reaches the driver as soon as it can."""
        self.wire.waiting.append(frame)
        if self.device is not None:
            self.device.guarded(self._deliver)

    def set_link(self, up: bool) -> None:
        """Change ``status`` (a configuration change the driver is told about)."""
        assert self.device is not None
        value = NET_S_LINK_UP if up else 0
        if self.config.update(STATUS_AT, value.to_bytes(2, "little")):
            self.device.config_changed()

    # -- queue work ----------------------------------------------------------------------
    def _transmit(self) -> None:
        assert self.device is not None
        q = self.device.live_queue(TX)
        if q is None:
            return
        used = []
        while (chain := q.pop()) is not None:
            data = q.read(chain)
            if len(data) >= NET_HDR_SIZE:
                self.wire.sent.append(data[NET_HDR_SIZE:])
            used.append((chain.head, 0))
        if used:
            q.push(used)
            q.notify()

    def _deliver(self) -> None:
        assert self.device is not None
        q = self.device.live_queue(RX)
        if q is None:
            return
        used = []
        while self.wire.waiting:
            frame = self.wire.waiting[0]
            chain = q.pop()
            if chain is None:
                break
            self.wire.waiting.popleft()
            packet = bytes(NET_HDR_SIZE - 2) + (1).to_bytes(2, "little") + frame
            if chain.writable_len < len(packet):
                self.dropped += 1
                used.append((chain.head, 0))
                continue
            used.append((chain.head, q.write(chain, packet)))
        if used:
            q.push(used)
            q.notify()
