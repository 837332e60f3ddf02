"""The device configuration space of the network device (NET-020, NET-050).

:class:`NetConfig` is the device's side: the fields, their byte layout, the configuration
generation and the change notification (NET-021). A driver sees only a :class:`ConfigSpace`
(``read`` and ``generation``), which the transport provides; it never writes (NET-022).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

STATUS_LINK_UP = 1
STATUS_ANNOUNCE = 2

OFF_MAC = 0
OFF_STATUS = 6
OFF_MAX_PAIRS = 8
OFF_MTU = 10
OFF_SPEED = 12
OFF_DUPLEX = 16
OFF_QUEUE_CLASSES = 32  # NET-050: u8 queue_classes[max_virtqueue_pairs]

SPEED_UNKNOWN = 0xFFFFFFFF
DUPLEX_UNKNOWN = 0xFF


class ConfigSpace(Protocol):
    """What a driver can do with a configuration space: read it, and read its generation."""

    def read(self, offset: int, size: int) -> int: ...
    def generation(self) -> int: ...


@dataclass
class NetConfig:
    """The fields of ``struct virtio_net_config`` that the reference device has, and ours."""

    mac: bytes = b"\x52\x54\x00\x12\x34\x56"
    status: int = STATUS_LINK_UP
    max_pairs: int = 1
    mtu: int = 1500
    queue_classes: list[int] = field(default_factory=list)  # per pair, NET-050
    gen: int = 0
    on_change: Callable[[], None] | None = None  # the configuration change notification

    def __post_init__(self) -> None:
        if len(self.mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        if not 1 <= self.max_pairs <= 0x8000:
            raise ValueError("NET-025: max_virtqueue_pairs lies in [1, 0x8000]")
        if not 68 <= self.mtu <= 65535:
            raise ValueError("NET-024: mtu lies in [68, 65535]")
        if not self.queue_classes:
            self.queue_classes = [0] * self.max_pairs
        self._check_classes(self.queue_classes)

    def _check_classes(self, classes: list[int]) -> None:
        if len(classes) != self.max_pairs or any(not 0 <= c <= 0xFF for c in classes):
            raise ValueError("NET-050: one class mask byte per queue pair")
        seen = 0
        for c in classes:
            if seen & c:
                raise ValueError("NET-050: the class masks of the pairs are disjoint")
            seen |= c

    def layout(self) -> bytes:
        """The bytes a driver reads (NET-020, NET-050)."""
        out = bytearray(OFF_QUEUE_CLASSES + self.max_pairs)
        out[OFF_MAC:OFF_MAC + 6] = self.mac
        out[OFF_STATUS:OFF_STATUS + 2] = self.status.to_bytes(2, "little")
        out[OFF_MAX_PAIRS:OFF_MAX_PAIRS + 2] = self.max_pairs.to_bytes(2, "little")
        out[OFF_MTU:OFF_MTU + 2] = self.mtu.to_bytes(2, "little")
        out[OFF_SPEED:OFF_SPEED + 4] = SPEED_UNKNOWN.to_bytes(4, "little")
        out[OFF_DUPLEX] = DUPLEX_UNKNOWN
        out[OFF_QUEUE_CLASSES:] = bytes(self.queue_classes)
        return bytes(out)

    # -- ConfigSpace, as the in-process transport shows it to the driver -------------------
    def read(self, offset: int, size: int) -> int:
        data = self.layout()
        if offset < 0 or size not in (1, 2, 4, 8) or offset + size > len(data):
            raise ValueError(f"config read of {size} bytes at {offset} is outside "
                             f"[0, {len(data)})")
        return int.from_bytes(data[offset:offset + size], "little")

    def generation(self) -> int:
        return self.gen

    # -- changes made by the device (its host configuration), NET-021 ----------------------
    def _changed(self) -> None:
        self.gen = (self.gen + 1) & 0xFF
        if self.on_change is not None:
            self.on_change()

    @property
    def link_up(self) -> bool:
        return bool(self.status & STATUS_LINK_UP)

    def set_link(self, up: bool) -> None:
        new = (self.status | STATUS_LINK_UP) if up else (self.status & ~STATUS_LINK_UP)
        if new != self.status:
            self.status = new
            self._changed()

    def set_mac(self, mac: bytes) -> None:
        """NET-034: ADDR_SET changes ``mac`` (the driver's command, carried out by the device)."""
        if len(mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        self.mac = bytes(mac)

    def set_queue_classes(self, classes: list[int]) -> None:
        """NET-050: the host changes which classes each pair carries."""
        self._check_classes(classes)
        if classes != self.queue_classes:
            self.queue_classes = list(classes)
            self._changed()


def read_bytes(space: ConfigSpace, offset: int, n: int) -> bytes:
    return bytes(space.read(offset + i, 1) for i in range(n))


def read_stable(space: ConfigSpace, fn: Callable[[ConfigSpace], object]) -> object:
    """Read several fields consistently: retry while the generation changes (VIRTIO §2.5.1)."""
    for _ in range(100):
        before = space.generation()
        value = fn(space)
        if space.generation() == before:
            return value
    raise RuntimeError("configuration generation never settled")
