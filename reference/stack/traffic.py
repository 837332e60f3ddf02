"""Traffic through the full stack, and the proof that it arrived: every frame intact, once,
in order per queue (NET-060).

Frames are IPv4/UDP with an 802.1Q tag, built with dpkt; frame ``seq`` has class ``seq % 8``
(so with queue classes it goes on the pair that carries that class, NET-051, NET-053), and a
payload that depends on ``seq`` and the direction only, so the receiver rebuilds the exact
bytes it expects. The driver sends frame ``seq`` to the peer on the wire; the peer checks it
and answers with echo frame ``seq``, which the device receives from the wire and delivers to
the driver. Order is checked per queue and class: frames of one class placed on one queue
arrive in the order placed (a device reset may move a class to another queue for a while,
NET-038, which is why the class is part of the key).
"""

from __future__ import annotations

import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import dpkt
from virtiospec.reference.net.frames import udp_frame
from virtiospec.reference.stack.net_stack import Stack

PEER_MAC = b"\x02\x00\x5e\x00\x00\x02"
DRIVER_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
DRIVER_PORT, PEER_PORT = 40000, 7  # the echo service
MAGIC = b"VSPK"
HEAD = struct.Struct("<4sIB")  # magic, seq, direction (0: driver -> wire, 1: wire -> driver)
OVERHEAD = 14 + 4 + 20 + 8  # Ethernet, 802.1Q, IPv4, UDP
MIN_SIZE = max(60, OVERHEAD + HEAD.size)  # the Ethernet minimum (no FCS)
MAX_SIZE = 1514 + 4
PATTERN = bytes(range(256)) * 7
TX, RX = 0, 1


def payload(seq: int, direction: int, length: int) -> bytes:
    body = length - HEAD.size
    start = (seq * 31 + direction * 7) % 256
    return HEAD.pack(MAGIC, seq, direction) + PATTERN[start:start + body]


