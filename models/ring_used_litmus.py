"""The used-ring message-passing race under RMO, for any driver and device (the Python
reference, ring.c, or foreign C stepped through conformance/tsan_step/).

``used`` (RING-SPLIT-076, RING-SPLIT-092): after one round trip (so the used slot of the
next chain holds a stale element), the device pushes the next chain with a length the
driver has not seen; the driver polls ``get_used`` until it takes a buffer back. Under RMO a
load may return an older value unless a barrier orders it after an earlier load
(models/tso.py): without the ``rmb`` between its load of used.idx and its loads of the used
element, the driver may see the new index and the stale element. Hypothesis chooses the
schedule: which side steps (and how early a load is satisfied), which buffered store drains;
when its choices run out, the device goes first, its stores drain, and the driver's loads
other than used.idx are satisfied as early as its barriers allow (the worst case).
The driver must take back exactly (token, length) the device pushed.
"""

from __future__ import annotations

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
from virtiospec.models.ring_c_litmus import DATA, MAX_MOVES, Litmus, LitmusConfig
from virtiospec.models.ring_names import ring_names
from virtiospec.models.tso import Program, SharedMemory
from virtiospec.reference.access import Load
from virtiospec.reference.ring.errors import RingError

LENGTH = 5  # what the device reports written; the stale element says 0


def used_race(cfg: LitmusConfig, choices: list[int], record: RunRecord) -> None:
    t = Litmus(cfg)
    t.shm = SharedMemory(t.guest, "rmo", ring_names(t.lay))
    t.dside, t.vside = t.shm.side("driver"), t.shm.side("device")
    t.shm.note("env", f"Q=2 rmo {'event_idx' if cfg.event_idx else 'flags'}")
    record.examples += 1
    try:
        t.round_trip(1)
        t.sc("driver", t.drv.add([(DATA, 8)], [(DATA + 8, 8)], 2), "add")
        t.sc("driver", t.drv.kick_prepare(), "kick_prepare")
        chain = t.sc("device", t.dev.pop(), "pop")
        got: list[Any] = []

        def device() -> Program[None]:
            yield from t.dev.push([(chain.head, LENGTH)])

        def driver() -> Program[None]:
            used = None
            while used is None:
                try:
                    used = yield from t.drv.get_used()
                except RingError as err:
                    raise Violation("RING-SPLIT-076", f"the driver refused the used element "
                                    f"it read with the new used.idx: {err}") from None
            got.append(used)

        t.dside.start(driver(), "driver")
        t.vside.start(device(), "device")
        sides = (t.vside, t.dside)  # once the choices run out: the device first, then drains
        for n in range(MAX_MOVES):
            moves: list[Any] = [(s.step, e) for s in sides[:1] if s.enabled()
                                for e in range(s.early_choices())]
            moves += [(s.drain_one, None) for s in sides if s.buffer]
            moves += [(s.step, e) for s in sides[1:] if s.enabled()
                      for e in range(s.early_choices())]
            if not moves:
                break
            if n < len(choices):
                fn, early = moves[choices[n] % len(moves)]
            else:
                fn, early = moves[0]
                nxt = t.dside.next
                if fn == t.dside.step and isinstance(nxt, Load) and nxt.addr != t.lay.used_idx:
                    early = t.dside.early_choices() - 1  # as early as the driver's barriers allow
            fn() if early is None else fn(early)
        else:
            raise Violation("RING-SPLIT-092", f"the race did not end within {MAX_MOVES} moves")
        if got and got[0] != (2, LENGTH):
            raise Violation("RING-SPLIT-076", f"the driver took back {got[0]}, the device used "
                            f"(2, {LENGTH})")
    finally:
        record.steps += t.shm.steps
        record.trace = t.shm.log


def run_used_race(cfg: LitmusConfig, max_examples: int, *,
                  derandomize: bool = False) -> registry.Evidence:
    """Search schedules of the used race; ok=True when the driver always gets it right."""
    record = RunRecord()

    @hypothesis_settings(max_examples, derandomize=derandomize)
    @given(choices=st.lists(st.integers(0, 7), max_size=80))
    def test(choices: list[int]) -> None:
        used_race(cfg, choices, record)

    return run_hypothesis(test, record)
