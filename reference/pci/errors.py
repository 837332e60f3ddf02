"""Errors of the PCI layer, one class per kind of violation, each naming its requirement.

As in the ring (``reference/ring/errors.py``), callers match an error by its class or its
``req`` (a requirement ID of spec/pci.md), never by its message. An access refused with one
of these errors has changed nothing (PCI-CFG-008).
"""

from __future__ import annotations

from virtiospec.reference.errors import RequirementError


class PciError(RequirementError):
    """A requirement of spec/pci.md was broken by the other side (or by a caller)."""

    req: str = "PCI-CFG-008"


class BadAccess(PciError):
    """An access of a size, alignment or value that the target cannot take."""

    req = "PCI-CFG-008"


class OutOfRange(PciError):
    """An access outside configuration space, a BAR or guest memory."""

    req = "PCI-CFG-008"


class BadBar(PciError):
    """A BAR that breaks PCI-CFG-003 (size, type, placement)."""

    req = "PCI-CFG-003"


class BadCapabilityList(PciError):
    """A capability list that breaks PCI-CFG-006 (loop, pointer out of range, too long)."""

    req = "PCI-CFG-006"


class BusMasterDisabled(PciError):
    """A function tried to reach memory while Bus Master Enable was clear (PCI-CFG-005)."""

    req = "PCI-CFG-005"


class SlotTaken(PciError):
    """Two functions plugged at the same device and function number."""

    req = "PCI-CFG-001"
