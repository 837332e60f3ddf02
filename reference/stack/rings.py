"""The split ring on virtio-shm as the network layer takes it: a
:class:`~virtiospec.reference.ring.SplitDriver` / :class:`~virtiospec.reference.ring.SplitDevice`
whose every access is checked by the shm layer, with its two signals.

The placement is :class:`~virtiospec.reference.shm.ShmRingLayout` (the ring packed at an
offset of the region, then the kick and the call signal) and the check is
:func:`~virtiospec.reference.ring.on_shm.on_shm`: each access inside the region and
naturally aligned (SHM-RING-001, SHM-REGION-007, SHM-REGION-008), each store from the side that owns
the
part (SHM-RING-002). The ring code itself is reference/ring unchanged. What this module adds
is what the network layer needs from a queue object (the methods of the ring, so that
``NetDriver`` and ``NetDevice`` run on it as they run on a bare ring) and the counters of the
ring layer, counted where the ring decides.

Notifications follow SHM-RING-003, SHM-RING-004: a ring decision to notify injects the signal, and
only
a signal that says so becomes a transport notification (the stack's driver and backend do
that); a receiver disables and acknowledges before it consumes (:meth:`begin`), and before it
waits re-enables both and re-checks both (:meth:`finish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from virtiospec.reference.access import Op
from virtiospec.reference.ring import Chain, SplitDevice, SplitDriver
from virtiospec.reference.ring.on_shm import ShmRingLayout, Side, on_shm
from virtiospec.reference.shm.errors import ShmError
from virtiospec.reference.shm.signal import SignalReceiver, SignalSender
from virtiospec.reference.stack.counters import Counters, ShmCounters

T = TypeVar("T")
NONE: frozenset[str] = frozenset()
USED_FLAGS = frozenset({"used.flags", "used ring"})  # used.flags is the used ring's first word


def checked(op: Op[T], layout: ShmRingLayout, side: Side, shm: ShmCounters,
            also: frozenset[str] = NONE) -> Op[T]:
    """:func:`on_shm`, counting what the shm layer refuses (by requirement ID)."""
    try:
        return (yield from on_shm(op, layout, side, also))
    except ShmError as err:
        shm.refused[err.req] += 1
        raise


def decided(op: Op[T]) -> Op[tuple[T, bool]]:
    """Run ``op``; also say whether it made any access. A notification decision that makes
    none had nothing to decide: nothing was published since the last one."""
    value: int | None = None
    made = False
    while True:
        try:
            access = op.send(value)
        except StopIteration as done:
            return done.value, made
        made = True
        value = yield access


class DriverRing(SplitDriver):
    """The driver side of virtqueue ``index`` in a region: it injects the kick signal and
    receives the call signal."""

    def __init__(self, index: int, layout: ShmRingLayout, counters: Counters, *,
                 event_idx: bool = False) -> None:
        super().__init__(layout.ring, event_idx=event_idx)
        self.index = index
        self.shm_layout = layout
        self.stats = counters.queue(index)
        self.shm = counters.shm
        self.kick = SignalSender(layout.kick)
        self.call = SignalReceiver(layout.call)
        self.shm.senders["kick"].append(self.kick)
        self.shm.receivers["call"].append(self.call)

    def _op(self, op: Op[T], also: frozenset[str] = NONE) -> Op[T]:
        return checked(op, self.shm_layout, "driver", self.shm, also)

    def init(self) -> Op[None]:
        """The driver's fields, and ``used.flags`` := 0 before the device sees the queue
        (RING-SPLIT-065, the one exception of SHM-RING-002)."""
        yield from self._op(super().init(), USED_FLAGS)

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        head = yield from self._op(super().add(out, in_, token))
        self.stats.added += 1
        return head

    def kick_prepare(self) -> Op[bool]:
        need, made = yield from decided(self._op(super().kick_prepare()))
        if made:
            if need:
                self.stats.kicks += 1
            else:
                self.stats.kicks_suppressed += 1
        return need

    def get_used(self) -> Op[tuple[object, int] | None]:
        got = yield from self._op(super().get_used())
        if got is not None:
            self.stats.taken += 1
        return got

    def disable_cb(self) -> Op[None]:
        yield from self._op(super().disable_cb())

    def enable_cb(self) -> Op[bool]:
        return (yield from self._op(super().enable_cb()))

    # -- the signals (SHM-RING-003, SHM-RING-004) ---------------------------------------------
    def begin(self) -> Op[None]:
        """On a used-buffer notification: suppress, then acknowledge before consuming."""
        yield from self.disable_cb()
        yield from self.call.disable()
        yield from self.call.acknowledge()

    def finish(self) -> Op[bool]:
        """Re-enable both and re-check both. True: used buffers are there; do not wait."""
        used = yield from self.enable_cb()
        pending = yield from self.call.enable()
        return used or pending


class DeviceRing(SplitDevice):
    """The device side of virtqueue ``index`` in a region: it receives the kick signal and
    injects the call signal. The ring's parts lie in the region, which ``layout`` checked
    (SHM-RING-001); the buffers and indirect tables its descriptors point to must lie in guest
    RAM, ``ram_size`` bytes (RING-SPLIT-082)."""

    def __init__(self, index: int, layout: ShmRingLayout, ram_size: int, counters: Counters,
                 *, event_idx: bool = False, indirect: bool = False) -> None:
        super().__init__(layout.ring, layout.region.end, event_idx=event_idx,
                         indirect=indirect)
        self.memory_size = ram_size  # what _walk checks buffers against
        self.index = index
        self.shm_layout = layout
        self.stats = counters.queue(index)
        self.shm = counters.shm
        self.kick = SignalReceiver(layout.kick)
        self.call = SignalSender(layout.call)
        self.shm.receivers["kick"].append(self.kick)
        self.shm.senders["call"].append(self.call)

    def _op(self, op: Op[T]) -> Op[T]:
        return checked(op, self.shm_layout, "device", self.shm)

    def init(self) -> Op[None]:
        """The device's fields of a fresh queue, and both signals (in its region) at 0."""
        yield from self._op(super().init())
        yield from self.shm_layout.kick.init()
        yield from self.shm_layout.call.init()

    def pop(self) -> Op[Chain | None]:
        chain = yield from self._op(super().pop())
        if chain is not None:
            self.stats.popped += 1
        return chain

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        yield from self._op(super().push(used))
        self.stats.used += len(used)

    def should_notify(self) -> Op[bool]:
        need, made = yield from decided(self._op(super().should_notify()))
        if made:
            if need:
                self.stats.interrupts += 1
            else:
                self.stats.interrupts_suppressed += 1
        return need

    def disable_notify(self) -> Op[None]:
        yield from self._op(super().disable_notify())

    def enable_notify(self) -> Op[bool]:
        return (yield from self._op(super().enable_notify()))

    # -- the signals (SHM-RING-003, SHM-RING-004) ---------------------------------------------
    def begin(self) -> Op[None]:
        """On a kick: suppress, then acknowledge before popping."""
        yield from self.disable_notify()
        yield from self.kick.disable()
        yield from self.kick.acknowledge()

    def finish(self) -> Op[bool]:
        """Re-enable both and re-check both. True: buffers are available; do not wait."""
        avail = yield from self.enable_notify()
        pending = yield from self.kick.enable()
        return avail or pending
