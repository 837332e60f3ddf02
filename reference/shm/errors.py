"""Errors of the virtio-shm layer, one class per kind of violation, each naming its requirement
(spec/shm.md). Match them by class or by ``req``, never by message text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtiospec.reference.access import MemoryError_
from virtiospec.reference.errors import RequirementError

if TYPE_CHECKING:  # table.py imports this module
    from virtiospec.reference.shm.table import Snapshot


class ShmError(RequirementError):
    """A requirement of spec/shm.md was broken by the other side (or by a caller)."""

    req: str = "SHM-REGION-007"


class RegionOutOfBounds(ShmError, MemoryError_):
    """An access that does not lie inside its region; nothing was read or written."""

    req = "SHM-REGION-007"


class Misaligned(ShmError, MemoryError_):
    """An access that is not naturally aligned, or a region base not aligned on 8 bytes."""

    req = "SHM-REGION-008"


class UnknownRegion(ShmError, KeyError):
    """No region of the device has this ``shmid`` (a KeyError too, as a mapping's miss)."""

    req = "SHM-REGION-001"


class BadRegionSet(ShmError):
    """Duplicate ``shmid`` (SHM-REGION-003), overlapping or empty regions (SHM-REGION-002)."""

    req = "SHM-REGION-002"


class RegionOutsideBar(ShmError):
    req = "SHM-REGION-004"


class BadCapability(ShmError):
    """Bytes that are not a VIRTIO_PCI_CAP_SHARED_MEMORY_CFG capability the driver may use."""

    req = "SHM-REGION-005"


class BadLayout(ShmError):
    """A table or signal that does not fit its region, or is misplaced in it."""

    req = "SHM-TABLE-001"


class TableBusy(ShmError):
    """Every attempt to read a slot failed (SHM-TABLE-011): the writer left ``seq`` odd or kept
    changing it. ``last`` is the reader's last good value of the slot, which it keeps."""

    req = "SHM-TABLE-011"

    def __init__(self, message: str, last: Snapshot | None) -> None:
        super().__init__(message)
        self.last = last


class WrongWriter(ShmError):
    """A side stored to a word that the other side owns: a ring field (SHM-RING-002), a
    table (SHM-TABLE-001) or a signal field (SHM-SIGNAL-001)."""

    req = "SHM-RING-002"
