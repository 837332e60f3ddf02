"""Where the three parts of a split virtqueue live, and the event-index arithmetic.

Offsets and sizes follow RING-SPLIT-003 (and ``struct vring_desc``, ``vring_avail``,
``vring_used`` of linux/virtio_ring.h, which ``tests/ring/test_ring_layout.py`` compares them with).
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.ring.errors import BadPlacement, BadQueueSize

VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1
VIRTQ_USED_F_NO_NOTIFY = 1

DESC_SIZE = 16
USED_ELEM_SIZE = 8
MAX_QUEUE_SIZE = 32768
U16 = 0xFFFF


def desc_table_size(q: int) -> int:
    return DESC_SIZE * q


def avail_ring_size(q: int) -> int:
    """flags, idx, ring[q], used_event."""
    return 6 + 2 * q


def used_ring_size(q: int) -> int:
    """flags, idx, ring[q] of {id, len}, avail_event."""
    return 6 + USED_ELEM_SIZE * q


def valid_queue_size(q: int) -> bool:
    """RING-SPLIT-001: a power of 2 in [1, 32768]."""
    return 1 <= q <= MAX_QUEUE_SIZE and q & (q - 1) == 0


def vring_need_event(event: int, new: int, old: int) -> bool:
    """RING-SPLIT-100: true iff ``event`` lies in ``[old, new)`` modulo 2^16."""
    return ((new - event - 1) & U16) < ((new - old) & U16)


@dataclass(frozen=True)
class SplitLayout:
    """Guest-physical addresses of the descriptor table, available ring and used ring."""

    size: int
    desc: int
    avail: int
    used: int

    def __post_init__(self) -> None:
        if not valid_queue_size(self.size):
            raise BadQueueSize(f"queue size {self.size} is not a power of 2 in [1, 32768]")
        for name, addr, align in (("desc", self.desc, 16), ("avail", self.avail, 2),
                                  ("used", self.used, 4)):
            if addr < 0 or addr % align:
                raise BadPlacement(f"{name} at {addr:#x} is not aligned on {align} bytes")

    @classmethod
    def packed_at(cls, base: int, size: int) -> SplitLayout:
        """The three parts one after the other from ``base``, each aligned as required."""
        desc = (base + 15) & ~15
        avail = desc + desc_table_size(size)
        used = (avail + avail_ring_size(size) + 3) & ~3
        return cls(size, desc, avail, used)

    @property
    def driver_area(self) -> int:
        """The Driver Area of VIRTIO 1.4 §2.6: the available ring (what a transport is told)."""
        return self.avail

    @property
    def device_area(self) -> int:
        """The Device Area of VIRTIO 1.4 §2.6: the used ring."""
        return self.used

    @property
    def end(self) -> int:
        return max(self.desc + desc_table_size(self.size), self.avail + avail_ring_size(self.size),
                   self.used + used_ring_size(self.size))

    def check_inside(self, memory_size: int) -> None:
        """RING-SPLIT-002: every part lies inside guest memory."""
        for name, addr, length in (("descriptor table", self.desc, desc_table_size(self.size)),
                                   ("available ring", self.avail, avail_ring_size(self.size)),
                                   ("used ring", self.used, used_ring_size(self.size))):
            if addr + length > memory_size:
                raise BadPlacement(f"{name} [{addr:#x}, {addr + length:#x}) is outside guest "
                                   f"memory of {memory_size:#x} bytes")

    def slot(self, index: int) -> int:
        """Slot of free-running index ``index``: index mod Q (Q divides 2^16)."""
        return index & (self.size - 1)

    # descriptor i: {le64 addr; le32 len; le16 flags; le16 next}
    def desc_addr(self, i: int, table: int | None = None) -> int:
        return (self.desc if table is None else table) + DESC_SIZE * i

    # available ring
    @property
    def avail_flags(self) -> int:
        return self.avail

    @property
    def avail_idx(self) -> int:
        return self.avail + 2

    def avail_ring(self, slot: int) -> int:
        return self.avail + 4 + 2 * slot

    @property
    def used_event(self) -> int:
        return self.avail + 4 + 2 * self.size

    # used ring
    @property
    def used_flags(self) -> int:
        return self.used

    @property
    def used_idx(self) -> int:
        return self.used + 2

    def used_ring(self, slot: int) -> int:
        """Address of ``used.ring[slot].id``; ``len`` follows at +4."""
        return self.used + 4 + USED_ELEM_SIZE * slot

    @property
    def avail_event(self) -> int:
        return self.used + 4 + USED_ELEM_SIZE * self.size
