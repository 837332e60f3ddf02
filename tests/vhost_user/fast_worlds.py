"""Two worlds, one per device (the Python device and the C fast path), each with its own
memory table of two regions with a hole between them and nothing above the second, and one
driver that acts on both (:class:`Pair`): the fixture of test_vhost_user_fast.py, which says
what is compared. ``table`` is also the packed ring's (test_vhost_user_packed.py)."""


from __future__ import annotations

import contextlib
import os
from typing import Any

from virtiospec.reference.access import OutOfBounds, run
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
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.memory import MemoryTable, Region

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

def table(regions_at: tuple[tuple[int, int], ...] = (A, B), name: str = "virtiospec-test"
          ) -> MemoryTable:
    """A memory table of memfd-backed regions (guest address, size), user addresses above."""
    regions, fds = [], []
    for gpa, size in regions_at:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
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
