"""Requirement coverage: for each ID in spec/, what proves, implements and checks it; and for
each normative block of VIRTIO 1.4, how many of its statements the catalogue accounts for.

Sources: the model registry (proofs, state-machine checks, known-bad variants, by their
``reqs``), the conformance cases (by their ``reqs``), and citations of the ID in the source
files of the installed packages ``virtiospec.models``, ``virtiospec.reference`` and
``virtiospec.conformance`` (a range ``RING-SPLIT-080..083`` counts for every ID in it).
Everything is found through the packages, never through a checkout's layout, so the
answer is the same from a checkout and from an installed wheel; a checkout's ``tests/``
folder is read only when ``tests_dir`` is given, and is reported, not counted.

Status of an ID:

* ``out of scope``: the entry says so, with its reason (``Status: out of scope: ...``);
* ``checked``: a conformance case names it, or a model (proof or state-machine check) names
  it *and* a known-bad variant (models/registry.py) that breaks it is registered, so the
  model is shown to catch a violation (``virtiospec prove --mutants`` runs them);
* ``implemented``: reference code cites it, or a model without a known-bad variant does;
* ``not yet``: nothing does.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from virtiospec.spec import catalogue

INDEX_FILE = catalogue.INDEX_FILE
KEYWORDS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
STATUSES = ("checked", "implemented", "out of scope", "not yet")


@dataclass
class Coverage:
    req: catalogue.Requirement
    models: list[str] = field(default_factory=list)  # proof and check names
    mutants: list[str] = field(default_factory=list)  # known-bad variants that break it
    model_files: list[str] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)  # conformance case IDs
    tests: list[str] = field(default_factory=list)  # only with tests_dir; not counted

    @property
    def status(self) -> str:
        if self.req.out_of_scope:
            return "out of scope"
        if self.cases or (self.models and self.mutants):
            return "checked"
        if self.reference or self.models or self.model_files:
            return "implemented"
        return "not yet"


def source_dirs() -> dict[str, Path]:
    """The folders of the installed packages whose files cite requirement IDs."""
    import virtiospec.conformance
    import virtiospec.models
    import virtiospec.reference

    return {"models": Path(next(iter(virtiospec.models.__path__))),
            "reference": Path(next(iter(virtiospec.reference.__path__))),
            "conformance": Path(next(iter(virtiospec.conformance.__path__)))}


def _cited(dirs: dict[str, Path]) -> dict[str, dict[str, set[str]]]:
    known = set(catalogue.load())
    out: dict[str, dict[str, set[str]]] = {}
    for name, base in dirs.items():
        for path in sorted(base.rglob("*")):
            if path.suffix not in {".py", ".c", ".h"} or ".venv" in path.parts:
                continue
            text = catalogue.expand_ranges(path.read_text(encoding="utf-8", errors="replace"),
                                           known)
            for rid in set(catalogue.ID_RE.findall(text)):
                out.setdefault(rid, {}).setdefault(name, set()).add(
                    f"{name}/{path.relative_to(base)}")
    return out


def compute(tests_dir: Path | None = None) -> dict[str, Coverage]:
    from virtiospec.conformance import cases
    from virtiospec.models import registry

    registry.discover()
    out = {rid: Coverage(req) for rid, req in catalogue.load().items()}
    for table in (registry.PROOFS, registry.CHECKS):
        for entry in table.values():
            for rid in entry.reqs:
                out[rid].models.append(entry.name)
    for mutant in registry.MUTANTS.values():
        for rid in mutant.reqs:
            out[rid].mutants.append(mutant.name)
    for case in cases.discover().values():
        for rid in case.reqs:
            out[rid].cases.append(case.id)
    dirs = source_dirs()
    if tests_dir is not None:
        dirs["tests"] = tests_dir
    for rid, where in _cited(dirs).items():
        if rid not in out:
            continue
        out[rid].model_files = sorted(where.get("models", ()))
        out[rid].reference = sorted(where.get("reference", ()))
        out[rid].tests = sorted(where.get("tests", ()))
    return out


# --- the spec side: VIRTIO 1.4's normative blocks against the catalogue ---------------------


@dataclass
class SectionRow:
    section: str
    title: str
    side: str
    spec: Counter[str]  # keyword -> statements in the spec's block
    by_status: dict[str, Counter[str]]  # status -> keyword -> statements the catalogue gives
    ids: list[str]

    def total(self, status: str | None = None) -> int:
        if status is None:
            return sum(self.spec.values())
        return sum(self.by_status.get(status, Counter()).values())

    @property
    def catalogued(self) -> int:
        return sum(sum(c.values()) for c in self.by_status.values())

    @property
    def missing(self) -> Counter[str]:
        got: Counter[str] = Counter()
        for c in self.by_status.values():
            got += c
        return self.spec - got

    @property
    def extra(self) -> Counter[str]:
        got: Counter[str] = Counter()
        for c in self.by_status.values():
            got += c
        return got - self.spec


def load_index() -> dict[str, object]:
    path = catalogue.SPEC_DIR / INDEX_FILE
    try:
        doc: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise catalogue.CatalogueError(f"cannot read the VIRTIO index {path}: {err}") from None
    return doc


def in_scope(section: str, scope: list[str]) -> bool:
    return any(section == p or section.startswith(p + ".") for p in scope)


def spec_rows(cov: dict[str, Coverage] | None = None) -> list[SectionRow]:
    """One row per normative block of the chapters the catalogue must account for."""
    cov = compute() if cov is None else cov
    doc = load_index()
    scope = [str(s) for s in doc["scope"]]  # type: ignore[attr-defined]
    rows: list[SectionRow] = []
    by_section: dict[str, list[Coverage]] = {}
    for c in cov.values():
        for sec in dict.fromkeys(sec for sec, _ in c.req.statements):
            by_section.setdefault(sec, []).append(c)
    for s in doc["sections"]:  # type: ignore[attr-defined]
        if "counts" not in s or not in_scope(s["section"], scope):
            continue
        spec = Counter({k: v for k, v in s["counts"].items() if v})
        by_status: dict[str, Counter[str]] = {}
        entries = by_section.get(s["section"], [])
        for c in entries:
            by_status.setdefault(c.status, Counter()).update(
                kw for sec, kw in c.req.statements if sec == s["section"])
        rows.append(SectionRow(s["section"], s["title"], s["side"], spec, by_status,
                               [c.req.id for c in entries]))
    return rows


def unaccounted(rows: list[SectionRow]) -> list[str]:
    """One line per block whose statements the catalogue does not match exactly."""
    out = []
    for r in rows:
        if r.missing or r.extra:
            what = []
            if r.missing:
                what.append("not catalogued: " + ", ".join(f"{n} {k}" for k, n in
                                                             sorted(r.missing.items())))
            if r.extra:
                what.append("catalogued but not in the spec: " + ", ".join(
                    f"{n} {k}" for k, n in sorted(r.extra.items())))
            out.append(f"§{r.section} {r.title}: " + "; ".join(what))
    return out


def must_summary(rows: list[SectionRow], prefix: str) -> dict[str, int]:
    """MUST and MUST NOT statements under a section prefix, by status."""
    out = {"spec": 0, **{s: 0 for s in STATUSES}}
    for r in rows:
        if not in_scope(r.section, [prefix]):
            continue
        out["spec"] += r.spec["MUST"] + r.spec["MUST NOT"]
        for status, c in r.by_status.items():
            out[status] += c["MUST"] + c["MUST NOT"]
    return out
