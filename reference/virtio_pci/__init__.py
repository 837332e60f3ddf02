"""virtio-pci (spec/pci.md): the modern PCI transport, device side and driver side.

Device side: :class:`VirtioPciDevice` (a PCI function: status, features, queue registers,
notifications, interrupts) with a device type plugged in (reference/net/pci.py's
``PciNetDevice``), which builds its queues on the registers the transport provides. Driver
side: :class:`VirtioPciTransport` (discovery, structures, register operations, a queue set
up at the areas it is given) and :class:`VirtioPciDriver` (initialization and status
discipline). The two sides meet only in config cycles and BAR accesses of a
:class:`~virtiospec.reference.pci.Host`. Neither imports the ring: the layers above build
rings on the memory and signals this layer provides.
"""

from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.errors import VirtioPciError
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

__all__ = [
    "DeviceConfig",
    "VirtioPciDevice",
    "VirtioPciDriver",
    "VirtioPciError",
    "VirtioPciTransport",
]
