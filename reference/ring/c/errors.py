"""Error codes of the C ring (ring.h, conformance/ring/virtiospec_ring.h) as Python exceptions.

A C function returns minus a code; :func:`check` raises the error class of the Python
reference (reference/ring/errors.py) with the same requirement ID as its ``req``, so a
conformance case or a model cannot tell a C refusal from a Python one.
"""

from __future__ import annotations

from virtiospec.reference.c_stepping import Aborted as Aborted
from virtiospec.reference.ring.errors import (
    AvailIndexJump,
    BadDescriptorIndex,
    BadIndirect,
    BadPlacement,
    BadQueueSize,
    BadUsedElement,
    BufferOutsideMemory,
    ChainTooLong,
    DescriptorLoop,
    NeedsReset,
    QueueFull,
    ReadableAfterWritable,
    RingError,
)


class NoSpace(RuntimeError):
    """VIRTIOSPEC_RING_E_NO_SPACE: an array the caller passed is too small (no requirement)."""


# code -> (class, requirement ID or None, what happened); the header's table, in Python.
ERRORS: dict[int, tuple[type[Exception], str | None, str]] = {
    1: (BadQueueSize, "RING-SPLIT-001", "queue size not a power of 2 in [1, 32768]"),
    2: (BadPlacement, "RING-SPLIT-002", "a ring part is misaligned or outside guest memory"),
    3: (ChainTooLong, "RING-SPLIT-010", "buffers longer than 2^32 bytes in total"),
    4: (ChainTooLong, "RING-SPLIT-022", "more descriptors than the queue size"),
    5: (BadDescriptorIndex, "RING-SPLIT-080", "head or next index out of range"),
    6: (DescriptorLoop, "RING-SPLIT-080", "a chain revisits a descriptor"),
    7: (ChainTooLong, "RING-SPLIT-080", "a chain longer than the queue size"),
    8: (BadIndirect, "RING-SPLIT-081", "bad indirect descriptor or table"),
    9: (BufferOutsideMemory, "RING-SPLIT-082", "buffer or table outside guest memory"),
    10: (ReadableAfterWritable, "RING-SPLIT-083", "readable descriptor after a writable one"),
    11: (AvailIndexJump, "RING-SPLIT-084", "avail.idx moved more than Q ahead"),
    12: (BadDescriptorIndex, "RING-SPLIT-092", "head made available while in flight"),
    13: (BadUsedElement, "RING-SPLIT-085", "used id, len or used.idx never given out"),
    14: (NeedsReset, "RING-SPLIT-084", "stopped after an earlier error"),
    15: (QueueFull, "RING-SPLIT-090", "too few free descriptors"),
    16: (ValueError, None, "bad argument"),
    17: (NoSpace, None, "array too small"),
    18: (Aborted, None, "operation abandoned"),
}


class ErrorCodes:
    """A C header's error table (code -> class, requirement ID, text) as exceptions; shared
    by the split ring's table (above) and the packed ring's (packed_errors.py)."""

    def __init__(self, table: dict[int, tuple[type[Exception], str | None, str]]) -> None:
        self.table = table

    def error(self, code: int, what: str = "") -> Exception:
        """The exception for error ``code`` (positive) of ``what`` (the C function)."""
        try:
            cls, req, text = self.table[code]
        except KeyError:
            return RuntimeError(f"{what}: unknown error code -{code}")
        message = f"{text} ({what} returned -{code})" if what else text
        if issubclass(cls, RingError):
            return cls(message, req)
        return cls(message)

    def check(self, rc: int, what: str = "") -> int:
        """``rc`` if it is not an error, else raise :meth:`error` of it."""
        if rc < 0:
            raise self.error(-rc, what)
        return rc


_CODES = ErrorCodes(ERRORS)
error, check = _CODES.error, _CODES.check
