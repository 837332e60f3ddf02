"""What a ring target provides: one side of a split virtqueue (or of a packed one), run
straight through.

The suite plays the other side itself, over the same guest memory (a
:class:`~virtiospec.reference.access.GuestMemory`, whose ``buf`` a C target shares through
``ffi.from_buffer``). Operations that detect a violation by the suite raise an exception
whose ``req`` attribute is the requirement ID of spec/ring.md that was broken
(RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-085); a
target that refuses to go on raises one with ``req`` as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from virtiospec.reference.access import GuestMemory
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.layout import PackedLayout

Segment = tuple[int, int]


@dataclass
class RingSetup:
    """One queue in guest memory, as the suite lays it out for a case."""

    layout: SplitLayout
    memory: GuestMemory
    event_idx: bool = False
    indirect: bool = False
    indirect_area: int | None = None  # driver side: where it may build indirect tables
    indirect_max: int = 16
    start_index: int = 0  # both sides start their free-running indices here (wrap tests)


class RingDevice(Protocol):
    """The device side under test (RING-SPLIT-0xx device requirements)."""

    def pop(self) -> Chain | None: ...
    def push(self, used: list[tuple[int, int]]) -> None: ...
    def should_notify(self) -> bool: ...
    def enable_notify(self) -> bool: ...
    def disable_notify(self) -> None: ...
    @property
    def needs_reset(self) -> bool: ...


class RingDriver(Protocol):
    """The driver side under test (RING-SPLIT-0xx driver requirements)."""

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int: ...
    def kick_prepare(self) -> bool: ...
    def get_used(self) -> tuple[int, int] | None: ...
    def enable_cb(self) -> bool: ...
    def enable_cb_delayed(self) -> bool: ...
    def disable_cb(self) -> None: ...
    @property
    def num_free(self) -> int: ...


# -- the packed virtqueue (spec/ring_packed.md) -------------------------------------------------
# A target that implements it provides ``ring_packed_device(setup)`` and/or
# ``ring_packed_driver(setup)``; the ``ring.packed.*`` cases SKIP on a target without them.


@dataclass
class PackedRingSetup:
    """One packed queue in guest memory, fresh: both sides start at position 0, wrap bit 1."""

    layout: PackedLayout
    memory: GuestMemory
    event_idx: bool = False  # VIRTIO_F_EVENT_IDX: DESC event suppression
    indirect: bool = False
    indirect_area: int | None = None  # driver side: where it may build indirect tables
    indirect_max: int = 16


class PackedRingDevice(Protocol):
    """The device side under test (RING-PACKED-0xx device requirements). ``pop`` returns a
    :class:`Chain` whose ``head`` is the list's buffer ID; ``push`` takes (buffer ID, len)."""

    def pop(self) -> Chain | None: ...
    def push(self, used: list[tuple[int, int]]) -> None: ...
    def should_notify(self) -> bool: ...
    def enable_notify(self) -> bool: ...
    def disable_notify(self) -> None: ...
    @property
    def needs_reset(self) -> bool: ...


class PackedRingDriver(Protocol):
    """The driver side under test (RING-PACKED-0xx driver requirements). ``add`` returns the
    list's buffer ID."""

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int: ...
    def kick_prepare(self) -> bool: ...
    def kick_data(self) -> int: ...
    def get_used(self) -> tuple[int, int] | None: ...
    def enable_cb(self) -> bool: ...
    def disable_cb(self) -> None: ...
    @property
    def num_free(self) -> int: ...
