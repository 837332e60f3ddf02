"""A ring target over the *stepped* build of ring.c (reference/ring/c/stepped.py).

Every access of the C code is handed to Python and applied to the suite's GuestMemory,
which bounds-checks it, and each operation has an access budget: a variant that walks
forever or reads outside guest memory fails its case instead of hanging or crashing the
suite. This is how models/ring/c_mutants.py runs the suite against each C mutant; it is
not a command-line target (``--target c`` is the real build).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar, cast

from virtiospec.conformance.ring.api import RingSetup, Segment
from virtiospec.reference.access import Access, Fence, GuestMemory, Load, Store
from virtiospec.reference.ring import Chain
from virtiospec.reference.ring.c.stepped import CSplitDevice, CSplitDriver, stepped_build

T = TypeVar("T")
BUDGET = 100_000  # accesses per operation; an honest one makes a few times Q


class AccessBudgetExceeded(RuntimeError):
    """An operation made more accesses than any bounded one could (names no requirement)."""


def run_bounded(op: Generator[Access, int | None, T], mem: GuestMemory,
                budget: int = BUDGET) -> T:
    """:func:`virtiospec.reference.access.run` with at most ``budget`` accesses."""
    value: int | None = None
    try:
        for _ in range(budget):
            access = op.send(value)
            if isinstance(access, Load):
                value = mem.read(access.addr, access.size)
            elif isinstance(access, Store):
                mem.write(access.addr, access.size, access.value)
                value = None
            else:
                assert isinstance(access, Fence)
                value = None
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        op.close()  # abandoned (budget, or a memory error): unwind the C call
    raise AccessBudgetExceeded(f"no result after {budget} accesses to guest memory")


class SteppedRingDevice:
    def __init__(self, setup: RingSetup, mutant: str | None) -> None:
        self.mem = setup.memory
        self.dev = CSplitDevice(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                                indirect=setup.indirect, mutant=mutant)
        self.dev.last_avail = self.dev.used_idx = setup.start_index
        run_bounded(self.dev.init(), self.mem)

    def pop(self) -> Chain | None:
        return run_bounded(self.dev.pop(), self.mem)

    def push(self, used: list[tuple[int, int]]) -> None:
        run_bounded(self.dev.push(used), self.mem)

    def should_notify(self) -> bool:
        return run_bounded(self.dev.should_notify(), self.mem)

    def enable_notify(self) -> bool:
        return run_bounded(self.dev.enable_notify(), self.mem)

    def disable_notify(self) -> None:
        run_bounded(self.dev.disable_notify(), self.mem)

    @property
    def needs_reset(self) -> bool:
        return self.dev.needs_reset


class SteppedRingDriver:
    def __init__(self, setup: RingSetup, mutant: str | None) -> None:
        self.mem = setup.memory
        self.drv = CSplitDriver(setup.layout, event_idx=setup.event_idx,
                                indirect_area=setup.indirect_area if setup.indirect else None,
                                indirect_max=setup.indirect_max, memory_size=setup.memory.size,
                                mutant=mutant)
        self.drv.avail_idx = self.drv.last_used = setup.start_index
        run_bounded(self.drv.init(), self.mem)

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return run_bounded(self.drv.add(out, in_, token), self.mem)

    def kick_prepare(self) -> bool:
        return run_bounded(self.drv.kick_prepare(), self.mem)

    def get_used(self) -> tuple[int, int] | None:
        got: tuple[object, int] | None = run_bounded(self.drv.get_used(), self.mem)
        return None if got is None else (cast(int, got[0]), got[1])

    def enable_cb(self) -> bool:
        return run_bounded(self.drv.enable_cb(), self.mem)

    def enable_cb_delayed(self) -> bool:
        return run_bounded(self.drv.enable_cb_delayed(), self.mem)

    def disable_cb(self) -> None:
        run_bounded(self.drv.disable_cb(), self.mem)

    @property
    def num_free(self) -> int:
        return self.drv.num_free

    def detach_unused(self) -> list[int]:
        return [cast(int, t) for t in self.drv.detach_unused()]


class SteppedTarget:
    sides = ("driver", "device")

    def __init__(self, mutant: str | None = None) -> None:
        self.mutant = mutant
        self.name = f"c-stepped:{mutant or 'reference'}"
        stepped_build(mutant)  # compile now, outside any case's time budget
        # the races of suites/ring/stepped.py step these
        self.ring_stepped = (
            type("SteppedDriver", (CSplitDriver,), {"default_mutant": mutant}),
            type("SteppedDevice", (CSplitDevice,), {"default_mutant": mutant}))

    def ring_device(self, setup: RingSetup) -> SteppedRingDevice:
        return SteppedRingDevice(setup, self.mutant)

    def ring_driver(self, setup: RingSetup) -> SteppedRingDriver:
        return SteppedRingDriver(setup, self.mutant)


def make(arg: str) -> SteppedTarget:
    return SteppedTarget(arg or None)
