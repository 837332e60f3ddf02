"""The C fast path of the vhost-user device (reference/vhost_user/c/ring_vhost.c,
reference/vhost_user/fast.py)
against the Python device it speeds up: for the same inputs -- honest traffic and hostile
descriptors -- the same frames on the wire, the same bytes written to the driver's buffers, the
same used entries, the same refusals with the same requirement IDs, the same queues stopped.

Two worlds, one per device, each with its own memory table of two regions with a hole between
them and nothing above the second (so a guest address can lie inside a region, in the hole,
straddle a region's end, or lie beyond every region). One driver acts on both: every store it
makes goes to both, every load it makes must read the same value from both. After every step
the two worlds are compared whole.

Where the two differ by design (fast.py): the fast path decides used-buffer notifications once
per batch, so only "notified at all" is compared; its refusal messages may word the same error
differently, so errors are compared by class and requirement ID.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
from c_helpers import (
    cc,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    needs_cc,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from virtiospec.reference import c_build
from virtiospec.reference.access import OutOfBounds, run
from virtiospec.reference.c_build import STRICT, MissingCompiler
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.driver import Outstanding
from virtiospec.reference.ring.errors import QueueFull, RingError
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.c import build as ring_vhost_build
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.frontend import FrontEnd
from virtiospec.reference.vhost_user.memory import MemoryTable, Region
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import DEVICE_ENV, Options, Session

pytestmark = pytest.mark.skipif(not fast.available(), reason="the C fast path is not built")


A = (0x10000, 0x40000)  # region A: the rings, indirect tables, buffers
B = (0x60000, 0x10000)  # region B: more buffers
HOLE = 0x50000  # [0x50000, 0x60000): no region
LIMIT = B[0] + B[1]  # what the ring checks addresses against
Q = 8
IND_MAX = 4
LAYOUTS = {0: SplitLayout.packed_at(0x10000, Q), 1: SplitLayout.packed_at(0x11000, Q)}
INDIRECT = {0: 0x12000, 1: 0x13000}
AREAS = {("A", 0): 0x30000, ("A", 1): 0x20000, ("B", 0): 0x68000, ("B", 1): 0x60000}
AREA = 0x8000  # bytes per (region, queue) buffer area, used round-robin
PEER = b"\x02\x00\x00\x00\x00\x99"
MAC = b"\x52\x54\x00\x12\x34\x56"


# -- two worlds and one driver ---------------------------------------------------------------

def table() -> MemoryTable:
    regions, fds = [], []
    for gpa, size in (A, B):
        fd = os.memfd_create("virtiospec-test", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        regions.append(Region(gpa, size, 0x7F00_0000_0000 + gpa, 0))
        fds.append(fd)
    mem = MemoryTable()
    mem.set(regions, fds)
    return mem


class World:
    def __init__(self, c: bool, features: int) -> None:
        self.c = c
        self.features = features
        self.mem = table()
        cls = FastNetDevice if c else NetDevice
        self.dev: NetDevice = cls(NetConfig(), features, self.mem, filtering=False)
        self.dev.tx_headers = []
        for index, lay in LAYOUTS.items():
            q: SplitDevice | FastQueue
            if c:
                q = FastQueue(self.mem, Q, lay.desc, lay.avail, lay.used, features=features,
                              last_avail=0, used_idx=0, call_fd=None, receive=index == 0)
            else:
                q = SplitDevice(lay, self.mem.limit,
                                event_idx=F.has(features, F.RING_EVENT_IDX),
                                indirect=F.has(features, F.RING_INDIRECT_DESC))
            self.dev.attach(index, q)  # type: ignore[arg-type]

    def run(self) -> None:
        """What Session.pump does: a ring that faults at a write is failed, a failed ring is
        not delivered to again."""
        self.dev.process_tx()
        if 0 in self.dev.broken:
            return
        try:
            self.dev.deliver(0)
        except RingError as err:
            self.dev._fail(0, err)

    def held(self) -> int:
        if isinstance(self.dev, FastNetDevice):
            return self.dev.held(0)
        return len(self.dev.rx_held.get(0, []))

    def indices(self) -> dict[int, tuple[int, int]]:
        if isinstance(self.dev, FastNetDevice):
            return {i: (q.last_avail, q.used_idx) for i, q in self.dev.fast.items()}
        return {i: (q.last_avail, q.used_idx) for i, q in self.dev.queues.items()}

    def view(self) -> dict[str, Any]:
        d = self.dev
        stats = {k: v for k, v in vars(d.stats).items() if k != "notifications"}
        return {
            "memory": [bytes(m.view) for m in self.mem.maps],
            "stats": stats,
            "notified": d.stats.notifications > 0,
            "faults": [(type(f).__name__, f.req) for f in d.faults],
            "broken": {i: (type(e).__name__, e.req) for i, e in d.broken.items()},
            "transmitted": list(d.transmitted),
            "headers": list(d.tx_headers or []),
            "backlog": [list(q) for q in d.backlog],
            "held": self.held(),
            "indices": self.indices(),
        }

    def close(self) -> None:
        if isinstance(self.dev, FastNetDevice):
            self.dev.close()
        self.mem.close()


class Mirror:
    """The driver's memory: stores go to both worlds, loads must agree."""

    def __init__(self, worlds: list[World]) -> None:
        self.mems = [w.mem for w in worlds]

    def read(self, addr: int, size: int) -> int:
        values = {m.read(addr, size) for m in self.mems}
        assert len(values) == 1, f"the worlds differ at {addr:#x}: {values}"
        return values.pop()

    def write(self, addr: int, size: int, value: int) -> None:
        for m in self.mems:
            m.write(addr, size, value)

    def write_bytes(self, addr: int, data: bytes) -> None:
        for m in self.mems:
            m.write_bytes(addr, data)

    def read_bytes(self, addr: int, size: int) -> bytes:
        values = {m.read_bytes(addr, size) for m in self.mems}
        assert len(values) == 1
        return values.pop()


