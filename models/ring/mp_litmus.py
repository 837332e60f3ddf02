"""The message-passing races of the split ring under RMO, for any driver and device (the
Python reference, ring.c, or foreign C stepped through conformance/ring/tsan_step/).

Each race is the MP shape: a producer writes entries, a write barrier, then the index that
publishes them; a consumer loads the index, a read barrier, then the entries. Under RMO
(models/memory/tso.py) stores drain out of order unless a ``wmb`` separates them, and a load may
return an older value unless an ``rmb`` orders it after an earlier load.

* ``used`` (RING-SPLIT-043, RING-SPLIT-076, RING-SPLIT-092): after one round trip (the used
  slot of the next chain holds a stale element), the device pushes the next chain with a
  length the driver has not seen; the driver polls ``get_used`` until it takes a buffer back
  and must get exactly (token, length).
* ``avail`` (RING-SPLIT-032, RING-SPLIT-075, RING-SPLIT-092): after one round trip (the
  descriptors and the available slot hold stale values), the driver adds a chain of other
  buffers; the device polls ``pop`` and must get exactly those buffers.

Hypothesis chooses the schedule: which side steps (and how early each of its loads is
satisfied), which buffered store drains. When its choices run out, the worst case follows:
the producer runs, its stores drain newest first (as far as its barriers allow), then the
consumer's loads other than the index are satisfied as early as its barriers allow.
"""

from __future__ import annotations

from collections.abc import Callable
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
from virtiospec.models.memory.tso import Program, SharedMemory, Side
from virtiospec.models.ring.c_litmus import DATA, MAX_MOVES, Litmus, LitmusConfig
from virtiospec.models.ring.names import ring_names
from virtiospec.reference.access import Load
from virtiospec.reference.ring.errors import RingError

LENGTH = 5  # what the device reports written; the stale element says 0
NEW_OUT, NEW_IN = (DATA + 0x40, 8), (DATA + 0x48, 8)  # the second chain's buffers


def _moves(producer: Side, consumer: Side, index: int) -> tuple[list[Any], Any]:
    """Every enabled move, and the worst-case default (see the module text)."""
    moves: list[Any] = []
    default: Any
    for s in (producer, consumer):
        if s.enabled():
            moves += [(s.step, e) for e in range(s.early_choices())]
        moves += [(s.drain_one, k) for k in range(len(s.drainable()))]
    if producer.enabled():
        default = (producer.step, None)
    elif producer.buffer:
        default = (producer.drain_one, len(producer.drainable()) - 1)
    elif consumer.buffer and not consumer.enabled():
        default = (consumer.drain_one, 0)
    elif consumer.enabled():
        nxt = consumer.next
        early = None
        if isinstance(nxt, Load) and nxt.addr != index:
            early = consumer.early_choices() - 1
        default = (consumer.step, early)
    else:
        default = None
    return moves, default


def _race(t: Litmus, producer: Side, consumer: Side, index: int, choices: list[int]) -> None:
    for n in range(MAX_MOVES):
        moves, default = _moves(producer, consumer, index)
        if default is None:
            return
        fn, arg = moves[choices[n] % len(moves)] if n < len(choices) else default
        fn() if arg is None else fn(arg)
    raise Violation("RING-SPLIT-092", f"the race did not end within {MAX_MOVES} moves")


def _setup(cfg: LitmusConfig) -> Litmus:
    t = Litmus(cfg)
    t.shm = SharedMemory(t.guest, "rmo", ring_names(t.lay))
    t.dside, t.vside = t.shm.side("driver"), t.shm.side("device")
    t.shm.note("env", f"Q=2 rmo {'event_idx' if cfg.event_idx else 'flags'}")
    return t


def poll(take: Callable[[], Program[Any]], req: str, refused: str) -> Program[Any]:
    """The consumer polls ``take`` until it gets something; an entry it refuses breaks
    ``req`` (it read the new index, so the entry must be the new one)."""
    got = None
    while got is None:
        try:
            got = yield from take()
        except RingError as err:
            raise Violation(req, f"{refused}: {err}") from None
    return got


def mp_race(t: Litmus, driver: Program[None], device: Program[None], producer: Side,
            index: int, choices: list[int]) -> None:
    """Start both sides' programs and race them, ``producer`` publishing at ``index``."""
    t.dside.start(driver, "driver")
    t.vside.start(device, "device")
    _race(t, producer, t.vside if producer is t.dside else t.dside, index, choices)


def used_race(cfg: LitmusConfig, choices: list[int], record: RunRecord) -> None:
    with _setup(cfg).recorded(record) as t:
        t.round_trip(1)
        t.sc("driver", t.drv.add([(DATA, 8)], [(DATA + 8, 8)], 2), "add")
        t.sc("driver", t.drv.kick_prepare(), "kick_prepare")
        chain = t.sc("device", t.dev.pop(), "pop")
        got: list[Any] = []

        def device() -> Program[None]:
            yield from t.dev.push([(chain.head, LENGTH)])

        def driver() -> Program[None]:
            got.append((yield from poll(t.drv.get_used, "RING-SPLIT-076", "the driver "
                                        "refused the used element it read with the new "
                                        "used.idx")))

        mp_race(t, driver(), device(), t.vside, t.lay.used_idx, choices)
        if got and got[0] != (2, LENGTH):
            raise Violation("RING-SPLIT-076", f"the driver took back {got[0]}, the device used "
                            f"(2, {LENGTH}): a stale used element (no wmb before used.idx, "
                            "RING-SPLIT-043, or no rmb after it)")


def avail_race(cfg: LitmusConfig, choices: list[int], record: RunRecord) -> None:
    with _setup(cfg).recorded(record) as t:
        t.round_trip(1)
        got: list[Any] = []

        def driver() -> Program[None]:
            yield from t.drv.add([NEW_OUT], [NEW_IN], 2)

        def device() -> Program[None]:
            got.append((yield from poll(t.dev.pop, "RING-SPLIT-075", "the device refused "
                                        "the chain it read with the new avail.idx")))

        mp_race(t, driver(), device(), t.dside, t.lay.avail_idx, choices)
        if got and (got[0].readable, got[0].writable) != ([NEW_OUT], [NEW_IN]):
            raise Violation("RING-SPLIT-075", f"the device popped {got[0]}, the driver added "
                            f"out={[NEW_OUT]} in={[NEW_IN]}: a stale entry (no wmb before "
                            "avail.idx, RING-SPLIT-032, or no rmb after it)")


RACES: dict[str, Callable[[LitmusConfig, list[int], RunRecord], None]] = {
    "used": used_race, "avail": avail_race}
REQS = {"used": ("RING-SPLIT-043", "RING-SPLIT-076", "RING-SPLIT-092"),
        "avail": ("RING-SPLIT-032", "RING-SPLIT-075", "RING-SPLIT-092")}


def run_mp_race(race: str, cfg: LitmusConfig, max_examples: int, *,
                derandomize: bool = False) -> registry.Evidence:
    """Search schedules of ``race``; ok=True when the consumer always gets it right."""
    body, record = RACES[race], RunRecord()

    @hypothesis_settings(max_examples, derandomize=derandomize)
    @given(choices=st.lists(st.integers(0, 15), max_size=80))
    def test(choices: list[int]) -> None:
        body(cfg, choices, record)

    return run_hypothesis(test, record)
