"""Litmus tests of the notification protocol under x86-TSO, for any driver and device.

Each test is the store-buffering shape at the heart of a lost wakeup, played by the real
operations of the two sides (the C ones of reference/ring/c/stepped.py, or the Python
ones), with Hypothesis choosing the schedule: which side performs its next access and
when a buffered store reaches memory (models/memory/tso.py).

``kick`` (RING-SPLIT-070, -072, -110): the device has turned kicks off and finds nothing;
it re-enables them and sleeps unless its re-check sees buffers -- while the driver adds a
chain and decides whether to kick. The device must not end asleep with the chain published.

``interrupt`` (RING-SPLIT-071, -073, -111): the driver has turned interrupts off and finds
nothing; it re-enables them and sleeps unless its re-check sees used buffers -- while the
device pushes the chain it holds and decides whether to interrupt. The driver must not end
asleep with the used element published.

Before the race, one chain makes a full round trip (so the event indices are stale, as on a
running queue). A schedule is a list of choices among the moves enabled at each step; when
it runs out, the sides run to the end, stepping before draining and draining only the side
that waits for its buffer to empty (stores stay buffered as long as possible).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import (
    RunRecord,
    Violation,
    hypothesis_settings,
    run_hypothesis,
)
from virtiospec.models.memory.tso import Notify, Program, SharedMemory, Side, Wait
from virtiospec.models.ring.names import ring_names
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.device import Chain

Q = 2
DATA = 0x100
MEMORY = 0x200
MAX_MOVES = 400


@dataclass(frozen=True)
class LitmusConfig:
    driver_cls: type[Any] = SplitDriver
    device_cls: type[Any] = SplitDevice
    event_idx: bool = False


class Litmus:
    """One race: the two sides, their shared memory under TSO, and the schedule runner."""

    def __init__(self, cfg: LitmusConfig) -> None:
        self.lay = lay = SplitLayout.packed_at(0, Q)
        self.guest = GuestMemory(MEMORY)
        self.drv = cfg.driver_cls(lay, event_idx=cfg.event_idx)
        self.dev = cfg.device_cls(lay, MEMORY, event_idx=cfg.event_idx)
        run(self.drv.init(), self.guest)
        run(self.dev.init(), self.guest)
        self.shm = SharedMemory(self.guest, "tso", ring_names(lay))
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        self.shm.note("env", f"Q={Q} tso {'event_idx' if cfg.event_idx else 'flags'}")

    def sc(self, side: str, op: Any, label: str) -> Any:
        """Run one operation straight through (before the race)."""
        result = run(op, self.guest)
        self.shm.note(side, f"{label} -> {result}")
        return result

    def round_trip(self, token: int) -> Chain:
        """A chain goes out and comes back; returns it as the device popped it."""
        self.sc("driver", self.drv.add([(DATA, 8)], [(DATA + 8, 8)], token), "add")
        self.sc("driver", self.drv.kick_prepare(), "kick_prepare")
        chain: Chain | None = self.sc("device", self.dev.pop(), "pop")
        assert chain is not None
        self.sc("device", self.dev.push([(chain.head, 0)]), "push")
        self.sc("device", self.dev.should_notify(), "should_notify")
        self.sc("driver", self.drv.get_used(), "get_used")
        return chain

    def race(self, driver: Program[object], device: Program[object], choices: list[int]
             ) -> None:
        self.dside.start(driver, "driver")
        self.vside.start(device, "device")
        sides = (self.dside, self.vside)
        for n in range(MAX_MOVES):
            steps: list[Callable[[], object]] = [s.step for s in sides if s.enabled()]
            drains: list[Callable[[], object]] = [s.drain_one for s in sides if s.buffer]
            if n < len(choices) and steps + drains:
                moves = steps + drains
                moves[choices[n] % len(moves)]()
            elif steps:
                steps[0]()
            elif drains:  # drain a side that waits for its buffer (mb, notify), else any
                blocked = [s.drain_one for s in sides if s.buffer and s.busy and not s.asleep]
                (blocked or drains)[0]()
            else:
                return
        raise Violation("RING-SPLIT-092", f"the race did not end within {MAX_MOVES} moves")

    @staticmethod
    def asleep(side: Side) -> bool:
        return side.busy and side.asleep

    @contextmanager
    def recorded(self, record: RunRecord) -> Iterator[Litmus]:
        """Counts the example, and its steps and trace however it ends."""
        record.examples += 1
        try:
            yield self
        finally:
            record.steps += self.shm.steps
            record.trace = self.shm.log


def take_or_sleep(take: Callable[[], Program[Any]], enable: Callable[[], Program[bool]],
                  event: str, got: list[Any]) -> Program[None]:
    """The consumer's loop: take, or re-enable notifications (whose re-check may find more)
    and wait for ``event``; what it takes goes to ``got``."""
    item = yield from take()
    while item is None:
        if not (yield from enable()):
            yield Wait(event)
        item = yield from take()
    got.append(item)


def publish(store: Callable[[], Program[object]], decide: Callable[[], Program[bool]],
            to: str, event: str) -> Program[None]:
    """The producer: its stores, then its decision, and the notification if it says so."""
    yield from store()
    if (yield from decide()):
        yield Notify(to, event)


def check_awake(t: Litmus, side: Side, idx_addr: int, last: int, req: str, who: str,
                what: str, names: tuple[str, str]) -> None:
    """RING-SPLIT-110 / RING-SPLIT-111: ``side`` does not sleep on work it was given."""
    idx = t.guest.read(idx_addr, 2)
    if t.asleep(side) and idx != last:
        raise Violation(req, f"the {who} sleeps, no {what} pending, with "
                        f"{names[0]}={idx} and {names[1]}={last}")


def kick_race(cfg: LitmusConfig, choices: list[int], record: RunRecord) -> None:
    with Litmus(cfg).recorded(record) as t:
        t.round_trip(1)
        t.sc("device", t.dev.disable_notify(), "disable_notify")
        popped: list[Chain] = []
        t.race(publish(lambda: t.drv.add([(DATA, 8)], [(DATA + 8, 8)], 2),
                       t.drv.kick_prepare, "device", "kick"),
               take_or_sleep(t.dev.pop, t.dev.enable_notify, "kick", popped), choices)
        check_awake(t, t.vside, t.lay.avail_idx, t.dev.last_avail, "RING-SPLIT-110",
                    "device", "kick", ("avail.idx", "last_avail"))


def interrupt_race(cfg: LitmusConfig, choices: list[int], record: RunRecord) -> None:
    with Litmus(cfg).recorded(record) as t:
        t.round_trip(1)
        t.sc("driver", t.drv.add([(DATA, 8)], [(DATA + 8, 8)], 2), "add")
        t.sc("driver", t.drv.kick_prepare(), "kick_prepare")
        chain = t.sc("device", t.dev.pop(), "pop")
        t.sc("driver", t.drv.disable_cb(), "disable_cb")
        got: list[object] = []
        t.race(take_or_sleep(t.drv.get_used, t.drv.enable_cb, "irq", got),
               publish(lambda: t.dev.push([(chain.head, 0)]), t.dev.should_notify, "driver",
                       "irq"),
               choices)
        check_awake(t, t.dside, t.lay.used_idx, t.drv.last_used, "RING-SPLIT-111",
                    "driver", "interrupt", ("used.idx", "last_used"))


RACES = {"kick": kick_race, "interrupt": interrupt_race}


def run_litmus(race: str, cfg: LitmusConfig, max_examples: int, *,
               derandomize: bool = False) -> registry.Evidence:
    """Search schedules of ``race``; ok=True when none loses a wakeup."""
    body, record = RACES[race], RunRecord()

    @hypothesis_settings(max_examples, derandomize=derandomize)
    @given(choices=st.lists(st.integers(0, 3), max_size=60))
    def test(choices: list[int]) -> None:
        body(cfg, choices, record)

    return run_hypothesis(test, record)
