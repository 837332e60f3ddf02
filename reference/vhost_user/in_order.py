"""Watching our own device keep VIRTIO_F_IN_ORDER (RING-SPLIT-094, RING-PACKED-093) from the
rings in guest memory, whichever build (Python or C) serves them.

Before the device runs, :meth:`InOrderWatch.before` notes what the driver has made available
and the device has not taken yet: on a split ring the head at each available-ring position, on
a packed ring the position, Buffer ID (from the list's last descriptor) and length of each
list. The driver does not write those slots again before the device uses them, so the notes
stay true. After the device ran, :meth:`InOrderWatch.after` reads what it used since:

* split: the used element at position ``p`` names the head made available at position ``p``
  (the device uses buffers in order and writes one used element per buffer);
* packed: the used descriptor at a list's first position carries that list's Buffer ID, and
  the next one sits at the position after the list (buffers used in order, one used
  descriptor per list).

A used element the notes do not cover (a buffer made available and used within one run) is
not judged; :attr:`checked` counts those that were. Every mismatch is kept in
:attr:`out_of_order` with its ring and position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from virtiospec.reference.access import MemoryError_

PACKED_DESC = 16
F_NEXT = 1
F_AVAIL = 1 << 7
F_USED = 1 << 15


class Readable(Protocol):
    """Guest memory as the watch reads it (a MemoryTable, or a test's mapped memory)."""

    def read(self, addr: int, size: int) -> int: ...


@dataclass
class RingView:
    """Where one started ring lies (guest addresses) and how the device's positions read."""

    index: int
    size: int
    packed: bool
    desc: int
    avail: int
    used: int


@dataclass
class _Notes:
    # split: avail position (mod 2^16) -> head; packed: position -> (buffer id, descriptors)
    heads: dict[int, int] = field(default_factory=dict)
    lists: dict[int, tuple[int, int]] = field(default_factory=dict)
    used: int | None = None  # the device's used position (packed: pos | wrap << 15) last seen


class InOrderWatch:
    def __init__(self, mem: Readable) -> None:
        self.mem = mem
        self.notes: dict[int, _Notes] = {}
        self.checked = 0
        self.out_of_order: list[str] = []

    def forget(self, index: int) -> None:
        """The ring stopped: its positions start again from its next base."""
        self.notes.pop(index, None)

    def before(self, ring: RingView, last_avail: int, used: int) -> None:
        n = self.notes.setdefault(ring.index, _Notes())
        if n.used is None:
            n.used = used
        try:
            if ring.packed:
                self._note_packed(ring, n, last_avail)
            else:
                self._note_split(ring, n, last_avail)
        except MemoryError_:
            return  # a ring outside memory is the device's refusal, not ours to judge

    def _note_split(self, ring: RingView, n: _Notes, last_avail: int) -> None:
        idx = self.mem.read(ring.avail + 2, 2)
        for k in range(min((idx - last_avail) & 0xFFFF, ring.size)):  # a hostile idx: Q
            pos = (last_avail + k) & 0xFFFF
            if pos not in n.heads:
                n.heads[pos] = self.mem.read(ring.avail + 4 + 2 * (pos % ring.size), 2)

    def _note_packed(self, ring: RingView, n: _Notes, last_avail: int) -> None:
        pos, wrap = last_avail & 0x7FFF, last_avail >> 15 & 1
        for _ in range(ring.size):
            start = pos | wrap << 15
            count, buf_id = 0, None
            while count < ring.size:
                at = ring.desc + PACKED_DESC * pos
                flags = self.mem.read(at + 14, 2)
                if bool(flags & F_AVAIL) != bool(wrap) or bool(flags & F_USED) == bool(wrap):
                    return  # not available (yet): the notes end here
                count += 1
                buf_id = self.mem.read(at + 12, 2)
                pos += 1
                if pos == ring.size:
                    pos, wrap = 0, wrap ^ 1
                if not flags & F_NEXT:
                    break
            if buf_id is None:
                return
            n.lists[start] = (buf_id, count)

    def after(self, ring: RingView, used: int) -> None:
        n = self.notes.get(ring.index)
        if n is None or n.used is None:
            return
        try:
            if ring.packed:
                self._check_packed(ring, n, used)
            else:
                self._check_split(ring, n, used)
        except MemoryError_:
            return

    def _check_split(self, ring: RingView, n: _Notes, used: int) -> None:
        start = n.used
        assert start is not None
        for k in range((used - start) & 0xFFFF):
            pos = (start + k) & 0xFFFF
            head = n.heads.pop(pos, None)
            if head is None:
                continue
            got = self.mem.read(ring.used + 4 + 8 * (pos % ring.size), 4)
            self.checked += 1
            if got != head:
                self.out_of_order.append(f"vring {ring.index}: used element {pos} names head "
                                         f"{got}, the buffer made available there was {head}")
        n.used = used

    def _check_packed(self, ring: RingView, n: _Notes, used: int) -> None:
        at = n.used
        assert at is not None
        while at != used:
            note = n.lists.pop(at, None)
            if note is None:
                # a list made available and used within one run: its length is unknown, so
                # the rest is not judged; notes start again at the next run
                n.lists.clear()
                break
            buf_id, count = note
            pos, wrap = at & 0x7FFF, at >> 15
            got = self.mem.read(ring.desc + PACKED_DESC * pos + 12, 2)
            self.checked += 1
            if got != buf_id:
                self.out_of_order.append(f"vring {ring.index}: used descriptor at position "
                                         f"{pos} carries Buffer ID {got}, the list made "
                                         f"available there had {buf_id}")
            pos += count
            if pos >= ring.size:
                pos, wrap = pos - ring.size, wrap ^ 1
            at = pos | wrap << 15
        n.used = used
