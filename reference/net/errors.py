"""Errors of the network layer, each naming the requirement of spec/net.md that was broken.

A device or driver that refuses the other side's input raises (or records) one of these;
conformance cases match them by ``req``, never by message text.
"""

from __future__ import annotations

from virtiospec.reference.errors import RequirementError


class NetError(RequirementError):
    """A requirement of spec/net.md was broken by the other side (or by a caller)."""

    req: str = "NET-008"


class BadTxHeader(NetError):
    """A transmitted buffer the device refuses (NET-008 and the requirement it breaks)."""

    req = "NET-008"


class BadRxFrame(NetError):
    """A received frame the driver refuses (NET-016)."""

    req = "NET-016"


class BadCommand(NetError):
    """A control command the device answers with VIRTIO_NET_ERR (NET-031)."""

    req = "NET-031"


class BadFeatures(NetError):
    """A feature set that breaks the dependencies of NET-027."""

    req = "NET-027"
