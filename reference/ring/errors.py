"""Errors of the split virtqueue, one class per kind of violation, each naming its requirement.

A conformance case matches an error by its class or its ``req`` (the requirement ID in
spec/ring.md), never by its message text.
"""

from __future__ import annotations

from virtiospec.reference.errors import RequirementError


class RingError(RequirementError):
    """A requirement of spec/ring.md was broken by the other side (or by a caller)."""

    req: str = "RING-SPLIT-084"


class BadQueueSize(RingError):
    req = "RING-SPLIT-001"


class BadPlacement(RingError):
    req = "RING-SPLIT-002"


class ChainTooLong(RingError):
    """A chain longer than 2^32 bytes (RING-SPLIT-010) or than Q descriptors (RING-SPLIT-080)."""

    req = "RING-SPLIT-080"


class BadDescriptorIndex(RingError):
    req = "RING-SPLIT-080"


class DescriptorLoop(RingError):
    req = "RING-SPLIT-080"


class BadIndirect(RingError):
    req = "RING-SPLIT-081"


class BufferOutsideMemory(RingError):
    req = "RING-SPLIT-082"


class ReadableAfterWritable(RingError):
    req = "RING-SPLIT-083"


class AvailIndexJump(RingError):
    """``avail.idx`` moved more than Q past the last entry the device consumed."""

    req = "RING-SPLIT-084"


class BadUsedElement(RingError):
    """The device returned an id, len or used.idx the driver never gave it (RING-SPLIT-085)."""

    req = "RING-SPLIT-085"


class NeedsReset(RingError):
    """The side hit an error earlier and refuses to go on until it is reset (RING-SPLIT-084)."""

    req = "RING-SPLIT-084"


class QueueFull(Exception):
    """The driver has too few free descriptors for the chain (RING-SPLIT-090). Not an error of
    the other side: retry after taking back used buffers."""


# -- packed virtqueue (spec/ring_packed.md) ----------------------------------------------------
# The classes above serve the packed ring too, raised with its requirement ID as ``req``
# (``ChainTooLong(..., "RING-PACKED-080")``); these two have no split-ring counterpart.


class DescriptorNotAvailable(RingError):
    """A descriptor of a NEXT-chained list does not show the available marks of its position
    (RING-PACKED-081)."""

    req = "RING-PACKED-081"


class BufferIdInUse(RingError):
    """A list carries a buffer ID that the device already holds (RING-PACKED-085)."""

    req = "RING-PACKED-085"
