"""The driver side of a split virtqueue (spec/ring.md).

Private state (free descriptors, shadow indices, the token of each outstanding chain) is
plain Python; every access to the rings is yielded (see :mod:`virtiospec.reference.access`).
Every method that returns an ``Op`` is one step of the protocol that the models interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from virtiospec.reference.access import Op, fence, load, store
from virtiospec.reference.ring.errors import (
    BadUsedElement,
    ChainTooLong,
    QueueFull,
)
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    U16,
    VIRTQ_AVAIL_F_NO_INTERRUPT,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    VIRTQ_USED_F_NO_NOTIFY,
    SplitLayout,
    vring_need_event,
)
from virtiospec.reference.ring.side import RingSide

Segment = tuple[int, int]  # (guest address, length)


@dataclass(frozen=True)
class DriverLines:
    """The lines of :class:`SplitDriver` that a known-bad variant may break. Every default
    is the protocol; a switch turned off breaks the one line that names it, which is how
    models/ring/ref_mutants.py states each variant as the change it makes (as
    reference/ring/c/ring_mutants.h does for ring.c)."""

    wmb_publish: bool = True  # add: wmb before the avail.idx store (RING-SPLIT-032)
    mb_kick: bool = True  # kick_prepare: mb before the suppression load (RING-SPLIT-070)
    forced_kick: bool = True  # kick_prepare: kick after 2^16 - 1 additions (RING-SPLIT-101)
    rmb_used: bool = True  # get_used: rmb after loading used.idx (RING-SPLIT-076)
    used_id_check: bool = True  # get_used: refuse an id not outstanding (RING-SPLIT-085)
    used_len_check: bool = True  # get_used: refuse len > writable bytes (RING-SPLIT-085)
    used_event_store: bool = True  # get_used: store used_event, not load it (RING-SPLIT-051)
    recheck: bool = True  # enable_cb: re-check used.idx before sleeping (RING-SPLIT-073)
    avail_idx_u16: bool = True  # add: avail.idx counts modulo 2^16, never back (RING-SPLIT-030)


PROTOCOL = DriverLines()


@dataclass
class Outstanding:
    """A chain the driver made available and has not taken back (RING-SPLIT-093)."""

    token: object
    descs: list[int]  # descriptors of the ring's table that the chain holds
    writable: int  # total length of its device-writable buffers (RING-SPLIT-085)


class SplitDriver(RingSide):
    """Adds buffers, decides kicks, takes used buffers back, turns used-buffer
    notifications on and off (plain, ``enable_cb_delayed`` and EVENT_IDX variants).

    ``indirect_area``: guest memory of ``Q * indirect_max * 16`` bytes where the driver
    builds indirect tables (one per head), used when VIRTIO_F_INDIRECT_DESC is negotiated.

    The free list is first-in first-out and every table is written in order, so the layout
    keeps VIRTIO_F_IN_ORDER's driver rules against a device that uses buffers in order: a
    chain at descriptor ``x`` links ``x`` to ``x + 1`` and ``Q - 1`` to 0 (RING-SPLIT-016);
    the next of indirect entry ``k`` is ``k + 1`` (RING-SPLIT-026).

    ``lines``: the protocol's lines a known-bad variant turns off (:class:`DriverLines`).
    """

    lines: DriverLines = PROTOCOL
    stopped = "driver stopped"

    def __init__(self, layout: SplitLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16) -> None:
        self.layout = layout
        self.q = layout.size
        self.event_idx = event_idx
        self.indirect_area = indirect_area
        self.indirect_max = indirect_max
        self.free: list[int] = list(range(self.q))
        self.avail_idx = 0  # shadow of avail.idx (only this side writes it)
        self.last_used = 0  # next used entry to take back
        self.num_added = 0  # chains published since the last kick decision
        self.cb_disabled = False  # shadow of VIRTQ_AVAIL_F_NO_INTERRUPT
        self.chains: dict[int, Outstanding] = {}
        self.broken = None

    # -- set-up ------------------------------------------------------------------------
    def init(self) -> Op[None]:
        """Write the fields of a fresh queue the driver initialises: avail.flags, avail.idx,
        used_event, and used.flags (RING-SPLIT-065), before the device sees the queue."""
        yield from store(self.layout.avail_flags, 2, 0)
        yield from store(self.layout.used_flags, 2, 0)
        yield from store(self.layout.avail_idx, 2, 0)
        yield from store(self.layout.used_event, 2, 0)

    @property
    def num_free(self) -> int:
        return len(self.free)

    @property
    def outstanding(self) -> int:
        return (self.avail_idx - self.last_used) & U16


    # -- making buffers available ------------------------------------------------------
    def add(self, out: Sequence[Segment], in_: Sequence[Segment], token: object) -> Op[int]:
        """Make one chain available: device-readable ``out`` then device-writable ``in_``
        (RING-SPLIT-011), publish it (RING-SPLIT-031, RING-SPLIT-032), return its head."""
        self._check()
        items = [(a, n, 0) for a, n in out] + [(a, n, VIRTQ_DESC_F_WRITE) for a, n in in_]
        if not items:
            raise ValueError("a chain needs at least one buffer")
        if sum(n for _, n, _ in items) > 1 << 32 or any(n >= 1 << 32 for _, n, _ in items):
            raise ChainTooLong("buffers longer than 2^32 bytes in total", "RING-SPLIT-010")
        if len(items) > self.q:
            raise ChainTooLong(f"{len(items)} descriptors in a queue of {self.q}",
                               "RING-SPLIT-022")
        indirect = (self.indirect_area is not None and 1 < len(items) <= self.indirect_max)
        need = 1 if indirect else len(items)
        if need > len(self.free):
            raise QueueFull(f"{need} descriptors needed, {len(self.free)} free")
        descs = [self.free.pop(0) for _ in range(need)]
        head = descs[0]
        lay = self.layout
        if indirect:
            assert self.indirect_area is not None
            table = self.indirect_area + head * self.indirect_max * DESC_SIZE
            yield from self._write_chain(table, list(range(len(items))), items)
            yield from self._write_desc(lay.desc_addr(head), table, DESC_SIZE * len(items),
                                        VIRTQ_DESC_F_INDIRECT, 0)
        else:
            yield from self._write_chain(lay.desc, descs, items)
        yield from store(lay.avail_ring(lay.slot(self.avail_idx)), 2, head)
        if self.lines.wmb_publish:
            yield from fence("wmb")  # RING-SPLIT-032: entries before the index publishing them
        # RING-SPLIT-030: only ever forward, wrapping at 2^16 (a narrower counter would go back)
        self.avail_idx = (self.avail_idx + 1) & (U16 if self.lines.avail_idx_u16 else 0x7FFF)
        yield from store(lay.avail_idx, 2, self.avail_idx)
        self.num_added += 1
        self.chains[head] = Outstanding(token, descs, sum(n for _, n, f in items if f))
        return head

    def _write_chain(self, table: int, ids: list[int],
                     items: list[tuple[int, int, int]]) -> Op[None]:
        for k, (addr, length, flags) in enumerate(items):
            last = k == len(items) - 1
            yield from self._write_desc(table + DESC_SIZE * ids[k], addr, length,
                                        flags | (0 if last else VIRTQ_DESC_F_NEXT),
                                        0 if last else ids[k + 1])

    @staticmethod
    def _write_desc(at: int, addr: int, length: int, flags: int, nxt: int) -> Op[None]:
        yield from store(at, 8, addr)
        yield from store(at + 8, 4, length)
        yield from store(at + 12, 2, flags)
        yield from store(at + 14, 2, nxt)

    def kick_prepare(self) -> Op[bool]:
        """Whether the chains added since the last decision need an available-buffer
        notification (RING-SPLIT-062, RING-SPLIT-063), after the full barrier of RING-SPLIT-070."""
        self._check()
        if self.num_added == 0:
            return False
        if self.lines.mb_kick:
            yield from fence("mb")  # RING-SPLIT-070: avail.idx store before suppression load
        new = self.avail_idx
        old = (new - self.num_added) & U16
        # RING-SPLIT-101: the window would alias
        many = self.lines.forced_kick and self.num_added >= U16
        self.num_added = 0
        if self.event_idx:
            event = yield from load(self.layout.avail_event, 2)
            return many or vring_need_event(event, new, old)
        flags = yield from load(self.layout.used_flags, 2)
        return many or not flags & VIRTQ_USED_F_NO_NOTIFY

    # -- taking buffers back -----------------------------------------------------------
    def get_used(self) -> Op[tuple[object, int] | None]:
        """The next used buffer as ``(token, len)``, or None. A used element the driver never
        gave out is refused without freeing anything (RING-SPLIT-085)."""
        self._check()
        lay = self.layout
        used_idx = yield from load(lay.used_idx, 2)
        if used_idx == self.last_used:
            return None
        if (used_idx - self.last_used) & U16 > self.outstanding:
            raise self._fail(BadUsedElement(
                f"used.idx {used_idx} is {(used_idx - self.last_used) & U16} past "
                f"{self.last_used} with only {self.outstanding} buffers outstanding"))
        if self.lines.rmb_used:
            yield from fence("rmb")  # RING-SPLIT-076
        at = lay.used_ring(lay.slot(self.last_used))
        head = yield from load(at, 4)
        length = yield from load(at + 4, 4)
        chain = self.chains.get(head)
        if chain is None:
            if self.lines.used_id_check:
                raise self._fail(BadUsedElement(f"used id {head} is not an outstanding head"))
            chain = Outstanding(None, [head], 1 << 32)  # freed as a 1-descriptor chain
        if length > chain.writable and self.lines.used_len_check:
            raise self._fail(BadUsedElement(
                f"used len {length} exceeds the {chain.writable} writable bytes of head {head}"))
        self.chains.pop(head, None)
        self.free.extend(chain.descs)  # RING-SPLIT-093: only now may they be reused
        self.last_used = (self.last_used + 1) & U16
        if self.event_idx and not self.cb_disabled:
            # ask for a notification at the next used entry (RING-SPLIT-051)
            if self.lines.used_event_store:
                yield from store(lay.used_event, 2, self.last_used)
            else:
                yield from load(lay.used_event, 2)
            yield from fence("mb")
        return chain.token, length

    def detach_unused(self) -> list[object]:
        """After a reset: the tokens of every chain still outstanding, in head order."""
        tokens = [self.chains[h].token for h in sorted(self.chains)]
        self.chains.clear()
        self.free = list(range(self.q))
        return tokens

    # -- used-buffer notifications -----------------------------------------------------
    def disable_cb(self) -> Op[None]:
        """Ask the device not to send used-buffer notifications (a hint, RING-SPLIT-054)."""
        self._check()
        if self.cb_disabled:
            return
        self.cb_disabled = True
        if self.event_idx:
            # an event just behind last_used: the device's window reaches it only after 2^16
            yield from store(self.layout.used_event, 2, (self.last_used - 1) & U16)
        else:
            yield from store(self.layout.avail_flags, 2, VIRTQ_AVAIL_F_NO_INTERRUPT)

    def enable_cb_prepare(self) -> Op[int]:
        """Re-enable notifications from the next used entry on; returns that index, which
        :meth:`poll` must be asked about before sleeping (RING-SPLIT-073)."""
        self.cb_disabled = False
        if self.event_idx:
            yield from store(self.layout.used_event, 2, self.last_used)
        else:
            yield from store(self.layout.avail_flags, 2, 0)
        return self.last_used

    def poll(self, last: int) -> Op[bool]:
        """Full barrier, then: did used.idx move past ``last``? (the re-check)"""
        yield from fence("mb")
        used_idx = yield from load(self.layout.used_idx, 2)
        return used_idx != last

    def enable_cb(self) -> Op[bool]:
        """Re-enable notifications and re-check. True: used buffers are already pending and
        must be processed now instead of waiting."""
        self._check()
        last = yield from self.enable_cb_prepare()
        if not self.lines.recheck:
            return False  # sleeps without the mb and the re-read of used.idx
        return (yield from self.poll(last))

    def enable_cb_delayed(self) -> Op[bool]:
        """Like :meth:`enable_cb`, but with EVENT_IDX ask to be notified only when about
        3/4 of the outstanding buffers are used. True: that many are used already."""
        self._check()
        if not self.event_idx:
            return (yield from self.enable_cb())
        self.cb_disabled = False
        bufs = (self.outstanding * 3) // 4
        yield from store(self.layout.used_event, 2, (self.last_used + bufs) & U16)
        yield from fence("mb")
        used_idx = yield from load(self.layout.used_idx, 2)
        return (used_idx - self.last_used) & U16 > bufs
