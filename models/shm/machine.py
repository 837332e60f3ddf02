"""virtio-shm under interleaving: the Python reference stepped one access at a time.

Three Hypothesis machines run the reference of reference/shm/ as two sides of a
:class:`~virtiospec.models.memory.tso.SharedMemory` (SC, x86-TSO or PSO store buffers, or RMO): at
every step Hypothesis picks which side performs its next access and which buffered store
reaches memory; an ``mb`` waits for its side's buffer to drain, and a notification is
performed only with an empty buffer (SHM-SIGNAL-008). The device is the writer and the
sender, the driver the reader and the receiver. Under RMO (:class:`RmoShmMachine`, mixed in
by :func:`run_machine`) Hypothesis also picks loads to satisfy early (an older value, as far
back as the side's barriers allow), so a reader without the ``rmb`` of SHM-TABLE-006 is seen
to tear; taking a signal is an acquire (models/memory/tso.py).

``shm.table.*`` -- :class:`TableWriter` updates two slots of three words; :class:`TableReader`
reads or polls them with at most three attempts. At the end of each read:

* SHM-TABLE-007: the value is the one the writer stored under that version, whole;
* SHM-TABLE-008: the version is not older than the last one read from the slot;
* SHM-TABLE-009: ``poll`` hands out a value only if it is newer than the last handed out;
* SHM-TABLE-010: a read that started after the writer's last update and its signal (the
  rule ``signal`` drains the writer's buffer) returns that update at its first attempt;
* SHM-TABLE-011: a read that fails (TableBusy: a writer stalled in an update, or updating
  all the time) leaves the reader's last good value unchanged; and per SHM-TABLE-010 no read
  fails once the writer has signalled its last update.

``shm.signal.*`` -- rounds of "store a counter, :meth:`SignalSender.inject`, notify if told"
against a receiver loop "disable, acknowledge, load the counter, enable; wait unless
pending". After every step: SHM-SIGNAL-010 (the receiver never sleeps, with nothing in
flight, while the sender is done and the counter it loaded is old) and SHM-SIGNAL-011
(notifications ≤ acknowledgements + 1, an acknowledgement being ``pending`` going from 1 to
0 in memory).

``shm.clock.*`` -- the clock device publishing increasing times across the 32-bit boundary
and the clock driver servicing them: every time acted on was published (a torn one was not)
and is newer than the last (SHM-CLOCK-003); the driver never sleeps while a newer time is
published and announced (SHM-SIGNAL-010); notifications ≤ acknowledgements + 1.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.machine_base import (
    WHERE,
    bind,
    guarded,
    run_bound,
)
from virtiospec.models.memory.tso import (
    LOAD_REORDERING,
    Mode,
    Notify,
    Program,
    Wait,
)
from virtiospec.models.shm.machine_base import REGION, RmoShmMachine, SignalledMachine
from virtiospec.models.shm.machine_base import ShmClasses as ShmClasses
from virtiospec.models.shm.machine_base import ShmConfig as ShmConfig
from virtiospec.models.shm.machine_base import ShmMachine as ShmMachine
from virtiospec.reference.access import run
from virtiospec.reference.shm import (
    ClockDevice,
    ClockLayout,
    SignalLayout,
    Snapshot,
    TableBusy,
    TableLayout,
)
from virtiospec.reference.shm.clock import split_ns
from virtiospec.reference.shm.table import U32

NEAR_2_32 = (1 << 32) - 40  # clock times start just below the 32-bit boundary


# -- the table -----------------------------------------------------------------------------

SLOTS, WORDS = 2, 3


def table_value(slot: int, k: int) -> tuple[int, ...]:
    """The value of update ``k`` of ``slot`` (update 0 is the initial zero value): three
    words that all differ between updates, so any mix of two updates is detected."""
    if k == 0:
        return (0,) * WORDS
    return ((k + 1000 * slot) & U32, (k * 0x01000193 ^ slot) & U32, (U32 - k) & U32)


class TableMachine(ShmMachine):
    @initialize()
    @guarded
    def setup(self) -> None:
        lay = TableLayout(REGION, 0x20, SLOTS, WORDS)
        for i in range(SLOTS):
            self.names.field(REGION.base + lay.seq(i), f"slot{i}.seq")
            for k in range(WORDS):
                self.names.field(REGION.base + lay.word(i, k), f"slot{i}.w{k}")
        self.writer = self.cfg.writer_cls(lay)
        run(self.writer.init(), self.guest)
        self.reader = self.cfg.reader_cls(lay, max_attempts=3)
        self.history: list[list[tuple[int, ...]]] = [[table_value(i, 0)] for i in range(SLOTS)]
        self.last_read = [0] * SLOTS  # index of the update last read, per slot
        self.handed = [0] * SLOTS  # index of the update last handed out by poll
        self.quiet = True  # no update started since the last signal
        self.updates = 0  # updates started
        self.ready = True

    @precondition(lambda m: m.ready and not m.dev.busy)
    @rule(slot=st.integers(0, SLOTS - 1))
    @guarded
    def update(self, slot: int) -> None:
        k = len(self.history[slot])
        self.history[slot].append(table_value(slot, k))
        self.quiet = False
        self.updates += 1
        self._start(self.dev, self.writer.update(slot, self.history[slot][k]),
                    f"update slot {slot} to #{k}")

    @precondition(lambda m: m.ready and not m.dev.busy)
    @rule()
    @guarded
    def signal(self) -> None:
        """The writer's last update is done and its signal sent: the notification drains the
        writer's store buffer (SHM-SIGNAL-008)."""
        while self.dev.buffer:
            self.dev.drain_one()
        self.shm.note("device", "signal: every update so far is in memory")
        self.drv.acquire("the signal")  # rmo: the reader's later loads come after it
        self.quiet = True

    @precondition(lambda m: m.ready and not m.drv.busy)
    @rule(slot=st.integers(0, SLOTS - 1), poll=st.booleans())
    @guarded
    def read(self, slot: int, poll: bool) -> None:
        self._start(self.drv, self._read(slot, poll), f"{'poll' if poll else 'read'} "
                    f"slot {slot}")

    def _read(self, slot: int, poll: bool) -> Program[None]:
        quiet, updates, last = self.quiet, self.updates, self.reader.last[slot]
        try:
            if poll:
                got = yield from self.reader.poll(slot)
                snap = got if got is not None else self.reader.last[slot]
            else:
                got = snap = yield from self.reader.read(slot)
        except TableBusy as busy:
            self.shm.note("driver", f"-> busy after {self.reader.attempts} attempts")
            if quiet and self.updates == updates:
                raise Violation("SHM-TABLE-010", f"slot {slot} busy although the writer had "
                                "signalled its last update") from busy
            if busy.last != last or self.reader.last[slot] != last:
                raise Violation("SHM-TABLE-011", "the last good value changed on failure") \
                    from busy
            self.record.count("reads failed (writer busy)")
            return
        self.shm.note("driver", f"-> version {snap.version} {list(snap.value)}"
                      + ("" if got is not None else " (unchanged: not handed out)"))
        self._check_read(slot, snap, poll, got, quiet and self.updates == updates)

    def _check_read(self, slot: int, snap: Snapshot, poll: bool, got: Snapshot | None,
                    quiet: bool) -> None:
        k = snap.version // 2
        if snap.version % 2 or k >= len(self.history[slot]) or \
                snap.value != self.history[slot][k]:
            raise Violation("SHM-TABLE-007", f"slot {slot} read {list(snap.value)} as version "
                            f"{snap.version}, which is not what the writer stored")
        if k < self.last_read[slot]:
            raise Violation("SHM-TABLE-008", f"slot {slot} read update #{k} after "
                            f"#{self.last_read[slot]}")
        self.last_read[slot] = k
        if poll:
            if got is not None and k <= self.handed[slot]:
                raise Violation("SHM-TABLE-009", f"poll handed out #{k} of slot {slot} after "
                                f"#{self.handed[slot]}")
            if got is None and k != self.handed[slot]:
                raise Violation("SHM-TABLE-009", f"poll withheld #{k}, newer than "
                                f"#{self.handed[slot]}")
            if got is not None:
                self.handed[slot] = k
                self.record.count("values handed out")
        if quiet:
            newest = len(self.history[slot]) - 1
            if k != newest or self.reader.attempts != 1:
                raise Violation("SHM-TABLE-010", f"after the signal slot {slot} read #{k} in "
                                f"{self.reader.attempts} attempts; the last update is #{newest}")
            self.record.count("reads after a signal")


