"""What a vhost-user back-end offers and how it runs (:class:`Options`), and what one
connection keeps per vring (:class:`Vring`) and records (:class:`Transcript`); the
connection itself is :mod:`.session`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from virtiospec.reference.net import features as F
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.fast import FastQueue
from virtiospec.reference.vhost_user.in_order import RingView

NET_FEATURES = F.of(F.VERSION_1, F.MRG_RXBUF, F.CSUM, F.RING_EVENT_IDX, F.RING_INDIRECT_DESC,
                    F.RING_PACKED, F.IN_ORDER)
PROTOCOL_FEATURES = F.of(M.PROTOCOL_F_MQ, M.PROTOCOL_F_REPLY_ACK)
DEVICES = ("python", "c")
DEVICE_ENV = "VIRTIOSPEC_VHOST_DEVICE"
# A known-bad build for the tests: $VIRTIOSPEC_VHOST_PLANT names one message check skipped
PLANT_ENV = "VIRTIOSPEC_VHOST_PLANT"
CHECKS = ("reply-flag", "mem-overlap", "vring-num", "vring-addr", "vring-base", "eventfd")
MAX_QUEUE = 32768


def default_device() -> str:
    """``$VIRTIOSPEC_VHOST_DEVICE`` if set, else ``"c"`` (the fast path)."""
    return os.environ.get(DEVICE_ENV) or "c"


@dataclass
class Options:
    """What the back-end offers and how it runs."""

    pairs: int = 1
    features: int = NET_FEATURES
    protocol_features: int = PROTOCOL_FEATURES
    poll: bool = False  # busy-poll the rings (no kicks needed) instead of waiting for kicks
    mtu: int = 1500
    source: Callable[[int], list[bytes]] | None = None  # frames to send, asked for n at a time
    source_depth: int = 256  # keep this many frames waiting when there is a source
    # a traffic source: these frames, over and over, as fast as the driver gives buffers
    # (the C fast path makes them in C, a burst per call; the Python device takes them from
    # a Python source like ``source``)
    repeat: tuple[bytes, ...] | None = None
    device: str = field(default_factory=default_device)  # "python" (the spec) or "c"
    # a check of CHECKS to skip (a planted bug the hostile protocol cases must catch)
    plant: str = field(default_factory=lambda: os.environ.get(PLANT_ENV, ""))
    # watch the device keep VIRTIO_F_IN_ORDER from the rings in memory (InOrderWatch) and
    # count what moves on each queue pair: for the conformance cases, not the benchmark
    observe: bool = False

    def __post_init__(self) -> None:
        if self.plant and self.plant not in CHECKS:
            raise ValueError(f"plant {self.plant!r}: one of {', '.join(CHECKS)}")
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r}: one of {', '.join(DEVICES)}")
        if self.repeat is not None:
            if not self.repeat:
                raise ValueError("repeat: at least one frame")
            if self.source is not None:
                raise ValueError("repeat and source: one traffic source at a time")


@dataclass
class Vring:
    index: int
    num: int = 0
    base: int = 0  # SET_VRING_BASE's num (packed: position | wrap << 15 | used << 16)
    user_addrs: tuple[int, int, int] | None = None  # desc, used, avail (user addresses)
    kick: int | None = None
    call: int | None = None
    err: int | None = None
    enabled: bool = False
    queue: SplitDevice | PackedDevice | FastQueue | None = None
    view: RingView | None = None  # where the started ring lies, in guest addresses
    calls: int = 0
    kicks: int = 0

    @property
    def started(self) -> bool:
        return self.queue is not None


@dataclass
class Transcript:
    """What happened on the connection, for the conformance cases and the report."""

    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    features: int | None = None
    protocol_features: int | None = None
    started: list[int] = field(default_factory=list)  # vrings, each time one starts
    # with Options.observe: frames per queue pair, and received frames placed on another
    # pair than the one their flow was due (VHOST-USER-010, NET-040, NET-038)
    rx_pairs: Counter[int] = field(default_factory=Counter)
    tx_pairs: Counter[int] = field(default_factory=Counter)
    steered: int = 0
    misteered: list[str] = field(default_factory=list)
    pairs_enabled: int = 0  # the most pairs started and enabled at once
