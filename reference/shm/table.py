"""The idempotent table (spec/shm.md, SHM-TABLE-*): slots that one side overwrites and the
other reads, each guarded by a sequence counter (a seqlock).

Slot ``i`` of a table with ``W`` value words is ``le32 seq; le32 value[W]``. The writer makes
``seq`` odd, stores the words, and makes it even again; the reader takes a value only if it
saw the same even ``seq`` before and after loading the words::

    writer: update(i, v)                       reader: read(i), one attempt
      seq := s + 1       (odd: in progress)      s1 := seq; odd -> attempt fails
      wmb                SHM-TABLE-004           rmb              SHM-TABLE-006
      value[k] := v[k]                           w[k] := value[k]
      wmb                SHM-TABLE-004           rmb              SHM-TABLE-006
      seq := s + 2       (even: stable)          s2 := seq; s2 != s1 -> attempt fails

Values are ``W`` words of 32 bits, so a reader without the protocol can tear them. The reader
bounds its attempts: a hostile writer cannot hang it (SHM-TABLE-011).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from virtiospec.reference.access import Op, fence
from virtiospec.reference.shm.errors import BadLayout, TableBusy
from virtiospec.reference.shm.region import Region

WORD = 4
U32 = 0xFFFFFFFF
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class TableLayout:
    """``slots`` slots of ``words`` value words at ``offset`` of ``region`` (SHM-TABLE-001)."""

    region: Region
    offset: int
    slots: int
    words: int

    def __post_init__(self) -> None:
        if self.slots < 1 or self.words < 1:
            raise BadLayout(f"a table needs at least one slot of one word, not "
                            f"{self.slots} x {self.words}")
        if self.offset % WORD:
            raise BadLayout(f"table at offset {self.offset:#x} is not 4-aligned")
        self.region.check_span(self.offset, self.size, "table")

    @property
    def slot_size(self) -> int:
        return WORD * (1 + self.words)

    @property
    def size(self) -> int:
        """The table's whole footprint, whatever the rate of updates (SHM-TABLE-002)."""
        return self.slots * self.slot_size

    def _slot(self, slot: int, checked: bool = True) -> int:
        if checked and not 0 <= slot < self.slots:
            raise BadLayout(f"slot {slot} is not below {self.slots}")
        return self.offset + slot * self.slot_size

    def seq(self, slot: int, checked: bool = True) -> int:
        """``checked``: a slot beyond the table is refused (False only in a known-bad
        variant, :attr:`TableLines.slot_check`)."""
        return self._slot(slot, checked)

    def word(self, slot: int, k: int, checked: bool = True) -> int:
        if not 0 <= k < self.words:
            raise BadLayout(f"word {k} is not below {self.words}")
        return self._slot(slot, checked) + WORD * (1 + k)


@dataclass(frozen=True)
class TableLines:
    """The lines of this file's classes that a known-bad variant may break. Every default is
    the protocol; a switch turned off breaks the one line that names it, which is how
    models/shm/ref_mutants.py states each variant as the change it makes."""

    writer_odd_first: bool = True  # update: the odd seq before the words (SHM-TABLE-003)
    writer_wmb_after_data: bool = True  # update: wmb before the even seq (SHM-TABLE-004)
    reader_odd_check: bool = True  # attempt: an odd seq is no value (SHM-TABLE-005)
    reader_rmb_before_data: bool = True  # attempt: rmb after the first seq (SHM-TABLE-006)
    reader_rmb_after_data: bool = True  # attempt: rmb before the second seq (SHM-TABLE-006)
    reader_recheck: bool = True  # attempt: seq loaded again and compared (SHM-TABLE-005)
    reader_bounded: bool = True  # read: at most max_attempts attempts (SHM-TABLE-011)
    poll_version_check: bool = True  # poll: the version decides what is new (SHM-TABLE-009)
    poll_version_equal: bool = True  # poll: equal versions, not ordered ones (SHM-TABLE-009)
    slot_check: bool = True  # update, attempt: a slot beyond the table is refused
    #                          (SHM-TABLE-001)


PROTOCOL = TableLines()


@dataclass(frozen=True)
class Snapshot:
    """A value read whole from a slot, with the version (even ``seq``) it was written under."""

    version: int
    value: tuple[int, ...]