# -- signals -------------------------------------------------------------------------------

class SignalMachine(SignalledMachine):
    DATA = 0x10

    @initialize()
    @guarded
    def setup(self) -> None:
        lay = SignalLayout(REGION, 0)
        self.names.field(REGION.base + lay.enabled, "enabled")
        self.names.field(REGION.base + lay.pending, "pending")
        self.names.field(REGION.base + self.DATA, "data")
        self.count_acks(REGION.base + lay.pending)
        run(lay.init(), self.guest)
        self.sender = self.cfg.sender_cls(lay)
        self.receiver = self.cfg.receiver_cls(lay)
        self.published = 0  # the counter of the last round started
        self.seen = 0  # the counter the receiver last loaded
        self.ready = True
        self._start(self.drv, self._serve(), "serve")

    @precondition(lambda m: m.ready and not m.dev.busy)
    @rule()
    @guarded
    def send(self) -> None:
        self.published += 1
        self._start(self.dev, self._send(self.published), f"send {self.published}")

    def _send(self, n: int) -> Program[None]:
        yield from REGION.store(self.DATA, 4, n)
        if (yield from self.sender.inject()):
            self.notifications += 1
            yield Notify("driver", "signal")

    def _serve(self) -> Program[None]:
        while True:
            yield from self.receiver.disable()
            yield from self.receiver.acknowledge()
            self.seen = yield from REGION.load(self.DATA, 4)
            if not (yield from self.receiver.enable()):
                break
        yield Wait("signal")

    @invariant()
    @guarded
    def no_lost_wakeup(self) -> None:
        if self.ready and self.drv.asleep and not self.dev.busy and not self.dev.buffer \
                and self.seen != self.published:
            raise Violation("SHM-SIGNAL-010", f"receiver asleep with {self.seen} seen, "
                            f"{self.published} announced, no notification in flight")

    def teardown(self) -> None:
        if self.ready:
            self.record.count("notifications", self.notifications)
            self.record.count("injections", self.sender.injections)
        super().teardown()


