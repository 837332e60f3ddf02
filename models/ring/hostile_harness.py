"""What both tests of the split ring against a hostile peer (models/ring/hostile.py) share:
the memory they run over (:class:`Geometry`), one drawn scenario (:class:`Scenario`), the
:class:`Harness` that runs an operation of the side under test with its budget of accesses
and its store checks, the strategies of the hostile actions, and :func:`run_scenarios`, which
runs scenarios under Hypothesis (differentially against a reference for a known-bad variant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
from virtiospec.models.memory.tso import Action, Program, SharedMemory, Side
from virtiospec.models.ring.hostile_oracle import Refused
from virtiospec.models.ring.names import ring_names
from virtiospec.reference.access import GuestMemory, OutOfBounds, Store
from virtiospec.reference.ring import (
    NeedsReset,
    QueueFull,
    RingError,
    SplitDevice,
    SplitDriver,
    SplitLayout,
)
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    U16,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)

DEVICE_ERRORS = frozenset({"RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-082",
                           "RING-SPLIT-083", "RING-SPLIT-084", "RING-SPLIT-092"})
DRIVER_ERRORS = frozenset({"RING-SPLIT-084", "RING-SPLIT-085"})
ITAB = 8  # descriptors of scratch space for indirect tables
DATA = 256  # bytes of data area
INDIRECT_MAX = 4
Act = tuple[Any, ...]


@dataclass(frozen=True)
class HostileConfig:
    device_cls: type[SplitDevice] = SplitDevice
    driver_cls: type[SplitDriver] = SplitDriver
    sizes: tuple[int, ...] = (1, 2, 4, 8)
    starts: tuple[int, ...] = (0, 65534, 65535)
    actions: int = 60


@dataclass
class Geometry:
    q: int
    lay: SplitLayout
    itab: int  # scratch indirect tables (device test) or the driver's indirect area
    data: int
    size: int

    @classmethod
    def make(cls, q: int, itab_bytes: int) -> Geometry:
        lay = SplitLayout.packed_at(0, q)
        itab = (lay.end + 15) & ~15
        data = itab + itab_bytes
        return cls(q, lay, itab, data, data + DATA)


@dataclass
class Scenario:
    q: int
    event_idx: bool
    indirect: bool
    start: int
    actions: list[Act] = field(default_factory=list)


# -- running one operation of the side under test ------------------------------------------
class Harness:
    def __init__(self, g: Geometry, under_test: str,
                 names_extra: Callable[[Any], None] | None = None) -> None:
        self.g = g
        self.guest = GuestMemory(g.size)
        names = ring_names(g.lay)
        names.region(g.data, DATA, "data")
        if names_extra:
            names_extra(names)
        self.shm = SharedMemory(self.guest, "sc", names)
        self.allowed: list[tuple[int, int]] = []  # where the side under test may store now
        self.stores = 0
        self.under_test = under_test  # the side's name: "device" or "driver"
        self.at = -1  # the action being run

    def run(self, body: Callable[[], None], record: RunRecord) -> None:
        """Run one scenario's ``body``, counted in ``record``: a violation names the action
        it happened at; the steps and the trace are kept."""
        record.examples += 1
        try:
            body()
        except Violation as v:
            v.at = self.at
            raise
        finally:
            record.steps += self.shm.steps
            record.trace = self.shm.log

    def start_at(self, start: int) -> None:
        """Both indices and both event indices at ``start`` in memory."""
        lay = self.g.lay
        for addr in (lay.avail_idx, lay.used_idx, lay.used_event, lay.avail_event):
            self.guest.write(addr, 2, start)

    def write(self, side: Side, stores: list[tuple[int, int, int]]) -> None:
        """The hostile side's stores."""

        def program() -> Program[None]:
            for addr, size, value in stores:
                yield Store(addr, size, value)

        side.start(program())
        while side.busy:
            side.step()

    def watch(self, owned: set[int]) -> Callable[[Side, Action], None]:
        def watcher(side: Side, action: Action) -> None:
            if side.name != self.under_test or not isinstance(action, Store):
                return
            self.stores += 1
            a, n = action.addr, action.size
            if a in owned or any(s <= a and a + n <= s + ln for s, ln in self.allowed):
                return
            raise Violation("RING-SPLIT-012", f"{side.name} stored to {self.shm.names(a)}")

        return watcher

    def op(self, side: Side, program: Program[Any], label: str, budget: int) -> tuple[Any, Any]:
        """Run one operation: (result, None) or (None, the RingError it raised)."""
        self.stores = 0
        try:
            side.start(program, label)
            while side.busy:
                if side.ops >= budget:
                    raise Violation("RING-SPLIT-080", f"{label} still running after {budget} "
                                    "accesses: unbounded")
                side.step()
        except Violation:
            raise
        except RingError as err:
            self.shm.note(side.name, f"{label} raised {err}")
            return None, err
        except QueueFull:
            self.shm.note(side.name, f"{label}: queue full")
            return None, None
        except OutOfBounds as err:
            raise Violation("RING-SPLIT-082", f"{label} accessed outside guest memory: "
                            f"{err}") from err
        except Exception as err:
            raise Violation("RING-SPLIT-084", f"{label} raised {type(err).__name__}: "
                            f"{err}") from err
        log = self.shm.log
        if side.ops == 0 and log and log[-1].action == f"{label}:":
            log.pop()  # an operation without an access is left out of the trace
        return side.result, None

    def refused(self, side: Side, label: str, err: RingError, want: Any, errors: frozenset[str],
                reqs: tuple[str, str], what: tuple[str, str, str], changed: bool,
                ops: list[tuple[str, Callable[[], Program[Any]]]]) -> None:
        """``label`` refused with ``err``: the refusal must be by the spec (``err.req`` one of
        ``errors``, else ``reqs[0]``, whose ``what[0]`` they are; the oracle refuses too,
        else ``reqs[1]``: a valid ``what[1]``), with nothing stored and the state (of the
        ``what[2]``) not ``changed`` (``reqs[0]``); then every operation refuses."""
        bad, valid = reqs
        if err.req not in errors:
            raise Violation(bad, f"{label} raised {err!r}, not an error of {what[0]}")
        if not isinstance(want, Refused):
            raise Violation(valid, f"{label} refused a valid {what[1]} {want}: {err}")
        if self.stores:
            raise Violation(bad, f"{label} stored to memory before refusing")
        if changed:
            raise Violation(bad, f"the refused {label} changed the {what[2]}'s state")
        self.refuses(side, ops)

    def refuses(self, side: Side, ops: list[tuple[str, Callable[[], Program[Any]]]]) -> None:
        """After an error, every operation raises NeedsReset without an access."""
        for label, make in ops:
            before = side.mem.steps
            _, err = self.op(side, make(), label, 64)
            if not isinstance(err, NeedsReset):
                raise Violation("RING-SPLIT-084", f"after an error, {label} did not refuse "
                                f"with NeedsReset (got {err!r})")
            if side.mem.steps != before:
                raise Violation("RING-SPLIT-084", f"after an error, {label} accessed memory")


