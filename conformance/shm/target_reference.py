"""The shm sides of the built-in target: the Python reference of the table and shm-signal
(reference/shm/), through the access protocol.

:class:`ShmOpSides` turns any classes with the reference's interface (``TableWriter``,
``TableReader``, ``SignalSender``, ``SignalReceiver``, ``ClockDriver``: constructors taking a
layout, methods returning operations) into the factories of
:mod:`virtiospec.conformance.shm.api`. Each side runs whole operations against the case's
memory with every access checked, and offers the ``*_op`` methods that let a case step it.
:class:`ReferenceShmSides` binds the Python reference; target_shm_stepped.py binds the stepped
build of shm.c (and its known-bad variants), and tests bind Python mutants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from virtiospec.conformance.shm.api import (
    WORD,
    ClockSetup,
    ShmSetup,
    SignalSetup,
    TableSetup,
    run_checked,
)
from virtiospec.reference.access import Op
from virtiospec.reference.shm import (
    ClockDriver,
    SignalLayout,
    SignalReceiver,
    SignalSender,
    Snapshot,
    TableReader,
    TableWriter,
)


class _OpSide:
    """A side whose operations are generators of the access protocol."""

    def __init__(self, setup: ShmSetup) -> None:
        self.setup = setup

    def _run(self, op: Op[Any], what: str, budget: int | None = None) -> Any:
        if budget is None:
            return run_checked(op, self.setup, what=what)
        return run_checked(op, self.setup, budget, what)


class OpTableWriter(_OpSide):
    def __init__(self, writer: Any, setup: TableSetup) -> None:
        super().__init__(setup)
        self.writer = writer

    def init_op(self) -> Op[None]:
        return self.writer.init()  # type: ignore[no-any-return]

    def update_op(self, slot: int, value: Sequence[int]) -> Op[None]:
        return self.writer.update(slot, value)  # type: ignore[no-any-return]

    def init(self) -> None:
        self._run(self.init_op(), "writer init")

    def update(self, slot: int, value: Sequence[int]) -> None:
        self._run(self.update_op(slot, value), f"update of slot {slot}")


class OpTableReader(_OpSide):
    def __init__(self, reader: Any, setup: TableSetup) -> None:
        super().__init__(setup)
        self.reader = reader
        self.budget = setup.read_budget()

    def read_op(self, slot: int) -> Op[Snapshot]:
        return self.reader.read(slot)  # type: ignore[no-any-return]

    def poll_op(self, slot: int) -> Op[Snapshot | None]:
        return self.reader.poll(slot)  # type: ignore[no-any-return]

    def read(self, slot: int) -> Snapshot:
        snap: Snapshot = self._run(self.read_op(slot), f"read of slot {slot}", self.budget)
        return snap

    def poll(self, slot: int) -> Snapshot | None:
        snap: Snapshot | None = self._run(self.poll_op(slot), f"poll of slot {slot}",
                                          self.budget)
        return snap


class OpSignalSender(_OpSide):
    def __init__(self, sender: Any, setup: SignalSetup) -> None:
        super().__init__(setup)
        self.sender = sender

    def inject_op(self) -> Op[bool]:
        return self.sender.inject()  # type: ignore[no-any-return]

    def inject(self) -> bool:
        return bool(self._run(self.inject_op(), "inject"))


class OpSignalReceiver(_OpSide):
    def __init__(self, receiver: Any, setup: SignalSetup) -> None:
        super().__init__(setup)
        self.receiver = receiver
        self.layout: SignalLayout = receiver.layout  # the reference's and shm_c's have one

    def disable_op(self) -> Op[None]:
        return self.receiver.disable()  # type: ignore[no-any-return]

    def acknowledge_op(self) -> Op[None]:
        return self.receiver.acknowledge()  # type: ignore[no-any-return]

    def enable_op(self) -> Op[bool]:
        return self.receiver.enable()  # type: ignore[no-any-return]

    def pending_op(self) -> Op[bool]:
        """One load of ``pending``, non-zero read as 1 (SHM-SIGNAL-001). The reference has no
        such operation (a receiver learns it from ``enable``); this is the ABI's
        ``receiver_pending`` in terms of the reference's region."""
        value = yield from self.layout.region.load(self.layout.pending, WORD)
        return value != 0

    def disable(self) -> None:
        self._run(self.disable_op(), "disable")

    def acknowledge(self) -> None:
        self._run(self.acknowledge_op(), "acknowledge")

    def enable(self) -> bool:
        return bool(self._run(self.enable_op(), "enable"))

    def pending(self) -> bool:
        return bool(self._run(self.pending_op(), "pending"))


class OpClockDriver(_OpSide):
    def __init__(self, driver: Any, setup: ClockSetup) -> None:
        super().__init__(setup)
        self.driver = driver

    def service_op(self) -> Op[int | None]:
        return self.driver.service()  # type: ignore[no-any-return]

    def wait_prepare_op(self) -> Op[bool]:
        return self.driver.wait_prepare()  # type: ignore[no-any-return]


class ShmOpSides:
    """The shm factories of a target, over classes with the reference's interface. Override
    a ``*_cls`` (a subclass, or an instance attribute) to run another implementation."""

    table_writer_cls: Callable[..., Any] = TableWriter
    table_reader_cls: Callable[..., Any] = TableReader
    signal_sender_cls: Callable[..., Any] = SignalSender
    signal_receiver_cls: Callable[..., Any] = SignalReceiver
    clock_driver_cls: Callable[..., Any] = ClockDriver

    def shm_table_writer(self, setup: TableSetup) -> OpTableWriter:
        return OpTableWriter(self.table_writer_cls(setup.layout()), setup)

    def shm_table_reader(self, setup: TableSetup) -> OpTableReader:
        return OpTableReader(self.table_reader_cls(setup.layout(), setup.max_attempts), setup)

    def shm_signal_sender(self, setup: SignalSetup) -> OpSignalSender:
        return OpSignalSender(self.signal_sender_cls(setup.layout()), setup)

    def shm_signal_receiver(self, setup: SignalSetup) -> OpSignalReceiver:
        return OpSignalReceiver(self.signal_receiver_cls(setup.layout()), setup)

    def shm_clock_driver(self, setup: ClockSetup) -> OpClockDriver:
        return OpClockDriver(self.clock_driver_cls(setup.layout(), setup.max_attempts), setup)


class ReferenceShmSides(ShmOpSides):
    """The Python reference (reference/shm/table.py, signal.py, clock.py)."""
