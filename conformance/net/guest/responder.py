"""The host the guest talks to, on the wire of our vhost-user device: it answers ARP requests
and ICMP echo requests for HOST_IP, refuses TCP connections with a reset, and records every
frame the guest transmitted (parsed with dpkt)."""

from __future__ import annotations

import socket
import threading

import dpkt
from dpkt.ethernet import ETH_TYPE_ARP, ETH_TYPE_IP, Ethernet
from virtiospec.conformance.net.guest.initramfs import HOST_IP, HOST_MAC
from virtiospec.reference.net import frames as FR
from virtiospec.reference.vhost_user.session import Session

HOST_MAC_B = FR.mac_bytes(HOST_MAC)
HOST_IP_B = FR.ip_bytes(HOST_IP)


class Responder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[bytes] = []  # every frame the guest sent, in order
        self.replies: list[bytes] = []  # every frame we sent back
        self.guest_mac: bytes | None = None
        self.guest_ip: bytes | None = None
        self.counts: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def __call__(self, session: Session, pair: int, frame: bytes) -> None:
        with self.lock:
            self.frames.append(frame)
        reply = self.answer(frame)
        if reply is not None:
            with self.lock:
                self.replies.append(reply)
            session.inject(reply)

    def answer(self, frame: bytes) -> bytes | None:
        eth = Ethernet(frame)
        if eth.type == ETH_TYPE_ARP and isinstance(eth.data, dpkt.arp.ARP):
            arp = eth.data
            if arp.op == dpkt.arp.ARP_OP_REQUEST and bytes(arp.tpa) == HOST_IP_B:
                self._count("arp")
                self.guest_mac, self.guest_ip = bytes(arp.sha), bytes(arp.spa)
                return FR.arp_frame(dpkt.arp.ARP_OP_REPLY, HOST_MAC_B, HOST_IP, bytes(arp.sha),
                                    socket.inet_ntoa(bytes(arp.spa)), bytes(arp.sha))
            return None
        if eth.type != ETH_TYPE_IP or not isinstance(eth.data, dpkt.ip.IP):
            return None
        ip = eth.data
        if bytes(ip.dst) != HOST_IP_B:
            return None
        if isinstance(ip.data, dpkt.icmp.ICMP) and ip.data.type == dpkt.icmp.ICMP_UNREACH:
            self._count("icmp-unreach")  # the guest's answer to a UDP probe to a closed port
            return None
        if isinstance(ip.data, dpkt.icmp.ICMP) and ip.data.type == dpkt.icmp.ICMP_ECHO:
            self._count("echo")
            echo = ip.data
            reply = dpkt.icmp.ICMP(type=dpkt.icmp.ICMP_ECHOREPLY, code=0, data=echo.data)
            out = dpkt.ip.IP(src=ip.dst, dst=ip.src, p=dpkt.ip.IP_PROTO_ICMP, ttl=64,
                             id=ip.id, data=reply)
            out.len = len(out)
            return FR.ethernet(HOST_MAC_B, bytes(eth.src), ETH_TYPE_IP, out)
        if isinstance(ip.data, dpkt.tcp.TCP) and ip.data.flags & dpkt.tcp.TH_SYN:
            self._count("syn")
            tcp = ip.data
            rst = dpkt.tcp.TCP(sport=tcp.dport, dport=tcp.sport, seq=0, ack=tcp.seq + 1,
                               flags=dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK, win=0)
            out = dpkt.ip.IP(src=ip.dst, dst=ip.src, p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=rst)
            out.len = len(out)
            return FR.ethernet(HOST_MAC_B, bytes(eth.src), ETH_TYPE_IP, out)
        return None

    def snapshot(self) -> list[bytes]:
        with self.lock:
            return list(self.frames)
