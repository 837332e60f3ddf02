"""Where the three parts of a packed virtqueue live, the marks of a descriptor, and the
notification window.

Offsets and sizes follow RING-PACKED-003 (and ``struct vring_packed_desc`` and
``struct vring_packed_desc_event`` of linux/virtio_ring.h, which
``tests/ring/test_ring_packed_layout.py`` compares them with). Positions are ``0 <= p < Q``; a
position and the wrap bit a side keeps for it make a *lap index* ``p + (0 if w else Q)``
modulo ``2Q`` (spec/ring_packed.md, Terms), in which the notification window of
RING-PACKED-064 is plain modular arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.ring.errors import BadPlacement, BadQueueSize

# descriptor flags (RING-PACKED-003); NEXT, WRITE and INDIRECT have the split ring's values
VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_DESC_F_AVAIL = 1 << 7
VIRTQ_DESC_F_USED = 1 << 15
MARKS = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED

# event-suppression flags (RING-PACKED-003)
RING_EVENT_FLAGS_ENABLE = 0
RING_EVENT_FLAGS_DISABLE = 1
RING_EVENT_FLAGS_DESC = 2
EVENT_FLAGS_MASK = 3
EVENT_WRAP_BIT = 15
EVENT_OFF_MASK = (1 << EVENT_WRAP_BIT) - 1

PACKED_DESC_SIZE = 16
EVENT_SIZE = 4
MAX_PACKED_QUEUE_SIZE = 32768

# offsets inside a descriptor: {le64 addr; le32 len; le16 id; le16 flags}
DESC_ADDR, DESC_LEN, DESC_ID, DESC_FLAGS = 0, 8, 12, 14
# offsets inside an event-suppression structure: {le16 off_wrap; le16 flags}
EVENT_OFF_WRAP, EVENT_FLAGS = 0, 2


def valid_packed_queue_size(q: int) -> bool:
    """RING-PACKED-002: any integer in [1, 32768]."""
    return 1 <= q <= MAX_PACKED_QUEUE_SIZE


# -- the marks of a descriptor (RING-PACKED-013, RING-PACKED-014, RING-PACKED-015)
# ---------------------------------------
def avail_marks(wrap: int) -> int:
    """AVAIL equal to ``wrap``, USED its opposite (RING-PACKED-013)."""
    return VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED


def used_marks(wrap: int) -> int:
    """AVAIL and USED both equal to ``wrap`` (RING-PACKED-014)."""
    return MARKS if wrap else 0


def is_avail(flags: int, wrap: int) -> bool:
    """RING-PACKED-015: available in the lap of wrap bit ``wrap``."""
    return bool(flags & VIRTQ_DESC_F_AVAIL) == bool(wrap) != bool(flags & VIRTQ_DESC_F_USED)


def is_used(flags: int, wrap: int) -> bool:
    """RING-PACKED-015: used in the lap of wrap bit ``wrap``."""
    return bool(flags & VIRTQ_DESC_F_AVAIL) == bool(wrap) == bool(flags & VIRTQ_DESC_F_USED)


# -- positions, wrap bits and lap indices --------------------------------------------------------
def advance(q: int, pos: int, wrap: int, n: int) -> tuple[int, int]:
    """``n`` positions forward from ``pos``; the wrap bit flips at each pass from ``q - 1``
    to 0 (RING-PACKED-012)."""
    pos += n
    while pos >= q:
        pos -= q
        wrap ^= 1
    return pos, wrap


def lap_index(q: int, pos: int, wrap: int) -> int:
    """The lap index of ``pos`` with wrap bit ``wrap``: an element of the integers mod 2Q."""
    return pos + (0 if wrap else q)


def off_wrap(pos: int, wrap: int) -> int:
    """The ``off_wrap`` field naming ``pos`` with wrap bit ``wrap`` (RING-PACKED-003)."""
    return (pos & EVENT_OFF_MASK) | ((wrap & 1) << EVENT_WRAP_BIT)


def event_word(flags: int, pos: int = 0, wrap: int = 0) -> int:
    """The 32-bit value of an event-suppression structure: off_wrap low, flags high."""
    return off_wrap(pos, wrap) | (flags << 16)


def packed_need_event(q: int, event: int, new: int, passed: int) -> bool:
    """RING-PACKED-064: whether the position named by ``off_wrap`` value ``event`` lies in the
    window of ``passed`` positions that ends at lap index ``new``; always true once the
    window covers 2Q positions (it would alias)."""
    if passed >= 2 * q:
        return True
    e = lap_index(q, event & EVENT_OFF_MASK, event >> EVENT_WRAP_BIT)
    old = (new - passed) % (2 * q)
    return (e - old) % (2 * q) < passed


def decide(q: int, word: int, event_idx: bool, new: int, passed: int) -> bool:
    """RING-PACKED-062, RING-PACKED-063: the notification decision from the 32-bit event-suppression
    structure ``word`` of the other side."""
    flags = (word >> 16) & EVENT_FLAGS_MASK
    if event_idx and flags == RING_EVENT_FLAGS_DESC:
        return packed_need_event(q, word & 0xFFFF, new, passed)
    return flags != RING_EVENT_FLAGS_DISABLE


@dataclass(frozen=True)
class PackedLayout:
    """Guest-physical addresses of the descriptor ring and the two event-suppression
    structures: ``driver_event`` (the Driver Area, written by the driver, RING-PACKED-060) and
    ``device_event`` (the Device Area, written by the device, RING-PACKED-061)."""

    size: int
    desc: int
    driver_event: int
    device_event: int

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """RING-PACKED-002 and RING-PACKED-001: a valid size, every part aligned."""
        if not valid_packed_queue_size(self.size):
            raise BadQueueSize(f"queue size {self.size} is not in [1, 32768]", "RING-PACKED-002")
        for name, addr, align in (("descriptor ring", self.desc, 16),
                                  ("driver event suppression", self.driver_event, 4),
                                  ("device event suppression", self.device_event, 4)):
            if addr < 0 or addr % align:
                raise BadPlacement(f"{name} at {addr:#x} is not aligned on {align} bytes",
                                   "RING-PACKED-001")

    @classmethod
    def packed_at(cls, base: int, size: int) -> PackedLayout:
        """The ring, then the driver's and the device's structures, from ``base``."""
        desc = (base + 15) & ~15
        driver_event = desc + PACKED_DESC_SIZE * size
        return cls(size, desc, driver_event, driver_event + EVENT_SIZE)

    @property
    def driver_area(self) -> int:
        """The Driver Area (VIRTIO 1.4 §2.8.10): the driver's event-suppression structure."""
        return self.driver_event

    @property
    def device_area(self) -> int:
        """The Device Area (VIRTIO 1.4 §2.8.10): the device's event-suppression structure."""
        return self.device_event

    @property
    def ring_size(self) -> int:
        return PACKED_DESC_SIZE * self.size

    @property
    def end(self) -> int:
        return max(self.desc + self.ring_size, self.driver_event + EVENT_SIZE,
                   self.device_event + EVENT_SIZE)

    def check_inside(self, memory_size: int) -> None:
        """Every part lies inside guest memory."""
        for name, addr, length in (("descriptor ring", self.desc, self.ring_size),
                                   ("driver event suppression", self.driver_event, EVENT_SIZE),
                                   ("device event suppression", self.device_event, EVENT_SIZE)):
            if addr + length > memory_size:
                raise BadPlacement(f"{name} [{addr:#x}, {addr + length:#x}) is outside guest "
                                   f"memory of {memory_size:#x} bytes", "RING-PACKED-001")

    def desc_addr(self, pos: int, table: int | None = None) -> int:
        """Descriptor ``pos`` of the ring (or entry ``pos`` of the indirect table at ``table``)."""
        return (self.desc if table is None else table) + PACKED_DESC_SIZE * pos

    def position_of(self, addr: int) -> int | None:
        """The ring position whose descriptor holds ``addr``, or None."""
        if self.desc <= addr < self.desc + self.ring_size:
            return (addr - self.desc) // PACKED_DESC_SIZE
        return None
