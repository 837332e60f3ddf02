"""Requirement coverage: for each ID in spec/, what proves, implements and checks it.

Sources: the model registry (proofs, state-machine checks, known-bad variants, by their
``reqs``), the conformance cases (by their ``reqs``), and citations of the ID in the files
of ``models/``, ``reference/``, ``conformance/`` and ``tests/``.

Status: *covered* when reference code implements it and a test or conformance case checks
it (and, for our own ``virtiospec`` requirements about concurrency, a model exists where
one cites it); *partly* when something cites it; *not yet* otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from virtiospec.spec import catalogue

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Coverage:
    req: catalogue.Requirement
    models: list[str] = field(default_factory=list)  # registry entry names
    model_files: list[str] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)  # conformance case IDs
    tests: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        checked = bool(self.tests or self.cases)
        if self.reference and checked:
            return "covered"
        if self.models or self.model_files or self.reference or checked:
            return "partly"
        return "not yet"


def compute(root: Path = ROOT) -> dict[str, Coverage]:
    from virtiospec.conformance import cases
    from virtiospec.models import registry

    registry.discover()
    out = {rid: Coverage(req) for rid, req in catalogue.load().items()}
    for table in (registry.PROOFS, registry.CHECKS, registry.MUTANTS):
        for entry in table.values():
            for rid in entry.reqs:
                out[rid].models.append(entry.name)
    for case in cases.discover().values():
        for rid in case.reqs:
            out[rid].cases.append(case.id)
    cites = catalogue.citations(root, ("models", "reference", "conformance", "tests"))
    for rid, where in cites.items():
        if rid not in out:
            continue
        out[rid].model_files = sorted(where.get("models", ()))
        out[rid].reference = sorted(where.get("reference", ()))
        out[rid].tests = sorted(where.get("tests", ()))
    return out
