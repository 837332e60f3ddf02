"""What the four sides of a ring share (split and packed, driver and device).

A side that has refused the other side's input records the error (``_fail``) and refuses to
go on (``_check`` raises :class:`NeedsReset`, RING-SPLIT-084, RING-PACKED-085,
RING-PACKED-086) until it is reset. A device also keeps the same set-up: the ring's layout,
checked to lie inside guest memory, the features it was given, and the state of
notification suppression.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from virtiospec.reference.ring.errors import NeedsReset, RingError
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.layout import PackedLayout

L = TypeVar("L", SplitLayout, PackedLayout)


class RingSide:
    """``stopped``: what ``_check`` says this side is; ``reset_req``: the requirement its
    :class:`NeedsReset` names (None: the class's own, RING-SPLIT-084)."""

    stopped = "device needs reset"
    reset_req: str | None = None
    broken: RingError | None = None

    def _check(self) -> None:
        if self.broken is not None:
            raise NeedsReset(f"{self.stopped} after: {self.broken}", self.reset_req)

    def _fail(self, err: RingError) -> RingError:
        self.broken = err
        return err


class DeviceSide(RingSide, Generic[L]):
    """A device over ``layout`` in ``memory_size`` bytes of guest memory, with
    VIRTIO_F_EVENT_IDX (``event_idx``) and VIRTIO_F_INDIRECT_DESC (``indirect``)."""

    def __init__(self, layout: L, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False) -> None:
        layout.check_inside(memory_size)
        self.layout: L = layout
        self.q = layout.size
        self.memory_size = memory_size
        self.event_idx = event_idx
        self.indirect = indirect
        self.num_pushed = 0  # used since the last notification decision
        self.notify_disabled = False
        self.broken = None

    @property
    def needs_reset(self) -> bool:
        return self.broken is not None