# -- strategies ----------------------------------------------------------------------------
def _values(g: Geometry) -> dict[str, st.SearchStrategy[int]]:
    q, size = g.q, g.size
    return {
        "addr": st.one_of(st.integers(g.data, g.data + DATA - 1), st.just(g.itab),
                          st.sampled_from([0, size - 8, size - 1, size, size + 8,
                                           2**64 - 16, 2**64 - 1])),
        "len": st.one_of(st.integers(0, 40),
                         st.sampled_from([16, 32, 16 * q, 16 * (q + 1), 2**32 - 1, size])),
        "flags": st.one_of(st.integers(0, 7), st.integers(0, U16)),
        "next": st.one_of(st.integers(0, q), st.sampled_from([2 * q, U16])),
        "head": st.one_of(st.integers(0, q), st.sampled_from([q + 1, U16])),
    }


def _weighted(table: dict[str, tuple[int, st.SearchStrategy[Act]]]) -> st.SearchStrategy[Act]:
    """An action of a kind drawn with the given weights; the first kind is what shrinking
    turns filler actions into, so it should do nothing visible."""
    kinds = [k for k, (w, _) in table.items() for _ in range(w)]
    return st.sampled_from(kinds).flatmap(lambda k: table[k][1])


def device_actions(g: Geometry) -> st.SearchStrategy[Act]:
    """Hostile writes, weighted toward well-formed chains so that runs last."""
    v, q = _values(g), g.q
    return _weighted({
        "notify": (1, st.tuples(st.just("notify"))),
        "desc": (3, st.tuples(st.just("desc"), st.integers(0, q - 1), v["addr"], v["len"],
                              v["flags"], v["next"])),
        "itab": (2, st.tuples(st.just("itab"), st.integers(0, ITAB - 1), v["addr"], v["len"],
                              v["flags"], v["next"])),
        # a well-formed chain: head, buffers, how many are writable (at the end), through an
        # indirect table or not, and sometimes writable flags in any order (RING-SPLIT-083)
        "good": (4, st.tuples(st.just("good"), st.integers(0, q - 1), st.integers(1, q + 1),
                              st.integers(0, q), st.booleans(), st.none() | st.integers(0, 255))),
        # an indirect descriptor with a hostile table address and length (RING-SPLIT-081,
        # RING-SPLIT-082),
        # published
        "table": (2, st.tuples(st.just("table"), st.integers(0, q - 1),
                               st.one_of(st.sampled_from([g.size - 16, g.size - 8, g.size,
                                                          2**64 - 16]), v["addr"]),
                               st.one_of(st.sampled_from([16, 32, 16 * q]), v["len"]),
                               st.sampled_from([VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_INDIRECT
                                                | VIRTQ_DESC_F_WRITE,
                                                VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT]))),
        # a table whose only entry is an indirect descriptor to a valid table (RING-SPLIT-081),
        # published
        "nested": (1, st.tuples(st.just("nested"), st.integers(0, q - 1))),
        "publish": (5, st.tuples(st.just("publish"), st.integers(0, q - 1))),
        "slot": (1, st.tuples(st.just("slot"), st.integers(0, q - 1), v["head"])),
        "idx": (1, st.tuples(st.just("idx"), st.sampled_from([1, 2, q + 1, U16]))),
        "pop": (5, st.tuples(st.just("pop"))),
        "push": (3, st.tuples(st.just("push"), st.integers(0, 7), st.integers(0, 40))),
        "enable": (1, st.tuples(st.just("enable"))),
        "disable": (1, st.tuples(st.just("disable"))),
    })


