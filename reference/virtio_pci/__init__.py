"""virtio-pci (spec/pci.md): the modern PCI transport, device side and driver side.

Device side: :class:`VirtioPciDevice` (a PCI function) with a device type such as
:class:`NetDevice`. Driver side: :class:`VirtioPciTransport` (discovery, structures, register
operations), :class:`VirtioPciDriver` (initialization and status discipline) and
:class:`NetDriver` (a minimal network driver that passes frames). The two sides meet only in
config cycles and BAR accesses of a :class:`~virtiospec.reference.pci.Host`.
"""

from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.errors import VirtioPciError
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.net_device import NetDevice, Wire
from virtiospec.reference.virtio_pci.net_driver import NetDriver
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

__all__ = [
    "DeviceConfig",
    "NetDevice",
    "NetDriver",
    "VirtioPciDevice",
    "VirtioPciDriver",
    "VirtioPciError",
    "VirtioPciTransport",
    "Wire",
]
