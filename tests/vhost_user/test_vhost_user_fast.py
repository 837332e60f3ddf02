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

import os
import re
import select
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from c_helpers import (
    cc,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    needs_cc,
)
from fast_worlds import (
    BASE,
    FEATURES,
    HOLE,
    Pair,
    Q,
    eth,
    header,
    table,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from virtiospec.reference import c_build
from virtiospec.reference.c_build import STRICT, MissingCompiler
from virtiospec.reference.net import features as F
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_NEXT,
)
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.c import build as ring_vhost_build
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.frontend import FrontEnd
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import DEVICE_ENV, Options, Session

pytestmark = pytest.mark.skipif(not fast.available(), reason="the C fast path is not built")



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
