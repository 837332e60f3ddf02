"""The clock over the whole stack, interleaved: **PCI → virtio-pci → virtio-shm** under x86-TSO
and PSO store buffers.

The clock stack of reference/stack/clock_stack.py is brought up as it is in ``virtiospec demo
clock`` (enumeration, virtio-pci bring-up, region discovery through the capabilities, MSI-X);
then a Hypothesis machine steps its two sides against each other, one access at a time, on a
:class:`~virtiospec.models.memory.tso.SharedMemory` whose memory is the stack itself:

* the device runs :meth:`ClockBackend.tick` unchanged (publish the time in region 0, an edge in
  the interrupt table of region 1, inject each table's signal) on its own view of its regions;
* the driver runs the reference :class:`ClockDriver` of the stack's driver, whose every load
  and store is an MMIO access through the shared memory BAR (BAR4): the PCI machine routes it
  to the device's region, and the device judges every store (SHM-CLOCK-010);
* each side's stores go through its own store buffer (TSO or PSO); a transport notification
  (the MSI-X message of SHM-CLOCK-008) is sent only once the device's buffer has drained
  (SHM-SIGNAL-008), and then wakes the driver.

Checked at every time the driver acts on (SHM-CLOCK-003, "The driver acts only on the newest
time: it acknowledges the signal, reads the slot, and acts on the time only if its version is
new (SHM-TABLE-009). It never acts on a time older than one it already acted on, however far
it lags behind the device."):

* never torn (SHM-TABLE-007): the time was published, whole;
* never older than the last time acted on (SHM-TABLE-008);
* superseded values never acted on (SHM-TABLE-009): never older than a time whose publication
  had completed before the service began;

and after every step: the driver never sleeps, with no notification pending, while the device
is done and has published a time the driver has not acted on (SHM-SIGNAL-010).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation, mutant_evidence
from virtiospec.models.machine_base import WHERE, TwoSideMachine, bind, guarded, run_bound
from virtiospec.models.memory.tso import (
    Action,
    AddressNames,
    Mode,
    Notify,
    Program,
    SharedMemory,
    Side,
    Wait,
)
from virtiospec.models.shm.ref_mutants import ReaderNoRecheck, WriterNoWmbAfterData
from virtiospec.reference.access import Load, Store
from virtiospec.reference.shm.clock import ClockDriver
from virtiospec.reference.shm.errors import ShmError, TableBusy
from virtiospec.reference.shm.table import U32, TableReader, TableWriter
from virtiospec.reference.stack.clock_device import ClockBackend
from virtiospec.reference.stack.clock_numbers import CLOCK_SHMID
from virtiospec.reference.stack.clock_stack import TICK_NS, ClockStack

DEV_TAG = 1 << 48  # the device's addresses (its view of its regions), apart from the host's
NEAR_2_32 = (1 << 32) - 3 * TICK_NS  # the high word of the time changes within a few ticks


class StackBus:
    """The memory of the two sides as one address space for :class:`SharedMemory`: an
    address below :data:`DEV_TAG` is the host's (RAM, and MMIO that PCI routes to a BAR:
    the driver's side), one above it the device's view of its regions."""

    def __init__(self, stack: ClockStack) -> None:
        self.host = stack.driver.memory
        self.view = stack.backend.view

    def check(self, addr: int, size: int) -> None:
        if size not in (1, 2, 4, 8):
            raise ValueError(f"access of {size} bytes at {addr:#x}")

    def read(self, addr: int, size: int) -> int:
        if addr >= DEV_TAG:
            return self.view.read(addr - DEV_TAG, size)
        return self.host.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        if addr >= DEV_TAG:
            self.view.write(addr - DEV_TAG, size, value)
        else:
            self.host.write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self.read(addr, size).to_bytes(size, "little")


def tagged(op: Generator[Any, Any, Any], notes: list[int],
           send: Any) -> Program[Any]:
    """The device's operation with its addresses moved above :data:`DEV_TAG`, and each
    transport notification it asked for (``notes``, filled by the backend) performed as a
    :class:`Notify` (after its buffer drained) before the message itself (``send``)."""
    value: int | None = None
    while True:
        try:
            access = op.send(value)
        except StopIteration as done:
            out = done.value
            break
        while notes:
            shmid = notes.pop(0)
            yield Notify("driver", f"msix{shmid}")
            send(shmid)
        if isinstance(access, Load):
            access = Load(access.addr + DEV_TAG, access.size)
        elif isinstance(access, Store):
            access = Store(access.addr + DEV_TAG, access.size, access.value)
        value = yield access
    while notes:
        shmid = notes.pop(0)
        yield Notify("driver", f"msix{shmid}")
        send(shmid)
    return out


@dataclass(frozen=True)
class StackClockConfig:
    mode: Mode = "tso"
    reader_cls: type[TableReader] | None = None  # the driver's (None: the stack's)
    writer_cls: type[TableWriter] | None = None  # the device's clock writer
    driver_cls: type[ClockDriver] | None = None
    steps: int = 60


class StackClockMachine(TwoSideMachine):
    cfg: ClassVar[StackClockConfig] = StackClockConfig()
    record: ClassVar[RunRecord] = RunRecord()

    @initialize()
    @guarded
    def setup(self) -> None:
        stack = self.stack = ClockStack()
        stack.bring_up()
        self.install(stack)
        assert stack.driver.clock is not None
        self.clock = stack.driver.clock
        stack.run(1, 1, start_ns=NEAR_2_32)  # a first time, published and acted on (SC)
        self._stepped(stack)

    def install(self, stack: ClockStack) -> None:
        """Put the configured sides in place of the stack's (before its first time)."""
        cfg, backend, drv = self.cfg, stack.backend, stack.driver
        assert drv.clock is not None
        lay = drv.clock.layout
        if cfg.driver_cls is not None:
            old = drv.clock
            drv.clock = cfg.driver_cls(lay)
            drv.clock.reader, drv.clock.now = old.reader, old.now
        if cfg.reader_cls is not None:
            drv.clock.reader = cfg.reader_cls(lay.table, drv.clock.reader.max_attempts)
        if cfg.writer_cls is not None:
            writer = cfg.writer_cls(backend.clock.layout.table)
            writer.seqs = list(backend.clock.writer.seqs)
            backend.clock.writer = writer

    def _stepped(self, stack: ClockStack) -> None:
        """From the first time on, both sides stepped over one :class:`SharedMemory`."""
        cfg, drv = self.cfg, stack.driver
        backend: ClockBackend = stack.backend
        assert drv.clock is not None and drv.regions is not None
        lay = drv.clock.layout
        # the device's notifications become Notify actions of its program (SHM-SIGNAL-008)
        self.notes: list[int] = []
        self.send = backend._notify
        backend._notify = self.notes.append  # type: ignore[method-assign, assignment]
        names = AddressNames()
        base = drv.regions[CLOCK_SHMID].base
        dev_base = DEV_TAG + backend.clock.layout.region.base
        for at, where in ((base, " (BAR4)"), (dev_base, "")):
            names.field(at + lay.signal.enabled, f"clock.enabled{where}")
            names.field(at + lay.signal.pending, f"clock.pending{where}")
            names.field(at + lay.table.seq(0), f"clock.seq{where}")
            names.field(at + lay.table.word(0, 0), f"clock.lo{where}")
            names.field(at + lay.table.word(0, 1), f"clock.hi{where}")
        self.shm = SharedMemory(StackBus(stack), cfg.mode, names)  # type: ignore[arg-type]
        self.dev, self.drv = self.shm.side("device"), self.shm.side("driver")
        self.shm.watchers.append(self._judge)
        self.offered: set[int] = {backend.clock.now}
        self.versions = {backend.clock.writer.seqs[0]: backend.clock.now}
        self.floor = backend.clock.now  # the newest time whose publication completed
        self.acted = drv.clock.now or 0
        self.serve_floor = self.floor  # the floor the driver's current service checks against
        self.ready = True
        self.shm.note("env", f"clock stack up over {WHERE[cfg.mode]}; time {self.floor:#x}")

    def _judge(self, side: Side, action: Action) -> None:
        """Nothing the device refused (SHM-CLOCK-010) goes unnoticed."""
        if self.stack.backend.refusals:
            raise Violation("SHM-CLOCK-010", f"refused: {self.stack.backend.refusals[0]}")

    # -- rules ---------------------------------------------------------------------------
    @precondition(lambda m: m.ready and not m.dev.busy)
    @rule(dt=st.integers(1, 3))
    @guarded
    def tick(self, dt: int) -> None:
        backend = self.stack.backend
        ns = backend.time_ns + dt * TICK_NS
        self.offered.add(ns)
        self.dev.start(self._tick(ns), f"tick {ns:#x}")

    def _tick(self, ns: int) -> Program[None]:
        backend = self.stack.backend
        if backend.is_live:  # the version this tick's update stores (SHM-TABLE-003)
            self.versions[(backend.clock.writer.seqs[0] + 2) & U32] = ns
        yield from tagged(self.stack.backend.tick(ns), self.notes, self.send)
        self.floor = max(self.floor, ns)  # the table is in memory: inject's mb drained it

    @precondition(lambda m: m.ready and not m.drv.busy)
    @rule()
    @guarded
    def serve(self) -> None:
        self.drv.start(self._serve(), "service the clock")

    def _serve(self) -> Program[None]:
        self.drv.consume(f"msix{CLOCK_SHMID}")  # serviced below before it sleeps
        while True:
            floor = self.serve_floor = self.floor  # kept for a search's key (shortest.py)
            try:
                ns = yield from self.clock.service()
            except TableBusy:  # SHM-TABLE-011: keeps its last good time, retries later
                self.shm.note("driver", "table busy: keeps its time")
                return
            if ns is not None:
                self._acted(ns, floor)
            if not (yield from self.clock.wait_prepare()):
                break
        yield Wait(f"msix{CLOCK_SHMID}")

    def _acted(self, ns: int, floor: int) -> None:
        self.shm.note("driver", f"acts on {ns:#x}")
        self.record.count("times acted on")
        version = self.clock.reader.last[0].version
        if ns not in self.offered or self.versions.get(version) != ns:
            raise Violation("SHM-TABLE-007", f"acted on {ns:#x} as version {version}, which "
                            "is not what the device stored under it (torn)")
        if ns < self.acted:
            raise Violation("SHM-TABLE-008", f"acted on {ns:#x} after {self.acted:#x}")
        if ns < floor:
            raise Violation("SHM-TABLE-009", f"acted on {ns:#x}, superseded by {floor:#x} "
                            "before the service began")
        self.acted = ns

    def _step(self, side: Side, early: int = 0) -> None:
        try:
            side.step(early)
        except ShmError as err:
            raise Violation(err.req, f"{side.name} raised {err}") from err

    @precondition(lambda m: m.ready and m.dev.enabled())
    @rule()
    @guarded
    def device_run(self) -> None:
        """The device to the end of its tick, or until it blocks: a driver preempted for a
        whole update."""
        for _ in range(512):
            if not self.dev.enabled():
                return
            self._step(self.dev)

    @invariant()
    @guarded
    def newest_is_acted_on(self) -> None:
        """SHM-SIGNAL-010 over the stack."""
        if self.ready and self.drv.asleep and not self.dev.busy and not self.dev.buffer \
                and self.acted != self.stack.backend.clock.now:
            raise Violation("SHM-SIGNAL-010", f"driver asleep at {self.acted:#x}, the device "
                            f"published {self.stack.backend.clock.now:#x}, nothing in flight")

    def teardown(self) -> None:
        if self.ready:
            self._record_run()


