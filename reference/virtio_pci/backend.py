"""What a virtio device type plugs into the device side of the transport.

The transport (:class:`~.device.VirtioPciDevice`) owns status, features, queues and
interrupts; the device type owns its feature set, its configuration and what it does with
buffers. It sees its queues only once the device is live (DRIVER_OK).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from virtiospec.reference.virtio_pci.device import VirtioPciDevice
    from virtiospec.reference.virtio_pci.device_config import DeviceConfig


class DeviceType(Protocol):
    device_id: int  # the virtio device ID (1: network)
    class_code: int  # PCI class code
    features: int  # every feature the device offers, transport bits included
    queue_sizes: tuple[int, ...]  # largest size of each queue
    config: DeviceConfig

    def attach(self, device: VirtioPciDevice) -> None: ...
    def validate_features(self, features: int) -> bool: ...
    def live(self) -> None: ...
    def queue_notified(self, index: int) -> None: ...
    def reset(self) -> None: ...