def frame(seq: int, size: int, direction: int, driver_mac: bytes) -> bytes:
    """Frame ``seq`` of ``size`` bytes in ``direction``; the same bytes every time."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"frame size {size} outside [{MIN_SIZE}, {MAX_SIZE}]")
    data = payload(seq, direction, size - OVERHEAD)
    if direction == TX:
        return udp_frame(driver_mac, PEER_MAC, DRIVER_IP, PEER_IP, DRIVER_PORT, PEER_PORT, data,
                         pcp=seq % 8)
    return udp_frame(PEER_MAC, driver_mac, PEER_IP, DRIVER_IP, PEER_PORT, DRIVER_PORT, data,
                     pcp=seq % 8)


def seq_of(data: bytes) -> tuple[int, int] | None:
    """``(direction, seq)`` of one of our frames, or None if it is not one."""
    try:
        eth = dpkt.ethernet.Ethernet(data)
        udp = eth.data.data
        magic, seq, direction = HEAD.unpack_from(bytes(udp.data))
    except (dpkt.UnpackError, AttributeError, struct.error):
        return None
    return (direction, seq) if magic == MAGIC else None


@dataclass
class Tally:
    """Frames seen at one end: per queue and class the sequence numbers, in arrival order."""

    direction: int
    size: int
    driver_mac: bytes
    seen: Counter[int] = field(default_factory=Counter)
    streams: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    per_queue: Counter[int] = field(default_factory=Counter)
    corrupted: int = 0
    out_of_order: int = 0

    def record(self, queue: int, data: bytes) -> int | None:
        """Check one frame; its seq if it is intact."""
        got = seq_of(data)
        if got is None or got[0] != self.direction or \
                data != frame(got[1], self.size, self.direction, self.driver_mac):
            self.corrupted += 1
            return None
        seq = got[1]
        stream = self.streams[(queue, seq % 8)]
        if stream and seq <= stream[-1]:
            self.out_of_order += 1
        stream.append(seq)
        self.seen[seq] += 1
        self.per_queue[queue] += 1
        return seq

    @property
    def intact(self) -> int:
        return sum(self.seen.values())

    def duplicated(self) -> int:
        return sum(n - 1 for n in self.seen.values() if n > 1)

    def lost(self, expected: int) -> int:
        return sum(1 for seq in range(expected) if seq not in self.seen)

    def summary(self, expected: int) -> dict[str, object]:
        return {"expected": expected, "intact": self.intact, "lost": self.lost(expected),
                "duplicated": self.duplicated(), "corrupted": self.corrupted,
                "out_of_order": self.out_of_order,
                "per_queue": {str(q): n for q, n in sorted(self.per_queue.items())}}


@dataclass
class TrafficResult:
    frames: int
    size: int
    seconds: float
    tx: dict[str, object]
    rx: dict[str, object]
    flap: dict[str, int] | None = None
    reset: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        bad = ("lost", "duplicated", "corrupted", "out_of_order")
        frozen = self.flap is None or (self.flap["tx_while_down"] == 0
                                       and self.flap["rx_while_down"] == 0)
        return frozen and all(side[k] == 0 for side in (self.tx, self.rx) for k in bad)

    @property
    def frames_per_second(self) -> float:
        done = int(self.tx["intact"]) + int(self.rx["intact"])  # type: ignore[call-overload]
        return done / self.seconds if self.seconds else 0.0


class Echo:
    """The peer on the wire: checks each frame the device transmits, answers with its echo."""

    def __init__(self, stack: Stack, size: int) -> None:
        self.stack = stack
        self.size = size
        self.tally = Tally(TX, size, stack.net.mac)

    def __call__(self, pair: int, data: bytes) -> None:
        seq = self.tally.record(pair, data)
        if seq is not None:
            self.stack.inject(frame(seq, self.size, RX, self.tally.driver_mac))


def run_traffic(stack: Stack, frames: int, size: int, *, batch: int | None = None,
                flap: bool = False, reset: bool = False) -> TrafficResult:
    """Send ``frames`` frames and take their echoes (the stack's wire becomes the echo peer),
    in batches, pumping the stack between batches. With ``flap`` the link goes down half-way
    (and nothing may move while it is, NET-026); with ``reset`` the device is reset three
    quarters in, with frames in flight."""
    echo = Echo(stack, size)
    stack.on_wire = echo
    rx = Tally(RX, size, stack.net.mac)
    batch = batch or max(1, stack.options.queue_size // 2)
    flap_at = frames // 2 if flap else -1
    reset_at = frames * 3 // 4 if reset else -1
    flap_info: dict[str, int] | None = None
    reset_info: dict[str, int] | None = None

    def take() -> None:
        for got in stack.received():
            rx.record(got.pair, got.frame)

    start = time.perf_counter()
    seq = 0
    while seq < frames:
        end = min(frames, seq + batch)
        if seq <= flap_at < end:
            stack.link(False)
            stack.pump()
            take()
            wire, got = echo.tally.intact, rx.intact
            for n in range(seq, end):
                stack.send(frame(n, size, TX, rx.driver_mac))
            stack.pump()
            take()
            flap_info = {"at": seq, "sent_while_down": end - seq,
                         "tx_while_down": echo.tally.intact - wire,
                         "rx_while_down": rx.intact - got}
            stack.link(True)
        elif seq <= reset_at < end:
            for n in range(seq, end):
                stack.send(frame(n, size, TX, rx.driver_mac))  # in flight: no pump
            requeued = stack.net.stats.tx_requeued
            stack.reset()
            reset_info = {"at": seq, "requeued": stack.net.stats.tx_requeued - requeued}
        else:
            for n in range(seq, end):
                stack.send(frame(n, size, TX, rx.driver_mac))
        stack.pump()
        take()
        seq = end
    stack.pump()
    take()
    seconds = time.perf_counter() - start
    return TrafficResult(frames, size, seconds, echo.tally.summary(frames), rx.summary(frames),
                         flap_info, reset_info)