def driver_actions(g: Geometry) -> st.SearchStrategy[Act]:
    """Honest driver operations and hostile used-ring writes, weighted toward valid ones."""
    q = g.q
    ident = st.one_of(st.integers(0, q), st.sampled_from([U16, 2**32 - 1]))
    length = st.one_of(st.integers(0, 40), st.just(2**32 - 1))
    shape = st.lists(st.tuples(st.booleans(), st.integers(1, 16)), min_size=1, max_size=4)
    return _weighted({
        "kick": (1, st.tuples(st.just("kick"))),
        "add": (5, st.tuples(st.just("add"), shape)),
        "get": (5, st.tuples(st.just("get"))),
        "valid": (5, st.tuples(st.just("valid"), st.integers(0, 7), st.integers(0, 5))),
        "elem": (1, st.tuples(st.just("elem"), st.integers(0, q - 1), ident, length)),
        "uidx": (1, st.tuples(st.just("uidx"), st.sampled_from([1, 2, q, q + 1, U16]))),
        "flags": (1, st.tuples(st.sampled_from(["uflags", "aevent"]), st.integers(0, U16))),
        "cb": (2, st.tuples(st.sampled_from(["disable", "enable", "delayed"]))),
    })


@st.composite
def scenarios(draw: st.DrawFn, cfg: HostileConfig, side: str) -> Scenario:
    q = draw(st.sampled_from(cfg.sizes))
    sc = Scenario(q, draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from(cfg.starts)))
    if side == "device":
        acts = device_actions(Geometry.make(q, ITAB * DESC_SIZE))
    else:
        acts = driver_actions(Geometry.make(q, q * INDIRECT_MAX * DESC_SIZE))
    sc.actions = draw(st.lists(acts, min_size=cfg.actions // 4, max_size=cfg.actions))
    return sc




# -- running scenarios ---------------------------------------------------------------------
def run_scenarios(side: str, body: Callable[[HostileConfig, Scenario, RunRecord], None],
         cfg: HostileConfig, max_examples: int, derandomize: bool,
         reference: HostileConfig | None, shrink_seconds: float) -> registry.Evidence:
    """Scenarios of ``side`` run by ``body`` for ``cfg``; with ``reference``, a violation
    counts only if the reference does not break the same thing at the same action."""
    record = RunRecord()
    s = hypothesis_settings(max_examples, derandomize=derandomize)

    @s
    @given(sc=scenarios(cfg, side))
    def test(sc: Scenario) -> None:
        try:
            body(cfg, sc, record)
        except Violation as mine:
            if reference is None:
                raise
            trace = record.trace
            try:  # differential: the reference must not break the same thing at the same point
                body(reference, sc, RunRecord())
            except Violation as theirs:
                if (theirs.at, str(theirs)) == (mine.at, str(mine)):
                    return
            finally:
                record.trace = trace
            raise

    return run_hypothesis(test, record, shrink_seconds=shrink_seconds)
