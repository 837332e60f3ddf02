"""A function's 256-byte configuration space: bytes, per-bit write masks, and hooks.

Every byte has a mask of the bits a config write may change (the rest are read-only,
PCI-CFG-002) and a mask of the bits that are cleared by writing one (status error bits).
Registers whose value lives elsewhere (MSI-X message control, the virtio PCI configuration
access window) register a :class:`Hook` that is told about writes and asked before reads.

Accesses are checked before anything happens (PCI-CFG-008): 1, 2 or 4 bytes, naturally
aligned, inside the 256 bytes, with a value that fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from virtiospec.reference.pci.errors import BadAccess, BadCapabilityList, OutOfRange
from virtiospec.reference.pci.regs import (
    CAPABILITY_POINTER,
    CONFIG_SPACE_SIZE,
    HEADER_END,
    STATUS,
    STATUS_CAP_LIST,
)

ReadHook = Callable[[int, int], None]  # (offset, size): refresh bytes before they are read
WriteHook = Callable[[int, int, int], None]  # (offset, size, value) after the bytes changed


@dataclass
class Hook:
    start: int
    end: int  # exclusive
    on_read: ReadHook | None = None
    on_write: WriteHook | None = None

    def overlaps(self, offset: int, size: int) -> bool:
        return offset < self.end and self.start < offset + size


def check_config_access(offset: int, size: int, value: int | None = None) -> None:
    """PCI-CFG-008: size 1, 2 or 4, naturally aligned, inside 256 bytes, value fits."""
    if size not in (1, 2, 4):
        raise BadAccess(f"config access of {size} bytes (1, 2 or 4)")
    if offset < 0 or offset + size > CONFIG_SPACE_SIZE:
        raise OutOfRange(f"config access of {size} bytes at {offset:#x} is outside 256 bytes")
    if offset % size:
        raise BadAccess(f"config access of {size} bytes at {offset:#x} is not aligned")
    if value is not None and not 0 <= value < 1 << (8 * size):
        raise BadAccess(f"value {value:#x} does not fit {size} bytes")


class ConfigSpace:
    def __init__(self) -> None:
        self.data = bytearray(CONFIG_SPACE_SIZE)
        self.wmask = bytearray(CONFIG_SPACE_SIZE)
        self.w1c = bytearray(CONFIG_SPACE_SIZE)
        self.hooks: list[Hook] = []
        self.capabilities: list[tuple[int, int]] = []  # (offset, id), in list order
        self._next_free = HEADER_END

    # -- device-side set-up (no masks, no hooks) ----------------------------------------
    def init(self, offset: int, size: int, value: int, wmask: int = 0, w1c: int = 0) -> None:
        if offset < 0 or offset + size > CONFIG_SPACE_SIZE:
            raise OutOfRange(f"register of {size} bytes at {offset:#x} is outside 256 bytes")
        self.data[offset:offset + size] = value.to_bytes(size, "little")
        self.wmask[offset:offset + size] = wmask.to_bytes(size, "little")
        self.w1c[offset:offset + size] = w1c.to_bytes(size, "little")

    def get(self, offset: int, size: int) -> int:
        """The stored value, without hooks (for the device's own use)."""
        return int.from_bytes(self.data[offset:offset + size], "little")

    def put(self, offset: int, size: int, value: int) -> None:
        """Store a value the device computes (read-only bits included), without hooks."""
        self.data[offset:offset + size] = value.to_bytes(size, "little")

    def hook(self, start: int, end: int, on_read: ReadHook | None = None,
             on_write: WriteHook | None = None) -> None:
        self.hooks.append(Hook(start, end, on_read, on_write))

    def add_capability(self, cap_id: int, body: bytes, wmask: bytes = b"") -> int:
        """Append a capability (``body`` is everything after the ID and next bytes) to the
        list, dword aligned (PCI-CFG-006); returns its offset."""
        at = (self._next_free + 3) & ~3
        length = 2 + len(body)
        if at + length > CONFIG_SPACE_SIZE:
            raise BadCapabilityList(f"no room for a capability of {length} bytes at {at:#x}")
        self.data[at] = cap_id
        self.data[at + 1] = 0
        self.data[at + 2:at + length] = body
        mask = wmask.ljust(len(body), b"\0")
        self.wmask[at + 2:at + length] = mask[: len(body)]
        if self.capabilities:
            self.data[self.capabilities[-1][0] + 1] = at
        else:
            self.data[CAPABILITY_POINTER] = at
            self.put(STATUS, 2, self.get(STATUS, 2) | STATUS_CAP_LIST)
        self.capabilities.append((at, cap_id))
        self._next_free = at + length
        return at

    # -- config cycles ------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        check_config_access(offset, size)
        for h in self.hooks:
            if h.on_read is not None and h.overlaps(offset, size):
                h.on_read(offset, size)
        return self.get(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        check_config_access(offset, size, value)
        for k in range(size):
            at = offset + k
            byte = (value >> (8 * k)) & 0xFF
            old = self.data[at]
            kept = old & ~self.wmask[at] & ~(byte & self.w1c[at])
            self.data[at] = (kept | (byte & self.wmask[at])) & 0xFF
        for h in self.hooks:
            if h.on_write is not None and h.overlaps(offset, size):
                h.on_write(offset, size, value)
