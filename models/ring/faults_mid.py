"""The resets in the middle of an operation of the fault machine (models/ring/faults.py):
with the Python sides an operation (an ``Op``) can be left half-way, so the device is reset
a number of accesses into pushing what it holds (part of it published: RING-SPLIT-043's
used.idx, RING-PACKED-014's used flags tell how much) or into the driver adding a chain
(not yet published). What follows is the machine's recovery, as after any reset.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from virtiospec.reference.access import GuestMemory, Load, Op, Store
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.errors import QueueFull
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.layout import (
    DESC_FLAGS,
    DESC_ID,
    PackedLayout,
    advance,
    is_used,
)

MEM = 1 << 16
DATA = 1 << 12  # buffers live from here on, 64 bytes per token slot


class MidOperationResets(RuleBasedStateMachine):
    """The rules that reset the device in the middle of an operation; the state, the
    bookkeeping and the recovery are the fault machine's."""

    cfg: Any  # FaultConfig
    mem: GuestMemory
    lay: SplitLayout | PackedLayout
    drv: Any
    dev: Any
    python_sides: bool
    next_token: int
    stall_drv: int
    by_head: dict[int, int]
    made_available: set[int]
    device_used: dict[int, int]
    held: list[Chain]

    def _tick(self) -> None:
        raise NotImplementedError

    def _count(self, key: str) -> None:
        raise NotImplementedError

    def _note(self, side: str, action: str) -> None:
        raise NotImplementedError

    def _recover(self) -> None:
        raise NotImplementedError

    def _partial(self, op: Op[Any], k: int) -> tuple[bool, Any]:
        """Apply the first ``k`` accesses of ``op``; (finished, its result)."""
        value: int | None = None
        try:
            for _ in range(k):
                access = op.send(value)
                value = None
                if isinstance(access, Load):
                    value = self.mem.read(access.addr, access.size)
                elif isinstance(access, Store):
                    self.mem.write(access.addr, access.size, access.value)
        except StopIteration as done:
            return True, done.value
        op.close()
        return False, None

    def _published(self, used: list[tuple[int, int]], before: tuple[int, int],
                   ndescs: list[int]) -> int:
        """How many of ``used`` a push left half-way had published (RING-SPLIT-043: used.idx;
        RING-PACKED-014: each used descriptor's flags)."""
        if not self.cfg.packed:
            return (self.mem.read(self.lay.used_idx, 2) - before[0]) & 0xFFFF  # type: ignore[union-attr]
        pos, wrap = before
        n = 0
        for (buf_id, _), ndesc in zip(used, ndescs, strict=True):
            at = self.lay.desc_addr(pos)
            flags = self.mem.read(at + DESC_FLAGS, 2)
            if not (is_used(flags, wrap) and self.mem.read(at + DESC_ID, 2) == buf_id):
                break
            n += 1
            pos, wrap = advance(self.cfg.q, pos, wrap, ndesc)
        return n

    @precondition(lambda m: bool(m.held) and m.python_sides)
    @rule(k=st.integers(1, 12))
    def reset_mid_push(self, k: int) -> None:
        """The device is reset ``k`` accesses into pushing what it holds."""
        self._tick()
        used = [(c.head, min(c.writable_len, 8)) for c in self.held]
        before = ((self.dev.used_idx, 0) if not self.cfg.packed
                  else (self.dev.used_pos, self.dev.used_wrap))
        ndescs = [self.dev.in_flight[h].ndesc if self.cfg.packed else 1 for h, _ in used]
        done, _ = self._partial(self.dev.push(used), k)
        n = len(used) if done else self._published(used, before, ndescs)
        for head, length in used[:n]:
            self.device_used[self.by_head[head]] = length
        self._count("reset mid-push")
        self._note("env", f"FAULT: device reset {k} accesses into pushing {used} "
                   f"({n} published)")
        self._recover()

    @precondition(lambda m: m.stall_drv == 0 and m.python_sides and bool(m.by_head))
    @rule(k=st.integers(1, 12), n_in=st.integers(1, 3))
    def reset_mid_add(self, k: int, n_in: int) -> None:
        """The device is reset ``k`` accesses into the driver adding a chain."""
        self._tick()
        token = self.next_token
        self.next_token += 1
        base = DATA + 64 * (token % 900)
        try:
            done, head = self._partial(
                self.drv.add([], [(base + 16 * j, 16) for j in range(n_in)], token), k)
        except QueueFull:
            return
        if done:
            self.by_head[head] = token
            self.made_available.add(token)
        self._count("reset mid-add")
        self._note("env", f"FAULT: device reset {k} accesses into adding t{token} "
                   f"({'added' if done else 'not added: it stays with its owner'})")
        self._recover()