# -- the clock -----------------------------------------------------------------------------

class ClockMachine(SignalledMachine):
    @initialize()
    @guarded
    def setup(self) -> None:
        lay = ClockLayout(REGION, 0x40)
        self.names.field(REGION.base + lay.signal.enabled, "enabled")
        self.names.field(REGION.base + lay.signal.pending, "pending")
        self.names.field(REGION.base + lay.table.seq(0), "clock.seq")
        self.names.field(REGION.base + lay.table.word(0, 0), "clock.lo")
        self.names.field(REGION.base + lay.table.word(0, 1), "clock.hi")
        self.device = ClockDevice(lay)
        run(self.device.init(), self.guest)
        self.driver = self.cfg.clock_driver_cls(lay)
        self.published: set[int] = {0}
        self.announced = 0  # the newest time whose publish (and signal) completed
        self.acted = 0
        self.count_acks(REGION.base + lay.signal.pending)
        self.ready = True
        self._start(self.drv, self._serve(), "serve")

    @precondition(lambda m: m.ready and not m.dev.busy)
    @rule(dt=st.integers(1, 25))
    @guarded
    def publish(self, dt: int) -> None:
        t = max(self.device.now, NEAR_2_32) + dt
        self.published.add(t)
        self._start(self.dev, self._publish(t), f"publish {t:#x} = {list(split_ns(t))}")

    def _publish(self, t: int) -> Program[None]:
        if (yield from self.device.publish(t)):
            self.notifications += 1
            yield Notify("driver", "clock")
        self.announced = t

    def _serve(self) -> Program[None]:
        while True:
            try:
                t = yield from self.driver.service()
            except TableBusy:
                # SHM-TABLE-011: the reader gave up while the writer was preempted mid-update;
                # it keeps its last good value and tries again (the bound is checked elsewhere)
                self.shm.note("driver", "table busy: keeps its value, retries")
                continue
            if t is not None:
                self.shm.note("driver", f"acts on {t:#x}")
                if t not in self.published:
                    raise Violation("SHM-TABLE-007", f"acted on {t:#x}, never published")
                if t <= self.acted:
                    raise Violation("SHM-CLOCK-003", f"acted on {t:#x} after {self.acted:#x}")
                self.acted = t
            if not (yield from self.driver.wait_prepare()):
                break
        yield Wait("clock")

    @invariant()
    @guarded
    def newest_is_acted_on(self) -> None:
        if self.ready and self.drv.asleep and not self.dev.busy and not self.dev.buffer \
                and self.acted != self.announced:
            raise Violation("SHM-SIGNAL-010", f"driver asleep at {self.acted:#x}, the device "
                            f"published {self.announced:#x}, no notification in flight")


