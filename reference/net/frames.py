"""Ethernet frames built and parsed with dpkt: addresses, 802.1p classes, flows, checksums.

Everything here works on whole frames (bytes from the destination MAC on, no FCS).
"""

from __future__ import annotations

import socket
import struct
import zlib

import dpkt
from dpkt.ethernet import ETH_TYPE_ARP, ETH_TYPE_IP, Ethernet, VLANtag8021Q
from virtiospec.reference.net.header import ETH_HLEN, ones_complement

BROADCAST = b"\xff" * 6
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMP = 1


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_bytes(text: str) -> bytes:
    return bytes(int(p, 16) for p in text.split(":"))


def ip_bytes(text: str) -> bytes:
    return socket.inet_aton(text)


def is_multicast(mac: bytes) -> bool:
    return bool(mac[0] & 1)


def parse(frame: bytes) -> Ethernet:
    return Ethernet(frame)


def frame_class(frame: bytes) -> int:
    """The 802.1p class of a frame (NET-051): its tag's PCP, 0 when untagged."""
    eth = Ethernet(frame)
    tags = getattr(eth, "vlan_tags", None) or []
    return int(tags[0].pri) if tags else 0


def flow_key(frame: bytes, *, reverse: bool = False) -> tuple[object, ...]:
    """The flow of a frame for automatic receive steering (NET-040): MAC addresses, and for
    IPv4 the addresses, protocol and ports. ``reverse`` swaps source and destination, so that
    a received frame's key equals the key of the transmitted frames of the same flow."""
    eth = Ethernet(frame)
    a, b = bytes(eth.src), bytes(eth.dst)
    ports: tuple[int, int] = (0, 0)
    ips: tuple[bytes, bytes] = (b"", b"")
    proto = 0
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        ips, proto = (bytes(ip.src), bytes(ip.dst)), int(ip.p)
        l4 = ip.data
        if isinstance(l4, dpkt.udp.UDP | dpkt.tcp.TCP):
            ports = (int(l4.sport), int(l4.dport))
    if reverse:
        a, b = b, a
        ips, ports = (ips[1], ips[0]), (ports[1], ports[0])
    return (a, b, ips, proto, ports)


def flow_hash(key: tuple[object, ...]) -> int:
    """A hash of a flow key that is the same in every process (CRC-32 of its fields), for
    placing a flow on a queue pair (VHOST-USER-010)."""
    a, b, ips, proto, ports = key
    assert isinstance(a, bytes) and isinstance(b, bytes) and isinstance(ips, tuple) \
        and isinstance(proto, int) and isinstance(ports, tuple)
    data = a + b + bytes(ips[0]) + bytes(ips[1]) + bytes([proto]) + \
        int(ports[0]).to_bytes(2, "big") + int(ports[1]).to_bytes(2, "big")
    return zlib.crc32(data)


def ethernet(src: bytes, dst: bytes, eth_type: int, payload: bytes | dpkt.Packet,
             pcp: int | None = None, vid: int = 0) -> bytes:
    eth = Ethernet(src=src, dst=dst, type=eth_type, data=payload)
    if pcp is not None:
        eth.vlan_tags = [VLANtag8021Q(pri=pcp, id=vid, type=eth_type)]
    return bytes(eth)


def udp_frame(src: bytes, dst: bytes, src_ip: str, dst_ip: str, sport: int, dport: int,
              payload: bytes, pcp: int | None = None) -> bytes:
    """A fully checksummed IPv4/UDP frame, with an 802.1Q tag of class ``pcp`` if given."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=ip_bytes(src_ip), dst=ip_bytes(dst_ip), p=IPPROTO_UDP, ttl=64, data=udp)
    ip.len = len(ip)
    return ethernet(src, dst, ETH_TYPE_IP, ip, pcp)


def raw_frame(src: bytes, dst: bytes, payload: bytes, eth_type: int = 0x88B5,
              pcp: int | None = None) -> bytes:
    """A frame of the local experimental EtherType 0x88B5 carrying ``payload``."""
    return ethernet(src, dst, eth_type, payload, pcp)


def arp_frame(op: int, sha: bytes, spa: str, tha: bytes, tpa: str, dst: bytes) -> bytes:
    arp = dpkt.arp.ARP(op=op, sha=sha, spa=ip_bytes(spa), tha=tha, tpa=ip_bytes(tpa))
    return ethernet(sha, dst, ETH_TYPE_ARP, arp)


def arp_request(sha: bytes, spa: str, tpa: str) -> bytes:
    return arp_frame(dpkt.arp.ARP_OP_REQUEST, sha, spa, b"\0" * 6, tpa, BROADCAST)


def _ip_l4(eth: Ethernet) -> tuple[int, int, int] | None:
    """(offset of the IPv4 header, offset of the TCP/UDP header, protocol), or None."""
    ip = eth.data
    if not isinstance(ip, dpkt.ip.IP) or int(ip.p) not in (IPPROTO_TCP, IPPROTO_UDP):
        return None
    l3 = ETH_HLEN + 4 * len(getattr(eth, "vlan_tags", None) or [])
    return l3, l3 + 4 * int(ip.hl), int(ip.p)


def l4_of(frame: bytes) -> tuple[int, int, int] | None:
    """(offset of the IPv4 header, offset of the TCP/UDP header, protocol) of a frame, or
    None when it is not IPv4 TCP/UDP."""
    return _ip_l4(Ethernet(frame))


def _pseudo_sum(frame: bytes, l3: int, l4: int, proto: int) -> int:
    total_len = struct.unpack_from("!H", frame, l3 + 2)[0]
    seg_len = total_len - (l4 - l3)
    pseudo = frame[l3 + 12:l3 + 20] + struct.pack("!BBH", 0, proto, seg_len)
    return ones_complement(pseudo)


def csum_offset_of(proto: int) -> int:
    return 16 if proto == IPPROTO_TCP else 6


def partial_checksum(frame: bytes) -> tuple[bytes, int, int]:
    """The transmit checksum offload of NET-004 for an IPv4 TCP/UDP frame: the frame with the
    pseudo-header sum in its checksum field, ``csum_start`` and ``csum_offset``."""
    found = _ip_l4(Ethernet(frame))
    if found is None:
        raise ValueError("checksum offload needs an IPv4 TCP or UDP frame")
    l3, l4, proto = found
    at = l4 + csum_offset_of(proto)
    pseudo = _pseudo_sum(frame, l3, l4, proto)
    return frame[:at] + pseudo.to_bytes(2, "big") + frame[at + 2:], l4, csum_offset_of(proto)


def checksum_ok(frame: bytes) -> bool | None:
    """Whether an IPv4 TCP/UDP frame's transport checksum is correct (None: not such a frame;
    a UDP checksum of 0 means "none" and counts as correct)."""
    eth = Ethernet(frame)
    found = _ip_l4(eth)
    if found is None:
        return None
    l3, l4, proto = found
    total_len = struct.unpack_from("!H", frame, l3 + 2)[0]
    segment = frame[l4:l3 + total_len]
    if proto == IPPROTO_UDP and segment[6:8] == b"\0\0":
        return True
    pseudo = frame[l3 + 12:l3 + 20] + struct.pack("!BBH", 0, proto, len(segment))
    return ones_complement(pseudo + segment) == 0xFFFF
