"""Load the requirement catalogue from the Markdown files in spec/.

A requirement is a level-3 heading ``### ID · side · level · source`` followed by its
text, up to the next heading. IDs look like ``RING-SPLIT-012``: a layer prefix and a
three-digit number. The same ID is cited by the models, the reference code and the
tests that cover it; :func:`citations` finds those citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent
ID_PATTERN = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d{3}"
ID_RE = re.compile(rf"\b{ID_PATTERN}\b")
SIDES = ("driver", "device", "both")
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
_HEADING = re.compile(
    rf"^### (?P<id>{ID_PATTERN}) · (?P<side>\w+) · (?P<level>[A-Z ]+?) · (?P<source>.+?)\s*$"
)


class CatalogueError(ValueError):
    """A spec file breaks the requirement format."""


@dataclass(frozen=True)
class Requirement:
    id: str
    side: str
    level: str
    source: str
    text: str
    file: str
    line: int

    @property
    def layer(self) -> str:
        return self.id.rsplit("-", 1)[0]

    @property
    def normative(self) -> bool:
        """Backed by a VIRTIO normative statement (as opposed to one of ours)."""
        return self.source.startswith("VIRTIO")


def parse(text: str, file: str) -> list[Requirement]:
    reqs: list[Requirement] = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("### ") and ID_RE.search(line.split("·")[0]):
            m = _HEADING.match(line)
            if not m:
                raise CatalogueError(f"{file}:{n + 1}: malformed requirement heading: {line!r}")
            if m["side"] not in SIDES or m["level"] not in LEVELS:
                raise CatalogueError(f"{file}:{n + 1}: bad side or level in {line!r}")
            body: list[str] = []
            for follow in lines[n + 1 :]:
                if follow.startswith("#"):
                    break
                body.append(follow)
            text_ = " ".join(s.strip() for s in body if s.strip())
            if not text_:
                raise CatalogueError(f"{file}:{n + 1}: requirement {m['id']} has no text")
            reqs.append(
                Requirement(m["id"], m["side"], m["level"], m["source"], text_, file, n + 1)
            )
    return reqs


@cache
def load(spec_dir: Path = SPEC_DIR) -> dict[str, Requirement]:
    """Every requirement in spec/*.md, by ID. Duplicate IDs are an error."""
    out: dict[str, Requirement] = {}
    for path in sorted(spec_dir.glob("*.md")):
        for req in parse(path.read_text(encoding="utf-8"), path.name):
            if req.id in out:
                raise CatalogueError(f"{req.id} defined twice ({out[req.id].file}, {path.name})")
            out[req.id] = req
    return out


def get(req_id: str) -> Requirement:
    try:
        return load()[req_id]
    except KeyError:
        raise CatalogueError(f"unknown requirement ID {req_id}") from None


def citations(root: Path, folders: tuple[str, ...]) -> dict[str, dict[str, set[str]]]:
    """Map requirement ID -> folder -> set of files (relative to root) that cite it."""
    out: dict[str, dict[str, set[str]]] = {}
    for folder in folders:
        base = root / folder
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in {".py", ".c", ".h"} or ".venv" in path.parts:
                continue
            for rid in set(ID_RE.findall(path.read_text(encoding="utf-8", errors="replace"))):
                out.setdefault(rid, {}).setdefault(folder, set()).add(
                    str(path.relative_to(root))
                )
    return out
