"""Hypothesis-driven fuzzing of the Python device sides (reference/ring/device.py,
packed_device.py): arbitrary guest memory -- descriptor tables, indirect tables, avail
entries and indices a hostile driver wrote -- fed to the device's pop, with pushes between.

On any memory the device either returns a valid chain (head/ID below Q or not held, at most
Q buffers, every one inside guest memory, readable before writable) or refuses with a ring
error naming one of the requirements that say what a device refuses, then refuses everything
until reset -- never an uncaught exception of any other kind. Every load lies inside guest
memory, a pop makes a bounded number of loads and stores only to the device's own part.
Each pop is also run on the C device (ring.c, ring_packed.c through their cffi modules) over
a copy of the same memory: both must give the same chain or the same refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.ring.target_c import make as make_c_target
from virtiospec.reference.access import GuestMemory, Op, load, run
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.errors import NeedsReset, RingError
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.layout import PackedLayout

SPLIT_REFUSALS = {"RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-082", "RING-SPLIT-083",
                  "RING-SPLIT-084", "RING-SPLIT-092"}
PACKED_REFUSALS = {"RING-PACKED-080", "RING-PACKED-081", "RING-PACKED-082", "RING-PACKED-083",
                   "RING-PACKED-084", "RING-PACKED-085"}
DATA = 512
C_TARGET = make_c_target("")
OUTCOMES: Counter[str] = Counter()  # what the pops of the last property run gave


@dataclass
class Watched:
    """Guest memory that checks every access of the device under test."""

    mem: GuestMemory
    owned: list[tuple[int, int]]
    loads: int = 0
    log: list[str] = field(default_factory=list)

    def read(self, addr: int, size: int) -> int:
        assert addr >= 0 and addr + size <= self.mem.size, f"load at {addr:#x} outside memory"
        self.loads += 1
        return self.mem.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        assert any(lo <= addr and addr + size <= hi for lo, hi in self.owned), \
            f"store at {addr:#x}: not the device's memory"
        self.mem.write(addr, size, value)


def _check_chain(chain: Chain, q: int, size: int) -> None:
    bufs = chain.readable + chain.writable
    assert 1 <= len(bufs) <= q, f"chain of {len(bufs)} buffers, Q = {q}"
    for addr, length in bufs:
        assert addr >= 0 and length >= 0 and addr + length <= size, "buffer outside memory"


def _same(py: Chain | RingError | None, c: Chain | RingError | None) -> None:
    if isinstance(py, RingError) or isinstance(c, RingError):
        assert type(py) is type(c) and getattr(py, "req", None) == getattr(c, "req", None), \
            f"Python: {py!r}, C: {c!r}"
    elif py is None or c is None:
        assert py is c, f"Python: {py!r}, C: {c!r}"
    else:
        assert (py.head, py.readable, py.writable) == (c.head, c.readable, c.writable), \
            f"Python: {py}, C: {c}"


def _attempt(op: Op[Any], mem: Any) -> Any:
    try:
        return run(op, mem)
    except RingError as err:
        return err


def _c_pop(dev: Any) -> Chain | RingError | None:
    try:
        chain: Chain | None = dev.pop()
        return chain
    except RingError as err:
        return err


descriptor = st.tuples(
    st.one_of(st.integers(0, DATA + 64), st.integers(0, (1 << 64) - 1)),  # addr (data-relative)
    st.one_of(st.integers(0, 80), st.integers(0, (1 << 32) - 1)),          # len
    st.integers(0, 7) | st.integers(0, 0xFFFF),                            # flags
    st.integers(0, 20) | st.integers(0, 0xFFFF),                           # next / id
)


def _put_desc(mem: GuestMemory, at: int, d: tuple[int, int, int, int], data: int,
              packed: bool, q: int = 0) -> None:
    addr, length, flags, other = d
    if addr <= DATA + 64:
        addr += data
    if at + 16 > mem.size:
        return
    mem.write(at, 8, addr & ((1 << 64) - 1))
    mem.write(at + 8, 4, length)
    if packed:
        mem.write(at + 12, 2, other)
        mem.write(at + 14, 2, flags)
    else:  # a next below 16 is taken modulo Q (mostly inside the table), any other as is
        mem.write(at + 12, 2, flags)
        mem.write(at + 14, 2, other % q if q and other < 16 else other)


def _property(case: Callable[..., None], draws: dict[str, Any], device_cls: type,
              examples: int, shrink: bool) -> Any:
    phases = list(Phase) if shrink else [Phase.generate]
    return settings(max_examples=examples, deadline=None, database=None, phases=phases,
                    derandomize=not shrink,  # a known-bad variant: the same draws every run
                    suppress_health_check=[HealthCheck.too_slow])(given(**draws)(
        lambda **kw: case(device_cls, **kw)))


def _popped(got: Any, refused: bool, refusals: set[str], dev: Any,
            cdev: Any) -> tuple[bool, Chain | None]:
    """One pop's outcome, counted: (refused so far, the chain to check or None). After a
    refusal every pop says NeedsReset; a refusal names a device requirement and leaves both
    devices needing a reset."""
    if refused:
        assert isinstance(got, NeedsReset), f"after a refusal: {got!r}"
        assert cdev.needs_reset
        return True, None
    OUTCOMES["refused " + got.req if isinstance(got, RingError) else
             "empty" if got is None else "chain"] += 1
    if isinstance(got, RingError):
        assert got.req in refusals, f"refusal {got!r} names no device requirement"
        assert dev.needs_reset and cdev.needs_reset
        return True, None
    return False, got


def split_property(device_cls: type[SplitDevice], examples: int, shrink: bool = True) -> Any:
    """The split property over ``device_cls`` (the reference, or a known-bad variant)."""
    return _property(_split_case, SPLIT_DRAWS, device_cls, examples, shrink)


SPLIT_DRAWS: dict[str, Any] = dict(
       qlog=st.integers(0, 4), event_idx=st.booleans(), indirect=st.booleans(),
       descs=st.lists(st.tuples(st.integers(0, 20), descriptor), max_size=24),
       tables=st.lists(st.tuples(st.integers(0, DATA), st.lists(descriptor, max_size=6)),
                       max_size=2),
       heads=st.lists(st.integers(0, 15) | st.integers(0, 0xFFFF), min_size=1, max_size=20),
       avail_idx=st.none() | st.none() | st.integers(0, 0xFFFF),
       pushes=st.lists(st.booleans(), max_size=20))


def _split_case(device_cls: type[SplitDevice], qlog: int, event_idx: bool, indirect: bool,
                descs: list[Any], tables: list[Any], heads: list[int],
                avail_idx: int | None, pushes: list[bool]) -> None:
    q = 1 << qlog
    lay = SplitLayout.packed_at(0, q)
    data = (lay.end + 15) & ~15
    mem = GuestMemory(data + DATA)
    for i, d in descs:  # index 16..20: past the table (the avail ring), for Q = 16
        _put_desc(mem, lay.desc + 16 * (i if i >= 16 else i % q), d, data, False, q)
    for off, entries in tables:
        for k, d in enumerate(entries):
            _put_desc(mem, data + off + 16 * k, d, data, False)
    for k, h in enumerate(heads[:q]):  # mostly heads below Q, some anything
        mem.write(lay.avail_ring(k % q), 2, h % q if h < 16 else h)
    mem.write(lay.avail_idx, 2, len(heads[:q]) if avail_idx is None else avail_idx)
    dev = device_cls(lay, mem.size, event_idx=event_idx, indirect=indirect)
    watched = Watched(mem, [(lay.used, lay.end)])
    run(dev.init(), watched)
    c_mem = GuestMemory(mem.size)
    c_mem.buf[:] = mem.buf
    cdev = C_TARGET.ring_device(RingSetup(lay, c_mem, event_idx=event_idx, indirect=indirect))
    refused = False
    for push in [*pushes, False][: q + 2]:
        watched.loads = 0
        got = _attempt(dev.pop(), watched)
        assert watched.loads <= 2 + 4 * (q + 1), f"pop made {watched.loads} loads, Q = {q}"
        _same(got, _c_pop(cdev))
        refused, got = _popped(got, refused, SPLIT_REFUSALS, dev, cdev)
        if got is None:
            continue
        assert 0 <= got.head < q and got.head in dev.in_flight
        _check_chain(got, q, mem.size)
        if push:
            run(dev.push([(got.head, got.writable_len)]), watched)
            cdev.push([(got.head, got.writable_len)])
            assert mem.buf[lay.used:lay.end] == c_mem.buf[lay.used:lay.end]


def packed_property(device_cls: type[PackedDevice], examples: int, shrink: bool = True) -> Any:
    """The packed property over ``device_cls`` (the reference, or a known-bad variant)."""
    return _property(_packed_case, PACKED_DRAWS, device_cls, examples, shrink)


PACKED_DRAWS: dict[str, Any] = dict(
       q=st.integers(1, 12), event_idx=st.booleans(), indirect=st.booleans(),
       published=st.lists(st.tuples(descriptor, st.sampled_from([0, 0, 0, 0, 1, 2, 3])),
                          min_size=1, max_size=14),
       descs=st.lists(st.tuples(st.integers(0, 11), descriptor, st.integers(0, 3)),
                      max_size=8),
       tables=st.lists(st.tuples(st.integers(0, DATA), st.lists(descriptor, max_size=6)),
                       max_size=2),
       pushes=st.lists(st.booleans(), max_size=16))


def _packed_case(device_cls: type[PackedDevice], q: int, event_idx: bool, indirect: bool,
                 published: list[Any], descs: list[Any], tables: list[Any],
                 pushes: list[bool]) -> None:
    lay = PackedLayout.packed_at(0, q)
    data = (lay.device_event + 4 + 15) & ~15
    mem = GuestMemory(data + DATA)
    marks = (0x0080, 0x8000, 0, 0x8080)  # available in lap 1, in lap 0, nonsense, used
    # descriptors from position 0 on, mostly marked available in lap 1, then a few anywhere
    writes = [(pos, d, m) for pos, (d, m) in enumerate(published)] + descs
    for pos, (addr, length, flags, buf_id), m in writes:
        if not indirect and flags & 4 and length % 3:  # INDIRECT mostly where negotiated
            flags &= ~4
        d = (addr, length, (flags & ~0x8080) | marks[m], buf_id % (q + 1) if buf_id < 20
             else buf_id)
        _put_desc(mem, lay.desc + 16 * (pos % q), d, data, True)
    for off, entries in tables:
        for k, d in enumerate(entries):
            _put_desc(mem, data + off + 16 * k, d, data, True)
    dev = device_cls(lay, mem.size, event_idx=event_idx, indirect=indirect)
    watched = Watched(mem, [(lay.desc, lay.driver_event), (lay.device_event,
                                                           lay.device_event + 4)])
    run(dev.init(), watched)
    c_mem = GuestMemory(mem.size)
    c_mem.buf[:] = mem.buf
    cdev = C_TARGET.ring_packed_device(PackedRingSetup(lay, c_mem, event_idx=event_idx,
                                                       indirect=indirect))
    refused = False
    for push in [*pushes, False][: q + 2]:
        watched.loads = 0
        got = _attempt(dev.pop(), watched)
        assert watched.loads <= 1 + 7 * q, f"pop made {watched.loads} loads, Q = {q}"
        _same(got, _c_pop(cdev))
        refused, got = _popped(got, refused, PACKED_REFUSALS, dev, cdev)
        if got is None:
            continue
        assert got.head in dev.in_flight and dev.held <= q
        _check_chain(got, q, mem.size)
        if push:
            run(dev.push([(got.head, got.writable_len)]), watched)
            cdev.push([(got.head, got.writable_len)])
            assert mem.buf[lay.desc:lay.driver_event] == c_mem.buf[lay.desc:lay.driver_event]


def test_split_device_pop_on_any_memory() -> None:
    OUTCOMES.clear()
    split_property(SplitDevice, 250)()
    # the draws reach accepted chains and several kinds of refusal, not only one of them
    assert OUTCOMES["chain"] >= 25, OUTCOMES
    assert len({k for k in OUTCOMES if k.startswith("refused")}) >= 3, OUTCOMES


def test_packed_device_pop_on_any_memory() -> None:
    OUTCOMES.clear()
    packed_property(PackedDevice, 250)()
    assert OUTCOMES["chain"] >= 10, OUTCOMES
    assert len({k for k in OUTCOMES if k.startswith("refused")}) >= 2, OUTCOMES


# -- known-bad variants the properties must catch -------------------------------------------

class SplitNoBoundsCheck(SplitDevice):
    """Accepts buffers outside guest memory (RING-SPLIT-082 not checked)."""

    def _inside(self, addr: int, length: int, what: str) -> None:
        return None


class SplitLoopsForever(SplitDevice):
    """Re-reads avail.idx until the driver publishes more (a device that spins on bad input):
    its pop never returns on an index that jumps, so it makes unbounded loads."""

    def pop(self) -> Op[Chain | None]:
        for _ in range(4 * self.q + 8):
            idx = yield from load(self.layout.avail_idx, 2)
            if (idx - self.last_avail) & 0xFFFF <= self.q:
                break
        chain: Chain | None = yield from super().pop()
        return chain


class SplitCrashesOnBadHead(SplitDevice):
    """Indexes a Python list with the head (an IndexError escapes instead of RING-SPLIT-080)."""

    def _walk(self, head: int) -> Op[Chain]:
        _ = list(range(self.q))[head]
        chain: Chain = yield from super()._walk(head)
        return chain


class PackedNoBoundsCheck(PackedDevice):
    """Accepts buffers outside guest memory (RING-PACKED-083 not checked)."""

    def _inside(self, addr: int, length: int, what: str) -> None:
        return None


@pytest.mark.parametrize("cls", [SplitNoBoundsCheck, SplitLoopsForever, SplitCrashesOnBadHead])
def test_split_property_catches(cls: type[SplitDevice]) -> None:
    with pytest.raises((AssertionError, IndexError)):
        split_property(cls, 500, shrink=False)()


def test_packed_property_catches() -> None:
    with pytest.raises(AssertionError):
        packed_property(PackedNoBoundsCheck, 500, shrink=False)()
