"""The device side of a split virtqueue (spec/ring.md).

The device trusts nothing it reads from the rings: every descriptor walk is bounded and
checked (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083) before any buffer of the
chain is used, and an error leaves the
queue untouched and the device refusing to go on until it is reset (RING-SPLIT-084).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from virtiospec.reference.access import Op, fence, load, store
from virtiospec.reference.ring.errors import (
    AvailIndexJump,
    BadDescriptorIndex,
    BadIndirect,
    BufferOutsideMemory,
    ChainTooLong,
    DescriptorLoop,
    ReadableAfterWritable,
    RingError,
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
from virtiospec.reference.ring.side import DeviceSide

Segment = tuple[int, int]
U64 = (1 << 64) - 1


@dataclass
class Chain:
    """A chain popped from the available ring: its head and its buffers, readable first."""

    head: int
    readable: list[Segment] = field(default_factory=list)
    writable: list[Segment] = field(default_factory=list)

    @property
    def readable_len(self) -> int:
        return sum(n for _, n in self.readable)

    @property
    def writable_len(self) -> int:
        return sum(n for _, n in self.writable)


@dataclass(frozen=True)
class DeviceLines:
    """The lines of :class:`SplitDevice` that a known-bad variant may break. Every default
    is the protocol; a switch turned off breaks the one line that names it, which is how
    models/ring/ref_mutants.py states each variant as the change it makes (as
    reference/ring/c/ring_mutants.h does for ring.c)."""

    idle_check: bool = True  # pop: nothing to take while avail.idx is last_avail (-092)
    avail_jump_check: bool = True  # pop: refuse avail.idx more than Q ahead (RING-SPLIT-084)
    rmb_pop: bool = True  # pop: rmb after loading avail.idx (RING-SPLIT-075)
    head_check: bool = True  # _walk: refuse a head >= Q (RING-SPLIT-080)
    bounded: bool = True  # _walk: the seen-set and the Q bound (RING-SPLIT-080)
    nested_check: bool = True  # _walk: refuse INDIRECT inside a table (RING-SPLIT-081)
    table_inside: bool = True  # _walk: an indirect table inside memory (RING-SPLIT-082)
    table_len_check: bool = True  # _walk: a table is a non-zero multiple of 16 (-081)
    region_exact: bool = True  # _inside: addr + len not wrapped at 2^64 (RING-SPLIT-082)
    region_end: bool = True  # _inside: the region's end is exclusive (RING-SPLIT-082)
    order_check: bool = True  # _walk: no readable after a writable (RING-SPLIT-083)
    used_idx_u16: bool = True  # push: used.idx wraps at 2^16, not at Q (RING-SPLIT-043)
    wmb_push: bool = True  # push: wmb before the used.idx store (RING-SPLIT-043)
    mb_notify: bool = True  # should_notify: mb before the suppression load (RING-SPLIT-071)
    forced_notify: bool = True  # should_notify: after 2^16 - 1 used (RING-SPLIT-101)
    need_event: bool = True  # should_notify: the window [old, new), not (old, new] (-100)
    recheck: bool = True  # enable_notify: re-check avail.idx before sleeping (RING-SPLIT-072)


PROTOCOL = DeviceLines()


class SplitDevice(DeviceSide[SplitLayout]):
    """Pops available chains, pushes used elements, decides used-buffer notifications and
    turns available-buffer notifications on and off.

    ``lines``: the protocol's lines a known-bad variant turns off (:class:`DeviceLines`)."""

    lines: DeviceLines = PROTOCOL

    def __init__(self, layout: SplitLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False) -> None:
        super().__init__(layout, memory_size, event_idx=event_idx, indirect=indirect)
        self.last_avail = 0  # next available entry to consume
        self.used_idx = 0  # shadow of used.idx (only this side writes it)
        self.signalled_used: int | None = None  # used.idx at the last notification decision
        # num_pushed: used elements pushed since that decision (RING-SPLIT-101)
        self.in_flight: dict[int, int] = {}  # head -> writable length, popped and not pushed

    def init(self) -> Op[None]:
        """Write the device-owned fields of a fresh queue: used.flags, used.idx, avail_event."""
        yield from store(self.layout.used_flags, 2, 0)
        yield from store(self.layout.used_idx, 2, 0)
        yield from store(self.layout.avail_event, 2, 0)

    # -- consuming the available ring --------------------------------------------------
    def pop(self) -> Op[Chain | None]:
        """The next available chain, walked and validated, or None if there is none."""
        self._check()
        lay = self.layout
        avail_idx = yield from load(lay.avail_idx, 2)
        if avail_idx == self.last_avail and self.lines.idle_check:
            return None
        if (avail_idx - self.last_avail) & U16 > self.q and self.lines.avail_jump_check:
            raise self._fail(AvailIndexJump(
                f"avail.idx {avail_idx} is {(avail_idx - self.last_avail) & U16} entries past "
                f"{self.last_avail} in a queue of {self.q}"))
        if self.lines.rmb_pop:
            yield from fence("rmb")  # RING-SPLIT-075
        head = yield from load(lay.avail_ring(lay.slot(self.last_avail)), 2)
        try:
            chain = yield from self._walk(head)
        except RingError as err:
            raise self._fail(err) from None
        if head in self.in_flight:
            raise self._fail(BadDescriptorIndex(f"head {head} is already in flight",
                                                "RING-SPLIT-092"))
        self.last_avail = (self.last_avail + 1) & U16
        self.in_flight[head] = chain.writable_len
        return chain

    def _inside(self, addr: int, length: int, what: str) -> None:
        end, lines = addr + length, self.lines
        if not lines.region_exact:
            end &= U64  # addr + len computed in 64 bits
        if end > min(self.memory_size, 1 << 64) + (0 if lines.region_end else 1):
            raise BufferOutsideMemory(
                f"{what} [{addr:#x}, +{length:#x}) is outside guest memory of "
                f"{self.memory_size:#x} bytes")

    def _walk(self, head: int) -> Op[Chain]:
        """Walk a chain, bounded by Q descriptors in all (RING-SPLIT-080), following at most one
        indirect table (RING-SPLIT-081); nothing is used until the whole chain is valid."""
        q, lines = self.q, self.lines
        if head >= q and lines.head_check:
            raise BadDescriptorIndex(f"head {head} is not below the queue size {q}")
        chain = Chain(head)
        table, limit, index = self.layout.desc, q, head
        seen: set[int] = set()
        count = 0
        in_indirect = False
        while True:
            if index in seen and lines.bounded:
                raise DescriptorLoop(f"descriptor {index} revisited in the chain of head {head}")
            seen.add(index)
            at = table + DESC_SIZE * index
            addr = yield from load(at, 8)
            length = yield from load(at + 8, 4)
            flags = yield from load(at + 12, 2)
            nxt = yield from load(at + 14, 2)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect:
                    raise BadIndirect("INDIRECT without VIRTIO_F_INDIRECT_DESC")
                if in_indirect and lines.nested_check:
                    raise BadIndirect("INDIRECT inside an indirect table")
                if flags & VIRTQ_DESC_F_NEXT:
                    raise BadIndirect("INDIRECT together with NEXT")
                if (length == 0 or length % DESC_SIZE) and lines.table_len_check:
                    raise BadIndirect(f"indirect table of {length} bytes")
                if lines.table_inside:
                    self._inside(addr, length, "indirect table")
                if count + length // DESC_SIZE > q and lines.bounded:
                    raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
                table, limit, index = addr, length // DESC_SIZE, 0
                seen = set()
                in_indirect = True
                continue
            count += 1
            if count > q and lines.bounded:
                raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
            self._inside(addr, length, f"buffer of descriptor {index}")
            if flags & VIRTQ_DESC_F_WRITE:
                chain.writable.append((addr, length))
            elif chain.writable and lines.order_check:
                raise ReadableAfterWritable(f"readable descriptor {index} after a writable one")
            else:
                chain.readable.append((addr, length))
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            if nxt >= limit:
                raise BadDescriptorIndex(f"next {nxt} of descriptor {index} is not below {limit}")
            index = nxt

    # -- buffers' contents ---------------------------------------------------------------
    @staticmethod
    def read_chain(chain: Chain) -> Op[bytes]:
        """The device-readable bytes of a chain, loaded 8 bytes at a time."""
        out = bytearray()
        for addr, length in chain.readable:
            for off in range(0, length, 8):
                n = min(8, length - off)
                value = yield from load(addr + off, n)
                out += value.to_bytes(n, "little")
        return bytes(out)

    @staticmethod
    def write_chain(chain: Chain, data: bytes) -> Op[int]:
        """Write ``data`` to the device-writable buffers from the first on (RING-SPLIT-041,
        never to a readable one: RING-SPLIT-012); returns the bytes written."""
        done = 0
        for addr, length in chain.writable:
            for off in range(0, min(length, len(data) - done), 8):
                piece = data[done + off : done + min(off + 8, length)]
                yield from store(addr + off, len(piece), int.from_bytes(piece, "little"))
            done += min(length, len(data) - done)
            if done == len(data):
                break
        return done

    # -- returning used buffers ----------------------------------------------------------
    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        """Return chains as ``(head, len)``: write the used elements, then one ``wmb`` and one
        store of used.idx for the batch (RING-SPLIT-040, RING-SPLIT-043)."""
        self._check()
        seen: set[int] = set()
        for head, length in used:
            if head not in self.in_flight or head in seen:
                raise ValueError(f"head {head} was not popped (or was pushed already)")
            seen.add(head)
            if length > self.in_flight[head]:
                raise ValueError(f"len {length} exceeds the chain's writable "
                                 f"{self.in_flight[head]} bytes (RING-SPLIT-041)")
        lay = self.layout
        idx = self.used_idx
        for head, length in used:
            at = lay.used_ring(lay.slot(idx))
            yield from store(at, 4, head)
            yield from store(at + 4, 4, length)
            del self.in_flight[head]
            idx = (idx + 1) & U16 if self.lines.used_idx_u16 else (idx + 1) % self.q
        if self.lines.wmb_push:
            yield from fence("wmb")  # RING-SPLIT-043
        self.num_pushed += len(used)
        self.used_idx = idx
        yield from store(lay.used_idx, 2, idx)

    def should_notify(self) -> Op[bool]:
        """Whether the used entries pushed since the last decision need a used-buffer
        notification (RING-SPLIT-052, RING-SPLIT-053), after the full barrier of RING-SPLIT-071."""
        self._check()
        old, new = self.signalled_used, self.used_idx
        # RING-SPLIT-101: the window would alias
        many = self.lines.forced_notify and self.num_pushed >= U16
        self.num_pushed = 0
        if old == new and not many:
            return False
        if self.lines.mb_notify:
            yield from fence("mb")  # RING-SPLIT-071
        self.signalled_used = new
        if self.event_idx:
            event = yield from load(self.layout.used_event, 2)
            if old is not None and not self.lines.need_event:
                return many or ((new - event) & U16) < ((new - old) & U16)  # (old, new]
            return many or old is None or vring_need_event(event, new, old)
        flags = yield from load(self.layout.avail_flags, 2)
        return many or not flags & VIRTQ_AVAIL_F_NO_INTERRUPT

    # -- available-buffer notifications --------------------------------------------------
    def disable_notify(self) -> Op[None]:
        """Ask the driver not to kick (a hint: RING-SPLIT-064)."""
        self._check()
        if self.notify_disabled:
            return
        self.notify_disabled = True
        if not self.event_idx:
            yield from store(self.layout.used_flags, 2, VIRTQ_USED_F_NO_NOTIFY)

    def enable_notify(self) -> Op[bool]:
        """Re-enable kicks, then full barrier and re-check avail.idx (RING-SPLIT-072).
        True: buffers are already available and must be processed instead of waiting."""
        self._check()
        self.notify_disabled = False
        if self.event_idx:
            yield from store(self.layout.avail_event, 2, self.last_avail)
        else:
            yield from store(self.layout.used_flags, 2, 0)
        if not self.lines.recheck:
            return False  # sleeps without the mb and the re-read of avail.idx
        yield from fence("mb")
        avail_idx = yield from load(self.layout.avail_idx, 2)
        return avail_idx != self.last_avail
