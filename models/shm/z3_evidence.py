"""What the Z3 models of the shm table and of shm-signal (models/shm/table_z3.py,
signal_z3.py) do alike with a model: prove it (the inductive invariant implies the safety
claims, and the witnesses show the claims are not vacuous) and refute a known-bad variant
(a bounded run that breaks a claim)."""

from __future__ import annotations

import z3
from virtiospec.models import registry
from virtiospec.models.memory.z3mem import witness
from virtiospec.models.z3util import Named, Pred, System, bmc, check_inductive

Witnesses = list[tuple[str, Pred, list[str]]]


def proved(system: System, invariant: Named, safety: Named, sc: System,
           witnesses: Witnesses) -> registry.Evidence:
    """``invariant`` is inductive in ``system`` and implies ``safety``; each witness's named
    steps reach its target in ``sc`` (SC runs are runs of every store-buffer model)."""
    res = check_inductive(system, invariant, safety)
    stats = {"queries": float(res.queries), "actions": float(len(system.actions))}
    if not res.ok:
        return registry.Evidence(False, f"{res.failure}; pre-state {res.cti}", stats=stats)
    for name, target, steps in witnesses:
        if not witness(sc, steps, target):
            return registry.Evidence(False, f"vacuous: no run reaches '{name}'", stats=stats)
    return registry.Evidence(
        True, f"inductive invariant of {len(invariant)} conjuncts, "
              f"{len(system.actions)} actions, {res.queries} queries; "
              f"{len(witnesses)} witnesses reachable", stats=stats)


def refuted(system: System, claim: tuple[str, Pred], depth: int, mode: str,
            broken: str = "") -> registry.Evidence:
    """A run of at most ``depth`` steps that breaks ``claim`` (``broken``: how the detail
    says so; by default the claim's name and "broken")."""
    name, safe = claim
    path = bmc(system, lambda s: z3.Not(safe(s)), depth, stride=4)
    if path is None:
        return registry.Evidence(False, f"no run of {depth} steps breaks {name}")
    return registry.Evidence(True, f"{broken or name + ' broken'} in {path.length} steps "
                                   f"under {mode.upper()}", path.steps,
                             stats={"steps": path.length})