class Pair:
    """Both worlds, one driver per queue, and the steps of a scenario."""

    def __init__(self, features: int) -> None:
        self.worlds = [World(False, features), World(True, features)]
        self.mem = Mirror(self.worlds)
        self.features = features
        event_idx = F.has(features, F.RING_EVENT_IDX)
        indirect = F.has(features, F.RING_INDIRECT_DESC)
        self.drivers = {i: SplitDriver(lay, event_idx=event_idx, indirect_max=IND_MAX,
                                       indirect_area=INDIRECT[i] if indirect else None)
                        for i, lay in LAYOUTS.items()}
        for drv in self.drivers.values():
            run(drv.init(), self.mem)
        self.cursor = dict.fromkeys(AREAS, 0)
        self.token = 0

    def close(self) -> None:
        for w in self.worlds:
            w.close()

    # -- where a buffer lies
    def place(self, where: str, n: int, index: int) -> int:
        if where in ("A", "B"):
            key = (where, index)
            at = self.cursor[key]
            if at + n > AREA:
                at = 0
            self.cursor[key] = at + n
            return AREAS[key] + at
        return {"hole": HOLE + 0x100, "straddle": A[0] + A[1] - 8, "beyond": LIMIT - 4,
                "far": LIMIT + 0x10000, "edge": A[0] + A[1]}[where]

    def write_data(self, segments: list[tuple[int, int]], data: bytes) -> None:
        at = 0
        for addr, n in segments:
            piece = data[at:at + n]
            at += n
            for m in self.mem.mems:
                with contextlib.suppress(OutOfBounds):  # the driver writes what it can
                    m.write_bytes(addr, piece)

    # -- steps
    def add(self, index: int, out: list[tuple[int, int]], in_: list[tuple[int, int]]) -> bool:
        self.token += 1
        try:
            run(self.drivers[index].add(out, in_, self.token), self.mem)
        except (QueueFull, RingError):
            return False
        return True

    def tx(self, hdr: bytes, frame: bytes, places: list[str], extra_writable: bool) -> None:
        data = hdr + frame
        k = len(places)
        cuts = [len(data) * i // k for i in range(k + 1)]
        segs = [(self.place(p, cuts[i + 1] - cuts[i], 1), cuts[i + 1] - cuts[i])
                for i, p in enumerate(places)]
        if self.add(1, segs, [(self.place("A", 16, 1), 16)] if extra_writable else []):
            self.write_data(segs, data)

    def rx_buffer(self, segs: list[tuple[str, int]]) -> None:
        self.add(0, [], [(self.place(where, n, 0), n) for where, n in segs])

    def frames(self, sizes: list[int]) -> None:
        for n in sizes:
            frame = FR.udp_frame(PEER, MAC, "10.0.0.2", "10.0.0.1", 7, 9,
                                 bytes((n + i) & 0xFF for i in range(n)))
            for w in self.worlds:
                w.dev.receive(frame)

    def reap(self) -> None:
        for drv in self.drivers.values():
            try:
                while run(drv.get_used(), self.mem) is not None:
                    pass
            except RingError:
                pass  # the device broke its side: both worlds alike (the loads agreed)

    def raw(self, index: int, descs: list[tuple[int, int, int, int]], head_entry: int | None = None,
            writable: int = 0) -> None:
        """Publish a chain written descriptor by descriptor: (addr, len, flags, next) where
        next is an offset into the descriptors taken (or a raw index when >= 100)."""
        drv = self.drivers[index]
        lay = LAYOUTS[index]
        if len(drv.free) < len(descs):
            return
        ids = [drv.free.pop(0) for _ in descs]
        for k, (addr, length, flags, nxt) in enumerate(descs):
            at = lay.desc_addr(ids[k])
            real_next = nxt - 100 if nxt >= 100 else ids[nxt % len(ids)]
            self.mem.write(at, 8, addr)
            self.mem.write(at + 8, 4, length)
            self.mem.write(at + 12, 2, flags)
            self.mem.write(at + 14, 2, real_next)
        head = ids[0] if head_entry is None else head_entry
        self.token += 1
        if head < Q:
            drv.chains[head] = Outstanding(self.token, ids, writable)
        self.mem.write(lay.avail_ring(lay.slot(drv.avail_idx)), 2, head)
        drv.avail_idx = (drv.avail_idx + 1) & 0xFFFF
        self.mem.write(lay.avail_idx, 2, drv.avail_idx)

    def hostile(self, index: int, kind: str) -> None:
        w = VIRTQ_DESC_F_WRITE if index == 0 else 0
        n = 200  # room for every frame of the tests: the refusal is the chain's, never a drop
        buf = self.place("A", n, index)
        if kind == "loop":
            self.raw(index, [(buf, n, w | VIRTQ_DESC_F_NEXT, 1),
                             (buf, n, w | VIRTQ_DESC_F_NEXT, 0)])
        elif kind == "bad-next":
            self.raw(index, [(buf, n, w | VIRTQ_DESC_F_NEXT, 100 + Q + 3)])
        elif kind == "bad-head":
            self.raw(index, [(buf, n, w, 0)], head_entry=Q + 1)
        elif kind == "beyond":
            self.raw(index, [(LIMIT - 8, n, w, 0)], writable=n if w else 0)
        elif kind == "hole":
            self.raw(index, [(HOLE + 0x40, n, w, 0)], writable=n if w else 0)
        elif kind == "empty-in-hole":
            self.raw(index, [(HOLE + 0x80, 0, w | VIRTQ_DESC_F_NEXT, 1), (buf, n, w, 0)],
                     writable=n if w else 0)
        elif kind in ("indirect-hole", "indirect-beyond", "indirect-ok"):
            table = {"indirect-hole": HOLE + 0x200, "indirect-beyond": LIMIT - 16,
                     "indirect-ok": self.place("A", 32, index)}[kind]
            if kind == "indirect-ok":  # a valid table, written where the driver can
                for k, (addr, length) in enumerate(((buf, 100), (buf + 100, 100))):
                    self.mem.write(table + 16 * k, 8, addr)
                    self.mem.write(table + 16 * k + 8, 4, length)
                    self.mem.write(table + 16 * k + 12, 2, w | (VIRTQ_DESC_F_NEXT if k == 0
                                                                else 0))
                    self.mem.write(table + 16 * k + 14, 2, 1)
            self.raw(index, [(table, 32, VIRTQ_DESC_F_INDIRECT, 0)], writable=n if w else 0)
        elif kind == "read-after-write":
            self.raw(index, [(buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1), (buf, 8, 0, 0)])
        elif kind == "avail-jump":
            drv = self.drivers[index]
            drv.avail_idx = (drv.avail_idx + Q + 5) & 0xFFFF  # and it stays ahead
            self.mem.write(LAYOUTS[index].avail_idx, 2, drv.avail_idx)
        elif kind == "twice":  # the last head made available again (still in flight)
            drv, lay = self.drivers[index], LAYOUTS[index]
            if drv.chains:
                last = self.mem.read(lay.avail_ring(lay.slot(drv.avail_idx - 1)), 2)
                self.mem.write(lay.avail_ring(lay.slot(drv.avail_idx)), 2, last)
                drv.avail_idx = (drv.avail_idx + 1) & 0xFFFF
                self.mem.write(lay.avail_idx, 2, drv.avail_idx)
        else:
            raise AssertionError(kind)

    def run(self) -> None:
        for w in self.worlds:
            w.run()
        self.check()

    def check(self) -> None:
        python, c = (w.view() for w in self.worlds)
        for key in python:
            assert python[key] == c[key], f"{key}: python {python[key]!r} != c {c[key]!r}"


def header(kind: str, frame_len: int) -> bytes:
    flags, gso, start, off, nb = {
        "plain": (0, 0, 0, 0, 0), "num-buffers": (0, 0, 0, 0, 1),
        "data-valid": (2, 0, 0, 0, 0), "csum": (1, 0, 14, 6, 0),
        "csum-beyond": (1, 0, frame_len, 6, 0), "gso": (0, 1, 0, 0, 0),
        "ecn": (0, 0x80, 0, 0, 0), "unknown-flags": (0x40, 0, 0, 0, 0)}[kind]
    return bytes([flags, gso]) + (0).to_bytes(2, "little") + (0).to_bytes(2, "little") + \
        start.to_bytes(2, "little") + off.to_bytes(2, "little") + nb.to_bytes(2, "little")


def eth(n: int) -> bytes:
    base = MAC + PEER + b"\x08\x00"
    return (base + bytes((i * 7) & 0xFF for i in range(max(n - len(base), 0))))[:n]


BASE = F.of(F.VERSION_1)
FEATURES = {
    "mrg-event-indirect-csum": BASE | F.of(F.MRG_RXBUF, F.RING_EVENT_IDX,
                                           F.RING_INDIRECT_DESC, F.CSUM),
    "plain": BASE,
    "mrg-flags": BASE | F.of(F.MRG_RXBUF),
    "event-indirect": BASE | F.of(F.RING_EVENT_IDX, F.RING_INDIRECT_DESC),
}


@pytest.fixture(params=list(FEATURES))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    p = Pair(FEATURES[request.param])
    yield p
    p.close()


# -- fixed scenarios -------------------------------------------------------------------------

def test_honest_traffic_both_ways(pair: Pair) -> None:
    for i in range(5):
        pair.tx(header("plain", 60), eth(60 + i), ["A"], False)
    pair.run()
    pair.reap()
    pair.tx(header("csum", 80), eth(80), ["A", "B"], False)  # two buffers, checksum finished
    pair.tx(header("num-buffers", 64), eth(64), ["B"], True)  # tolerated (NET-002)
    pair.rx_buffer([("A", 1526)])
    pair.rx_buffer([("A", 100), ("B", 1426)])
    pair.frames([60, 200, 1400])
    pair.run()
    pair.reap()
    for _ in range(3):
        pair.rx_buffer([("A", 700)])
    pair.run()
    c = pair.worlds[1].dev.stats
    csum = F.has(pair.features, F.CSUM)  # without it NEEDS_CSUM is refused (NET-003)
    assert (c.tx_frames, c.tx_refused) == ((7, 0) if csum else (6, 1))
    assert c.driver_faults["NET-002"] == 1
    mrg = F.has(pair.features, F.MRG_RXBUF)  # without it 1400 bytes fit no 700-byte buffer
    assert (c.rx_frames, c.rx_too_big) == ((3, 0) if mrg else (2, 1))


def test_refused_headers(pair: Pair) -> None:
    """NET-008 and the requirement each refusal names: decided by the spec's check_tx."""
    for kind, n in (("plain", 10), ("plain", 1600), ("gso", 60), ("ecn", 60),
                    ("csum-beyond", 60), ("csum", 60), ("data-valid", 60),
                    ("unknown-flags", 60)):
        pair.tx(header(kind, n), eth(n), ["A"], False)
        pair.run()
        pair.reap()
    refused = [f.req for f in pair.worlds[1].dev.faults]
    csum = F.has(pair.features, F.CSUM)
    assert refused == ["NET-008", "NET-024", "NET-006", "NET-006", "NET-003" if not csum
                       else "NET-004"] + ([] if csum else ["NET-003"])


def test_mergeable_buffers_wait_and_merge(pair: Pair) -> None:
    """A frame larger than one buffer: with MRG_RXBUF the device holds buffers until the frame
    fits (NET-011, NET-017), without it the frame is dropped (NET-013 broken)."""
    pair.frames([900, 60])
    pair.rx_buffer([("A", 11)])  # too small for a header (NET-014)
    pair.rx_buffer([("A", 300)])
    pair.run()
    pair.rx_buffer([("B", 300)])
    pair.run()
    pair.frames([100])
    pair.rx_buffer([("A", 400)])
    pair.run()
    pair.rx_buffer([("A", 0), ("A", 64)])
    pair.rx_buffer([("B", 300)])
    pair.run()
    pair.reap()
    assert [f.req for f in pair.worlds[1].dev.faults] == ["NET-014"]
    st = pair.worlds[1].dev.stats
    if F.has(pair.features, F.MRG_RXBUF):
        assert (st.rx_frames, st.rx_buffers, st.rx_too_big) == (2, 5, 0)  # 100 waits
    else:
        assert (st.rx_frames, st.rx_buffers, st.rx_too_big) == (2, 2, 1)  # 900 dropped


@pytest.mark.parametrize("kind", ["loop", "bad-next", "bad-head", "beyond", "hole",
                                  "empty-in-hole", "indirect-hole", "indirect-beyond",
                                  "indirect-ok", "read-after-write", "avail-jump", "twice"])
@pytest.mark.parametrize("index", [0, 1])
def test_hostile_descriptors(pair: Pair, kind: str, index: int) -> None:
    """Refused with the same requirement ID, the queue stopped in both, nothing read or
    written outside the regions, the other queue unaffected."""
    pair.frames([60, 61])
    pair.rx_buffer([("A", 200)])
    pair.tx(header("plain", 60), eth(60), ["A"], False)
    pair.hostile(index, kind)
    pair.rx_buffer([("B", 200)])
    pair.tx(header("plain", 62), eth(62), ["B"], False)
    pair.run()
    pair.reap()
    pair.frames([70])
    pair.rx_buffer([("A", 200)])
    pair.tx(header("plain", 63), eth(63), ["A"], False)
    pair.run()
    c = pair.worlds[1].dev
    expected = {"loop": "RING-SPLIT-080", "bad-next": "RING-SPLIT-080",
                "bad-head": "RING-SPLIT-080", "beyond": "RING-SPLIT-082",
                "hole": "RING-SPLIT-082", "empty-in-hole": "RING-SPLIT-082",
                "indirect-hole": "RING-SPLIT-082", "indirect-beyond": "RING-SPLIT-082",
                "read-after-write": "RING-SPLIT-083", "avail-jump": "RING-SPLIT-084",
                "twice": None, "indirect-ok": None}[kind]
    indirect = F.has(pair.features, F.RING_INDIRECT_DESC)
    if kind.startswith("indirect") and not indirect:
        expected = "RING-SPLIT-081"  # INDIRECT without VIRTIO_F_INDIRECT_DESC
    # "twice": the head came again after its frame was done with it: no longer in flight
    if expected is None:
        assert index not in c.broken
    else:
        assert c.broken[index].req == expected
        assert (1 - index) not in c.broken  # the other queue goes on


# -- random scenarios ------------------------------------------------------------------------

PLACES = st.sampled_from(["A"] * 12 + ["B"] * 6 + ["hole", "straddle", "beyond", "edge"])
TX = st.tuples(st.just("tx"), st.sampled_from(["plain", "plain", "plain", "num-buffers",
                                               "data-valid", "csum", "csum-beyond", "gso"]),
               st.sampled_from([0, 10, 14, 60, 61, 200, 1514, 1519]),
               st.lists(PLACES, min_size=1, max_size=3), st.booleans())
RX = st.tuples(st.just("rx"), st.lists(st.tuples(PLACES, st.sampled_from(
    [0, 4, 11, 12, 40, 100, 700, 1600])), min_size=1, max_size=3))
STEP = st.one_of(
    TX, TX, TX, RX, RX, RX,
    st.tuples(st.just("frames"), st.lists(st.sampled_from([0, 20, 60, 200, 700, 1472]),
                                          min_size=1, max_size=4)),
    st.tuples(st.just("frames"), st.lists(st.sampled_from([0, 20, 60, 200, 700, 1472]),
                                          min_size=1, max_size=4)),
    st.tuples(st.just("run")), st.tuples(st.just("run")), st.tuples(st.just("reap")),
    st.tuples(st.just("reap")),
    st.tuples(st.just("hostile"), st.sampled_from([0, 1]), st.sampled_from(
        ["loop", "bad-next", "beyond", "hole", "empty-in-hole", "indirect-hole",
         "indirect-ok", "read-after-write", "avail-jump", "twice"])),
)


@settings(max_examples=int(os.environ.get("VIRTIOSPEC_FAST_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(features=st.sampled_from(list(FEATURES.values())),
       steps=st.lists(STEP, min_size=8, max_size=40))
def test_same_as_python_device(features: int, steps: list[tuple[Any, ...]]) -> None:
    pair = Pair(features)
    try:
        for step in steps:
            kind = step[0]
            if kind == "tx":
                _, hdr, n, places, extra = step
                pair.tx(header(hdr, n), eth(n), places, extra)
            elif kind == "rx":
                pair.rx_buffer(step[1])
            elif kind == "frames":
                pair.frames(step[1])
            elif kind == "run":
                pair.run()
            elif kind == "reap":
                pair.reap()
            else:
                pair.hostile(step[1], step[2])
        pair.run()
        dev = pair.worlds[1].dev
        for index, err in dev.broken.items():
            event(f"stopped vring {index}: {err.req}")
        event(f"frames sent: {min(dev.stats.tx_frames, 3)}+, delivered: "
              f"{min(dev.stats.rx_frames, 3)}+, held: {min(pair.worlds[1].held(), 2)}+")
        for f in dev.faults:
            if not isinstance(f, RingError):
                event(f"refused {f.req}")
    finally:
        pair.close()


# -- the C side on its own ---------------------------------------------------------------------

def test_queue_refuses_rings_outside_one_region() -> None:
    mem = table()
    try:
        with pytest.raises(RingError) as err:  # the used ring runs into the hole
            FastQueue(mem, Q, 0x10000, 0x10100, HOLE - 8, features=BASE, last_avail=0,
                      used_idx=0, call_fd=None, receive=False)
        assert err.value.req == "RING-SPLIT-002"
        q = FastQueue(mem, Q, 0x10000, 0x10100, 0x10200, features=BASE, last_avail=3,
                      used_idx=5, call_fd=None, receive=True)
        assert (q.last_avail, q.used_idx, q.held, q.error) == (3, 5, 0, 0)
        with pytest.raises(BufferError):
            mem.close()  # the queue holds the regions mapped
        q.close()
        assert q.closed and q.last_avail == 3
        with pytest.raises(RuntimeError, match="closed"):
            q.enable_notify()
    finally:
        mem.close()


@pytest.mark.req("VHOST-USER-005", "RING-SPLIT-052")
def test_one_eventfd_write_per_batch() -> None:
    """Five frames sent, five received: the Python device notifies after each push, the fast
    path once per batch -- one 8-byte write of 1 to the call eventfd per direction."""
    pair = Pair(BASE | F.of(F.MRG_RXBUF))
    try:
        world = pair.worlds[1]
        assert isinstance(world.dev, FastNetDevice)
        fds = {i: os.eventfd(0, os.EFD_NONBLOCK) for i in (0, 1)}
        for i, q in world.dev.fast.items():
            q.set_call(fds[i])
        for i in range(5):
            pair.tx(header("plain", 60), eth(60 + i), ["A"], False)
            pair.rx_buffer([("A", 200)])
        pair.frames([60] * 5)
        pair.run()
        assert pair.worlds[0].dev.stats.notifications == 10
        assert world.dev.stats.notifications == 2
        assert [int.from_bytes(os.read(fds[i], 8), "little") for i in (0, 1)] == [1, 1]
        for fd in fds.values():
            os.close(fd)
    finally:
        pair.close()


def test_device_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert Options().device == "c"
    monkeypatch.setenv(DEVICE_ENV, "python")
    assert Options().device == "python"
    with pytest.raises(ValueError, match="one of python, c"):
        Options(device="rust")


def test_every_ring_access_is_translated() -> None:
    """ring_vhost.c compiles ring.c with the load and store macros of ring_access.h redefined
    (by ring_vhost_table.h, which ring_vhost_packed.c shares); a new access macro there, or
    ring.c reaching guest memory without one, must be noticed."""
    access = (c_build.src("ring_access.h")).read_text()
    normal = access[access.index("#else /* normal build */"):]
    macros = set(re.findall(r"#define (VS_(?:LOAD|STORE)\w*)\(", normal))
    ours = (c_build.src("ring_vhost_table.h")).read_text()
    assert all('#include "ring_vhost_table.h"' in c_build.src(f).read_text()
               for f in ("ring_vhost.c", "ring_vhost_packed.c"))
    assert macros == set(re.findall(r"#undef (VS_(?:LOAD|STORE)\w*)", ours))
    ring = (c_build.src("ring.c")).read_text()
    assert re.findall(r"(?:->|\.)mem\b", ring) == ["->mem"]  # only `r->mem = mem` in create


@needs_cc
def test_compiles_cleanly(tmp_path: Path) -> None:
    """C11, -Wall -Wextra -Werror -pedantic (ring.c included, its accesses translated)."""
    done = cc(*STRICT, "-pedantic", "-O2", "-c", str(c_build.src("ring_vhost.c")),
              out=tmp_path / "ring_vhost.o")
    assert done.returncode == 0, done.stderr


@needs_cc
def test_workload_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    check_sanitized_workload(tmp_path, str(c_build.src("ring_vhost.c")),
                             str(c_build.src("ring_vhost_workload.c")),
                             name="ring_vhost_workload", include=c_build.C_DIRS)


def test_missing_compiler_is_named() -> None:
    check_missing_compiler_is_named(ring_vhost_build.find_compiler, MissingCompiler,
                                    "the C fast path of its vhost-user device")


# -- through the session: a hostile front-end --------------------------------------------------

@pytest.mark.req("RING-SPLIT-080", "RING-SPLIT-082", "RING-SPLIT-084", "VHOST-USER-004")
@pytest.mark.parametrize("device", ["python", "c"])
@pytest.mark.parametrize("kind", ["loop", "beyond"])
def test_session_stops_a_hostile_ring(tmp_path: Path, device: str, kind: str) -> None:
    """A front-end whose driver publishes a looping chain, or a buffer beyond its memory: the
    ring is stopped with the requirement broken, the vring's error eventfd is signalled, and
    the back-end goes on serving the other ring."""
    wire: list[bytes] = []

    def record(session: Session, pair: int, frame: bytes) -> None:
        wire.append(frame)

    with VhostUserServer(tmp_path / "vu.sock", Options(device=device), record) as server, \
            FrontEnd(server.path, queue_size=16) as fe:
        fe.negotiate(~0)
        fe.set_mem_table()
        at = 0x1000
        errs = {}
        for index in (0, 1):
            lay = SplitLayout.packed_at(at, 16)
            at = (lay.end + 0xFFF) & ~0xFFF
            fe.layouts[index] = lay
            errs[index] = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            fe.request(M.Req.SET_VRING_ERR, M.U64.pack(index), [errs[index]])
            fe.setup_vring(index, lay)
        lay = fe.layouts[1]
        buf = 0x40000
        fe.mem.write_bytes(buf, header("plain", 60) + eth(60))
        if kind == "loop":
            descs = [(buf, 72, VIRTQ_DESC_F_NEXT, 1), (buf, 72, VIRTQ_DESC_F_NEXT, 0)]
        else:
            descs = [(fe.mem.size - 8, 72, 0, 0)]
        for k, (addr, n, flags, nxt) in enumerate(descs):
            fe.mem.write(lay.desc_addr(k), 8, addr)
            fe.mem.write(lay.desc_addr(k) + 8, 4, n)
            fe.mem.write(lay.desc_addr(k) + 12, 2, flags)
            fe.mem.write(lay.desc_addr(k) + 14, 2, nxt)
        fe.mem.write(lay.avail_ring(0), 2, 0)
        fe.mem.write(lay.avail_idx, 2, 1)
        fe.kick(1)
        session = server.session
        assert session is not None
        assert server.wait_for(lambda: bool(session.log.errors), 5)
        req = "RING-SPLIT-080" if kind == "loop" else "RING-SPLIT-082"
        assert session.log.errors[0].startswith(f"vring 1: {req}"), session.log.errors
        assert not session.vrings[1].started and session.vrings[0].started
        assert _ready(errs[1], 5.0) and not _ready(errs[0], 0)  # VHOST-USER: SET_VRING_ERR
        assert not wire
        assert fe.get_u64(M.Req.GET_QUEUE_NUM) == 1  # still answering
        for fd in errs.values():
            os.close(fd)
    assert not server.errors


def _ready(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


# -- the traffic source in C (send_repeating: vsv_rx_repeat, a burst per call) -------------------

SOURCE = tuple(FR.udp_frame(PEER, MAC, "10.0.0.2", "10.0.0.1", 7, 9,
                            bytes((n + i) & 0xFF for i in range(n))) for n in (18, 600, 1400))


def _source_rounds(pair: Pair) -> int:
    python, c = pair.worlds
    assert isinstance(c.dev, FastNetDevice) and c.dev.can_repeat()
    source = cycle(SOURCE)  # the Python device's: frames waiting in its backlog, never dry
    total = 0
    for r in range(5):
        for _ in range(3):
            pair.rx_buffer([("A", 1526)] if r % 2 else [("A", 100), ("B", 700)])
        total += c.dev.send_repeating(SOURCE)
        while len(python.dev.backlog[0]) < 2 * Q:
            python.dev.receive(next(source))
        python.dev.deliver(0)
        views = [w.view() for w in pair.worlds]
        for v in views:
            del v["backlog"]  # the C source keeps none: what waits there is the source
        for key in views[0]:
            assert views[0][key] == views[1][key], f"{key}: {views[0][key]!r} != " \
                                                   f"{views[1][key]!r}"
        pair.reap()
    return total


@pytest.mark.parametrize("name", list(FEATURES))
def test_repeating_source_is_the_python_device_frame_by_frame(name: str) -> None:
    """The source a benchmark sends from, in C: the driver's memory, used ring, statistics,
    faults and indices are the Python device's given the same frames one by one, and the
    frames follow on across calls."""
    pair = Pair(FEATURES[name])
    try:
        total = _source_rounds(pair)
        c = pair.worlds[1].dev.stats
        assert total >= 8 and c.rx_frames + c.rx_too_big == total
    finally:
        pair.close()


def test_a_source_that_restarts_every_burst_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a C source that starts every burst at the first frame again."""
    real = fast.rx_repeat
    monkeypatch.setattr(fast, "rx_repeat", lambda q, pattern, first, n: real(q, pattern, 0, n))
    pair = Pair(FEATURES["plain"])
    try:
        with pytest.raises(AssertionError, match=r"memory|stats"):
            _source_rounds(pair)
    finally:
        pair.close()


# -- the device loop in one C call (FastNetDevice.run_loop: vsv_poll) ----------------------------

def _poll_rounds(pair: Pair, steps: list[str], record: int | None = None) -> int:
    """Transmitted frames (plain, a checksum to finish, a refused header) and receive
    buffers, served by FastNetDevice.run_loop in C and by the Python device step by step.
    With ``record``, both devices record the first ``record`` transmitted headers."""
    python, c = pair.worlds
    assert isinstance(c.dev, FastNetDevice)
    for w in pair.worlds:
        w.dev.tx_headers = None if record is None else []
        w.dev.tx_headers_limit = record or 0
    c.dev.discard_wire = True
    source = cycle(SOURCE)
    moved = 0
    for i, step in enumerate(steps):
        if step == "rx":
            for _ in range(3):
                pair.rx_buffer([("A", 1526)] if i % 2 else [("A", 100), ("B", 700)])
        else:
            pair.tx(header(step, 60 + i), eth(60 + i), ["A"], False)
        got = c.dev.run_loop(SOURCE)
        assert got is not None
        moved += got
        python.dev.process_tx()
        while len(python.dev.backlog[0]) < 2 * Q:
            python.dev.receive(next(source))
        python.dev.deliver(0)
        views = [w.view() for w in pair.worlds]
        for v in views:
            for key in ("backlog", "transmitted", "notified"):
                del v[key]  # the source's frames waiting; a wire nobody listens to
        for key in views[0]:
            assert views[0][key] == views[1][key], f"{key}: {views[0][key]!r} != " \
                                                   f"{views[1][key]!r}"
        pair.reap()
    return moved


POLL_STEPS = ["plain", "rx", "plain", "csum", "rx", "gso", "num-buffers", "rx", "rx", "plain"]


@pytest.mark.parametrize("name", list(FEATURES))
def test_the_device_loop_in_c_is_the_python_device(name: str) -> None:
    pair = Pair(FEATURES[name])
    try:
        moved = _poll_rounds(pair, POLL_STEPS)
        st = pair.worlds[1].dev.stats
        assert moved >= 10 and st.tx_frames >= 4 and st.rx_frames >= 6
    finally:
        pair.close()


@pytest.mark.parametrize("name", list(FEATURES))
def test_the_device_loop_in_c_records_headers_as_the_python_device(name: str) -> None:
    """While the first headers are recorded (a session records them for the conformance
    cases), the loop still runs in C for receive and only watches the transmit queue: a chain
    there goes to process_tx, which records its header; once enough are recorded, transmit
    runs in C too. The headers, memory and statistics are the Python device's."""
    pair = Pair(FEATURES[name])
    try:
        moved = _poll_rounds(pair, POLL_STEPS, record=3)
        dev = pair.worlds[1].dev
        assert moved >= 10 and dev.tx_headers is not None and len(dev.tx_headers) == 3
        assert dev.stats.tx_frames >= 4 and dev.stats.rx_frames >= 6
    finally:
        pair.close()


def test_a_loop_that_transmits_unrecorded_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a loop that transmits in C while headers are still to be recorded."""
    monkeypatch.setattr(FastNetDevice, "_recording", lambda self: False)
    pair = Pair(FEATURES["plain"])
    try:
        with pytest.raises(AssertionError, match=r"headers"):
            _poll_rounds(pair, POLL_STEPS, record=3)
    finally:
        pair.close()


def test_a_loop_that_skips_the_spec_checks_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a loop that takes every header as plain (never hands a burst back to the
    spec's check_tx): the refused header and the finished checksum tell."""
    real = FastNetDevice._tx_frames

    def trusting(self: FastNetDevice, pair: int, index: int, q: FastQueue, n: int,
                 res: Any) -> None:
        res.plain = n
        real(self, pair, index, q, n, res)

    monkeypatch.setattr(FastNetDevice, "_tx_frames", trusting)
    pair = Pair(FEATURES["mrg-event-indirect-csum"])
    try:
        with pytest.raises(AssertionError, match=r"stats|faults|memory"):
            _poll_rounds(pair, POLL_STEPS)
    finally:
        pair.close()
