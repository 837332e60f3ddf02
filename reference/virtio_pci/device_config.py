"""Device-specific configuration and its generation counter (VIRTIO-PCI-050).

The counter follows the note of VIRTIO §4.1.4.3.1: a change only sets a flag; the next
driver read of the device configuration that finds the flag set increments the counter and
clears the flag. So the counter moves at most once per read, a driver's loop of fewer than 256
reads can never see it come back to the same value, and a driver that read a changed value
always sees a changed generation afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.virtio_pci.errors import BadRegisterAccess


def check_field_access(offset: int, size: int, limit: int, what: str) -> None:
    """VIRTIO-PCI-004: 1, 2 or 4 bytes, naturally aligned, inside the structure."""
    if size not in (1, 2, 4) or offset % size:
        raise BadRegisterAccess(f"{what}: access of {size} bytes at {offset:#x} is not an "
                                f"aligned 8, 16 or 32-bit access")
    if offset < 0 or offset + size > limit:
        raise BadRegisterAccess(f"{what}: access at {offset:#x} is outside its {limit} bytes")


@dataclass(frozen=True)
class DeviceConfigLines:
    """The lines of :class:`DeviceConfig` a known-bad variant (models/virtio_pci/generation.py)
    may turn off; every default is the protocol."""

    generation_bumps: bool = True  # read: a change moves config_generation (VIRTIO-PCI-050)


class DeviceConfig:
    """Readable at any time, before FEATURES_OK included (VIRTIO-PCI-052)."""

    lines = DeviceConfigLines()

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.generation = 0
        self.changed = False  # changed since the driver last read any part of it
        self.reads = 0

    @property
    def size(self) -> int:
        return max(4, (len(self.data) + 3) & ~3)

    def read(self, offset: int, size: int) -> int:
        check_field_access(offset, size, self.size, "device configuration")
        self.reads += 1
        if self.changed and self.lines.generation_bumps:
            self.generation = (self.generation + 1) & 0xFF
            self.changed = False
        return int.from_bytes(self.data[offset:offset + size].ljust(size, b"\0"), "little")

    def write(self, offset: int, size: int, value: int) -> None:
        check_field_access(offset, size, self.size, "device configuration")
        # no field of the devices modelled here is writable by the driver

    def update(self, offset: int, data: bytes) -> bool:
        """The device changes its configuration; True if any byte changed."""
        if self.data[offset:offset + len(data)] == data:
            return False
        self.data[offset:offset + len(data)] = data
        self.changed = True
        return True

    def snapshot(self) -> bytes:
        return bytes(self.data)