def run_stack_clock(cfg: StackClockConfig, max_examples: int, *, derandomize: bool = False,
                    shrink: bool = True) -> registry.Evidence:
    cls = bind(f"StackClock_{cfg.mode}", (StackClockMachine,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=20.0)


REQS = ("SHM-CLOCK-003", "SHM-CLOCK-008", "SHM-CLOCK-010", "SHM-TABLE-007", "SHM-TABLE-008",
        "SHM-TABLE-009", "SHM-SIGNAL-008", "SHM-SIGNAL-010")


def _register(name: str, mode: Mode) -> None:
    @registry.check(name, REQS,
                    f"the clock over PCI, virtio-pci and virtio-shm: the driver reads the "
                    f"table through BAR4 while the device updates it, {WHERE[mode]}")
    def check(n: int) -> registry.Evidence:
        return run_stack_clock(StackClockConfig(mode=mode), n)


_register("stack.clock.tso", "tso")
_register("stack.clock.pso", "pso")


# -- known-bad variants, planted in the stack's clock driver and device ----------------------

def _caught(cfg: StackClockConfig, examples: int = 100) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_stack_clock(cfg, examples, derandomize=True, shrink=False),
                               keep_last=60)

    return run


MUTANTS: list[tuple[str, str, tuple[str, ...], StackClockConfig]] = [
    ("stack.clock.mutant.reader_no_recheck.tso",
     "the driver's seqlock reader returns without loading seq a "
     "second time (x86-TSO)", ("SHM-TABLE-005", "SHM-TABLE-007", "SHM-CLOCK-003"),
     StackClockConfig(mode="tso", reader_cls=ReaderNoRecheck)),
    ("stack.clock.mutant.reader_no_recheck.pso",
     "the driver's seqlock reader returns without loading seq a "
     "second time (PSO)", ("SHM-TABLE-005", "SHM-TABLE-007", "SHM-CLOCK-003"),
     StackClockConfig(mode="pso", reader_cls=ReaderNoRecheck)),
    ("stack.clock.mutant.writer_no_wmb_after_data.pso",
     "the device's clock writer stores the even seq without "
     "a wmb after the time's words (PSO; no effect under x86-TSO)",
     ("SHM-TABLE-004", "SHM-TABLE-007", "SHM-CLOCK-003"),
     StackClockConfig(mode="pso", writer_cls=WriterNoWmbAfterData)),
]

for _name, _bug, _reqs, _cfg in MUTANTS:
    registry.mutant(_name, _bug, _reqs, "hypothesis")(_caught(_cfg))
