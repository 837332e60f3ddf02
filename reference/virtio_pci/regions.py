"""The register blocks of the device side, as BAR regions: common configuration
(VIRTIO-PCI-020), notification area (VIRTIO-PCI-030) and ISR (VIRTIO-PCI-031).

They decode offsets and widths and hand every access to the
:class:`~.device.VirtioPciDevice`, which holds the state. A wrong width or alignment is
refused before anything changes (VIRTIO-PCI-004, PCI-CFG-008).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtiospec.reference.virtio_pci.errors import BadRegisterAccess
from virtiospec.reference.virtio_pci.regs import COMMON_FIELDS, F_NOTIFICATION_DATA

if TYPE_CHECKING:
    from virtiospec.reference.virtio_pci.device import VirtioPciDevice

COMMON_REGION_SIZE = 64  # 60 bytes of fields, then the two admin queue fields (read as 0)
READ_ONLY_ZERO = {60: ("admin_queue_index", 2), 62: ("admin_queue_num", 2)}


def common_field(offset: int, size: int) -> tuple[int, str, int]:
    """``(field offset, name, 32-bit half)`` for a legal access to the common configuration:
    the field's own width, or 32 bits at either half of a 64-bit field (VIRTIO-PCI-004)."""
    fields = COMMON_FIELDS | READ_ONLY_ZERO
    for start, (name, width) in fields.items():
        if start <= offset < start + width:
            if width == 8 and size == 4 and (offset - start) in (0, 4):
                return start, name, (offset - start) // 4
            if offset == start and size == width and width != 8:
                return start, name, 0
            break
    raise BadRegisterAccess(f"common configuration: access of {size} bytes at {offset:#x} is "
                            f"not a whole field (or a 32-bit half of a 64-bit one)")


class CommonCfg:
    def __init__(self, device: VirtioPciDevice) -> None:
        self.device = device

    @property
    def size(self) -> int:
        return COMMON_REGION_SIZE

    def read(self, offset: int, size: int) -> int:
        _, name, half = common_field(offset, size)
        value = self.device.common_read(name)
        return (value >> (32 * half)) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        if not 0 <= value < 1 << (8 * size):
            raise BadRegisterAccess(f"value {value:#x} does not fit {size} bytes")
        _, name, half = common_field(offset, size)
        self.device.common_write(name, value, half)


class NotifyArea:
    """Without VIRTIO_F_NOTIFICATION_DATA a notification is a 16-bit write of the queue index
    at that queue's notify address (VIRTIO-PCI-030); with it, a 32-bit write whose low 16 bits
    are the queue index and whose high 16 bits are the next position the driver will make
    available (VIRTIO-PCI-115; the area is laid out for it, VIRTIO-PCI-101). Reads return 0."""

    def __init__(self, device: VirtioPciDevice, size: int) -> None:
        self.device = device
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if self.device.has(F_NOTIFICATION_DATA):
            if size != 4 or offset % 4:
                raise BadRegisterAccess(f"notification of {size} bytes at {offset:#x}: with "
                                        "VIRTIO_F_NOTIFICATION_DATA it is an aligned 32-bit "
                                        "write", "VIRTIO-PCI-115")
            self.device.notified(offset, value & 0xFFFF, value >> 16)
            return
        if size != 2 or offset % 2:
            raise BadRegisterAccess(f"notification of {size} bytes at {offset:#x}: without "
                                    f"VIRTIO_F_NOTIFICATION_DATA it is an aligned 16-bit write",
                                    "VIRTIO-PCI-030")
        self.device.notified(offset, value)


class IsrRegion:
    def __init__(self, device: VirtioPciDevice) -> None:
        self.device = device

    @property
    def size(self) -> int:
        return 4

    def read(self, offset: int, size: int) -> int:
        if offset != 0 or size != 1:
            raise BadRegisterAccess(f"ISR: access of {size} bytes at {offset:#x}; ISR status is "
                                    f"one byte at offset 0")
        return self.device.read_isr()

    def write(self, offset: int, size: int, value: int) -> None:
        pass  # ISR status is read-only