class TableWriter:
    """The one side that stores to a table. Keeps each slot's ``seq`` privately and never
    loads it (SHM-TABLE-003)."""

    lines: TableLines = PROTOCOL  # the protocol's lines a known-bad variant turns off

    def __init__(self, layout: TableLayout) -> None:
        self.layout = layout
        self.seqs = [0] * layout.slots

    def init(self) -> Op[None]:
        """Every ``seq`` and word 0, when the device is set up (SHM-TABLE-001)."""
        lay = self.layout
        for i in range(lay.slots):
            yield from lay.region.store(lay.seq(i), WORD, 0)
            for k in range(lay.words):
                yield from lay.region.store(lay.word(i, k), WORD, 0)
        self.seqs = [0] * lay.slots

    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        """Overwrite ``slot`` with ``value`` (``words`` 32-bit words)."""
        lay, checked = self.layout, self.lines.slot_check
        seq = lay.seq(slot, checked)
        if len(value) != lay.words or any(not 0 <= v <= U32 for v in value):
            raise ValueError(f"a value of slot {slot} is {lay.words} words of 32 bits, "
                             f"not {list(value)}")
        s = self.seqs[slot] if slot < lay.slots else 0  # (beyond: only with slot_check off)
        if self.lines.writer_odd_first:
            yield from lay.region.store(seq, WORD, (s + 1) & U32)  # odd: in progress
            yield from fence("wmb")  # SHM-TABLE-004
        for k, v in enumerate(value):
            yield from lay.region.store(lay.word(slot, k, checked), WORD, v)
        if self.lines.writer_wmb_after_data:
            yield from fence("wmb")  # SHM-TABLE-004
        s = (s + 2) & U32
        if slot < lay.slots:
            self.seqs[slot] = s
        yield from lay.region.store(seq, WORD, s)  # even: stable


class TableReader:
    """The side that loads from a table. Keeps the last good value of each slot (the table's
    initial content, all zero, until it reads one)."""

    lines: TableLines = PROTOCOL  # the protocol's lines a known-bad variant turns off

    def __init__(self, layout: TableLayout, max_attempts: int = MAX_ATTEMPTS) -> None:
        if max_attempts < 1:
            raise ValueError("a reader needs at least one attempt")
        self.layout = layout
        self.max_attempts = max_attempts
        zero = Snapshot(0, (0,) * layout.words)
        self.last: list[Snapshot] = [zero] * layout.slots  # last good value read
        self.processed: list[Snapshot] = [zero] * layout.slots  # last value handed out as new
        self.attempts = 0  # attempts made by the last read, for the models and tests

    def attempt(self, slot: int) -> Op[Snapshot | None]:
        """One attempt (SHM-TABLE-005): the value, or None if the attempt failed."""
        lay, checked = self.layout, self.lines.slot_check
        s1 = yield from lay.region.load(lay.seq(slot, checked), WORD)
        if s1 & 1 and self.lines.reader_odd_check:
            return None  # the writer is in the middle of an update
        if self.lines.reader_rmb_before_data:
            yield from fence("rmb")  # SHM-TABLE-006
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(lay.word(slot, k, checked), WORD)))
        if not self.lines.reader_recheck:
            return Snapshot(s1, tuple(words))  # an overlapping update goes unseen
        if self.lines.reader_rmb_after_data:
            yield from fence("rmb")  # SHM-TABLE-006
        s2 = yield from lay.region.load(lay.seq(slot, checked), WORD)
        if s2 != s1:
            return None  # an update overlapped the loads: the words may be torn
        return Snapshot(s1, tuple(words))

    def read(self, slot: int) -> Op[Snapshot]:
        """The slot's current value, whole (SHM-TABLE-007), never older than the last one
        read (SHM-TABLE-008); after the writer's last update and signal, that update's value
        at the first attempt (SHM-TABLE-010). After ``max_attempts`` failed attempts,
        :class:`TableBusy` with the last good value, which is kept (SHM-TABLE-011)."""
        bound = self.max_attempts if self.lines.reader_bounded else None
        for n in itertools.count(1) if bound is None else range(1, bound + 1):
            self.attempts = n
            snap = yield from self.attempt(slot)
            if snap is not None:
                if slot < len(self.last):  # (beyond: only with slot_check off)
                    self.last[slot] = snap
                return snap
        raise TableBusy(f"slot {slot}: no stable value in {self.max_attempts} attempts",
                        self.last[slot])

    def poll(self, slot: int) -> Op[Snapshot | None]:
        """The slot's value if its version differs from the last one handed out, else None:
        a superseded value is never handed out (SHM-TABLE-009)."""
        snap = yield from self.read(slot)
        seen, lines = self.processed[slot].version, self.lines
        if lines.poll_version_check and (snap.version == seen if lines.poll_version_equal
                                         else snap.version <= seen):
            return None
        self.processed[slot] = snap
        return snap
