"""What the clock stack's driver acted on, judged against what its device published.

*Torn*: a time the device never published (two halves of two different times). *Backwards*: a
time older than one acted on before (SHM-TABLE-008). *Stale*: a time older than one whose
publication had completed before the service that returned it started: a lagging driver acts
only on the newest (SHM-TABLE-009, SHM-CLOCK-003). Every one of them is 0 for a correct
stack; tests/stack/test_clock_stack.py shows a reader without the seqlock's re-check tearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtiospec.reference.shm.irq_table import IrqEvent
from virtiospec.reference.stack.clock_numbers import TICK_LINE


@dataclass
class ClockCheck:
    offered: set[int] = field(default_factory=set)  # every time given to the device
    floor: int = 0  # the newest time whose publication had completed
    last: int | None = None  # the last time acted on
    acted: int = 0
    unchanged: int = 0  # services that found the version already acted on
    stale: int = 0
    torn: int = 0
    backwards: int = 0
    busy: int = 0  # reads that gave up (SHM-TABLE-011)
    edges_handled: int = 0  # in earlier generations (before a reset)
    edges_now: int = 0  # in the current generation
    edges_discarded: int = 0  # raised, not handled, then discarded by a reset
    double_counted: int = 0
    levels: dict[int, int] = field(default_factory=dict)
    level_changes_seen: int = 0

    def offer(self, ns: int) -> None:
        self.offered.add(ns)

    def completed(self, ns: int) -> None:
        self.floor = max(self.floor, ns)

    def act(self, ns: int, floor: int) -> None:
        """The driver acted on ``ns``; ``floor`` was :attr:`floor` when its service began."""
        self.acted += 1
        self.torn += ns not in self.offered
        self.backwards += self.last is not None and ns < self.last
        self.stale += ns < floor
        self.last = ns

    def irq(self, events: list[IrqEvent], raised: int) -> None:
        """The driver handled ``events``; the device has raised ``raised`` tick edges in this
        generation. Handling more than were raised is counting one twice (SHM-IRQ-003)."""
        for e in events:
            if e.line == TICK_LINE:
                self.edges_now += e.edges
            if self.levels.get(e.line, 0) != e.level:
                self.level_changes_seen += 1
            self.levels[e.line] = e.level
        self.double_counted += self.edges_now > raised

    def new_generation(self, raised: int) -> None:
        """The device is reset: what it raised and the driver did not handle is gone."""
        self.edges_discarded += max(0, raised - self.edges_now)
        self.edges_handled += self.edges_now
        self.edges_now = 0
        self.levels.clear()

    @property
    def edges_total(self) -> int:
        return self.edges_handled + self.edges_now
