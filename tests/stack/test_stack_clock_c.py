"""The clock over the stack with shm.c's table and signal inside the stepped stack
(models/stack/clock_c.py): the C sides keep SHM-TABLE-007, SHM-TABLE-008, SHM-TABLE-009,
SHM-SIGNAL-010 and SHM-CLOCK-003 under x86-TSO and PSO, and each known-bad C variant, torn
read or stale value, is caught by the stack machine with the requirement it breaks."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.stack.clock_c import (
    C_MUTANTS,
    CStackClockMachine,
    SeededCTableWriter,
    c_config,
    run_stack_clock_c,
)
from virtiospec.reference.shm.c.stepped import CClockDriver, CSignalSender, CTableWriter


@pytest.mark.parametrize("who,mode", [("c_table", "tso"), ("c_table", "pso"),
                                      ("c_driver", "pso"), ("c_both", "pso")])
def test_c_sides_keep_the_clock(who: str, mode: str) -> None:
    ev = run_stack_clock_c(c_config(who, mode), 12)  # type: ignore[arg-type]
    assert ev.ok, ev.detail
    assert ev.stats["times acted on"] > 0  # the driver did act, on times the C side made


def test_the_c_sides_are_in_place() -> None:
    cls = type("T", (CStackClockMachine,), {"cfg": c_config("c_both", "pso")})
    m = cls()
    m.setup()
    backend = m.stack.backend
    assert isinstance(backend.clock.writer, CTableWriter)
    assert isinstance(backend.clock.signal, CSignalSender)
    assert isinstance(m.clock, CClockDriver)
    # the C writer published the stack's first time: its seq is the one in the region
    lay = backend.clock.layout.table
    seq = backend.view.read(lay.region.base + lay.seq(0), 4)
    assert backend.clock.writer.seqs[0] == seq == max(m.versions) == 2


def test_the_c_writer_carries_on_from_the_python_writers_seq() -> None:
    cls = type("T", (CStackClockMachine,), {"cfg": c_config("c_table", "tso")})
    m = cls()
    m.setup()
    writer = m.stack.backend.clock.writer
    assert isinstance(writer, SeededCTableWriter)
    writer.set_seqs([6])
    assert writer.seqs == [6]


def test_checks_and_variants_are_registered() -> None:
    registry.discover()
    for name in ("stack.clock.c_table.tso", "stack.clock.c_table.pso",
                 "stack.clock.c_driver.pso", "stack.clock.c_both.pso"):
        assert name in registry.CHECKS
    for name, *_ in C_MUTANTS:
        assert name in registry.MUTANTS


@pytest.mark.parametrize("name,req", [
    ("stack.clock.c_mutant.no_seq_recheck.tso", "SHM-TABLE-007"),
    ("stack.clock.c_mutant.no_wmb_after_data.pso", "SHM-TABLE-007"),
    ("stack.clock.c_mutant.ack_after_read.sc", "SHM-SIGNAL-010"),
    ("stack.clock.c_mutant.inject_without_mb.tso", "SHM-SIGNAL-010"),
])
def test_c_variant_caught_at_stack_level(name: str, req: str) -> None:
    registry.discover()
    ev = registry.MUTANTS[name].run()
    assert ev.ok, f"{name} survived: {ev.detail}"
    assert req in ev.detail
