"""The control queue (NET-030, NET-031, NET-032, NET-033, NET-034, NET-035, NET-036, NET-037,
NET-038, NET-039): command encoding for the driver, and the device's
decoding and the receive-filter and multiqueue state the commands set.

A command is ``u8 class, u8 command, data`` (device-readable) then ``u8 ack``
(device-writable). :func:`execute` never raises on the driver's bytes: every malformed or
unsupported command comes back as VIRTIO_NET_ERR with the requirement it broke (NET-031).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.errors import BadCommand
from virtiospec.reference.net.frames import BROADCAST, is_multicast

OK = 0
ERR = 1

CLASS_RX = 0
RX_PROMISC = 0
RX_ALLMULTI = 1
RX_ALLUNI = 2
RX_NOMULTI = 3
RX_NOUNI = 4
RX_NOBCAST = 5

CLASS_MAC = 1
MAC_TABLE_SET = 0
MAC_ADDR_SET = 1

CLASS_VLAN = 2
CLASS_ANNOUNCE = 3

CLASS_MQ = 4
MQ_VQ_PAIRS_SET = 0
MQ_PAIRS_MIN = 1
MQ_PAIRS_MAX = 0x8000

MAX_TABLE = 64  # entries per MAC table the reference device keeps exactly


# -- driver side: encoding ------------------------------------------------------------------
def rx_mode(command: int, on: bool) -> bytes:
    return bytes([CLASS_RX, command, 1 if on else 0])


def mac_table(unicast: list[bytes], multicast: list[bytes]) -> bytes:
    """NET-035: le32 n, n unicast addresses, le32 m, m multicast addresses."""
    out = bytearray([CLASS_MAC, MAC_TABLE_SET])
    for table in (unicast, multicast):
        out += struct.pack("<I", len(table))
        for mac in table:
            if len(mac) != 6:
                raise ValueError("a MAC address is 6 bytes")
            out += mac
    return bytes(out)


def mac_addr(mac: bytes) -> bytes:
    return bytes([CLASS_MAC, MAC_ADDR_SET]) + mac


def vq_pairs(n: int) -> bytes:
    return bytes([CLASS_MQ, MQ_VQ_PAIRS_SET]) + struct.pack("<H", n)


# -- device side: state and execution ---------------------------------------------------------
@dataclass
class RxFilter:
    """What the control queue has set; all of it is forgotten at a reset (NET-034, NET-038)."""

    promisc: bool = False
    allmulti: bool = False
    unicast: list[bytes] = field(default_factory=list)
    multicast: list[bytes] = field(default_factory=list)
    pairs: int = 1  # queue pairs in use (NET-038)

    def accepts(self, dst: bytes, mac: bytes, features: int) -> bool:
        """NET-036 (with NET-032): does a frame for ``dst`` pass the receive filter?"""
        if self.promisc:
            return True
        if dst == BROADCAST:
            return True
        if is_multicast(dst):
            return self.allmulti or dst in self.multicast or not F.has(features, F.CTRL_RX)
        return dst == mac or dst in self.unicast


def _need(features: int, bit: int, req: str, what: str) -> None:
    if not F.has(features, bit):
        raise BadCommand(f"{what} without VIRTIO_NET_F_{F.NAMES[bit]}", req)


def _flag(data: bytes, what: str) -> bool:
    if len(data) != 1 or data[0] > 1:
        raise BadCommand(f"{what} takes one byte 0 or 1, got {data.hex() or 'nothing'}")
    return data[0] == 1


def _table(data: bytes, at: int) -> tuple[list[bytes], int]:
    if at + 4 > len(data):
        raise BadCommand("MAC table truncated before its entry count", "NET-035")
    (n,) = struct.unpack_from("<I", data, at)
    at += 4
    if n > (len(data) - at) // 6:
        raise BadCommand(f"MAC table of {n} entries in {len(data) - at} bytes", "NET-035")
    macs = [bytes(data[at + 6 * i: at + 6 * i + 6]) for i in range(n)]
    return macs, at + 6 * n


def execute(command: bytes, flt: RxFilter, config: NetConfig, features: int) -> None:
    """Carry out one command (class, command, data) or raise :class:`BadCommand` having
    changed nothing (NET-031)."""
    if len(command) < 2:
        raise BadCommand(f"a command needs class and command bytes, got {len(command)}",
                         "NET-030")
    cls, cmd, data = command[0], command[1], command[2:]
    if cls == CLASS_RX:
        _need(features, F.CTRL_RX, "NET-033", "VIRTIO_NET_CTRL_RX")
        if cmd == RX_PROMISC:
            flt.promisc = _flag(data, "PROMISC")
        elif cmd == RX_ALLMULTI:
            flt.allmulti = _flag(data, "ALLMULTI")
        else:
            raise BadCommand(f"RX command {cmd} is not supported (no CTRL_RX_EXTRA)")
    elif cls == CLASS_MAC:
        _need(features, F.CTRL_RX, "NET-033", "VIRTIO_NET_CTRL_MAC")
        if cmd == MAC_TABLE_SET:
            uni, at = _table(data, 0)
            multi, at = _table(data, at)
            if at != len(data):
                raise BadCommand(f"{len(data) - at} bytes after the MAC tables", "NET-035")
            if any(is_multicast(m) for m in uni) or not all(is_multicast(m) for m in multi):
                raise BadCommand("a multicast address in the unicast table or the reverse",
                                 "NET-035")
            if len(uni) > MAX_TABLE or len(multi) > MAX_TABLE:
                raise BadCommand(f"more than {MAX_TABLE} entries in a MAC table")
            flt.unicast, flt.multicast = uni, multi  # NET-034: before the command is used
        elif cmd == MAC_ADDR_SET:
            _need(features, F.CTRL_MAC_ADDR, "NET-034", "MAC_ADDR_SET")
            if len(data) != 6 or is_multicast(data):
                raise BadCommand(f"MAC_ADDR_SET takes one unicast address, got {data.hex()}")
            config.set_mac(bytes(data))
        else:
            raise BadCommand(f"MAC command {cmd} is unknown")
    elif cls == CLASS_MQ:
        _need(features, F.MQ, "NET-037", "VIRTIO_NET_CTRL_MQ")
        if cmd != MQ_VQ_PAIRS_SET:
            raise BadCommand(f"MQ command {cmd} is not supported (no RSS, no hash report)")
        if len(data) != 2:
            raise BadCommand(f"VQ_PAIRS_SET takes an le16, got {len(data)} bytes")
        (n,) = struct.unpack("<H", data)
        if not MQ_PAIRS_MIN <= n <= config.max_pairs:
            raise BadCommand(f"{n} pairs outside [1, {config.max_pairs}]", "NET-037")
        flt.pairs = n
    else:
        raise BadCommand(f"class {cls} is not supported")
