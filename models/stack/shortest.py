"""The shortest failing run of a stepped machine, by bounded exhaustive search.

Hypothesis shrinks a failing run until no simplification it tries still fails: the result
is short, not shortest. :func:`shortest_failure` finds a shortest one: a breadth-first search
over every sequence of *moves* (one access of a side, one buffered store reaching memory,
one operation started, each with every choice the memory model leaves open: which buffered
store drains under PSO), level by level, so the first failing sequence it meets is one of
the fewest moves, and when it meets none up to a bound it has shown that no failing run of
that many moves exists.

What the search runs is a :class:`Space`: it makes the machine as its ``setup`` leaves it,
lists the moves open in a state, plays one (raising
:class:`~virtiospec.models.hypothesis_run.Violation` when a property breaks, invariants
included) and names the state with a :meth:`Space.key`. The programs a side runs are
generators and cannot be copied, so every state is rebuilt by replaying its moves from a
fresh machine. Two sequences that reach the same key reach the same state, so only the
first (the shorter, or the earlier at the same length) is continued; a key must therefore
include everything the future of the run depends on (:meth:`Space.key` returning None
merges nothing, and the search is then the plain enumeration of every sequence, which the
tests compare it against).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from virtiospec.models.hypothesis_run import Violation

M = TypeVar("M")


@dataclass(frozen=True)
class Move:
    """One rule of a machine with its arguments."""

    rule: str
    args: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args)
        return f"{self.rule}({inner})"


class Space(Protocol[M]):
    def fresh(self) -> M:
        """A new machine, set up, before its first move."""
        ...

    def moves(self, m: M) -> list[Move]:
        """The moves open in ``m``'s state, in a fixed order."""
        ...

    def play(self, m: M, move: Move) -> None:
        """Play ``move`` and check every property (raises Violation)."""
        ...

    def key(self, m: M) -> Hashable | None:
        """What determines the rest of every run from ``m``'s state (None: unknown)."""
        ...


@dataclass
class Found(Generic[M]):
    """What a search found: ``path`` (a shortest failing run, or None), and how far it
    searched: every sequence of at most ``depth`` moves was played, or merged with a
    sequence that reaches the same state, and none failed (``depth`` is ``len(path) - 1``
    when a run was found)."""

    path: tuple[Move, ...] | None
    depth: int
    states: int  # distinct states reached
    played: int  # moves played, replays included
    seconds: float
    violation: str = ""
    why_stopped: str = ""  # "", or the budget that ended the search
    level_sizes: list[int] = field(default_factory=list)


def replay(space: Space[M], path: Sequence[Move]) -> M:
    m = space.fresh()
    for move in path:
        space.play(m, move)
    return m


def shortest_failure(space: Space[M], max_depth: int, *, max_states: int = 200_000,
                     max_seconds: float = 600.0) -> Found[M]:
    """Breadth-first over the moves of ``space`` up to ``max_depth`` moves (or until a
    budget runs out: then ``why_stopped`` says which, and ``depth`` is the last level
    searched in full)."""
    start = time.monotonic()
    root = space.fresh()
    k = space.key(root)
    seen: set[Hashable] = {k} if k is not None else set()
    frontier: list[tuple[Move, ...]] = [()]
    played = 0
    sizes: list[int] = []
    for depth in range(1, max_depth + 1):
        nxt: list[tuple[Move, ...]] = []
        for path in frontier:
            m = replay(space, path)
            played += len(path)
            moves = space.moves(m)
            for n, move in enumerate(moves):
                if n:
                    m = replay(space, path)
                    played += len(path)
                played += 1
                try:
                    space.play(m, move)
                except Violation as err:
                    return Found((*path, move), depth - 1, len(seen), played,
                                 time.monotonic() - start, str(err), "", sizes)
                key = space.key(m)
                if key is None:
                    nxt.append((*path, move))
                elif key not in seen:
                    seen.add(key)
                    nxt.append((*path, move))
            over = ("max_seconds" if time.monotonic() - start > max_seconds
                    else "max_states" if len(seen) + len(nxt) > max_states else "")
            if over:
                return Found(None, depth - 1, len(seen), played, time.monotonic() - start,
                             "", over, sizes)
        sizes.append(len(nxt))
        frontier = nxt
        if not frontier:
            return Found(None, max_depth, len(seen), played, time.monotonic() - start,
                         "", "", sizes)
    return Found(None, max_depth, len(seen), played, time.monotonic() - start, "",
                 "", sizes)
