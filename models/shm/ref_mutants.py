"""Known-bad variants of the Python virtio-shm reference, each caught by a machine of
models/shm/machine.py.

Every variant subclasses a reference class and turns off one switch of its ``lines``
(:class:`~virtiospec.reference.shm.table.TableLines`,
:class:`~virtiospec.reference.shm.signal.SignalLines`,
:class:`~virtiospec.reference.shm.clock.ClockLines`): the one reference line that tests it is
broken (marked ``BUG``, naming the requirement it breaks), nothing is copied, and the
registered description names the switch and the reference method. It is
registered as ``shm.mutant.<bug>.ref``, next to the Z3 refutation of the same bug
(``shm.mutant.<bug>.z3``, models/shm/table_z3.py and models/shm/signal_z3.py), and run under
the memory model that exposes it. Runs are derandomized, so the outcome is reproducible; a
variant counts as caught only when a run fails with a requirement violation. The runs do
not shrink (shrinking costs ten times the search); the Z3 twin of each bug gives the shortest
interleaving, and this one the evidence that the reference code itself is caught.

One bug has no variant here: a sender without the full barrier before its load of
``pending`` (SHM-SIGNAL-003) needs a 19-step interleaving under TSO that the signal machine
finds only by luck within a few hundred runs; ``shm.mutant.signal.coalesce_without_mb.z3``
refutes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Unpack

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.shm.machine import (
    ClockMachine,
    ShmClasses,
    ShmConfig,
    ShmMachine,
    SignalMachine,
    TableMachine,
    run_machine,
)
from virtiospec.models.variant_switch import switched
from virtiospec.reference.shm import ClockDriver, SignalReceiver, SignalSender
from virtiospec.reference.shm.clock import ClockLines
from virtiospec.reference.shm.signal import SignalLines
from virtiospec.reference.shm.table import TableLines, TableReader, TableWriter

EXAMPLES = 400


# Each variant is the reference with one of its lines turned off (TableLines, SignalLines,
# ClockLines).


class ReaderNoRecheck(TableReader):
    lines = TableLines(reader_recheck=False)  # BUG (SHM-TABLE-005)


class ReaderNoRmbBeforeData(TableReader):
    lines = TableLines(reader_rmb_before_data=False)  # BUG (SHM-TABLE-006)


class ReaderNoRmbAfterData(TableReader):
    lines = TableLines(reader_rmb_after_data=False)  # BUG (SHM-TABLE-006)


class WriterNoWmbAfterData(TableWriter):
    lines = TableLines(writer_wmb_after_data=False)  # BUG (SHM-TABLE-004)


class ReceiverNoRecheck(SignalReceiver):
    lines = SignalLines(receiver_recheck=False)  # BUG (SHM-SIGNAL-006)


class SenderNoMbBeforeEnabled(SignalSender):
    lines = SignalLines(sender_mb_before_enabled=False)  # BUG (SHM-SIGNAL-004)


class ClockDriverAckAfter(ClockDriver):
    lines = ClockLines(ack_before_read=False)  # BUG (SHM-SIGNAL-005)


_SWITCH: dict[Callable[[], registry.Evidence], str] = {}  # run -> the switch it turns
_CLASS_FIELDS = tuple(ShmClasses.__annotations__)


def _caught(base: type[ShmMachine], cfg: ShmConfig) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_machine(base, cfg, EXAMPLES, derandomize=True,
                                           shrink=False))

    _SWITCH[run] = switched(*(getattr(cfg, f) for f in _CLASS_FIELDS
                              if getattr(cfg, f) is not getattr(ShmConfig(), f)))
    return run


def _cfg(mode: Mode, **classes: Unpack[ShmClasses]) -> ShmConfig:
    return ShmConfig(mode=mode, **classes)


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("shm.mutant.table.no_recheck.ref",
     "reader returns without re-reading seq after the value words",
     ("SHM-TABLE-005", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("sc", reader_cls=ReaderNoRecheck))),
    ("shm.mutant.table.no_wmb_after_data.ref",
     "writer without wmb between the value words and the even seq (PSO)",
     ("SHM-TABLE-004", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("pso", writer_cls=WriterNoWmbAfterData))),
    ("shm.mutant.table.no_rmb_before_data.ref",
     "reader without rmb between the first load of seq and the value words (RMO; not "
     "caught under x86-TSO, which never reorders loads)", ("SHM-TABLE-006", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("rmo", reader_cls=ReaderNoRmbBeforeData))),
    ("shm.mutant.table.no_rmb_after_data.ref",
     "reader without rmb between the value words and the second load of seq (RMO; not "
     "caught under x86-TSO, which never reorders loads)", ("SHM-TABLE-006", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("rmo", reader_cls=ReaderNoRmbAfterData))),
    ("shm.mutant.signal.ack_after_processing.ref",
     "clock driver clears pending after reading the clock instead of before",
     ("SHM-SIGNAL-005", "SHM-SIGNAL-010"),
     _caught(ClockMachine, _cfg("sc", clock_driver_cls=ClockDriverAckAfter))),
    ("shm.mutant.signal.enable_without_recheck.ref",
     "receiver enables and waits without re-reading pending",
     ("SHM-SIGNAL-006", "SHM-SIGNAL-010"),
     _caught(SignalMachine, _cfg("sc", receiver_cls=ReceiverNoRecheck))),
    ("shm.mutant.signal.inject_without_mb.ref",
     "sender loads enabled without a full barrier after setting pending (TSO)",
     ("SHM-SIGNAL-004", "SHM-SIGNAL-010"),
     _caught(SignalMachine, _cfg("tso", sender_cls=SenderNoMbBeforeEnabled))),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(_name, f"{_bug}; {_SWITCH[_run]}", _reqs,
                    "hypothesis")(_run)
