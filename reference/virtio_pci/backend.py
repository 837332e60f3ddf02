"""What a virtio device type plugs into the device side of the transport.

The transport (:class:`~.device.VirtioPciDevice`) owns status, features, queue registers
and interrupts; the device type owns its feature set, its configuration, its queues and
what it does with buffers. When a queue goes live (DRIVER_OK, or enabled once live) the
transport hands the device type the queue's registers and keeps what it builds on them
(:meth:`DeviceType.build_queue`: the ring layer's ring over the function's memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from virtiospec.reference.virtio_pci.device import VirtioPciDevice
    from virtiospec.reference.virtio_pci.device_config import DeviceConfig
    from virtiospec.reference.virtio_pci.queues import QueueRegs


class DeviceType(Protocol):
    device_id: int  # the virtio device ID (1: network)
    class_code: int  # PCI class code
    features: int  # every feature the device offers, transport bits included
    queue_sizes: tuple[int, ...]  # largest size of each queue
    config: DeviceConfig
    # the errors its work raises for something the driver did wrong (the ring's refusals):
    # they break the device (VIRTIO-STATUS-004) instead of reaching the driver's access
    faults: tuple[type[Exception], ...]

    def attach(self, device: VirtioPciDevice) -> None: ...
    def validate_features(self, features: int) -> bool: ...
    def build_queue(self, index: int, q: QueueRegs) -> object: ...
    def live(self) -> None: ...
    def queue_notified(self, index: int) -> None: ...
    def reset(self) -> None: ...
