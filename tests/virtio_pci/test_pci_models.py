"""The pci models: the generation proof holds, the Hypothesis machines pass against the
references, and every pci mutant is refuted by the requirement it breaks."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.virtio_pci import driver_init as pci_driver_init
from virtiospec.models.virtio_pci import generation as pci_generation
from virtiospec.models.virtio_pci import status as pci_status

assert pci_driver_init and pci_generation and pci_status  # they register on import
PROOFS = registry.select(registry.PROOFS, ["pci"])
CHECKS = registry.select(registry.CHECKS, ["pci"])
MUTANTS = registry.select(registry.MUTANTS, ["pci"])


def test_pci_models_are_registered() -> None:
    assert {p.name for p in PROOFS} >= {"pci.generation.lazy"}
    assert {c.name for c in CHECKS} >= {"pci.status.device", "pci.init.driver",
                                        "pci.generation.driver"}
    assert len(MUTANTS) >= 12
    assert all(m.name.startswith("pci.mutant.") for m in MUTANTS)


@pytest.mark.parametrize("proof", PROOFS, ids=[p.name for p in PROOFS])
def test_proof_holds(proof: registry.Proof) -> None:
    ev = proof.run()
    assert ev.ok, ev.detail


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_check_passes(check: registry.Check) -> None:
    ev = check.run(40)
    assert ev.ok, ev.detail
    assert ev.stats["examples"] >= 40


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_refuted_by_its_requirement(mutant: registry.Mutant) -> None:
    ev = mutant.run()
    assert ev.ok, ev.detail
    assert any(req in ev.detail for req in mutant.reqs) or mutant.method == "z3", ev.detail
    assert ev.trace, "a counterexample comes with its trace"
