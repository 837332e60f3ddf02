"""Litmus tests of the memory models of models/memory/tso.py, explored exhaustively.

A litmus test gives each side a short straight-line program of :class:`Load`,
:class:`Store` and :class:`Fence`. :func:`outcomes` runs every schedule -- at each point,
which side performs its next access, which buffered store of a side reaches memory, and,
under ``rmo``, which of the values a load may return (:meth:`~tso.Side.early_choices`) --
and collects, per side, the values its loads returned. The tests in tests/memory/test_models_rmo.py
use the classic shapes:

* ``MP`` (message passing): the writer stores data, ``wmb``, stores a flag; the reader loads
  the flag, then the data. The flag new and the data old is the outcome a missing ``rmb``
  allows (RING-SPLIT-075, RING-SPLIT-076, SHM-TABLE-006): reachable under ``rmo`` only, and
  not with an ``rmb`` between the reader's loads.
* ``SB`` (store buffering): each side stores to its own location and loads the other's; both
  loads old is reachable from ``tso`` on, and not with an ``mb`` on each side (the shape of
  every lost wakeup: RING-SPLIT-070, RING-SPLIT-071).
* ``CoRR`` (coherence): two loads of one location never see its values out of order.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtiospec.models.memory.tso import Mode, Program, SharedMemory
from virtiospec.reference.access import Access, Fence, GuestMemory, Load, Store

Move = tuple[str, str, int]  # ("step" | "drain", side, choice)
Outcome = tuple[tuple[int, ...], ...]  # per side (in the order given), the values loaded

X, Y = 0, 8  # two locations, in different 8-byte words

MP: dict[str, list[Access]] = {
    "writer": [Store(X, 4, 1), Fence("wmb"), Store(Y, 4, 1)],
    "reader": [Load(Y, 4), Load(X, 4)],
}
MP_RMB: dict[str, list[Access]] = {
    "writer": [Store(X, 4, 1), Fence("wmb"), Store(Y, 4, 1)],
    "reader": [Load(Y, 4), Fence("rmb"), Load(X, 4)],
}
SB: dict[str, list[Access]] = {
    "a": [Store(X, 4, 1), Load(Y, 4)],
    "b": [Store(Y, 4, 1), Load(X, 4)],
}
SB_MB: dict[str, list[Access]] = {
    "a": [Store(X, 4, 1), Fence("mb"), Load(Y, 4)],
    "b": [Store(Y, 4, 1), Fence("mb"), Load(X, 4)],
}
CORR: dict[str, list[Access]] = {
    "writer": [Store(X, 4, 1), Store(X, 4, 2)],
    "reader": [Load(X, 4), Load(X, 4)],
}


def _program(actions: Sequence[Access], got: list[int]) -> Program[None]:
    for action in actions:
        value = yield action
        if isinstance(action, Load):
            assert value is not None
            got.append(value)


def _replay(mode: Mode, programs: dict[str, list[Access]], schedule: list[Move],
            size: int) -> tuple[SharedMemory, dict[str, list[int]]]:
    mem = SharedMemory(GuestMemory(size), mode)
    got: dict[str, list[int]] = {}
    for name, actions in programs.items():
        got[name] = []
        mem.side(name).start(_program(actions, got[name]), name)
    for kind, name, k in schedule:
        side = mem.sides[name]
        if kind == "step":
            side.step(k)
        else:
            side.drain_one(k)
    return mem, got


def moves(mem: SharedMemory) -> list[Move]:
    """Every move enabled now."""
    out: list[Move] = []
    for name, side in mem.sides.items():
        if side.enabled():
            out += [("step", name, k) for k in range(side.early_choices())]
        out += [("drain", name, k) for k in range(len(side.drainable()))]
    return out


def outcomes(mode: Mode, programs: dict[str, list[Access]], size: int = 64) -> set[Outcome]:
    """The outcomes of every complete schedule (depth first, each prefix replayed)."""
    found: set[Outcome] = set()
    stack: list[list[Move]] = [[]]
    while stack:
        schedule = stack.pop()
        mem, got = _replay(mode, programs, schedule, size)
        nxt = moves(mem)
        if not nxt:
            found.add(tuple(tuple(got[name]) for name in programs))
        stack += [[*schedule, m] for m in nxt]
    return found
