"""The vhost-user device on packed rings: ring_vhost_packed.c (ring_packed.c through the memory
table, the C fast path) and the Python device (PackedDevice queues) side by side, driven by
the reference PackedDriver over the same two-region memory table: the same frames leave, the
same buffers come back with the same lengths, the same hostile list is refused naming the
same requirement, and a stop gives back the receive lists held (the GET_VRING_BASE word).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fast_worlds
import pytest
from c_helpers import (
    cc,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    needs_cc,
)
from virtiospec.reference import c_build
from virtiospec.reference.c_build import STRICT, MissingCompiler
from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import (
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    PackedLayout,
)
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user.c import packed_build as ring_vhost_packed_build
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.memory import MemoryTable
from virtiospec.reference.vhost_user.queues import packed_base as _packed_base

pytestmark = pytest.mark.skipif(not fast.available(packed=True),
                                reason="the packed C fast path is not built")

A = (0x10000, 0x40000)
B = (0x60000, 0x10000)
Q = 8
BASES = {0: 0x10000, 1: 0x11000}  # receive, transmit
BUFS = {0: 0x30000, 1: 0x20000}
BUF = 0x800
MAC = b"\x52\x54\x00\x12\x34\x56"
FEATURES = F.of(F.VERSION_1, F.MRG_RXBUF)


def table() -> MemoryTable:
    return fast_worlds.table((A, B), "virtiospec-packed")


class World:
    """Our device (C or Python) on two packed queues, with a reference driver on each."""

    def __init__(self, c: bool, features: int = FEATURES) -> None:
        self.mem = table()
        self.sent: list[bytes] = []
        cls = FastNetDevice if c else NetDevice
        self.dev: NetDevice = cls(NetConfig(), features, self.mem, filtering=False,
                                  on_transmit=lambda pair, frame: self.sent.append(frame))
        self.dev.tx_headers = []
        self.drv: dict[int, PackedDriver] = {}
        self.lay: dict[int, PackedLayout] = {}
        for index, base in BASES.items():
            lay = PackedLayout.packed_at(base, Q)
            drv = PackedDriver(lay)
            run_op(drv.init(), self.mem)
            q: PackedDevice | FastQueue
            if c:
                q = FastQueue(self.mem, Q, lay.desc, lay.driver_event, lay.device_event,
                              features=features, last_avail=0x8000, used_idx=0x8000,
                              call_fd=None, receive=index == 0, packed=True)
            else:
                q = PackedDevice(lay, self.mem.limit)
            self.dev.attach(index, q)  # type: ignore[arg-type]
            self.drv[index], self.lay[index] = drv, lay

    def send(self, k: int, frame: bytes) -> None:
        at = BUFS[1] + k * BUF
        self.mem.write_bytes(at, bytes(12) + frame)
        run_op(self.drv[1].add([(at, 6), (at + 6, 6 + len(frame))], [], k), self.mem)

    def post(self, k: int, size: int = BUF) -> None:
        run_op(self.drv[0].add([], [(BUFS[0] + k * BUF, size)], k), self.mem)

    def used(self, index: int) -> list[Any]:
        out = []
        while (got := run_op(self.drv[index].get_used(), self.mem)) is not None:
            out.append(got)
        return out

    def errors(self) -> dict[int, str]:
        return {i: getattr(e, "req", "") for i, e in self.dev.broken.items()}


def frame(n: int, size: int) -> bytes:
    body = f"packed frame {n:04d} ".encode() * (size // 17 + 1)
    return MAC + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + body[:size - 14]


def scenario(w: World) -> tuple[list[bytes], list[Any], list[Any], list[bytes]]:
    """Three laps of the transmit queue, then frames into small merged receive buffers."""
    tx_back, rx_back, got = [], [], []
    for k in range(3 * Q):
        w.send(k % Q, frame(k, 60 + 37 * k))
        w.dev.process_tx()
        tx_back += w.used(1)
    for k in range(Q):
        w.post(k, 400)
    for n in range(3):
        w.dev.receive(frame(100 + n, 700))
        w.dev.deliver(0)
        for token, length in w.used(0):
            rx_back.append((token, length))
            got.append(w.mem.read_bytes(BUFS[0] + int(token) * BUF, length))
            w.post(int(token), 400)
    return w.sent, tx_back, rx_back, got


def test_c_and_python_packed_devices_agree_frame_for_frame() -> None:
    c, py = scenario(World(True)), scenario(World(False))
    assert c == py
    sent, tx_back, rx_back, got = c
    assert sent == [frame(k, 60 + 37 * k) for k in range(3 * Q)]
    assert [t for t, _ in tx_back] == [k % Q for k in range(3 * Q)]
    assert len(rx_back) == 6  # 12 + 700 bytes over buffers of 400: two each (MRG_RXBUF)
    data = b"".join(got)
    assert data.count(b"packed frame 0100") >= 1 and len(data) == 3 * (12 + 700)


def _source(w: World, rounds: int, repeat_first: bool = False, loop: bool = False,
            record: int | None = None) -> list[Any]:
    """Frames from a never-dry source into receive lists of 400 bytes (MRG_RXBUF): the C
    device's send_repeating, the Python device's backlog kept full of the same frames. With
    ``record``, the first ``record`` transmitted headers are recorded (and returned last)."""
    pattern = (frame(1, 60), frame(2, 700), frame(3, 1000))
    src = iter(pattern * (4 * Q))
    seen: list[Any] = []
    for k in range(Q):
        w.post(k, 400)
    if loop:  # transmitted frames too, to a wire nobody listens to
        w.dev.tx_headers = None if record is None else []
        w.dev.tx_headers_limit = record or 0
        w.dev.on_transmit = None
        if isinstance(w.dev, FastNetDevice):
            w.dev.discard_wire = True
    for r in range(rounds):
        if loop:
            w.send(r % Q, frame(50 + r, 60 + 97 * r))
        if isinstance(w.dev, FastNetDevice):
            if repeat_first:  # known-bad: every burst from the first frame again
                w.dev._repeat_at = 0
            if loop:
                assert w.dev.run_loop(pattern) is not None
            else:
                w.dev.send_repeating(pattern)
        else:
            if loop:
                w.dev.process_tx()
            while len(w.dev.backlog[0]) < 2 * Q:
                w.dev.receive(next(src))
            w.dev.deliver(0)
        for token, length in w.used(0):
            seen.append((token, w.mem.read_bytes(BUFS[0] + int(token) * BUF, length)))
            w.post(int(token), 400)
        if loop:
            seen.append(w.used(1))
    st = w.dev.stats
    return [seen, st.rx_frames, st.rx_buffers, st.tx_frames, w.errors(),
            list(w.dev.tx_headers or [])]


def test_a_repeating_source_in_c_is_the_python_device_frame_by_frame() -> None:
    """send_repeating (vsv_rx_repeat over ring_packed.c) fills the same lists with the same
    bytes as the Python device taking the same frames one by one; restarting every burst at
    the first frame (known-bad) differs."""
    c, py = _source(World(True), 6), _source(World(False), 6)
    assert c == py
    assert c[1] >= 6 and c[4] == {}
    assert _source(World(True), 6, repeat_first=True) != py


def test_the_device_loop_in_c_is_the_python_device() -> None:
    """FastNetDevice.run_loop (vsv_poll over ring_packed.c: transmit bursts used at once, the
    source's receive bursts) leaves what the Python device leaves step by step."""
    c, py = _source(World(True), 6, loop=True), _source(World(False), 6, loop=True)
    assert c == py
    assert c[1] >= 6 and c[3] == 6 and c[4] == {}
    assert _source(World(True), 6, repeat_first=True, loop=True) != py


def test_the_device_loop_in_c_records_headers_as_the_python_device() -> None:
    """While headers are recorded, run_loop receives in C and only watches the transmit
    lists (ring_vhost_packed.c's vsv_ring_has_avail): the recorded headers, the lists and the
    counts are the Python device's; a loop that transmitted in C meanwhile (known-bad)
    records none."""
    py = _source(World(False), 6, loop=True, record=4)
    c = _source(World(True), 6, loop=True, record=4)
    assert c == py
    assert len(c[5]) == 4 and c[3] == 6 and c[4] == {}
    w = World(True)
    assert isinstance(w.dev, FastNetDevice)
    w.dev._recording = lambda: False  # type: ignore[method-assign]
    assert _source(w, 6, loop=True, record=4) != py


def test_a_readable_after_a_writable_is_refused_alike() -> None:
    for c in (True, False):
        w = World(c)
        lay, mem = w.lay[1], w.mem
        # a list of two: writable, then readable (RING-PACKED-084), its head's flags last
        mem.write(lay.desc_addr(1), 8, BUFS[1])
        mem.write(lay.desc_addr(1) + 8, 4, 64)
        mem.write(lay.desc_addr(1) + 12, 2, 3)
        mem.write(lay.desc_addr(1) + 14, 2, VIRTQ_DESC_F_AVAIL)
        mem.write(lay.desc_addr(0), 8, BUFS[1] + BUF)
        mem.write(lay.desc_addr(0) + 8, 4, 64)
        mem.write(lay.desc_addr(0) + 12, 2, 3)
        mem.write(lay.desc_addr(0) + 14, 2,
                  VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE)
        before = mem.read_bytes(lay.desc, 16 * Q)
        w.dev.process_tx()
        assert w.errors() == {1: "RING-PACKED-084"}, (c, w.errors())
        assert w.sent == [] and mem.read_bytes(lay.desc, 16 * Q) == before


def test_a_stop_gives_back_the_held_receive_lists() -> None:
    """Five buffers of 100 bytes cannot hold 12 + 1000 bytes: the device holds them and the
    frame waits; the GET_VRING_BASE word puts the available position back at 0 (wrap 1)."""
    for c in (True, False):
        w = World(c)
        for k in range(5):
            w.post(k, 100)
        w.dev.receive(frame(7, 1000))
        w.dev.deliver(0)
        assert w.used(0) == []
        if isinstance(w.dev, FastNetDevice):
            q = w.dev.fast[0]
            assert w.dev.held(0) == 5
            word = q.last_avail | q.used_idx << 16
        else:
            held = len(w.dev.rx_held.get(0, []))
            assert held == 5
            queue = w.dev.queues[0]
            assert isinstance(queue, PackedDevice)
            word = _packed_base(queue, held)
        assert word == 0x8000 | 0x8000 << 16, (c, hex(word))


# -- the C source itself ---------------------------------------------------------------------

@needs_cc
def test_compiles_cleanly(tmp_path: Path) -> None:
    """C11, -Wall -Wextra -Werror -pedantic (ring_packed.c included, its accesses translated)."""
    done = cc(*STRICT, "-pedantic", "-O2", "-c", str(c_build.src("ring_vhost_packed.c")),
              out=tmp_path / "ring_vhost_packed.o")
    assert done.returncode == 0, done.stderr


@needs_cc
def test_workload_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    """Laps both ways (indirect, MRG_RXBUF, a start in the second lap), hostile lists refused
    with their codes, 2000 rounds of random descriptors: no sanitizer report."""
    check_sanitized_workload(tmp_path, str(c_build.src("ring_vhost_packed.c")),
                             str(c_build.src("ring_vhost_packed_workload.c")),
                             name="ring_vhost_packed_workload")


def test_missing_compiler_is_named() -> None:
    check_missing_compiler_is_named(ring_vhost_packed_build.find_compiler, MissingCompiler,
                                    "the C fast path of its vhost-user device")
