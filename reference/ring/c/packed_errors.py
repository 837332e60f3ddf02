"""Error codes of the C packed ring (ring_packed.h) as Python exceptions.

A C function returns minus a code; :func:`check` raises the error class of the Python
reference (reference/ring/packed/driver.py, packed_device.py) with the same requirement ID
as its ``req``, so a conformance case or a model cannot tell a C refusal from a Python one.
"""

from __future__ import annotations

from virtiospec.reference.ring.c.errors import Aborted, ErrorCodes, NoSpace
from virtiospec.reference.ring.errors import (
    BadIndirect,
    BadPlacement,
    BadQueueSize,
    BadUsedElement,
    BufferIdInUse,
    BufferOutsideMemory,
    ChainTooLong,
    DescriptorNotAvailable,
    NeedsReset,
    QueueFull,
    ReadableAfterWritable,
)

ABORTED = 16

# code -> (class, requirement ID or None, what happened); ring_packed.h's table, in Python.
ERRORS: dict[int, tuple[type[Exception], str | None, str]] = {
    1: (BadQueueSize, "RING-PACKED-002", "queue size not in [1, 32768]"),
    2: (BadPlacement, "RING-PACKED-001", "a ring part is misaligned or outside guest memory"),
    3: (ChainTooLong, "RING-PACKED-030", "a list of more descriptors than the queue size"),
    4: (ChainTooLong, "RING-PACKED-080", "a list would make the device hold more than Q"),
    5: (DescriptorNotAvailable, "RING-PACKED-081",
        "a later descriptor of a list does not show the available marks of its position"),
    6: (BadIndirect, "RING-PACKED-082", "bad INDIRECT descriptor or table"),
    7: (BufferOutsideMemory, "RING-PACKED-083", "buffer or table outside guest memory"),
    8: (ReadableAfterWritable, "RING-PACKED-084", "readable element after a writable one"),
    9: (BufferIdInUse, "RING-PACKED-085", "a buffer ID the device already holds"),
    10: (BadUsedElement, "RING-PACKED-086", "used ID not outstanding, or len beyond writable"),
    11: (NeedsReset, "RING-PACKED-085", "device stopped after an earlier error"),
    12: (NeedsReset, "RING-PACKED-086", "driver stopped after an earlier error"),
    13: (QueueFull, None, "too few free descriptors or buffer IDs (RING-PACKED-032)"),
    14: (ValueError, None, "bad argument"),
    15: (NoSpace, None, "array too small"),
    ABORTED: (Aborted, None, "operation abandoned"),
}


_CODES = ErrorCodes(ERRORS)
error, check = _CODES.error, _CODES.check
