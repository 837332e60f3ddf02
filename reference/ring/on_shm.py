"""The split ring on virtio-shm (spec/shm.md, SHM-RING-*), built from reference/ring unchanged.

The ring's three parts are placed in a region with the layout of RING-SPLIT-003, so the bytes
in memory are exactly those of a split ring anywhere else. What the shm layer adds:

* every access the ring code makes to its parts is checked against the region
  (SHM-RING-001) and every store against the side that owns the part or meta-data field
  (SHM-RING-002): :func:`on_shm` wraps a ring operation and checks each access it yields;
* notifications go through two shm-signals in the same region, *kick* (driver → device)
  and *call* (device → driver) (SHM-RING-003), and a receiver waits only when both the ring's
  re-check and the signal's find nothing (SHM-RING-004).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from virtiospec.reference.access import Load, Op, Store, fence, load
from virtiospec.reference.ring import Chain, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.layout import avail_ring_size, desc_table_size, used_ring_size
from virtiospec.reference.shm.errors import WrongWriter
from virtiospec.reference.shm.region import Region
from virtiospec.reference.shm.signal import (
    SIGNAL_SIZE,
    SignalLayout,
    SignalReceiver,
    SignalSender,
)

T = TypeVar("T")
Side = Literal["driver", "device"]


@dataclass(frozen=True)
class Part:
    """A span of the ring that one side stores to."""

    name: str
    addr: int
    size: int
    writer: Side

    def overlaps(self, addr: int, size: int) -> bool:
        return addr < self.addr + self.size and self.addr < addr + size


@dataclass(frozen=True)
class ShmRingLayout:
    """A split ring at ``offset`` of ``region`` (its parts packed and aligned as
    RING-SPLIT-002 requires), then the kick and the call signals."""

    region: Region
    offset: int
    size: int
    ring: SplitLayout = field(init=False)
    kick: SignalLayout = field(init=False)
    call: SignalLayout = field(init=False)
    parts: tuple[Part, ...] = field(init=False)

    def __post_init__(self) -> None:
        reg = self.region
        ring = SplitLayout.packed_at(reg.base + self.offset, self.size)
        reg.check_span(self.offset, ring.end - reg.base - self.offset, "split ring")
        signals = (ring.end - reg.base + 3) & ~3
        object.__setattr__(self, "ring", ring)
        object.__setattr__(self, "kick", SignalLayout(reg, signals))
        object.__setattr__(self, "call", SignalLayout(reg, signals + SIGNAL_SIZE))
        q = self.size
        # the six meta-data fields first: they are what SHM-RING-002 names, one-word table
        # slots without a sequence counter (SHM-TABLE-013)
        object.__setattr__(self, "parts", (
            Part("avail.flags", ring.avail_flags, 2, "driver"),
            Part("avail.idx", ring.avail_idx, 2, "driver"),
            Part("used_event", ring.used_event, 2, "driver"),
            Part("used.flags", ring.used_flags, 2, "device"),
            Part("used.idx", ring.used_idx, 2, "device"),
            Part("avail_event", ring.avail_event, 2, "device"),
            Part("descriptor table", ring.desc, desc_table_size(q), "driver"),
            Part("available ring", ring.avail, avail_ring_size(q), "driver"),
            Part("used ring", ring.used, used_ring_size(q), "device"),
        ))

    @property
    def end(self) -> int:
        """The offset just past the call signal."""
        return self.call.offset + SIGNAL_SIZE

    def check(self, side: Side, access: Load | Store, also: frozenset[str] = frozenset()) -> None:
        """SHM-RING-001: an access touching the region lies inside it, naturally aligned;
        SHM-RING-002: a store to a part of the ring comes from the part's writer (or is to a
        part named in ``also``)."""
        reg = self.region
        if access.addr < reg.end and reg.base < access.addr + access.size:
            reg.address(access.addr - reg.base, access.size)
        if isinstance(access, Store):
            for part in self.parts:
                if (part.overlaps(access.addr, access.size) and part.writer != side
                        and part.name not in also):
                    raise WrongWriter(f"the {side} stored to {part.name} at "
                                      f"{access.addr:#x}, which the {part.writer} owns")


def on_shm(op: Op[T], layout: ShmRingLayout, side: Side,
           also: frozenset[str] = frozenset()) -> Op[T]:
    """Run a ring operation of ``side`` with each access it yields checked by
    :meth:`ShmRingLayout.check` before it is passed on."""
    value: int | None = None
    while True:
        try:
            access = op.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(access, Load | Store):
            layout.check(side, access, also)
        value = yield access


@dataclass(frozen=True)
class Seam:
    """The lines where the ring meets its signals (SHM-RING-003, SHM-RING-004). Every
    default is the protocol; a switch turned breaks the one line that names it, which is how
    models/ring/on_shm_mutants.py plants the known-bad variants the models must catch."""

    ack_in_begin: bool = True  # begin: acknowledge before consuming (else in finish, late)
    ring_enable: bool = True  # finish: re-enable the ring's suppression
    ring_recheck: bool = True  # finish: act on the ring's re-check
    signal_enable: bool = True  # finish: re-enable the signal
    signal_recheck: bool = True  # finish: act on the signal's re-check
    via_signal: bool = True  # *_if_needed: a decision to notify injects the signal
    obey_injection: bool = True  # *_if_needed: notify only if the injection says so


PROTOCOL = Seam()


def _recheck(idx: Op[int], last: int) -> Op[bool]:
    """``Seam(ring_enable=False)``: the ring's re-check (``mb``, load the index) without
    its re-enable."""
    yield from fence("mb")
    return (yield from idx) != last


class _Receiver:
    """What both receivers of a ring on shm do with their ring and their signal."""

    seam: Seam
    signal: SignalReceiver

    def _begin(self, disable: Op[None]) -> Op[None]:
        """Suppress both, then acknowledge before consuming (SHM-RING-004)."""
        yield from disable
        yield from self.signal.disable()
        if self.seam.ack_in_begin:
            yield from self.signal.acknowledge()

    def _finish(self, enable: Op[bool], recheck: Op[bool]) -> Op[bool]:
        """Re-enable both and re-check both (SHM-RING-004). True: do not wait."""
        seam, sig = self.seam, self.signal
        if seam.ring_enable:
            ring = yield from enable
        else:
            ring = yield from recheck
        if not seam.ack_in_begin:
            yield from sig.acknowledge()  # BUG when turned: after the ring's re-check
        if seam.signal_enable:
            pending = yield from sig.enable()
        else:
            yield from fence("mb")
            pending = (yield from sig.layout.region.load(sig.layout.pending, 4)) != 0
        return (ring and seam.ring_recheck) or (pending and seam.signal_recheck)


def _notify(ring: Op[bool], inject: Op[bool], seam: Seam) -> Op[bool]:
    """The ring's decision, then the signal's (SHM-RING-003). True: send the transport
    notification."""
    if not (yield from ring):
        return False
    if not seam.via_signal:
        return True  # BUG when turned: the decision skips the signal
    said = yield from inject
    return said or not seam.obey_injection


class ShmRingDriver(_Receiver):
    """The driver side: a :class:`SplitDriver` plus the kick sender and the call receiver."""

    def __init__(self, layout: ShmRingLayout, *, event_idx: bool = False,
                 seam: Seam = PROTOCOL) -> None:
        self.layout = layout
        self.ring = SplitDriver(layout.ring, event_idx=event_idx)
        self.kick = SignalSender(layout.kick)
        self.call = self.signal = SignalReceiver(layout.call)
        self.seam = seam

    def _op(self, op: Op[T]) -> Op[T]:
        return on_shm(op, self.layout, "driver")

    def init(self) -> Op[None]:
        """The driver's fields of a fresh queue, and ``used.flags`` := 0, which the driver
        initialises before the device sees the queue (RING-SPLIT-065)."""
        yield from on_shm(self.ring.init(), self.layout, "driver", frozenset({"used.flags",
                                                                              "used ring"}))

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        return (yield from self._op(self.ring.add(out, in_, token)))

    def kick_if_needed(self) -> Op[bool]:
        """The ring's decision (RING-SPLIT-062, RING-SPLIT-063), then the kick signal's
        (SHM-RING-003).
        True: send the transport notification."""
        return (yield from _notify(self._op(self.ring.kick_prepare()), self.kick.inject(),
                                   self.seam))

    def begin(self) -> Op[None]:
        """On a used-buffer notification: suppress, then acknowledge before consuming."""
        yield from self._begin(self._op(self.ring.disable_cb()))

    def get_used(self) -> Op[tuple[object, int] | None]:
        return (yield from self._op(self.ring.get_used()))

    def finish(self) -> Op[bool]:
        """Re-enable both and re-check both (SHM-RING-004). True: do not wait."""
        lay = self.layout.ring
        return (yield from self._finish(
            self._op(self.ring.enable_cb()),
            _recheck(self._op(load(lay.used_idx, 2)), self.ring.last_used)))


class ShmRingDevice(_Receiver):
    """The device side: a :class:`SplitDevice` plus the kick receiver and the call sender.
    The device sets the signals up (they are in its region)."""

    def __init__(self, layout: ShmRingLayout, memory_size: int, *,
                 event_idx: bool = False, seam: Seam = PROTOCOL) -> None:
        self.layout = layout
        self.ring = SplitDevice(layout.ring, memory_size, event_idx=event_idx)
        self.kick = self.signal = SignalReceiver(layout.kick)
        self.call = SignalSender(layout.call)
        self.seam = seam

    def _op(self, op: Op[T]) -> Op[T]:
        return on_shm(op, self.layout, "device")

    def init(self) -> Op[None]:
        yield from self._op(self.ring.init())
        yield from self.layout.kick.init()
        yield from self.layout.call.init()

    def begin(self) -> Op[None]:
        """On a kick: suppress, then acknowledge before popping."""
        yield from self._begin(self._op(self.ring.disable_notify()))

    def pop(self) -> Op[Chain | None]:
        return (yield from self._op(self.ring.pop()))

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        yield from self._op(self.ring.push(used))

    def call_if_needed(self) -> Op[bool]:
        """The ring's decision (RING-SPLIT-052, RING-SPLIT-053), then the call signal's. True: send
        the
        transport notification."""
        return (yield from _notify(self._op(self.ring.should_notify()), self.call.inject(),
                                   self.seam))

    def finish(self) -> Op[bool]:
        """Re-enable both and re-check both (SHM-RING-004). True: do not wait."""
        lay = self.layout.ring
        return (yield from self._finish(
            self._op(self.ring.enable_notify()),
            _recheck(self._op(load(lay.avail_idx, 2)), self.ring.last_avail)))
