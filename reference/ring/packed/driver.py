"""The driver side of a packed virtqueue (spec/ring_packed.md).

Private state (the two positions and their wrap bits, free positions, free buffer IDs, the
token and size of each outstanding list) is plain Python; every access to the ring is
yielded (see :mod:`virtiospec.reference.access`), so the models can step it access by access.
Method names are the split driver's (:class:`~virtiospec.reference.ring.driver.SplitDriver`)
where the concept is the same.
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
from virtiospec.reference.ring.packed.layout import (
    DESC_FLAGS,
    DESC_ID,
    DESC_LEN,
    EVENT_FLAGS,
    EVENT_OFF_MASK,
    EVENT_SIZE,
    PACKED_DESC_SIZE,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    PackedLayout,
    advance,
    avail_marks,
    decide,
    event_word,
    is_used,
    lap_index,
    off_wrap,
)
from virtiospec.reference.ring.side import RingSide

Segment = tuple[int, int]  # (guest address, length)


@dataclass(frozen=True)
class PackedDriverLines:
    """The lines of :class:`PackedDriver` that a known-bad variant may break. Every default
    is the protocol; a switch turned off breaks the one line that names it, which is how
    models/ring/packed/mutants.py states each variant as the change it makes (as
    reference/ring/c/ring_packed_mutants.h does for ring_packed.c)."""

    wmb_publish: bool = True  # add: wmb before the head's flags store (RING-PACKED-050)
    wrap_flip: bool = True  # add: the Driver Ring Wrap Counter flips (RING-PACKED-012)
    mb_kick: bool = True  # kick_prepare: mb before the structure load (RING-PACKED-051)
    rmb_used: bool = True  # get_used: rmb after the flags (RING-PACKED-055)
    used_id_check: bool = True  # get_used: refuse an ID not outstanding (RING-PACKED-086)
    recheck: bool = True  # enable_cb: re-check before sleeping (RING-PACKED-071)
    list_within_queue: bool = True  # add: no list or table beyond Q (RING-PACKED-030, -043)
    room_first: bool = True  # add: room for the whole list first (RING-PACKED-032, -037)
    placement_check: bool = True  # __init__: drive no misplaced ring (RING-PACKED-001)
    event_wrap: bool = True  # kick_prepare: the wrap bit of off_wrap is the device's
    #                          (RING-PACKED-064)


PROTOCOL = PackedDriverLines()


@dataclass
class PackedOutstanding:
    """A list the driver made available and has not taken back (RING-PACKED-026)."""

    token: object
    ndesc: int  # ring descriptors the list occupies: the used position skips this many
    writable: int  # total length of its device-writable elements (RING-PACKED-086)


class PackedDriver(RingSide):
    """Adds buffers, decides kicks, takes used buffers back, turns used-buffer
    notifications on and off (ENABLE/DISABLE, or DESC with VIRTIO_F_EVENT_IDX).

    ``indirect_area``: guest memory of ``Q * indirect_max * 16`` bytes where the driver builds
    indirect tables (one per buffer ID), used when VIRTIO_F_INDIRECT_DESC is negotiated.

    ``lines``: the protocol's lines a known-bad variant turns off (:class:`PackedDriverLines`).
    """

    lines: PackedDriverLines = PROTOCOL
    stopped, reset_req = "driver stopped", "RING-PACKED-086"

    def __init__(self, layout: PackedLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16) -> None:
        if self.lines.placement_check:
            layout.check()  # RING-PACKED-001: the layout may have been made without checks
        self.layout = layout
        self.q = layout.size
        self.event_idx = event_idx
        self.indirect_area = indirect_area
        self.indirect_max = indirect_max
        self.next_avail, self.avail_wrap = 0, 1  # the Driver Ring Wrap Counter (RING-PACKED-012)
        self.last_used, self.used_wrap = 0, 1  # where the next used descriptor will appear
        self.free_descs = self.q  # positions ahead of next_avail the driver owns
        self.free_ids: list[int] = list(range(self.q))
        self.ids: dict[int, PackedOutstanding] = {}
        self.num_added = 0  # positions made available since the last kick decision
        self.cb_disabled = False  # shadow of the driver structure's DISABLE
        self.broken = None

    # -- set-up ------------------------------------------------------------------------
    def init(self) -> Op[None]:
        """Zero the ring and both event-suppression structures before the device sees the
        queue (RING-PACKED-004)."""
        lay = self.layout
        for pos in range(self.q):
            yield from store(lay.desc_addr(pos), 8, 0)
            yield from store(lay.desc_addr(pos) + 8, 8, 0)
        yield from store(lay.driver_event, EVENT_SIZE, 0)
        yield from store(lay.device_event, EVENT_SIZE, 0)

    @property
    def num_free(self) -> int:
        return self.free_descs

    @property
    def outstanding(self) -> int:
        """Outstanding descriptors (RING-PACKED-090)."""
        return self.q - self.free_descs


    # -- making buffers available ------------------------------------------------------
    def add(self, out: Sequence[Segment], in_: Sequence[Segment], token: object) -> Op[int]:
        """Make one list available: device-readable ``out`` then device-writable ``in_``
        (RING-PACKED-031); return its buffer ID. Only positions the driver owns are written,
        from ``next_avail`` on (RING-PACKED-023); every descriptor but the first is written
        whole, then a ``wmb`` (RING-PACKED-050), then the first one's ``flags``
        (RING-PACKED-033). With an indirect table the list is that one ring descriptor, so
        INDIRECT never sits in a NEXT-chained list (RING-PACKED-041)."""
        self._check()
        items = [(a, n, 0) for a, n in out] + [(a, n, VIRTQ_DESC_F_WRITE) for a, n in in_]
        if not items:
            raise ValueError("a list needs at least one buffer")
        if any(not 0 <= n < 1 << 32 for _, n, _ in items):
            raise ValueError("an element's length does not fit le32 len (RING-PACKED-003)")
        if len(items) > self.q and self.lines.list_within_queue:
            # RING-PACKED-043: an indirect table too, whatever room indirect_max leaves
            raise ChainTooLong(f"{len(items)} descriptors in a queue of {self.q}",
                               "RING-PACKED-030")
        indirect = self.indirect_area is not None and 1 < len(items) <= self.indirect_max
        need = 1 if indirect else len(items)
        # RING-PACKED-037: never count on the device using descriptors to make room
        if (need > self.free_descs and self.lines.room_first) or not self.free_ids:
            raise QueueFull(f"{need} descriptors needed, {self.free_descs} free "
                            "(RING-PACKED-032)")
        buf_id = self.free_ids.pop(0)  # RING-PACKED-025: not the ID of an outstanding list
        if indirect:
            assert self.indirect_area is not None
            table = self.indirect_area + buf_id * self.indirect_max * PACKED_DESC_SIZE
            for k, (addr, length, flags) in enumerate(items):  # RING-PACKED-040: WRITE only
                yield from self._write_fields(table + PACKED_DESC_SIZE * k, addr, length, 0)
                yield from store(table + PACKED_DESC_SIZE * k + DESC_FLAGS, 2, flags)
            ring = [(table, PACKED_DESC_SIZE * len(items), VIRTQ_DESC_F_INDIRECT)]
        else:
            ring = items
        lay = self.layout
        pos, wrap = self.next_avail, self.avail_wrap
        head_flags = 0
        for k, (addr, length, flags) in enumerate(ring):
            last = k == len(ring) - 1
            # RING-PACKED-013, RING-PACKED-035: every descriptor its marks, NEXT but the last
            flags |= avail_marks(wrap) | (0 if last else VIRTQ_DESC_F_NEXT)
            at = lay.desc_addr(pos)
            yield from self._write_fields(at, addr, length, buf_id)  # ID in every one (025)
            if k == 0:
                head_flags = flags
            else:
                yield from store(at + DESC_FLAGS, 2, flags)
            pos, flipped = advance(self.q, pos, wrap, 1)
            wrap = flipped if self.lines.wrap_flip else wrap
        if self.lines.wmb_publish:
            yield from fence("wmb")  # RING-PACKED-050: the list before the flags exposing it
        yield from store(lay.desc_addr(self.next_avail) + DESC_FLAGS, 2, head_flags)
        self.next_avail, self.avail_wrap = pos, wrap  # RING-PACKED-012
        self.free_descs -= need
        self.num_added += need
        self.ids[buf_id] = PackedOutstanding(token, need, sum(n for _, n, f in items if f))
        return buf_id

    @staticmethod
    def _write_fields(at: int, addr: int, length: int, buf_id: int) -> Op[None]:
        yield from store(at, 8, addr)
        yield from store(at + DESC_LEN, 4, length)
        yield from store(at + DESC_ID, 2, buf_id)

    def kick_prepare(self) -> Op[bool]:
        """Whether the positions made available since the last decision need an
        available-buffer notification (RING-PACKED-063), after the full barrier of
        RING-PACKED-051."""
        self._check()
        if self.num_added == 0:
            return False
        if self.lines.mb_kick:
            yield from fence("mb")  # RING-PACKED-051: the flags stores before the structure load
        passed, self.num_added = self.num_added, 0
        word = yield from load(self.layout.device_event, EVENT_SIZE)  # RING-PACKED-066
        new = lap_index(self.q, self.next_avail, self.avail_wrap)
        if not self.lines.event_wrap:  # off_wrap's wrap bit taken as the driver's own lap
            word = (word & ~0xFFFF) | off_wrap(word & EVENT_OFF_MASK, self.avail_wrap)
        return decide(self.q, word, self.event_idx, new, passed)

    def kick_data(self) -> int:
        """The notification data of RING-PACKED-024 (VIRTIO_F_NOTIFICATION_DATA): ``next_off``
        and ``next_wrap`` of the first position not yet made available."""
        return off_wrap(self.next_avail, self.avail_wrap)

    # -- taking buffers back -----------------------------------------------------------
    def get_used(self) -> Op[tuple[object, int] | None]:
        """The next used buffer as ``(token, len)``, or None: buffers come back in the order
        the device used them (RING-PACKED-092). A used descriptor that names no outstanding
        list, or a ``len`` beyond its writable bytes, is refused without freeing anything
        (RING-PACKED-086)."""
        self._check()
        lay = self.layout
        at = lay.desc_addr(self.last_used)
        flags = yield from load(at + DESC_FLAGS, 2)
        if not is_used(flags, self.used_wrap):  # RING-PACKED-015
            return None
        if self.lines.rmb_used:
            yield from fence("rmb")  # RING-PACKED-055
        buf_id = yield from load(at + DESC_ID, 2)
        length = yield from load(at + DESC_LEN, 4)
        out = self.ids.get(buf_id)
        if out is None:
            if self.lines.used_id_check:
                raise self._fail(BadUsedElement(
                    f"used descriptor at {self.last_used} names ID {buf_id}, which is not "
                    "outstanding", "RING-PACKED-086"))
            out = PackedOutstanding(None, 1, 1 << 32)  # freed as a 1-descriptor list
        written = length if flags & VIRTQ_DESC_F_WRITE else 0  # RING-PACKED-027
        if written > out.writable:
            raise self._fail(BadUsedElement(
                f"used len {written} exceeds the {out.writable} writable bytes of ID {buf_id}",
                "RING-PACKED-086"))
        self.ids.pop(buf_id, None)
        self.free_ids.append(buf_id)
        self.free_descs += out.ndesc
        # RING-PACKED-026: skip the positions of the whole list
        self.last_used, self.used_wrap = advance(self.q, self.last_used, self.used_wrap,
                                                 out.ndesc)
        if self.event_idx and not self.cb_disabled:
            # RING-PACKED-060: ask for a notification at the next used position
            yield from store(lay.driver_event, 2, off_wrap(self.last_used, self.used_wrap))
            yield from fence("mb")
        return out.token, written

    def detach_unused(self) -> list[object]:
        """After a reset: the tokens of every list still outstanding, in ID order."""
        tokens = [self.ids[i].token for i in sorted(self.ids)]
        self.ids.clear()
        self.free_ids = list(range(self.q))
        self.free_descs = self.q
        return tokens

    # -- used-buffer notifications -----------------------------------------------------
    def disable_cb(self) -> Op[None]:
        """Ask the device not to send used-buffer notifications (a hint: RING-PACKED-065)."""
        self._check()
        if self.cb_disabled:
            return
        self.cb_disabled = True
        yield from store(self.layout.driver_event + EVENT_FLAGS, 2, RING_EVENT_FLAGS_DISABLE)

    def enable_cb_prepare(self) -> Op[tuple[int, int]]:
        """Re-enable notifications from the next used position on; returns that position and
        its wrap bit, which :meth:`poll` must be asked about before sleeping
        (RING-PACKED-071)."""
        self.cb_disabled = False
        if self.event_idx:  # RING-PACKED-066: off_wrap and DESC in one store
            yield from store(self.layout.driver_event, EVENT_SIZE,
                             event_word(RING_EVENT_FLAGS_DESC, self.last_used, self.used_wrap))
        else:
            yield from store(self.layout.driver_event + EVENT_FLAGS, 2, RING_EVENT_FLAGS_ENABLE)
        return self.last_used, self.used_wrap

    def poll(self, last: tuple[int, int]) -> Op[bool]:
        """Full barrier, then: is the descriptor at position ``last`` used? (the re-check)"""
        yield from fence("mb")
        pos, wrap = last
        flags = yield from load(self.layout.desc_addr(pos) + DESC_FLAGS, 2)
        return is_used(flags, wrap)

    def enable_cb(self) -> Op[bool]:
        """Re-enable notifications and re-check. True: a used buffer is already pending and
        must be processed now instead of waiting (RING-PACKED-071), so no used-buffer wakeup
        is lost (RING-PACKED-111)."""
        self._check()
        last = yield from self.enable_cb_prepare()
        if not self.lines.recheck:
            return False  # sleeps without the mb and the re-read
        return (yield from self.poll(last))

    def enable_cb_delayed(self) -> Op[bool]:
        """No delayed variant for the packed ring: the same as :meth:`enable_cb`."""
        return (yield from self.enable_cb())
