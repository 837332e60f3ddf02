"""What the Hypothesis machines over a :class:`~tso.SharedMemory` share.

:class:`SharedMemoryMachine` is the scaffolding of every such machine (models/shm/machine.py,
models/ring/machine.py, models/ring/packed/machine.py): the ``ready`` and ``failed`` flags
(:func:`guarded`), the run record it counts into, and how a run's steps, trace and counters
reach that record. :func:`bind` and :func:`run_bound` make a machine class for one
configuration and run it with the settings of models/hypothesis_run.py.

:class:`DriverDeviceMachine` is what the split and the packed ring machines share: a driver
side ``dside`` and a device side ``vside`` running one operation at a time, the rules that
pick which side steps (once, a burst, up to its next load, to the end of its operation) and
which buffered store drains, the application waking the driver when both sleep, and the end
of a run (both sides finish, the device serves everything, the driver takes everything
back). :class:`RmoDriverDeviceMachine` adds the rules of RMO (loads satisfied early); it is
the base of a machine only under rmo, so the runs of the other modes are drawn as before.
Each ring names its own requirements (:attr:`~DriverDeviceMachine.OUT_OF_BOUNDS_REQ`,
:attr:`~DriverDeviceMachine.NO_LOSS_REQ`) and its own operations and invariants.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import (
    RunRecord,
    Violation,
    hypothesis_settings,
    run_hypothesis,
)
from virtiospec.models.memory.tso import LOAD_REORDERING, Mode, Program, SharedMemory, Side
from virtiospec.reference.access import Load, OutOfBounds
from virtiospec.reference.ring.errors import RingError

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound="SharedMemoryMachine")

EARLIEST = 1 << 30  # an ``early`` beyond every choice: the oldest value a load may return
WHERE: dict[Mode, str] = {"sc": "SC", "tso": "x86-TSO store buffers",
                          "pso": "PSO store buffers",
                          "rmo": "RMO (PSO store buffers, loads satisfied early)"}


def guarded(fn: F) -> F:
    """Remember that a rule or invariant failed, so teardown does not mask the failure."""

    @functools.wraps(fn)
    def wrapper(self: SharedMemoryMachine, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except BaseException:
            self.failed = True
            raise

    return wrapper  # type: ignore[return-value]


class SharedMemoryMachine(RuleBasedStateMachine):
    """A machine over one :class:`~tso.SharedMemory` ``shm``, counting into ``record``."""

    record: ClassVar[RunRecord]
    shm: SharedMemory

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.failed = False
        type(self).record.examples += 1

    def _record_run(self) -> None:
        """Add the run's steps, trace and counters to the class's record."""
        rec = type(self).record
        rec.steps += self.shm.steps
        rec.trace = self.shm.log
        for key, n in self.shm.stats.items():
            rec.count(key, n)



class TwoSideMachine(SharedMemoryMachine):
    """A machine whose device side ``dev`` and driver side ``drv`` each run one program at a
    time: the rules that step either side (a burst of single accesses) and drain either
    side's store buffer. A subclass supplies :meth:`_step` and the programs."""

    dev: Side
    drv: Side

    def _step(self, side: Side, early: int = 0) -> None:
        """One access of ``side``, its errors turned into violations."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every drain (and by :meth:`_step`, if it wants, after every access)."""

    @precondition(lambda m: m.ready and m.dev.enabled())
    @rule(n=st.integers(1, 8))
    @guarded
    def device_step(self, n: int) -> None:
        """``n`` accesses of the device in a row (one at a time; fewer if it blocks)."""
        for _ in range(n):
            if self.dev.enabled():
                self._step(self.dev)

    @precondition(lambda m: m.ready and m.drv.enabled())
    @rule(n=st.integers(1, 8))
    @guarded
    def driver_step(self, n: int) -> None:
        for _ in range(n):
            if self.drv.enabled():
                self._step(self.drv)

    @precondition(lambda m: m.ready and bool(m.dev.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_device(self, k: int) -> None:
        self.dev.drain_one(k)
        self.after_step()

    @precondition(lambda m: m.ready and bool(m.drv.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_driver(self, k: int) -> None:
        self.drv.drain_one(k)
        self.after_step()


def bind(name: str, bases: tuple[type[M], ...], cfg: object) -> type[M]:
    """A machine class ``name`` of ``bases`` bound to ``cfg``, with its own run record."""
    return type(name, bases, {"cfg": cfg, "record": RunRecord()})


def bind_mode(name: str, mode: Mode, cfg: object, base: type[M],
              rmo_base: type[M]) -> type[M]:
    """:func:`bind` over ``rmo_base`` (with the rules of loads satisfied early) under a
    mode that reorders loads, else over ``base``."""
    return bind(name, (rmo_base if mode in LOAD_REORDERING else base,), cfg)


def run_bound(cls: type[SharedMemoryMachine], steps: int, max_examples: int, *,
              derandomize: bool = False, shrink: bool = True,
              shrink_seconds: float | None = None) -> registry.Evidence:
    """Run ``cls`` (at most ``steps`` rules a run); ok=True when every run keeps every
    invariant. A failure is shrunk for at most ``shrink_seconds``."""
    s = hypothesis_settings(max_examples, steps=steps, derandomize=derandomize, shrink=shrink)
    return run_hypothesis(lambda: run_state_machine_as_test(cls, settings=s), cls.record,
                          shrink_seconds=shrink_seconds)


class DriverDeviceMachine(SharedMemoryMachine):
    """A ring's driver side ``dside`` and device side ``vside``: the stepping rules and the
    end of a run. A subclass sets up the sides, the operations and the invariants."""

    OUT_OF_BOUNDS_REQ: ClassVar[str]  # an access outside guest memory breaks this
    NO_LOSS_REQ: ClassVar[str]  # no buffer is lost
    dside: Side
    vside: Side
    q: int
    bufs: Mapping[int, object]  # added, not yet taken back
    avail_fifo: deque[int]  # tokens made available, not yet popped
    used_fifo: deque[tuple[int, int]]  # (token, len) pushed, not taken
    undecided: int  # buffers added since the driver last decided whether to kick

    # -- what a ring supplies ------------------------------------------------------------
    def accounting(self) -> None:
        """The invariant on outstanding buffers (checked after every access)."""
        raise NotImplementedError

    def no_lost_wakeup(self) -> None:
        """The invariant on sleeping sides (checked after every access)."""
        raise NotImplementedError

    def _asleep_with_work(self, available: bool, used: bool,
                          device_rearmed: bool = True) -> str | None:
        """The side that sleeps, with no notification pending, while its peer is done and
        has left it work (a lost wakeup; each ring names the requirement and the work):
        ``"device"`` when the driver, done deciding on kicks and its stores in memory, has
        made buffers ``available`` the device has not taken; ``"driver"`` when the device,
        its stores in memory and asleep (or idle and ``device_rearmed``), has ``used``
        buffers the driver has not taken; else None."""
        d, v = self.dside, self.vside
        driver_done = (not d.busy or d.asleep) and self.undecided == 0 and not d.buffer
        if v.asleep and driver_done and available:
            return "device"
        device_done = not v.buffer and (v.asleep or (not v.busy and device_rearmed))
        if d.asleep and device_done and used:
            return "driver"
        return None

    def _serve_all(self) -> Program[None]:
        """The device serves every available buffer and uses every one it holds."""
        raise NotImplementedError

    def _get(self) -> Program[bool]:
        """The driver takes one used buffer back, if there is one."""
        raise NotImplementedError

    def _count(self, key: str) -> None:
        self.record.count(key)
        with contextlib.suppress(InvalidArgument):  # driven by hand, outside a test
            event(key)

    # -- rules: stepping -----------------------------------------------------------------
    def _step(self, side: Side, early: int = 0) -> None:
        try:
            side.step(early)
        except RingError as err:
            raise Violation(err.req, f"{side.name} raised {err}") from err
        except OutOfBounds as err:
            raise Violation(self.OUT_OF_BOUNDS_REQ, f"{side.name}: {err}") from err

    def _start(self, side: Side, program: Program[object], label: str, run: str = "") -> None:
        """Start an operation; ``run``: then go on to just after its first load
        (``"to_load"``) or to its end (``"finish"``), as far as it can."""
        with contextlib.suppress(InvalidArgument):  # driven by hand, outside a test
            note(f"{side.name}: {label}")
        try:
            side.start(program, label)
        except RingError as err:
            raise Violation(err.req, f"{side.name} raised {err}") from err
        if run:
            self._burst(side, 256, to_load=run == "to_load")

    def _burst(self, side: Side, k: int, *, to_load: bool = False, early: int = 0) -> None:
        """Up to ``k`` accesses of one side while the other waits (or up to and including
        its next load), the invariants checked after each. Long preemptions, and preemptions
        right after a load (a check the other side can then invalidate), make narrow races
        reachable. ``early``: under rmo, each load returns that older a value (see
        :meth:`~tso.Side.step`)."""
        for _ in range(k):
            if not side.enabled():
                return
            load = isinstance(side.next, Load)
            self._step(side, early)
            self.accounting()
            self.no_lost_wakeup()
            if to_load and load:
                return

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule()
    @guarded
    def driver_step(self) -> None:
        self._step(self.dside)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule()
    @guarded
    def device_step(self) -> None:
        self._step(self.vside)

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule()
    @guarded
    def driver_to_load(self) -> None:
        self._burst(self.dside, 64, to_load=True)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule()
    @guarded
    def device_to_load(self) -> None:
        self._burst(self.vside, 64, to_load=True)

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule()
    @guarded
    def driver_finish(self) -> None:
        """The driver's operation to its end, or until it blocks."""
        self._burst(self.dside, 256)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule()
    @guarded
    def device_finish(self) -> None:
        self._burst(self.vside, 256)

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule(k=st.integers(2, 32))
    @guarded
    def driver_burst(self, k: int) -> None:
        self._burst(self.dside, k)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule(k=st.integers(2, 32))
    @guarded
    def device_burst(self, k: int) -> None:
        self._burst(self.vside, k)

    @precondition(lambda m: m.ready and bool(m.dside.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_driver(self, k: int) -> None:
        self.dside.drain_one(k)

    @precondition(lambda m: m.ready and bool(m.vside.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_device(self, k: int) -> None:
        self.vside.drain_one(k)

    @precondition(lambda m: m.ready and m.dside.asleep and m.vside.asleep)
    @rule()
    @guarded
    def app_wakes_driver(self) -> None:
        """Both sides sleep and nothing is pending (the invariants just checked that no work
        is stranded): the application wakes the driver to go on."""
        self._count("both asleep")
        self.shm.note("env", "application wakes the driver")
        self.shm.post("driver", "irq", "env")

    # -- the end of a run ----------------------------------------------------------------
    def teardown(self) -> None:
        if not self.ready:
            return
        try:
            if not self.failed:
                self._finale()
        finally:
            self._record_run()

    def _settle(self) -> None:
        """Run both sides until neither has an operation in progress, draining stores and
        waking a side asleep only when nothing else can move (after the invariants held)."""
        sides = (self.dside, self.vside)
        for _ in range(20000):
            if not any(s.busy for s in sides):
                return
            moved = False
            for s in sides:
                if s.enabled():
                    self._step(s)
                    self.accounting()
                    self.no_lost_wakeup()
                    moved = True
            if moved:
                continue
            blocked = [s for s in sides if s.buffer]
            if blocked:
                blocked[0].drain_one()
                continue
            for s, what in ((self.dside, "irq"), (self.vside, "kick")):
                if s.asleep:
                    self.shm.note("env", f"end of run: wake the {s.name}")
                    self.shm.post(s.name, what, "env")
        raise Violation(self.NO_LOSS_REQ, "the two sides did not finish")

    def _finale(self) -> None:
        """No buffer is lost (:attr:`NO_LOSS_REQ`). Finish, let the device serve every
        available buffer and use every one it holds, and the driver take every used one
        back."""
        self.shm.note("env", "end of run: finish, serve everything, take everything back")
        self._settle()
        self.shm.drain_all()
        self._start(self.vside, self._serve_all(), "serve all")
        self._settle()
        self.shm.drain_all()
        self._start(self.dside, self._get_all(), "get all")
        self._settle()
        if self.bufs or self.avail_fifo or self.used_fifo:
            raise Violation(self.NO_LOSS_REQ, f"buffers never returned: t{sorted(self.bufs)}")

    def _get_all(self) -> Program[None]:
        while (yield from self._get()):
            pass


class RmoDriverDeviceMachine(DriverDeviceMachine):
    """The rules of a ring machine under rmo: loads satisfied early (models/memory/tso.py). They are
    only in the machines of that mode, so the runs of the other modes are drawn as before."""

    @precondition(lambda m: m.ready and m.dside.enabled() and m.dside.early_choices() > 1)
    @rule(k=st.integers(1, 3))
    @guarded
    def driver_early_load(self, k: int) -> None:
        """The driver's next load returns the ``k``-th older value it may."""
        self._burst(self.dside, 1, early=k)

    @precondition(lambda m: m.ready and m.vside.enabled() and m.vside.early_choices() > 1)
    @rule(k=st.integers(1, 3))
    @guarded
    def device_early_load(self, k: int) -> None:
        self._burst(self.vside, 1, early=k)

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule(k=st.integers(2, 32))
    @guarded
    def driver_early_burst(self, k: int) -> None:
        """Up to ``k`` accesses of the driver, every load satisfied as early as it may be."""
        self._burst(self.dside, k, early=EARLIEST)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule(k=st.integers(2, 32))
    @guarded
    def device_early_burst(self, k: int) -> None:
        self._burst(self.vside, k, early=EARLIEST)

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule(k=st.integers(1, 16))
    @guarded
    def driver_new_then_old(self, k: int) -> None:
        """The message-passing shape: the driver runs up to just after its next load, which
        returns the newest value, then ``k`` accesses whose loads return the oldest values
        they may (an index or flags word seen new, what it publishes read old unless an rmb
        orders them)."""
        self._burst(self.dside, 64, to_load=True)
        self._burst(self.dside, k, early=EARLIEST)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule(k=st.integers(1, 16))
    @guarded
    def device_new_then_old(self, k: int) -> None:
        self._burst(self.vside, 64, to_load=True)
        self._burst(self.vside, k, early=EARLIEST)

    @precondition(lambda m: m.ready and bool(m.dside.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_driver_all(self, k: int) -> None:
        """Every buffered store of the driver reaches memory (eligible one ``k`` first, each
        time): then the other side's loads have old values to be satisfied early with."""
        while self.dside.buffer:
            self.dside.drain_one(k)

    @precondition(lambda m: m.ready and bool(m.vside.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_device_all(self, k: int) -> None:
        while self.vside.buffer:
            self.vside.drain_one(k)
