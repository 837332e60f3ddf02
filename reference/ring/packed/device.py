"""The device side of a packed virtqueue (spec/ring_packed.md).

The device trusts nothing it reads from the ring: every list is bounded and checked
(RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083, RING-PACKED-084,
RING-PACKED-085) before any buffer of it is used, and an error leaves the queue
untouched and the device refusing to go on until it is reset. Method names are the split
device's (:class:`~virtiospec.reference.ring.device.SplitDevice`) where the concept is the
same; a popped list is a :class:`~virtiospec.reference.ring.device.Chain` whose ``head`` is
the list's buffer ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from virtiospec.reference.access import Op, fence, load, store
from virtiospec.reference.ring.device import U64, Chain, SplitDevice
from virtiospec.reference.ring.errors import (
    BadIndirect,
    BufferIdInUse,
    BufferOutsideMemory,
    ChainTooLong,
    DescriptorNotAvailable,
    ReadableAfterWritable,
    RingError,
)
from virtiospec.reference.ring.packed.layout import (
    DESC_FLAGS,
    DESC_ID,
    DESC_LEN,
    EVENT_FLAGS,
    EVENT_SIZE,
    PACKED_DESC_SIZE,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
    PackedLayout,
    advance,
    decide,
    event_word,
    is_avail,
    lap_index,
    used_marks,
)
from virtiospec.reference.ring.side import DeviceSide

Segment = tuple[int, int]


@dataclass(frozen=True)
class PackedDeviceLines:
    """The lines of :class:`PackedDevice` that a known-bad variant may break. Every default
    is the protocol; a switch turned off breaks the one line that names it, which is how
    models/ring/packed/mutants.py states each variant as the change it makes (as
    reference/ring/c/ring_packed_mutants.h does for ring_packed.c)."""

    ready_check: bool = True  # pop: nothing to take unless the marks say available (-092)
    wrap_check: bool = True  # pop: AVAIL compared with the wrap counter (RING-PACKED-015)
    used_check: bool = True  # pop: USED looked at too (RING-PACKED-015, RING-PACKED-021)
    rmb_pop: bool = True  # pop: rmb after the flags (RING-PACKED-054)
    bounded: bool = True  # _walk: at most Q less what is held, a table at most Q (-080)
    list_marks_check: bool = True  # _walk: each later descriptor of a list shows the
    #                                available marks (RING-PACKED-081)
    table_len_check: bool = True  # _walk: a table is a non-zero multiple of 16 (-082)
    region_exact: bool = True  # _inside: addr + len not wrapped at 2^64 (RING-PACKED-083)
    region_end: bool = True  # _inside: the region's end is exclusive (RING-PACKED-083)
    wmb_push: bool = True  # push: wmb before each used flags store (RING-PACKED-052)
    mb_notify: bool = True  # should_notify: mb before the structure load (RING-PACKED-053)
    need_event: bool = True  # should_notify: window [old, new), not (old, new] (RING-PACKED-064)
    recheck: bool = True  # enable_notify: re-check before sleeping (RING-PACKED-070)


PROTOCOL = PackedDeviceLines()


@dataclass
class Held:
    """A list the device took and has not used yet."""

    ndesc: int  # ring descriptors it occupies (RING-PACKED-026)
    writable: int  # total length of its device-writable elements


class PackedDevice(DeviceSide[PackedLayout]):
    """Pops available lists, pushes used descriptors, decides used-buffer notifications and
    turns available-buffer notifications on and off.

    ``lines``: the protocol's lines a known-bad variant turns off (:class:`PackedDeviceLines`)."""

    lines: PackedDeviceLines = PROTOCOL

    reset_req = "RING-PACKED-085"

    def __init__(self, layout: PackedLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False) -> None:
        super().__init__(layout, memory_size, event_idx=event_idx, indirect=indirect)
        self.last_avail, self.avail_wrap = 0, 1  # the position read next, and its wrap bit
        self.used_pos, self.used_wrap = 0, 1  # the Device Ring Wrap Counter (RING-PACKED-012)
        self.held = 0  # ring descriptors taken and not yet covered by a used descriptor
        self.in_flight: dict[int, Held] = {}  # buffer ID -> list, popped and not pushed
        # num_pushed: positions passed by used descriptors since the last decision

    def init(self) -> Op[None]:
        """Write the device-owned structure of a fresh queue: ENABLE (RING-PACKED-061)."""
        yield from store(self.layout.device_event, EVENT_SIZE, 0)

    # -- consuming available descriptors --------------------------------------------------
    def pop(self) -> Op[Chain | None]:
        """The next available list, walked and validated, or None if the descriptor at the
        read position is not available (RING-PACKED-015, RING-PACKED-021): a kick with
        nothing new is harmless (RING-PACKED-065). Lists come out in ring order, each once
        (RING-PACKED-092)."""
        self._check()
        flags = yield from load(self.layout.desc_addr(self.last_avail) + DESC_FLAGS, 2)
        lines = self.lines
        ready = is_avail(flags, self.avail_wrap)
        if not lines.wrap_check:  # AVAIL != USED, whatever the lap
            ready = bool(flags & VIRTQ_DESC_F_AVAIL) != bool(flags & VIRTQ_DESC_F_USED)
        elif not lines.used_check:  # AVAIL matches the lap, USED not looked at
            ready = bool(flags & VIRTQ_DESC_F_AVAIL) == bool(self.avail_wrap)
        if not ready and lines.ready_check:
            return None
        if lines.rmb_pop:
            yield from fence("rmb")  # RING-PACKED-054
        try:
            chain, ndesc = yield from self._walk(flags)
        except RingError as err:
            raise self._fail(err) from None
        if chain.head in self.in_flight:
            raise self._fail(BufferIdInUse(f"buffer ID {chain.head} is already held"))
        # RING-PACKED-010: the read position moves past the whole list, in ring order
        self.last_avail, self.avail_wrap = advance(self.q, self.last_avail, self.avail_wrap,
                                                   ndesc)
        self.held += ndesc
        self.in_flight[chain.head] = Held(ndesc, chain.writable_len)
        return chain

    def _inside(self, addr: int, length: int, what: str) -> None:
        end, lines = addr + length, self.lines
        if not lines.region_exact:
            end &= U64  # addr + len computed in 64 bits
        # exact: covers addr + len past 2^64 as well
        if end > self.memory_size + (0 if lines.region_end else 1):
            raise BufferOutsideMemory(
                f"{what} [{addr:#x}, +{length:#x}) is outside guest memory of "
                f"{self.memory_size:#x} bytes", "RING-PACKED-083")

    def _element(self, chain: Chain, addr: int, length: int, writable: bool,
                 what: str) -> None:
        self._inside(addr, length, what)
        if writable:
            chain.writable.append((addr, length))
        elif chain.writable:
            raise ReadableAfterWritable(f"readable {what} after a writable one",
                                        "RING-PACKED-084")
        else:
            chain.readable.append((addr, length))

    def _walk(self, first_flags: int) -> Op[tuple[Chain, int]]:
        """Walk the list that starts at the read position, whose ``flags`` were loaded, and
        return it with the number of ring descriptors it occupies. At most Q minus the
        descriptors already held (RING-PACKED-080); nothing is used until the whole list is
        valid. The buffer ID is the last descriptor's (RING-PACKED-025)."""
        lay, q, lines = self.layout, self.q, self.lines
        chain = Chain(-1)
        pos, wrap = self.last_avail, self.avail_wrap
        flags = first_flags
        count = 0
        while True:
            count += 1
            if self.held + count > q and lines.bounded:
                raise ChainTooLong(f"a list of {count} or more descriptors with {self.held} "
                                   f"held in a queue of {q}", "RING-PACKED-080")
            at = lay.desc_addr(pos)
            if count > 1:
                flags = yield from load(at + DESC_FLAGS, 2)
                if not is_avail(flags, wrap) and lines.list_marks_check:  # RING-PACKED-081
                    # (the driver broke RING-PACKED-033, RING-PACKED-035)
                    raise DescriptorNotAvailable(
                        f"descriptor {pos} of a list does not show the available marks of "
                        f"wrap bit {wrap} (flags {flags:#06x})")
            addr = yield from load(at, 8)
            length = yield from load(at + DESC_LEN, 4)
            buf_id = yield from load(at + DESC_ID, 2)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect:
                    raise BadIndirect("INDIRECT without VIRTIO_F_INDIRECT_DESC",
                                      "RING-PACKED-082")
                if count > 1 or flags & VIRTQ_DESC_F_NEXT:
                    raise BadIndirect("INDIRECT in a NEXT-chained list", "RING-PACKED-082")
                if (length == 0 or length % PACKED_DESC_SIZE) and lines.table_len_check:
                    raise BadIndirect(f"indirect table of {length} bytes", "RING-PACKED-082")
                if length // PACKED_DESC_SIZE > q and lines.bounded:
                    raise ChainTooLong(f"indirect table of {length // PACKED_DESC_SIZE} "
                                       f"descriptors in a queue of {q}", "RING-PACKED-080")
                self._inside(addr, length, "indirect table")
                yield from self._table(chain, addr, length // PACKED_DESC_SIZE)
                chain.head = buf_id
                return chain, 1
            self._element(chain, addr, length, bool(flags & VIRTQ_DESC_F_WRITE),
                          f"buffer of descriptor {pos}")
            if not flags & VIRTQ_DESC_F_NEXT:
                chain.head = buf_id
                return chain, count
            pos, wrap = advance(q, pos, wrap, 1)  # RING-PACKED-034: in ring order

    def _table(self, chain: Chain, table: int, entries: int) -> Op[None]:
        """The elements of an indirect table: only WRITE counts (RING-PACKED-042)."""
        for k in range(entries):
            at = table + PACKED_DESC_SIZE * k
            addr = yield from load(at, 8)
            length = yield from load(at + DESC_LEN, 4)
            flags = yield from load(at + DESC_FLAGS, 2)
            self._element(chain, addr, length, bool(flags & VIRTQ_DESC_F_WRITE),
                          f"buffer of indirect entry {k}")

    # -- buffers' contents ---------------------------------------------------------------
    read_chain = staticmethod(SplitDevice.read_chain)
    write_chain = staticmethod(SplitDevice.write_chain)  # RING-PACKED-020: writable only

    # -- returning used buffers ----------------------------------------------------------
    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        """Return lists as ``(buffer ID, len)``, in this order (RING-PACKED-011): each one's
        used descriptor is written at the used position, ``id`` and ``len`` first, a ``wmb``
        (RING-PACKED-052), then ``flags`` with both marks set to the Device Ring Wrap Counter
        (RING-PACKED-014), WRITE when bytes were written (RING-PACKED-027); the position then
        skips the list's descriptors (RING-PACKED-026). The used positions only move forward
        over descriptors the device holds, so none is written twice in a lap
        (RING-PACKED-022)."""
        self._check()
        seen: set[int] = set()
        for buf_id, length in used:
            if buf_id not in self.in_flight or buf_id in seen:
                raise ValueError(f"buffer ID {buf_id} was not popped (or was pushed already)")
            seen.add(buf_id)
            if length > self.in_flight[buf_id].writable:
                raise ValueError(f"len {length} exceeds the list's writable "
                                 f"{self.in_flight[buf_id].writable} bytes (RING-PACKED-027)")
        lay = self.layout
        for buf_id, length in used:
            at = lay.desc_addr(self.used_pos)
            yield from store(at + DESC_ID, 2, buf_id)
            yield from store(at + DESC_LEN, 4, length)
            if self.lines.wmb_push:
                yield from fence("wmb")  # RING-PACKED-052
            flags = used_marks(self.used_wrap) | (VIRTQ_DESC_F_WRITE if length else 0)
            yield from store(at + DESC_FLAGS, 2, flags)
            ndesc = self.in_flight.pop(buf_id).ndesc
            self.used_pos, self.used_wrap = advance(self.q, self.used_pos, self.used_wrap,
                                                    ndesc)
            self.held -= ndesc
            self.num_pushed += ndesc

    def should_notify(self) -> Op[bool]:
        """Whether the used descriptors written since the last decision need a used-buffer
        notification (RING-PACKED-062), after the full barrier of RING-PACKED-053."""
        self._check()
        if self.num_pushed == 0:
            return False
        if self.lines.mb_notify:
            yield from fence("mb")  # RING-PACKED-053
        passed, self.num_pushed = self.num_pushed, 0
        word = yield from load(self.layout.driver_event, EVENT_SIZE)  # RING-PACKED-066
        new = lap_index(self.q, self.used_pos, self.used_wrap)
        if not self.lines.need_event:
            new += 1  # the window one later: (old, new] instead of [old, new)
        return decide(self.q, word, self.event_idx, new, passed)

    # -- available-buffer notifications --------------------------------------------------
    def disable_notify(self) -> Op[None]:
        """Ask the driver not to kick (a hint: RING-PACKED-065)."""
        self._check()
        if self.notify_disabled:
            return
        self.notify_disabled = True
        yield from store(self.layout.device_event + EVENT_FLAGS, 2, RING_EVENT_FLAGS_DISABLE)

    def enable_notify(self) -> Op[bool]:
        """Re-enable kicks, then full barrier and re-check the read position
        (RING-PACKED-070). True: a list is already available and must be processed instead
        of waiting, so no available-buffer wakeup is lost (RING-PACKED-110)."""
        self._check()
        self.notify_disabled = False
        lay = self.layout
        if self.event_idx:  # RING-PACKED-061, RING-PACKED-066: off_wrap and DESC in one store
            yield from store(lay.device_event, EVENT_SIZE,
                             event_word(RING_EVENT_FLAGS_DESC, self.last_avail, self.avail_wrap))
        else:
            yield from store(lay.device_event + EVENT_FLAGS, 2, RING_EVENT_FLAGS_ENABLE)
        if not self.lines.recheck:
            return False  # sleeps without the mb and the re-read
        yield from fence("mb")
        flags = yield from load(lay.desc_addr(self.last_avail) + DESC_FLAGS, 2)
        return is_avail(flags, self.avail_wrap)
