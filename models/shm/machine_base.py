"""What the machines of models/shm/machine.py have in common: the two sides over one region
(:class:`ShmMachine`: one access, one drain at a time), the acknowledgement count of a
signal's receiver (:class:`SignalledMachine`), and the rules mixed in under RMO
(:class:`RmoShmMachine`: loads satisfied early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypedDict

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.machine_base import EARLIEST, TwoSideMachine, guarded
from virtiospec.models.memory.tso import AddressNames, Mode, Program, SharedMemory, Side
from virtiospec.reference.access import GuestMemory
from virtiospec.reference.shm import (
    ClockDriver,
    Region,
    ShmError,
    SignalReceiver,
    SignalSender,
    TableReader,
    TableWriter,
)

REGION = Region(0, 0x1000, 0x100)


@dataclass(frozen=True)
class ShmConfig:
    """Memory model and the reference classes (or known-bad subclasses) a machine runs."""

    mode: Mode = "tso"
    writer_cls: type[TableWriter] = TableWriter
    reader_cls: type[TableReader] = TableReader
    sender_cls: type[SignalSender] = SignalSender
    receiver_cls: type[SignalReceiver] = SignalReceiver
    clock_driver_cls: type[ClockDriver] = ClockDriver
    steps: int = 80


class ShmClasses(TypedDict, total=False):
    """Some of the classes of a :class:`ShmConfig`, as keyword arguments."""

    writer_cls: type[TableWriter]
    reader_cls: type[TableReader]
    sender_cls: type[SignalSender]
    receiver_cls: type[SignalReceiver]
    clock_driver_cls: type[ClockDriver]


class ShmMachine(TwoSideMachine):
    """Two sides over one region (the stepping and draining rules are
    :class:`~virtiospec.models.machine_base.TwoSideMachine`'s); subclasses add the programs and
    the checks."""

    cfg: ClassVar[ShmConfig] = ShmConfig()
    record: ClassVar[RunRecord] = RunRecord()

    def __init__(self) -> None:
        super().__init__()
        self.guest = GuestMemory(0x2000)
        self.names = AddressNames()
        self.names.region(REGION.base, REGION.length, "region0")
        self.shm = SharedMemory(self.guest, self.cfg.mode, self.names)
        self.dev, self.drv = self.shm.side("device"), self.shm.side("driver")

    def _step(self, side: Side, early: int = 0) -> None:
        try:
            side.step(early)
        except ShmError as err:
            raise Violation(err.req, f"{side.name} raised {err}") from err
        self.after_step()

    def after_step(self) -> None:
        """Called after every access and drain (for counters that watch memory)."""

    def _start(self, side: Side, program: Program[object], label: str) -> None:
        note(f"{side.name}: {label}")
        side.start(program, label)

    def teardown(self) -> None:
        self._record_run()


class SignalledMachine(ShmMachine):
    """A machine whose driver receives a signal: it serves in a loop (``_serve``) and the
    machine counts the acknowledgements (``pending`` going from 1 to 0 in memory) against the
    notifications, SHM-SIGNAL-011 after every step."""

    def count_acks(self, pending_addr: int) -> None:
        self.pending_addr = pending_addr
        self.notifications = self.acks = self.was_pending = 0

    def after_step(self) -> None:
        now = self.guest.read(self.pending_addr, 4)
        self.acks += bool(self.was_pending) and not now
        self.was_pending = now

    def _serve(self) -> Program[None]:
        raise NotImplementedError

    @precondition(lambda m: m.ready and not m.drv.busy)
    @rule()
    @guarded
    def serve(self) -> None:
        self._start(self.drv, self._serve(), "serve")

    @invariant()
    @guarded
    def coalescing(self) -> None:
        if self.ready and self.notifications > self.acks + 1:
            raise Violation("SHM-SIGNAL-011", f"{self.notifications} notifications for "
                            f"{self.acks} acknowledgements")


# -- RMO: loads satisfied early ---------------------------------------------------------------

EARLIES = st.lists(st.sampled_from([0, 1, EARLIEST]), min_size=1, max_size=8)


class RmoShmMachine(ShmMachine):
    """Rules mixed into a machine run under rmo (only then, so the runs of the other modes
    are drawn as before)."""

    def _early(self, side: Side, earlies: list[int]) -> None:
        for early in earlies:
            if side.enabled():
                self._step(side, early)

    @precondition(lambda m: m.ready and m.drv.enabled() and m.drv.early_choices() > 1)
    @rule(k=st.integers(1, 3))
    @guarded
    def driver_early_load(self, k: int) -> None:
        """The driver's next load returns the ``k``-th older value it may."""
        self._early(self.drv, [k])

    @precondition(lambda m: m.ready and m.dev.enabled() and m.dev.early_choices() > 1)
    @rule(k=st.integers(1, 3))
    @guarded
    def device_early_load(self, k: int) -> None:
        self._early(self.dev, [k])

    @precondition(lambda m: m.ready and m.drv.enabled())
    @rule(earlies=EARLIES)
    @guarded
    def driver_early_steps(self, earlies: list[int]) -> None:
        """One access of the driver per element of ``earlies``, a load returning the newest
        value (0), the one before (1) or the oldest it may: Hypothesis picks, load by load,
        which are satisfied early."""
        self._early(self.drv, earlies)

    @precondition(lambda m: m.ready and m.dev.enabled())
    @rule(earlies=EARLIES)
    @guarded
    def device_early_steps(self, earlies: list[int]) -> None:
        self._early(self.dev, earlies)

    @precondition(lambda m: m.ready and bool(m.dev.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_device_all(self, k: int) -> None:
        """Every buffered store of the device reaches memory (eligible one ``k`` first)."""
        while self.dev.buffer:
            self.dev.drain_one(k)
            self.after_step()

    @precondition(lambda m: m.ready and bool(m.drv.buffer))
    @rule(k=st.integers(0, 7))
    @guarded
    def drain_driver_all(self, k: int) -> None:
        while self.drv.buffer:
            self.drv.drain_one(k)
            self.after_step()
