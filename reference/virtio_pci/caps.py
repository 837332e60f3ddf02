"""The virtio vendor capability (VIRTIO-PCI-010): building it (device side) and reading it
(driver side) from configuration space."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from virtiospec.reference.virtio_pci.regs import (
    CAP64_SIZE,
    CAP_BAR,
    CAP_CFG_TYPE,
    CAP_ID,
    CAP_LEN,
    CAP_LENGTH,
    CAP_LENGTH_HI,
    CAP_NOTIFY_MULTIPLIER,
    CAP_OFFSET,
    CAP_OFFSET_HI,
    CAP_SIZE,
    NOTIFY_CAP_SIZE,
    NOTIFY_CFG,
    SHARED_MEMORY_CFG,
)

ConfigRead = Callable[[int, int], int]  # (offset, size) -> value


@dataclass(frozen=True)
class VirtioCap:
    at: int  # where the capability sits in configuration space
    cap_len: int
    cfg_type: int
    bar: int
    id: int
    offset: int  # 64-bit for shared memory capabilities
    length: int
    notify_off_multiplier: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length


def body(cfg_type: int, bar: int, offset: int, length: int, *, cap_id: int = 0,
         extra: bytes = b"") -> bytes:
    """Everything after ``cap_vndr`` and ``cap_next``: ``cap_len`` covers ``extra`` too."""
    cap_len = CAP_SIZE + len(extra)
    return (bytes([cap_len, cfg_type, bar, cap_id, 0, 0])
            + (offset & 0xFFFF_FFFF).to_bytes(4, "little")
            + (length & 0xFFFF_FFFF).to_bytes(4, "little") + extra)


def body64(cfg_type: int, bar: int, offset: int, length: int, cap_id: int) -> bytes:
    """A ``virtio_pci_cap64`` (shared memory regions, VIRTIO-PCI-014)."""
    extra = (offset >> 32).to_bytes(4, "little") + (length >> 32).to_bytes(4, "little")
    return body(cfg_type, bar, offset, length, cap_id=cap_id, extra=extra)


def parse(read: ConfigRead, at: int) -> VirtioCap:
    """Read the capability at ``at`` with aligned config reads only."""
    head = read(at, 4)
    cap_len = (head >> 16) & 0xFF
    cfg_type = head >> 24
    bar_id = read(at + CAP_BAR, 4)
    offset = read(at + CAP_OFFSET, 4)
    length = read(at + CAP_LENGTH, 4)
    multiplier = 0
    if cfg_type == NOTIFY_CFG and cap_len >= NOTIFY_CAP_SIZE:
        multiplier = read(at + CAP_NOTIFY_MULTIPLIER, 4)
    if cfg_type == SHARED_MEMORY_CFG and cap_len >= CAP64_SIZE:
        offset |= read(at + CAP_OFFSET_HI, 4) << 32
        length |= read(at + CAP_LENGTH_HI, 4) << 32
    return VirtioCap(at, cap_len, cfg_type, bar_id & 0xFF, (bar_id >> 8) & 0xFF, offset, length,
                     multiplier)


__all__ = ["CAP_CFG_TYPE", "CAP_ID", "CAP_LEN", "VirtioCap", "body", "body64", "parse"]
