"""Known-bad variants of the C table and shm-signal (reference/shm/c/shm.c), and the machine that
catches each.

Each variant is shm.c compiled with one switch of reference/shm/c/shm_mutants.h
(``-DVS_SHM_MUTANT=VS_SHM_M_<NAME>``) in the stepped build (built at run time, cached), and
the mutated side is stepped by a machine of models/shm/machine.py, paired with the C
reference for the other side, under the memory model that exposes the bug: SC for logic
bugs, x86-TSO for a missing full barrier, PSO for a missing ``wmb`` (x86 never reorders
stores), RMO for a missing ``rmb`` (only RMO satisfies loads early; registered when
models/memory/tso.py has that model). Runs are derandomized, so the outcome is reproducible; a
variant counts as caught only when a run fails with a requirement violation. They do not
shrink (shrinking costs ten times the search); the Z3 twins of the same bugs
(models/shm/table_z3.py, models/shm/signal_z3.py) give the shortest interleavings.

Registered as ``shm.c.mutant.<part>.<bug>``; ``ok`` is True when the variant is caught.

Not here: a sender without the full barrier before its load of ``pending``
(SHM-SIGNAL-003) needs a 19-step interleaving that the signal machine finds only by luck
(see models/shm/ref_mutants.py); ``shm.mutant.signal.coalesce_without_mb.z3`` refutes it.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.shm.c_checks import (
    C_SIGNAL,
    C_TABLE,
    RMO,
    BoundedTableMachine,
    c_class,
)
from virtiospec.models.shm.machine import (
    ClockMachine,
    ShmConfig,
    ShmMachine,
    SignalMachine,
    run_machine,
)
from virtiospec.reference.shm.c.stepped import (
    CClockDriver,
    CSignalReceiver,
    CSignalSender,
    CTableReader,
    CTableWriter,
)

EXAMPLES = 400


def _caught(base: type[ShmMachine], mode: Mode, switch: str, role: str,
            ) -> Callable[[], registry.Evidence]:
    """Run ``base`` under ``mode`` with the C side ``role`` built with mutant ``switch`` and
    every other side the C reference."""
    c_sides = {"writer_cls": CTableWriter, "reader_cls": CTableReader,
               "sender_cls": CSignalSender, "receiver_cls": CSignalReceiver,
               "clock_driver_cls": CClockDriver}
    classes = dict(C_TABLE if base is BoundedTableMachine else C_SIGNAL)
    if base is ClockMachine:
        classes = {}
    classes[role] = c_class(c_sides[role], switch)

    def run() -> registry.Evidence:
        cfg = ShmConfig(mode=mode, **classes)  # type: ignore[arg-type]
        return mutant_evidence(run_machine(base, cfg, EXAMPLES, derandomize=True,
                                           shrink=False))

    return run


# (name, switch, bug, requirements it breaks, machine, memory model, mutated side)
MUTANTS: list[tuple[str, str, str, tuple[str, ...], type[ShmMachine], Mode, str]] = [
    ("shm.c.mutant.table.no_seq_recheck", "NO_SEQ_RECHECK",
     "reader returns without re-reading seq after the value words",
     ("SHM-TABLE-005", "SHM-TABLE-007"), BoundedTableMachine, "sc", "reader_cls"),
    ("shm.c.mutant.table.no_wmb_before_data", "NO_WMB_BEFORE_DATA",
     "writer without wmb between the odd seq and the value words (PSO)",
     ("SHM-TABLE-004", "SHM-TABLE-007"), BoundedTableMachine, "pso", "writer_cls"),
    ("shm.c.mutant.table.no_wmb_after_data", "NO_WMB_AFTER_DATA",
     "writer without wmb between the value words and the even seq (PSO)",
     ("SHM-TABLE-004", "SHM-TABLE-007"), BoundedTableMachine, "pso", "writer_cls"),
    ("shm.c.mutant.table.unbounded_read", "UNBOUNDED_READ",
     "reader retries for ever while the writer is stalled in an update",
     ("SHM-TABLE-011",), BoundedTableMachine, "sc", "reader_cls"),
    ("shm.c.mutant.signal.inject_without_mb", "NO_MB_INJECT",
     "sender loads enabled without a full barrier after setting pending (TSO)",
     ("SHM-SIGNAL-004", "SHM-SIGNAL-010"), SignalMachine, "tso", "sender_cls"),
    ("shm.c.mutant.signal.enable_without_mb", "NO_MB_ENABLE",
     "receiver re-reads pending without a full barrier after enabling (TSO)",
     ("SHM-SIGNAL-006", "SHM-SIGNAL-010"), SignalMachine, "tso", "receiver_cls"),
    ("shm.c.mutant.signal.ack_without_mb", "NO_MB_ACK",
     "receiver reads the announced state without a full barrier after clearing pending (TSO)",
     ("SHM-SIGNAL-005", "SHM-SIGNAL-010"), SignalMachine, "tso", "receiver_cls"),
    ("shm.c.mutant.signal.ack_after_processing", "ACK_AFTER_READ",
     "service clears pending after reading the slot instead of before",
     ("SHM-SIGNAL-005", "SHM-SIGNAL-010"), ClockMachine, "sc", "clock_driver_cls"),
    ("shm.c.mutant.signal.enable_without_recheck", "NO_RECHECK_ENABLE",
     "receiver enables and waits without re-reading pending",
     ("SHM-SIGNAL-006", "SHM-SIGNAL-010"), SignalMachine, "sc", "receiver_cls"),
]
if RMO is not None:
    MUTANTS += [
        ("shm.c.mutant.table.no_rmb_before_data", "NO_RMB_BEFORE_DATA",
         "reader without rmb between the first load of seq and the value words (RMO)",
         ("SHM-TABLE-006", "SHM-TABLE-007"), BoundedTableMachine, RMO, "reader_cls"),
        ("shm.c.mutant.table.no_rmb_after_data", "NO_RMB_AFTER_DATA",
         "reader without rmb between the value words and the second load of seq (RMO)",
         ("SHM-TABLE-006", "SHM-TABLE-007"), BoundedTableMachine, RMO, "reader_cls"),
    ]

for _name, _switch, _bug, _reqs, _base, _mode, _role in MUTANTS:
    registry.mutant(_name, f"{_bug} ({_switch})", _reqs, "hypothesis")(
        _caught(_base, _mode, _switch, _role))
