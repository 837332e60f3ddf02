"""Generate the requirement pages of the documentation site from spec/.

One page per spec file: every requirement with its text, its VIRTIO source, and what
proves it (models), implements it (reference) and checks it (conformance cases, tests), each
linked to the source file; and an index page with the coverage matrix.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from virtiospec.coverage import STATUSES, Coverage, compute

REPO_URL = "../../"  # files are linked relative to the site root's parent: the repository


def _files(paths: list[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths) if paths else "—"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "—"


def requirement_block(c: Coverage) -> str:
    r = c.req
    return "\n".join([
        f"### {r.id} {{ #{r.id} }}",
        "",
        f"**{r.side} · {r.level} · {r.source}** — status: *{c.status}*",
        "",
        f"> {r.text}",
        "",
        "| | |",
        "| --- | --- |",
        f"| proved / checked by models | {_names(c.models)} |",
        f"| known-bad variants | {_names(c.mutants)} |",
        f"| model files | {_files(c.model_files)} |",
        f"| reference code | {_files(c.reference)} |",
        f"| conformance cases | {_names(c.cases)} |",
        f"| tests | {_files(c.tests)} |",
        "",
    ])


def generate(out: Path) -> list[Path]:
    """Write ``out/index.md`` and one page per spec file; returns the pages written."""
    out.mkdir(parents=True, exist_ok=True)
    tests = Path("tests")
    cov = compute(tests if tests.is_dir() else None)
    by_file: dict[str, list[Coverage]] = defaultdict(list)
    for c in cov.values():
        by_file[c.req.file].append(c)
    written = []
    index = ["# Requirements and their coverage", "",
             "Generated from `spec/` by `virtiospec docs`. *checked*: a conformance case "
             "checks it, or a model does and a known-bad variant that breaks it is registered; "
             "*implemented*: reference code (or a model without a known-bad variant) cites it; "
             "*out of scope*: the entry gives the reason; *not yet*: nothing cites it. Tests "
             "are listed, not counted. `virtiospec coverage --spec` gives the same per "
             "normative block of VIRTIO 1.4.", "",
             "| ID | side | level | source | models | reference | cases | tests | status |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for file, rows in sorted(by_file.items()):
        page = out / file
        lines = [f"# `spec/{file}`", "", "Generated from the normative text; each requirement "
                 "shows what proves, implements and checks it.", ""]
        lines += [requirement_block(c) for c in rows]
        page.write_text("\n".join(lines), encoding="utf-8")
        written.append(page)
        for c in rows:
            r = c.req
            index.append(f"| [{r.id}]({file}#{r.id}) | {r.side} | {r.level} | {r.source} | "
                         f"{len(c.models)} | {len(c.reference)} | {len(c.cases)} | "
                         f"{len(c.tests)} | {c.status} |")
    counts = {s: sum(1 for c in cov.values() if c.status == s) for s in STATUSES}
    index[2:2] = [", ".join(f"**{v}** {k}" for k, v in counts.items()), ""]
    (out / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    written.append(out / "index.md")
    return written
