"""The bounded exhaustive search of models/stack/shortest.py returns a SHORTEST failing run:
checked against brute force (every sequence of moves, nothing merged) on a small space, and
its merging of states checked against brute force on the clock stack's first moves."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import pytest
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.memory.tso import Mode, Program, SharedMemory, Side
from virtiospec.models.stack import clock_figures as cf
from virtiospec.models.stack.clock import MUTANTS
from virtiospec.models.stack.clock_shortest import ClockSpace
from virtiospec.models.stack.shortest import Move, replay, shortest_failure
from virtiospec.reference.access import Fence, GuestMemory, Load, Store

DATA, FLAG = 0x10, 0x20


class MessagePassing:
    """A writer stores data then a flag (with or without a ``wmb`` between); a reader loads
    the flag, then the data, and must see the data once it saw the flag. Moves: each side's
    next access, each drainable store."""

    def __init__(self, mode: Mode, wmb: bool, merge: bool = True) -> None:
        self.mode, self.wmb, self.merge = mode, wmb, merge

    def fresh(self) -> SharedMemory:
        shm = SharedMemory(GuestMemory(0x40), self.mode)
        w, r = shm.side("writer"), shm.side("reader")
        w.start(self._writer(), "write")
        r.start(self._reader(), "read")
        return shm

    def _writer(self) -> Program[None]:
        yield Store(DATA, 4, 7)
        if self.wmb:
            yield Fence("wmb")
        yield Store(FLAG, 4, 1)

    def _reader(self) -> Program[None]:
        flag = yield Load(FLAG, 4)
        data = yield Load(DATA, 4)
        if flag == 1 and data != 7:
            raise Violation("TEST-MP", f"saw the flag but data {data}")

    def moves(self, shm: SharedMemory) -> list[Move]:
        out = [Move("step", (("side", n),)) for n, s in enumerate(self._sides(shm))
               if s.enabled()]
        for n, s in enumerate(self._sides(shm)):
            out += [Move("drain", (("side", n), ("k", k))) for k in range(len(s.drainable()))]
        return out

    def _sides(self, shm: SharedMemory) -> list[Side]:
        return [shm.side("writer"), shm.side("reader")]

    def play(self, shm: SharedMemory, move: Move) -> None:
        args = dict(move.args)
        side = self._sides(shm)[args["side"]]
        if move.rule == "step":
            side.step()
        else:
            side.drain_one(args["k"])

    def key(self, shm: SharedMemory) -> Hashable | None:
        if not self.merge:
            return None
        return (tuple((s.side, s.action) for s in shm.log if s.side != "memory"),
                bytes(shm.guest.buf),
                tuple(tuple((b.addr, b.value, b.epoch) for b in s.buffer)
                      for s in self._sides(shm)))


def brute_force(space: MessagePassing, depth: int) -> int | None:
    """The length of the shortest failing run, trying every sequence of moves."""
    for n in range(1, depth + 1):
        for path in _sequences(space, n):
            try:
                replay(space, path)
            except Violation:
                return n
    return None


def _sequences(space: MessagePassing, n: int) -> list[tuple[Move, ...]]:
    out: list[tuple[Move, ...]] = [()]
    for _ in range(n):
        nxt = []
        for path in out:
            try:
                m = replay(space, path)
            except Violation:
                continue
            nxt += [(*path, mv) for mv in space.moves(m)]
        out = nxt
    return out


@pytest.mark.parametrize("merge", [True, False])
def test_message_passing_without_wmb_fails_in_its_shortest_run(merge: bool) -> None:
    space = MessagePassing("pso", wmb=False, merge=merge)
    found = shortest_failure(space, 10)
    assert found.path is not None and "TEST-MP" in found.violation
    assert len(found.path) == brute_force(MessagePassing("pso", wmb=False, merge=False), 10)
    # store data, store flag, flag drains first, load flag, load data
    assert len(found.path) == 5 and found.depth == 4


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_message_passing_holds_where_stores_stay_in_order(mode: Mode) -> None:
    found = shortest_failure(MessagePassing(mode, wmb=False), 12)
    assert found.path is None and found.depth == 12 and not found.why_stopped
    assert brute_force(MessagePassing(mode, wmb=False, merge=False), 7) is None


def test_message_passing_with_wmb_holds_under_pso() -> None:
    found = shortest_failure(MessagePassing("pso", wmb=True), 12)
    assert found.path is None


def test_merging_loses_no_state_of_the_clock_stack() -> None:
    """Every state brute force reaches in the first moves of the clock stack (planted
    variant, PSO) is one the merging search reached: merging only drops sequences whose
    state another sequence already reached."""
    cfg = MUTANTS[2][3]
    merged = ClockSpace(cfg, merge=True)
    depth = 5
    seen = {merged.key(merged.fresh())}
    frontier: list[tuple[Move, ...]] = [()]
    for _ in range(depth):
        nxt = []
        for path in frontier:
            for mv in merged.moves(replay(merged, path)):
                m = replay(merged, (*path, mv))
                nxt.append((*path, mv))
                seen.add(merged.key(m))
        frontier = nxt
    found = shortest_failure(merged, depth)
    assert found.path is None
    assert found.states == len(seen)  # the same states, reached by fewer sequences
    assert len(frontier) > sum(found.level_sizes)


def test_the_shortest_torn_read_of_the_clock_stack() -> None:
    """The device's writer without the wmb before its even seq (PSO): the search finds a
    failing run of 20 moves and, having searched every shorter one, none of 19."""
    space = ClockSpace(MUTANTS[2][3])
    found = shortest_failure(space, 25)
    assert found.path is not None and "SHM-TABLE-007" in found.violation
    assert len(found.path) == 20 and found.depth == 19
    shorter = shortest_failure(space, 19)
    assert shorter.path is None and shorter.depth == 19 and not shorter.why_stopped
    with pytest.raises(Violation, match="SHM-TABLE-007"):
        replay(space, found.path)


def test_every_clock_variant_has_a_figure_that_says_how_minimal_it_is() -> None:
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "stack.md").read_text(encoding="utf-8")
    listed = (root / "docs" / "figures" / "stack_clock" / "minimality.txt").read_text(
        encoding="utf-8")
    for name, _, _ in cf.variants():
        short = name.removeprefix("stack.clock.")
        figure = f"figures/stack_clock/{short}.svg"
        svg = (root / "docs" / figure).read_text(encoding="utf-8")
        assert figure in doc, figure
        assert "broken: " in svg and f"{short}: " in listed
        assert ("no failing run of fewer moves exists within the bound" in svg
                or "NOT shown shortest" in svg)
