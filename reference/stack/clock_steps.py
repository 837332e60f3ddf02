"""Stepping the two sides of the clock stack against each other, one access at a time.

Each side is an ``Op`` of the access protocol (reference/access.py) with the memory it reaches:
the device its own view of its regions, the driver the machine's physical memory, where a
load or store of a region is an MMIO access that PCI routes to the device's BAR. Both reach
the same bytes, so stepping them in an arbitrary order is an interleaving of the two sides on
one shared memory, sequentially consistent (the in-process machine has no store buffers; the
models under x86-TSO and PSO are in models/shm/machine.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from virtiospec.reference.access import Load, Memory, Op, Store


@dataclass
class Thread:
    """One side's operation, resumed one access at a time."""

    name: str
    op: Op[Any]
    memory: Memory
    on_done: Callable[[Any], None] | None = None
    steps: int = 0
    done: bool = False
    result: Any = None
    _value: int | None = None

    def step(self) -> None:
        """Run the operation up to its next access and make that access; or finish it."""
        try:
            access = self.op.send(self._value)
        except StopIteration as stop:
            self.done, self.result = True, stop.value
            if self.on_done is not None:
                self.on_done(stop.value)
            return
        self.steps += 1
        if isinstance(access, Load):
            self._value = self.memory.read(access.addr, access.size)
        elif isinstance(access, Store):
            self.memory.write(access.addr, access.size, access.value)
            self._value = None
        else:
            self._value = None  # a fence: nothing to drain in sequentially consistent memory


def interleave(threads: Iterable[Thread], rng: random.Random, max_burst: int = 8) -> None:
    """Step the threads in an order drawn from ``rng`` until every one has finished: a thread
    drawn at random runs a burst of 1 to ``max_burst`` accesses, then another draw. Bursts let
    one side run several accesses while the other stands between two of its own, which a
    fair coin at every step would almost never do."""
    alive = list(threads)
    while alive:
        thread = rng.choice(alive)
        for _ in range(rng.randint(1, max_burst)):
            thread.step()
            if thread.done:
                alive.remove(thread)
                break


def run_alone(thread: Thread) -> None:
    while not thread.done:
        thread.step()
