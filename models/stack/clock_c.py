"""The clock over the whole stack with the C table and signal (reference/shm/c/shm.c) inside
the stepped stack, one side in C and the other in Python, or both in C.

The machine is :class:`~virtiospec.models.stack.clock.StackClockMachine` unchanged (the same
rules, the same checks at every time the driver acts on and after every step); only the
sides differ, put in place before the stack's first time:

* ``c_table``: the device's clock table writer and its signal sender are shm.c's
  ``vs_shm_writer_update`` and ``vs_shm_sender_inject`` (the stepped build,
  reference/shm/c/stepped.py), on the device's view of its region, with the sequence numbers
  the Python writer had reached; the driver stays the stack's Python driver, reading through
  BAR4;
* ``c_driver``: the driver's clock is the C clock driver (``vs_shm_reader_service``: disable,
  acknowledge, poll slot 0; the C receiver's enable before it sleeps), each of its accesses an
  MMIO access through BAR4; the device stays Python;
* both.

Checks (``stack.clock.c_table.tso``, ``stack.clock.c_table.pso``, ``stack.clock.c_driver.pso``,
``stack.clock.c_both.pso``): PSO lets the stores of an update reach memory in any order a
``wmb`` allows, and so covers every TSO interleaving too.

Known-bad variants: shm.c built with one switch of reference/shm/c/shm_mutants.h, on the side
that switch breaks, caught by the stack machine (``stack.clock.c_mutant.*``):

* torn reads (SHM-TABLE-007): the C reader without its second load of ``seq``
  (``NO_SEQ_RECHECK``), the C writer without the ``wmb`` after the time's words
  (``NO_WMB_AFTER_DATA``, PSO). Not here: the writer without the ``wmb`` before them
  (``NO_WMB_BEFORE_DATA``) tears only a read by a driver that skipped a whole tick and reads
  the next one's words under the previous version; 900 derandomized runs of this machine do
  not meet it (models/shm/c_mutants.py catches it on the table alone);
* stale values (SHM-SIGNAL-010: the driver asleep on a superseded time while the device has
  published a newer one and nothing is in flight): the C service acknowledging after its
  poll (``ACK_AFTER_READ``, SC), the C sender without the full barrier between ``pending := 1`` and
  its load of ``enabled`` (``NO_MB_INJECT``, x86-TSO).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.machine_base import WHERE, bind, run_bound
from virtiospec.models.memory.tso import Mode
from virtiospec.models.shm.c_checks import c_class
from virtiospec.models.stack.clock import REQS, StackClockConfig, StackClockMachine
from virtiospec.reference.shm.c.stepped import CClockDriver, CSignalSender, CTableWriter
from virtiospec.reference.stack.clock_stack import ClockStack


class SeededCTableWriter(CTableWriter):
    """The C writer, whose private sequence numbers can be set to those another writer of
    the same table reached (SHM-TABLE-003: the writer keeps them privately)."""

    def set_seqs(self, seqs: list[int]) -> None:
        for i, seq in enumerate(seqs):
            self._state.seqs[i] = seq


@dataclass(frozen=True)
class StackClockCConfig(StackClockConfig):
    c_table: bool = False  # the device's table writer and signal sender are shm.c
    c_driver: bool = False  # the driver's clock is shm.c's reader and receiver
    c_mutant: str | None = None  # ... built with this switch of shm_mutants.h


class CStackClockMachine(StackClockMachine):
    """The clock stack machine with the sides of :class:`StackClockCConfig` in C."""

    cfg: ClassVar[StackClockCConfig] = StackClockCConfig()

    def install(self, stack: ClockStack) -> None:
        super().install(stack)
        cfg, backend, drv = self.cfg, stack.backend, stack.driver
        assert drv.clock is not None
        if cfg.c_table:
            dev = backend.clock
            writer = c_class(SeededCTableWriter, cfg.c_mutant)(dev.layout.table)
            writer.set_seqs(list(dev.writer.seqs))
            dev.writer = writer
            dev.signal = c_class(CSignalSender, cfg.c_mutant)(dev.layout.signal)
        if cfg.c_driver:
            old = drv.clock
            drv.clock = c_class(CClockDriver, cfg.c_mutant)(old.layout,
                                                           old.reader.max_attempts)


def run_stack_clock_c(cfg: StackClockCConfig, max_examples: int, *, derandomize: bool = False,
                      shrink: bool = True) -> registry.Evidence:
    cls = bind(f"CStackClock_{cfg.mode}", (CStackClockMachine,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=20.0)


WHO = {"c_table": "the device's table writer and signal sender in C (shm.c, stepped build), "
                  "the driver in Python",
       "c_driver": "the driver's clock in C (shm.c's vs_shm_reader_service and receiver, "
                   "stepped build), the device in Python",
       "c_both": "the device's table and signal and the driver's clock in C (shm.c, stepped "
                 "build)"}


def c_config(who: str, mode: Mode, mutant: str | None = None) -> StackClockCConfig:
    return StackClockCConfig(mode=mode, c_table=who in ("c_table", "c_both"),
                             c_driver=who in ("c_driver", "c_both"), c_mutant=mutant)


def _register(name: str, who: str, mode: Mode) -> None:
    @registry.check(name, REQS,
                    f"the clock over PCI, virtio-pci and virtio-shm with {WHO[who]}: the "
                    f"driver reads the table through BAR4 while the device updates it, "
                    f"{WHERE[mode]}")
    def check(n: int) -> registry.Evidence:
        return run_stack_clock_c(c_config(who, mode), n)


_register("stack.clock.c_table.tso", "c_table", "tso")
_register("stack.clock.c_table.pso", "c_table", "pso")
_register("stack.clock.c_driver.pso", "c_driver", "pso")
_register("stack.clock.c_both.pso", "c_both", "pso")


# -- known-bad C variants, caught at stack level ---------------------------------------------

def _caught(cfg: StackClockCConfig, examples: int) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_stack_clock_c(cfg, examples, derandomize=True,
                                                 shrink=False), keep_last=60)

    return run


# (name, what it breaks, requirements, configuration, examples)
C_MUTANTS: list[tuple[str, str, tuple[str, ...], StackClockCConfig, int]] = [
    ("stack.clock.c_mutant.no_seq_recheck.tso",
     "torn read: the driver's C reader returns without re-reading seq (NO_SEQ_RECHECK, "
     "x86-TSO)", ("SHM-TABLE-005", "SHM-TABLE-007", "SHM-CLOCK-003"),
     c_config("c_driver", "tso", "NO_SEQ_RECHECK"), 100),
    ("stack.clock.c_mutant.no_wmb_after_data.pso",
     "torn read: the device's C writer stores the even seq without a wmb after the time's "
     "words (NO_WMB_AFTER_DATA, PSO)", ("SHM-TABLE-004", "SHM-TABLE-007", "SHM-CLOCK-003"),
     c_config("c_table", "pso", "NO_WMB_AFTER_DATA"), 100),
    ("stack.clock.c_mutant.ack_after_read.sc",
     "stale value: the driver's C service clears pending after its poll, and sleeps on a "
     "superseded time (ACK_AFTER_READ, SC: a logic bug)",
     ("SHM-SIGNAL-005", "SHM-SIGNAL-010", "SHM-CLOCK-003"),
     c_config("c_driver", "sc", "ACK_AFTER_READ"), 200),
    ("stack.clock.c_mutant.inject_without_mb.tso",
     "stale value: the device's C sender loads enabled without a full barrier after "
     "pending := 1, and the driver sleeps on a superseded time (NO_MB_INJECT, x86-TSO)",
     ("SHM-SIGNAL-004", "SHM-SIGNAL-010", "SHM-CLOCK-003"),
     c_config("c_table", "tso", "NO_MB_INJECT"), 200),
]

for _name, _bug, _reqs, _cfg, _examples in C_MUTANTS:
    registry.mutant(_name, _bug, _reqs, "hypothesis")(_caught(_cfg, _examples))
