"""The C reference of the table and shm-signal (reference/shm/c/shm.c) in the shm state machines.

The stepped build of shm.c (reference/shm/c/stepped.py) makes every access of the C code an access
of the access protocol, so the machines of :mod:`virtiospec.models.shm.machine` step the C
writer, reader, sender and receiver exactly as they step the Python ones, and check the
same requirements after every access:

* ``shm.c.table.{sc,tso,pso}`` -- C writer and C reader;
* ``shm.c.table.c_writer.pso``, ``shm.c.table.c_reader.pso`` -- one side in C, the other the
  Python reference, over the same memory (PSO: every TSO and SC interleaving too);
* ``shm.c.signal.{sc,tso}`` -- C sender and C receiver;
* ``shm.c.signal.c_sender.tso``, ``shm.c.signal.c_receiver.tso`` -- mixed pairs;
* ``shm.c.clock.c_driver.tso`` -- the Python clock device and a lagging clock driver whose
  service is the C ``vs_shm_reader_service`` and whose wait is the C receiver's enable;
* ``shm.c.table.rmo``, ``shm.c.signal.rmo``, ``shm.c.clock.c_driver.rmo`` -- the same under
  RMO, where loads are satisfied early and the reader's ``rmb`` (SHM-TABLE-006) matters;
  registered when models/memory/tso.py has that model (:data:`RMO`).

The table machine here adds one invariant to :class:`TableMachine`: a read never makes more
attempts than its reader's bound (SHM-TABLE-011), checked after every access, so a reader
that retries for ever is caught while it retries (the mutant ``unbounded_read``).
"""

from __future__ import annotations

from functools import cache

from hypothesis.stateful import invariant
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.machine_base import WHERE, guarded
from virtiospec.models.memory import tso
from virtiospec.models.memory.tso import Mode
from virtiospec.models.shm.machine import (
    CLOCK_REQS,
    SIGNAL_REQS,
    TABLE_REQS,
    ClockMachine,
    ShmConfig,
    ShmMachine,
    SignalMachine,
    TableMachine,
    run_machine,
)
from virtiospec.reference.shm import SignalReceiver, SignalSender, TableReader, TableWriter
from virtiospec.reference.shm.c.stepped import (
    CClockDriver,
    CSignalReceiver,
    CSignalSender,
    CTableReader,
    CTableWriter,
)

RMO: Mode | None = "rmo" if "rmo" in getattr(tso, "LOAD_REORDERING", ()) else None


class BoundedTableMachine(TableMachine):
    """:class:`TableMachine`, and a read makes at most ``max_attempts`` attempts."""

    @invariant()
    @guarded
    def reads_are_bounded(self) -> None:
        if self.ready and self.reader.attempts > self.reader.max_attempts:
            raise Violation("SHM-TABLE-011", f"a read made {self.reader.attempts} attempts, "
                            f"more than its bound of {self.reader.max_attempts}")


@cache
def c_class(cls: type, mutant: str | None) -> type:
    """``cls`` (a C side of reference/shm/c/stepped.py) bound to the stepped build of one mutant of
    shm_mutants.h, constructible with the arguments of its Python counterpart."""
    if mutant is None:
        return cls
    return type(f"{cls.__name__}_{mutant}", (cls,), {"default_mutant": mutant})


# ShmConfig's keyword -> class. The C sides are not subclasses of the Python ones (they
# duck-type them), which ShmConfig's field types cannot say: see _register.
C_TABLE: dict[str, type] = {"writer_cls": CTableWriter, "reader_cls": CTableReader}
C_SIGNAL: dict[str, type] = {"sender_cls": CSignalSender, "receiver_cls": CSignalReceiver}
PY_TABLE: dict[str, type] = {"writer_cls": TableWriter, "reader_cls": TableReader}
PY_SIGNAL: dict[str, type] = {"sender_cls": SignalSender, "receiver_cls": SignalReceiver}

# name -> (machine, classes, requirements, who)
PAIRS: dict[str, tuple[type[ShmMachine], dict[str, type], tuple[str, ...], str]] = {
    "table": (BoundedTableMachine, C_TABLE, TABLE_REQS, "C writer and C reader"),
    "table.c_writer": (BoundedTableMachine, {**PY_TABLE, "writer_cls": CTableWriter},
                       TABLE_REQS, "C writer with the Python reader"),
    "table.c_reader": (BoundedTableMachine, {**PY_TABLE, "reader_cls": CTableReader},
                       TABLE_REQS, "Python writer with the C reader"),
    "signal": (SignalMachine, C_SIGNAL, SIGNAL_REQS, "C sender and C receiver"),
    "signal.c_sender": (SignalMachine, {**PY_SIGNAL, "sender_cls": CSignalSender},
                        SIGNAL_REQS, "C sender with the Python receiver"),
    "signal.c_receiver": (SignalMachine, {**PY_SIGNAL, "receiver_cls": CSignalReceiver},
                          SIGNAL_REQS, "Python sender with the C receiver"),
    "clock.c_driver": (ClockMachine, {"clock_driver_cls": CClockDriver}, CLOCK_REQS,
                       "Python clock device with a C clock driver (vs_shm_reader_service)"),
}


def _register(name: str, pair: str, mode: Mode) -> None:
    machine, classes, reqs, who = PAIRS[pair]
    if mode == RMO and "SHM-TABLE-007" in reqs:
        reqs = (*reqs, "SHM-TABLE-006")

    @registry.check(name, reqs,
                    f"{who} (shm.c, stepped), access by access over {WHERE[mode]}")
    def check(n: int) -> registry.Evidence:
        # the C classes in place of the Python ones they duck-type (not subclasses)
        return run_machine(machine, ShmConfig(mode=mode, **classes), n)  # type: ignore[arg-type]


# name, pair (PAIRS), memory model; the RMO rows only where models/memory/tso.py has RMO
_CHECKS: tuple[tuple[str, str, Mode], ...] = (
    ("shm.c.table.sc", "table", "sc"),
    ("shm.c.table.tso", "table", "tso"),
    ("shm.c.table.pso", "table", "pso"),
    ("shm.c.table.c_writer.pso", "table.c_writer", "pso"),
    ("shm.c.table.c_reader.pso", "table.c_reader", "pso"),
    ("shm.c.signal.sc", "signal", "sc"),
    ("shm.c.signal.tso", "signal", "tso"),
    ("shm.c.signal.c_sender.tso", "signal.c_sender", "tso"),
    ("shm.c.signal.c_receiver.tso", "signal.c_receiver", "tso"),
    ("shm.c.clock.c_driver.tso", "clock.c_driver", "tso"),
    ("shm.c.table.rmo", "table", "rmo"),
    ("shm.c.signal.rmo", "signal", "rmo"),
    ("shm.c.clock.c_driver.rmo", "clock.c_driver", "rmo"),
)
for _name, _pair, _mode in _CHECKS:
    if _mode != "rmo" or RMO is not None:
        _register(_name, _pair, _mode)
