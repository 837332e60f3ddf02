"""The virtio-shm models: every proof holds, every known-bad variant is refuted or caught, the
machines pass on the reference, and the barriers that only TSO needs are shown to be so."""

from __future__ import annotations

import pytest
import z3
from virtiospec.models import registry
from virtiospec.models.shm.signal_z3 import RECEIVER, SENDER, refute
from virtiospec.models.shm.table_z3 import Variant, build
from virtiospec.models.z3util import bmc

registry.discover()
PROOFS = sorted(n for n in registry.PROOFS if n.startswith("shm."))
MUTANTS = sorted(n for n in registry.MUTANTS if n.startswith("shm."))
CHECKS = sorted(n for n in registry.CHECKS if n.startswith("shm."))


def test_the_shm_models_are_registered() -> None:
    assert {"shm.table.sc", "shm.table.tso", "shm.table.space", "shm.signal.sc",
            "shm.signal.tso"} <= set(PROOFS)
    bugs = {n.rsplit(".", 1)[0] for n in MUTANTS}
    assert {"shm.mutant.table.no_recheck", "shm.mutant.table.no_wmb_after_data",
            "shm.mutant.signal.ack_after_processing",
            "shm.mutant.signal.enable_without_recheck"} <= bugs
    assert all(registry.MUTANTS[n].method == ("z3" if n.endswith(".z3") else "hypothesis")
               for n in MUTANTS)


@pytest.mark.req("SHM-TABLE-007", "SHM-TABLE-010", "SHM-SIGNAL-010", "SHM-SIGNAL-011")
@pytest.mark.parametrize("name", PROOFS)
def test_each_proof_holds(name: str) -> None:
    ev = registry.PROOFS[name].run()
    assert ev.ok, ev.detail


@pytest.mark.parametrize("name", MUTANTS)
def test_each_mutant_is_refuted(name: str) -> None:
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.trace, "a refutation comes with the interleaving that shows the bug"


@pytest.mark.req("SHM-TABLE-006", "SHM-TABLE-008", "SHM-TABLE-010", "SHM-SIGNAL-008",
                 "SHM-SIGNAL-010")
@pytest.mark.parametrize("name", CHECKS)
def test_each_machine_passes_on_the_reference(name: str) -> None:
    ev = registry.CHECKS[name].run(30)
    assert ev.ok, ev.detail


@pytest.mark.req("SHM-SIGNAL-003", "SHM-SIGNAL-004", "SHM-SIGNAL-006")
@pytest.mark.parametrize(("sender", "receiver"), [
    (SENDER, RECEIVER[:5] + RECEIVER[6:]),  # no mb after enabling
    (SENDER[:4] + SENDER[5:], RECEIVER),  # no mb after setting pending
])
def test_the_full_barriers_are_needed_only_with_store_buffers(
        sender: tuple[str, ...], receiver: tuple[str, ...]) -> None:
    """Under SC no run of up to 16 steps loses a wakeup without them (bounded); under TSO one
    does (the mutants above)."""
    assert not refute("sc", 16, sender=sender, receiver=receiver).ok
    assert refute("tso", 18, sender=sender, receiver=receiver).ok


@pytest.mark.req("SHM-TABLE-004")
def test_the_write_barriers_are_invisible_under_tso() -> None:
    """x86 never reorders stores: without either wmb no run of up to 14 steps tears a read
    under TSO (bounded), while PSO does (the mutants above)."""
    for v in (Variant(wmb_after_data=False), Variant(wmb_before_data=False)):
        system, _ = build("tso", v, bits=16)
        assert bmc(system, lambda s: z3.And(s["r.pc"] == 6, s["r.a"] != s["r.s1"]), 14,
                   stride=7) is None