# -- running -------------------------------------------------------------------------------

def run_machine(base: type[ShmMachine], cfg: ShmConfig, max_examples: int, *,
                derandomize: bool = False, shrink: bool = True) -> registry.Evidence:
    bases: tuple[type[ShmMachine], ...] = ((RmoShmMachine, base)
                                            if cfg.mode in LOAD_REORDERING else (base,))
    cls = bind(f"{base.__name__}_{cfg.mode}", bases, cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink)


TABLE_REQS = ("SHM-TABLE-007", "SHM-TABLE-008", "SHM-TABLE-009", "SHM-TABLE-010",
              "SHM-TABLE-011")
SIGNAL_REQS = ("SHM-SIGNAL-008", "SHM-SIGNAL-010", "SHM-SIGNAL-011")
CLOCK_REQS = ("SHM-CLOCK-003", "SHM-TABLE-007", "SHM-SIGNAL-010", "SHM-SIGNAL-011")


def _register(name: str, base: type[ShmMachine], mode: Mode, reqs: tuple[str, ...],
              what: str) -> None:
    @registry.check(name, reqs, f"{what}, access by access over {WHERE[mode]}")
    def check(n: int) -> registry.Evidence:
        return run_machine(base, ShmConfig(mode=mode), n)


_TABLE = "seqlock writer and reader"
_SIGNAL = "shm-signal sender and receiver"
_CLOCK = "clock device and a lagging driver"
_register("shm.table.sc", TableMachine, "sc", TABLE_REQS, _TABLE)
_register("shm.table.tso", TableMachine, "tso", TABLE_REQS, _TABLE)
_register("shm.table.pso", TableMachine, "pso", TABLE_REQS, _TABLE)
_register("shm.table.rmo", TableMachine, "rmo", (*TABLE_REQS, "SHM-TABLE-006"), _TABLE)
_register("shm.signal.sc", SignalMachine, "sc", SIGNAL_REQS, _SIGNAL)
_register("shm.signal.tso", SignalMachine, "tso", SIGNAL_REQS, _SIGNAL)
_register("shm.clock.tso", ClockMachine, "tso", CLOCK_REQS, _CLOCK)
_register("shm.signal.rmo", SignalMachine, "rmo", SIGNAL_REQS, _SIGNAL)
_register("shm.clock.rmo", ClockMachine, "rmo", (*CLOCK_REQS, "SHM-TABLE-006"), _CLOCK)
