"""Error codes of the C table and shm-signal (shm.h) as Python exceptions.

A C function returns minus a code; :func:`check` raises the error class of the Python
reference (reference/shm/errors.py) with the same requirement ID as its ``req``, so a model
or a test cannot tell a C refusal from a Python one.
"""

from __future__ import annotations

from virtiospec.reference.c_stepping import Aborted as Aborted
from virtiospec.reference.shm.errors import (
    BadLayout,
    Misaligned,
    RegionOutOfBounds,
    ShmError,
    TableBusy,
)
from virtiospec.reference.shm.table import Snapshot


class NoSpace(RuntimeError):
    """VS_SHM_E_NO_SPACE: the state block the caller passed is too small (no requirement)."""


E_OUTSIDE, E_MISALIGNED, E_TABLE, E_SIGNAL, E_BUSY, E_INVALID, E_NO_SPACE, E_ABORTED = range(1, 9)

# code -> (class, requirement ID or None, what happened); the header's table, in Python.
ERRORS: dict[int, tuple[type[Exception], str | None, str]] = {
    E_OUTSIDE: (RegionOutOfBounds, "SHM-REGION-007", "table or signal does not fit its region"),
    E_MISALIGNED: (Misaligned, "SHM-REGION-008", "region memory not aligned on 8"),
    E_TABLE: (BadLayout, "SHM-TABLE-001",
              "empty or misaligned table, or a slot or word index out of range"),
    E_SIGNAL: (BadLayout, "SHM-SIGNAL-001", "signal offset not 4-aligned"),
    E_BUSY: (TableBusy, "SHM-TABLE-011", "no stable value in the reader's attempts"),
    E_INVALID: (ValueError, None, "bad argument"),
    E_NO_SPACE: (NoSpace, None, "state block too small"),
    E_ABORTED: (Aborted, None, "operation abandoned"),
}


def error(code: int, what: str = "", last: Snapshot | None = None) -> Exception:
    """The exception for error ``code`` (positive) of ``what`` (the C function); ``last``
    is the reader's last good value, for :class:`TableBusy`."""
    try:
        cls, req, text = ERRORS[code]
    except KeyError:
        return RuntimeError(f"{what}: unknown error code -{code}")
    message = f"{text} ({what} returned -{code})" if what else text
    if cls is TableBusy:
        return TableBusy(message, last)
    if issubclass(cls, ShmError):
        return cls(message, req)
    return cls(message)


def check(rc: int, what: str = "", last: Snapshot | None = None) -> int:
    """``rc`` if it is not an error, else raise :func:`error` of it."""
    if rc < 0:
        raise error(-rc, what, last)
    return rc
