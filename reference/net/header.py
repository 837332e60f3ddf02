"""``struct virtio_net_hdr`` (NET-001): packing, and the checks each side makes of the other's.

The header is 12 bytes, little-endian (VIRTIO_F_VERSION_1, no hash report). The device
checks a transmitted header (:func:`check_tx`, NET-008) before it trusts any field; the driver
checks a received one (:func:`check_rx`, NET-016).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from virtiospec.reference.net import features as F
from virtiospec.reference.net.errors import BadRxFrame, BadTxHeader

HDR_LEN = 12
_FMT = "<BBHHHHH"

F_NEEDS_CSUM = 1
F_DATA_VALID = 2
F_RSC_INFO = 4

GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_UDP_L4 = 5
GSO_ECN = 0x80

ETH_HLEN = 14
VLAN_HLEN = 4
MAX_FRAME = 1514  # without VIRTIO_NET_F_MTU: 1500-byte payload and the Ethernet header


@dataclass(frozen=True)
class NetHdr:
    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0
    num_buffers: int = 0

    def pack(self) -> bytes:
        return struct.pack(_FMT, self.flags, self.gso_type, self.hdr_len, self.gso_size,
                           self.csum_start, self.csum_offset, self.num_buffers)

    @classmethod
    def unpack(cls, data: bytes) -> NetHdr:
        if len(data) < HDR_LEN:
            raise ValueError(f"a header is {HDR_LEN} bytes, got {len(data)}")
        return cls(*struct.unpack_from(_FMT, data))

    @property
    def needs_csum(self) -> bool:
        return bool(self.flags & F_NEEDS_CSUM)


def max_frame(features: int, mtu: int) -> int:
    """The longest frame either side passes (NET-024): ``mtu + 14`` with VIRTIO_NET_F_MTU,
    else 1514; an 802.1Q tag may come on top."""
    return (mtu + ETH_HLEN if F.has(features, F.MTU) else MAX_FRAME) + VLAN_HLEN


def check_tx(data: bytes, features: int, mtu: int = 1500) -> tuple[NetHdr, bytes]:
    """Split a transmitted buffer into header and frame, refusing what NET-008 lists.

    Fields the device never uses on transmit (``num_buffers``, DATA_VALID, RSC_INFO, unknown
    flags) are ignored (NET-007); see :func:`driver_faults` for what a driver got wrong."""
    if len(data) < HDR_LEN + ETH_HLEN:
        raise BadTxHeader(f"{len(data)} readable bytes: less than the {HDR_LEN}-byte header "
                          f"and a {ETH_HLEN}-byte Ethernet header")
    hdr = NetHdr.unpack(data)
    frame = data[HDR_LEN:]
    if hdr.needs_csum:
        if not F.has(features, F.CSUM):
            raise BadTxHeader("NEEDS_CSUM set without VIRTIO_NET_F_CSUM", "NET-003")
        if hdr.csum_start + hdr.csum_offset + 2 > len(frame):
            raise BadTxHeader(f"checksum at {hdr.csum_start}+{hdr.csum_offset} lies beyond "
                              f"the {len(frame)}-byte frame", "NET-004")
    gso = hdr.gso_type & ~GSO_ECN
    allowed = {GSO_TCPV4: F.HOST_TSO4, GSO_TCPV6: F.HOST_TSO6, GSO_UDP: F.HOST_UFO,
               GSO_UDP_L4: F.HOST_USO}
    if gso != GSO_NONE and not (gso in allowed and F.has(features, allowed[gso])):
        raise BadTxHeader(f"gso_type {hdr.gso_type:#x} was not negotiated", "NET-006")
    if hdr.gso_type & GSO_ECN and gso == GSO_NONE:
        raise BadTxHeader("GSO_ECN without a segmentation type", "NET-006")
    if len(frame) > max_frame(features, mtu):
        raise BadTxHeader(f"{len(frame)}-byte frame exceeds {max_frame(features, mtu)} bytes",
                          "NET-024")
    return hdr, frame


def driver_faults(hdr: NetHdr, features: int) -> list[str]:
    """What a transmitted header got wrong that the device tolerates (NET-002, NET-005):
    requirement IDs, for the conformance suite to report."""
    out = []
    if hdr.num_buffers != 0:
        out.append("NET-002")
    if hdr.flags & (F_DATA_VALID | F_RSC_INFO):
        out.append("NET-005")
    if hdr.flags and not F.has(features, F.CSUM):
        out.append("NET-003")
    return out


def rx_header(features: int, num_buffers: int) -> NetHdr:
    """The header the device writes before a received frame (NET-010, NET-011, NET-012)."""
    return NetHdr(num_buffers=num_buffers)


def check_rx(hdr: NetHdr, features: int) -> None:
    """The driver's checks of a received header (NET-016); that ``num_buffers`` used buffers
    are there is checked as they are taken."""
    if hdr.num_buffers == 0:
        raise BadRxFrame("num_buffers is 0")
    if not F.has(features, F.MRG_RXBUF) and hdr.num_buffers != 1:
        raise BadRxFrame(f"num_buffers {hdr.num_buffers} without VIRTIO_NET_F_MRG_RXBUF")


def finish_checksum(frame: bytes, csum_start: int, csum_offset: int) -> bytes:
    """NET-009: store the ones' complement checksum of ``frame[csum_start:]`` (whose checksum
    field holds the pseudo-header sum) at ``csum_start + csum_offset``. A result of 0 is sent
    as 0xFFFF, which means the same in ones' complement and keeps UDP's "no checksum" free."""
    value = ones_complement(frame[csum_start:]) ^ 0xFFFF
    at = csum_start + csum_offset
    return frame[:at] + (value or 0xFFFF).to_bytes(2, "big") + frame[at + 2:]


def ones_complement(data: bytes) -> int:
    """The 16-bit ones' complement sum of ``data`` (big-endian words, odd byte padded)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total
