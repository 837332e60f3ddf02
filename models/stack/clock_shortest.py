"""The shortest failing run of each known-bad variant of the clock over the stack
(models/stack/clock.py, models/stack/clock_c.py), by the bounded exhaustive search of
models/stack/shortest.py.

A move of :class:`ClockSpace` is one rule of :class:`StackClockMachine` doing the least it
can: one access of the device or of the driver (``device_step(n=1)``, ``driver_step(n=1)``),
one buffered store reaching memory (``drain_device(k)``, ``drain_driver(k)``, every ``k``
the memory model allows: the oldest store under x86-TSO, any store not held back by a
``wmb`` under PSO), a tick of one period started (``tick(dt=1)``) or a service started
(``serve()``). The bound: at most ``ticks`` ticks and ``services`` services in a run.

The key of a state is everything its future depends on: each side's history (every access
it performed with the value each load returned, every call it started, every notification
it took: a side's code is deterministic given these), the bytes of both regions, both
store buffers, the notifications pending, the device's notifications not yet sent, and what
the checks remember (the newest time published, the floor the current service checks
against, the last time acted on, ticks and services started).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from hypothesis.stateful import INVARIANT_MARKER
from virtiospec.models.stack.clock import StackClockConfig, StackClockMachine
from virtiospec.models.stack.clock_c import CStackClockMachine, StackClockCConfig
from virtiospec.models.stack.shortest import Move

DEVICE_STEP = Move("device_step", (("n", 1),))
DRIVER_STEP = Move("driver_step", (("n", 1),))
TICK = Move("tick", (("dt", 1),))
SERVE = Move("serve")


def invariants(cls: type) -> list[str]:
    """The names of ``cls``'s Hypothesis invariants, in a fixed order."""
    return sorted(name for name in dir(cls)
                  if getattr(getattr(cls, name, None), INVARIANT_MARKER, None) is not None)


class ClockSpace:
    """The moves of the clock stack machine bound to ``cfg`` (see the module doc)."""

    def __init__(self, cfg: StackClockConfig, *, ticks: int = 2, services: int = 2,
                 merge: bool = True) -> None:
        base: type[StackClockMachine] = (CStackClockMachine
                                         if isinstance(cfg, StackClockCConfig)
                                         else StackClockMachine)
        self.cls: type[StackClockMachine] = type(f"Search_{base.__name__}", (base,),
                                                 {"cfg": cfg})
        self.ticks, self.services, self.merge = ticks, services, merge
        self.checks = invariants(self.cls)

    def fresh(self) -> StackClockMachine:
        m = self.cls()
        m.setup()
        m.search_counts = [0, 0]  # type: ignore[attr-defined]  # ticks, services started
        return m

    def moves(self, m: StackClockMachine) -> list[Move]:
        counts: list[int] = m.search_counts  # type: ignore[attr-defined]
        out = []
        if not m.dev.busy and counts[0] < self.ticks:
            out.append(TICK)
        if not m.drv.busy and counts[1] < self.services:
            out.append(SERVE)
        if m.dev.enabled():
            out.append(DEVICE_STEP)
        if m.drv.enabled():
            out.append(DRIVER_STEP)
        out += [Move("drain_device", (("k", k),)) for k in range(len(m.dev.drainable()))]
        out += [Move("drain_driver", (("k", k),)) for k in range(len(m.drv.drainable()))]
        return out

    def play(self, m: StackClockMachine, move: Move) -> None:
        if move == TICK:
            m.search_counts[0] += 1  # type: ignore[attr-defined]
        elif move == SERVE:
            m.search_counts[1] += 1  # type: ignore[attr-defined]
        getattr(m, move.rule)(**dict(move.args))
        for name in self.checks:
            getattr(m, name)()

    def key(self, m: StackClockMachine) -> Hashable | None:
        if not self.merge:
            return None
        log = m.shm.log
        backend = m.stack.backend
        return (tuple(s.action for s in log if s.side == "device"),
                tuple(s.action for s in log if s.side == "driver"),
                tuple(bytes(w.memory.buf) for _, w in sorted(backend.regions.items())),
                _buffer(m.dev.buffer), _buffer(m.drv.buffer),
                frozenset(m.dev.pending), frozenset(m.drv.pending), tuple(m.notes),
                m.floor, m.serve_floor, m.acted, backend.clock.now,
                tuple(m.search_counts))  # type: ignore[attr-defined]


def _buffer(buffer: list[Any]) -> tuple[tuple[int, int, int, int], ...]:
    return tuple((b.addr, b.size, b.value, b.epoch) for b in buffer)
