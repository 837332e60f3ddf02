"""The catalogue against VIRTIO 1.4 cs01's own source: spec/virtio-1.4-index.json (written by
tools/spec_index.py from the LaTeX at tag v1.4-cs01) lists every normative block of chapters
2, 3, 4.1 and 5.1 with its keyword counts. Every section spec/ cites exists there, and for
every block the entries citing it account for exactly its statements, keyword by keyword."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner
from virtiospec.spec import catalogue

from virtiospec import coverage
from virtiospec.cli import app

INDEX = coverage.load_index()
SECTIONS = {s["section"]: s for s in INDEX["sections"]}  # type: ignore[attr-defined]
SCOPE = [str(s) for s in INDEX["scope"]]  # type: ignore[attr-defined]
INDEXED = [str(s) for s in INDEX["indexed"]]  # type: ignore[attr-defined]


def test_index_is_facts_of_the_tagged_source() -> None:
    assert INDEX["tag"] == "v1.4-cs01"
    assert re.fullmatch(r"[0-9a-f]{40}", str(INDEX["commit"]))
    blocks = [s for s in SECTIONS.values() if "counts" in s]
    assert len(blocks) > 90
    # spot facts, checked by hand against the source
    assert SECTIONS["2.7.5.3.1"]["counts"]["MUST NOT"] == 4
    assert SECTIONS["2.7.5.3.1"]["counts"]["MUST"] == 1
    assert SECTIONS["2.6.1.1.1"]["title"] == "Device Requirements: Virtqueue Reset"
    assert SECTIONS["5.1.9"]["title"] == "Device Operation"
    assert SECTIONS["5.1.6"]["title"] == "Device and driver capabilities"
    assert "2.6.4.1" not in SECTIONS
    # no sentence of the spec is stored: entries hold numbers, titles, sides and counts only
    for s in SECTIONS.values():
        assert set(s) <= {"section", "title", "side", "counts"}
        assert len(str(s["title"])) < 100


def _cited_sections(text: str) -> list[str]:
    return re.findall(r"VIRTIO 1\.4 §(\d+(?:\.\d+)*)", text)


def test_every_cited_section_exists_in_1_4() -> None:
    for r in catalogue.load().values():
        for field in (r.source, r.extends, r.overrides):
            for sec in _cited_sections(field):
                assert sec in SECTIONS, f"{r.id} ({r.file}) cites §{sec}, not in VIRTIO 1.4"


def test_prose_citations_in_spec_exist_in_1_4() -> None:
    for path in sorted(catalogue.SPEC_DIR.glob("*.md")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for sec in re.findall(r"§(\d+(?:\.\d+)+|\d+)\b", line):
                if coverage.in_scope(sec, INDEXED):  # the chapters the index holds
                    assert sec in SECTIONS, f"{path.name}:{n} cites §{sec}, not in VIRTIO 1.4"


def test_per_section_counts_match_the_index() -> None:
    got: dict[str, Counter[str]] = {}
    for r in catalogue.load().values():
        for sec, kw in r.statements:
            got.setdefault(sec, Counter())[kw] += 1
    wrong = []
    for sec, s in SECTIONS.items():
        if "counts" not in s or not coverage.in_scope(sec, SCOPE):
            continue
        want = Counter({k: v for k, v in s["counts"].items() if v})
        if got.get(sec, Counter()) != want:
            wrong.append(f"§{sec}: spec {dict(want)}, catalogue {dict(got.get(sec, {}))}")
    for sec in got:
        if coverage.in_scope(sec, SCOPE) and "counts" not in SECTIONS.get(sec, {}):
            wrong.append(f"§{sec} is no normative block, yet entries give it statements")
    assert not wrong, "\n".join(wrong)


def test_entries_of_a_block_have_its_side() -> None:
    for r in catalogue.load().values():
        for sec, _ in r.statements:
            block = SECTIONS.get(sec, {})
            if "side" in block:
                assert r.side in (block["side"], "both"), \
                    f"{r.id}: {r.side} entry accounts for §{sec}, a {block['side']} block"


def test_extensions_name_what_they_extend() -> None:
    for r in catalogue.load().values():
        for field in (r.extends, r.overrides):
            if field:
                assert r.source == "virtiospec", f"{r.id}: only our own rules extend VIRTIO"
                assert re.match(r"VIRTIO 1\.4 §\S+ (MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)$",
                                field), f"{r.id}: {field!r}"


def test_statement_and_status_lines_are_checked() -> None:
    rid = "X-" + "001"  # built at run time: not a citation
    text = f"### {rid} · driver · MUST · VIRTIO 1.4 §2.1.1\nsome words\nStatements: 2 MUST, MAY\n"
    (r,) = catalogue.parse(text, "x.md")
    assert r.statements == (("2.1.1", "MUST"),) * 2 + (("2.1.1", "MAY"),)
    assert r.text == "some words"
    (r,) = catalogue.parse(text.replace("2 MUST", "§2.1.2 MUST"), "x.md")
    assert r.statements == (("2.1.2", "MUST"), ("2.1.1", "MAY"))
    with pytest.raises(catalogue.CatalogueError):
        catalogue.parse(text.replace("MAY\n", "MIGHT\n"), "x.md")
    with pytest.raises(catalogue.CatalogueError):
        catalogue.parse(text + "Status: skipped\n", "x.md")
    (r,) = catalogue.parse(text + "Status: out of scope: feature not offered\n", "x.md")
    assert r.out_of_scope


def test_ranges_in_citations_expand() -> None:
    known = {"RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-083", "NET-010", "NET-011"}
    out = catalogue.expand_ranges("RING-SPLIT-080..083; NET-010/-011", known)
    assert out.split("; ")[0].split() == ["RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-083"]
    assert out.split("; ")[1].split() == ["NET-010", "NET-011"]


def test_coverage_spec_accounts_for_every_statement() -> None:
    res = CliRunner().invoke(app, ["coverage", "--spec", "--json"])
    doc = json.loads(res.stdout)
    assert doc["unaccounted"] == [], doc["unaccounted"]
    assert res.exit_code == 0
    rows = doc["sections"]
    assert sum(r["spec"] for r in rows) == sum(r["catalogued"] for r in rows) > 600
    for r in rows:
        assert r["checked"] + r["implemented"] + r["out_of_scope"] + r["not_yet"] == r["spec"]


def test_a_model_without_a_known_bad_variant_does_not_check() -> None:
    req = next(iter(catalogue.load().values()))
    c = coverage.Coverage(req, models=["some.proof"])
    assert c.status in ("implemented", "out of scope")
    c.mutants.append("some.mutant")
    assert c.status in ("checked", "out of scope")


def test_coverage_spec_fails_when_a_statement_is_unaccounted_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = coverage.compute()
    # a known-bad catalogue: the entry for the IN_ORDER rule of §2.7.5.3.1 is missing
    missing = {rid: c for rid, c in full.items() if rid != "RING-SPLIT-026"}
    bad = coverage.unaccounted(coverage.spec_rows(missing))
    assert len(bad) == 1 and bad[0].startswith("§2.7.5.3.1 ") and "1 MUST" in bad[0]
    monkeypatch.setattr(coverage, "compute", lambda tests_dir=None: missing)
    res = CliRunner().invoke(app, ["coverage", "--spec"])
    assert res.exit_code == 1 and "unaccounted: §2.7.5.3.1" in res.stdout
    # and an entry claiming a statement the block does not have is caught as well
    extra = dict(full)
    r = full["RING-SPLIT-026"].req
    extra["RING-SPLIT-026"] = coverage.Coverage(
        catalogue.Requirement(r.id, r.side, r.level, r.source, r.text, r.file, r.line,
                              statements=r.statements * 2))
    bad = coverage.unaccounted(coverage.spec_rows(extra))
    assert len(bad) == 1 and "catalogued but not in the spec: 1 MUST" in bad[0]


def test_citations_name_every_id_in_full() -> None:
    """The project's rule: no `RING-SPLIT-080..083`, `RING-SPLIT-052/053` or `RING-PACKED-033,
    050` abbreviations (the scanner would still expand the first two)."""
    root = catalogue.SPEC_DIR.parent
    pre = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*"
    abbrev = re.compile(rf"\b{pre}-\d{{3}}(?:(?:\.\.|–|/-?)\d{{3}}\b|, \d{{3}}\b)")
    # the files that describe the abbreviations themselves
    documenting = {"spec/catalogue.py", "virtiospec/coverage.py", "docs/coverage.md",
                   "tests/project/test_spec_index.py"}
    found = []
    for folder in ("models", "reference", "conformance", "tests", "docs", "spec", "virtiospec"):
        for path in sorted((root / folder).rglob("*")):
            rel = str(path.relative_to(root))
            if (path.suffix not in {".py", ".c", ".h", ".md", ".toml"} or rel in documenting
                    or "requirements" in path.parts or "__pycache__" in path.parts):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                     .splitlines(), 1):
                found += [f"{rel}:{n}: {m[0]}" for m in abbrev.finditer(line)]
    assert not found, "cite IDs in full:\n" + "\n".join(found)
