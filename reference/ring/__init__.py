"""virtio-ring: the split virtqueue (spec/ring.md) and the packed virtqueue
(spec/ring_packed.md), driver side and device side.

Both sides are written against the access protocol of :mod:`virtiospec.reference.access`:
every load, store and barrier on shared memory is yielded, so the same code runs straight
through (``access.run``) or is stepped access by access by the models under SC and TSO.
"""

from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.driver import SplitDriver
from virtiospec.reference.ring.errors import NeedsReset, QueueFull, RingError
from virtiospec.reference.ring.layout import SplitLayout, vring_need_event
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import PackedLayout, packed_need_event

__all__ = [
    "Chain",
    "NeedsReset",
    "PackedDevice",
    "PackedDriver",
    "PackedLayout",
    "QueueFull",
    "RingError",
    "SplitDevice",
    "SplitDriver",
    "SplitLayout",
    "packed_need_event",
    "vring_need_event",
]
