"""What the network driver (:mod:`.driver`) works out from a frame's own bytes: where a
received frame's payload begins (NET-134), whether its checksum holds (NET-135), and the
segmentation fields of a frame it asks the device to segment (NET-113)."""

from __future__ import annotations

import dataclasses
import socket
import struct

import dpkt
from virtiospec.reference.net import features as F
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.frames import checksum_ok, l4_of
from virtiospec.reference.net.header import ETH_HLEN, F_DATA_VALID, GSO_TCPV4, GSO_UDP_L4, NetHdr


def payload_at(hdr: NetHdr, frame: bytes, *, trust_hdr_len: bool = False) -> int:
    """NET-134: the headers' length comes from the frame itself; ``hdr_len`` may be wrong
    (with a receive segmentation feature it would only be a hint). ``trust_hdr_len`` is the
    known-bad variant's: it takes the device's word for it."""
    if hdr.hdr_len and trust_hdr_len:
        return hdr.hdr_len
    try:
        found = l4_of(frame)
    except (dpkt.Error, struct.error, IndexError):
        found = None
    if found is None:
        return ETH_HLEN
    _, l4, proto = found
    if proto != socket.IPPROTO_TCP:
        return l4 + 8
    return l4 + (frame[l4 + 12] >> 4) * 4 if len(frame) > l4 + 12 else len(frame)


def rx_checksum(hdr: NetHdr, frame: bytes, *, check: bool = True) -> str:
    """NET-135: only DATA_VALID vouches for a received frame's checksum (the reference device
    offers no GUEST_CSUM, so it never sets it); any other frame the driver checks itself.
    NET-015: NEEDS_CSUM on receive is not a promise either. Without ``check`` (the
    known-bad variant) the device's word is taken."""
    if hdr.flags & F_DATA_VALID:
        return "device"
    if not check:
        return "ok"
    try:
        ok = checksum_ok(frame)
    except (dpkt.Error, struct.error, IndexError):
        ok = None  # not a frame the driver can read as IPv4 TCP/UDP: its stack's job
    return "none" if ok is None else "ok" if ok else "bad"


def gso_kind(frame: bytes) -> tuple[int, int]:
    """(gso_type, the feature it needs) of an IPv4 TCP or UDP frame (NET-113)."""
    found = l4_of(frame)
    if found is None:
        raise NetError("segmentation offload needs an IPv4 TCP or UDP frame", "NET-113")
    return (GSO_TCPV4, F.HOST_TSO4) if found[2] == socket.IPPROTO_TCP else \
        (GSO_UDP_L4, F.HOST_USO)


def gso_header(hdr: NetHdr, frame: bytes, gso_size: int) -> NetHdr:
    """The segmentation fields: type, the headers' length up to the payload, the size."""
    gso_type, _ = gso_kind(frame)
    l4 = hdr.csum_start
    l4_len = (frame[l4 + 12] >> 4) * 4 if gso_type == GSO_TCPV4 else 8
    return dataclasses.replace(hdr, gso_type=gso_type, hdr_len=l4 + l4_len, gso_size=gso_size)
