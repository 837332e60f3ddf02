"""Load the requirement catalogue from the Markdown files in spec/.

A requirement is a level-3 heading ``### ID · side · level · source`` followed by its
text, up to the next heading. IDs look like ``RING-SPLIT-012``: a layer prefix and a
three-digit number. The same ID is cited by the models, the reference code and the
tests that cover it; :func:`citations` finds those citations, and expands a range
``RING-SPLIT-080..083`` (or ``RING-SPLIT-080..RING-SPLIT-083``) to every ID in it, and a
list ``RING-SPLIT-052/053`` to both IDs.

Lines of the body that start with one of these words are metadata, not text:

``Statements:``
    The RFC 2119 keywords of the cited VIRTIO section that this entry accounts for, e.g.
    ``Statements: MUST, SHOULD NOT`` or ``Statements: 3 MUST, MAY``; an item may name
    another section (``§4.1.4.5.1 MUST``) when one entry states rules of several blocks;
    ``none`` when the entry states a fact of descriptive text, not a keyword of a block.
    Without the line an entry citing a normative block of VIRTIO 1.4 (a "Driver/Device
    Requirements" section, listed in spec/virtio-1.4-index.json) accounts for one statement
    of its own level there; one citing descriptive text accounts for none.
``Status:``
    ``out of scope: <reason>`` for a statement the reference does not implement on
    purpose (e.g. a feature it does not offer). Whether an entry is checked or only
    implemented is computed by ``virtiospec coverage``, not declared.
``Extends:`` / ``Overrides:``
    For a ``virtiospec`` entry (one of ours): the VIRTIO statement it tightens or
    overrides, as ``VIRTIO 1.4 §<section> <keyword>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent
INDEX_FILE = "virtio-1.4-index.json"
ID_PATTERN = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d{3}"
ID_RE = re.compile(rf"\b{ID_PATTERN}\b")
SIDES = ("driver", "device", "both")
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
_META = ("Statements", "Status", "Extends", "Overrides")
_META_RE = re.compile(rf"^(?P<key>{'|'.join(_META)}):\s*(?P<value>.*?)\s*$")
_COUNTED = re.compile(
    r"^(?:§(?P<sec>\d+(?:\.\d+)*)\s+)?(?:(?P<n>\d+)\s+)?"
    r"(?P<kw>MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)$"
)
_RANGE_RE = re.compile(
    r"\b(?P<first>(?P<prefix>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)-(?P<lo>\d{3}))"
    r"(?:\.\.|–)(?:(?P=prefix)-)?(?P<hi>\d{3})\b"
)
_SLASH_RE = re.compile(
    r"\b(?P<prefix>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)-(?P<first>\d{3})(?P<rest>(?:/-?\d{3}\b)+)"
)
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
    # the (section, keyword) statements of VIRTIO 1.4 this entry accounts for
    statements: tuple[tuple[str, str], ...] = ()
    status: str = ""  # "out of scope: <reason>", or "" (computed by coverage)
    extends: str = ""  # for our own rules: the VIRTIO statement tightened
    overrides: str = ""  # ... or overridden

    @property
    def section(self) -> str:
        """The cited VIRTIO section number ("2.7.5.3.1"), or "" for our own rules."""
        m = re.match(r"VIRTIO 1\.4 §(\S+)", self.source)
        return m[1] if m else ""

    @property
    def out_of_scope(self) -> bool:
        return self.status.startswith("out of scope")

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
            meta: dict[str, str] = {}
            for follow in lines[n + 1 :]:
                if follow.startswith("#"):
                    break
                mm = _META_RE.match(follow.strip())
                if mm:
                    if mm["key"] in meta:
                        raise CatalogueError(f"{file}:{n + 1}: {m['id']}: two {mm['key']} lines")
                    meta[mm["key"]] = mm["value"]
                else:
                    body.append(follow)
            text_ = " ".join(s.strip() for s in body if s.strip())
            if not text_:
                raise CatalogueError(f"{file}:{n + 1}: requirement {m['id']} has no text")
            where = f"{file}:{n + 1}: {m['id']}"
            reqs.append(Requirement(
                m["id"], m["side"], m["level"], m["source"], text_, file, n + 1,
                statements=_statements(meta.get("Statements"), m["level"], m["source"], where),
                status=_status(meta.get("Status", ""), where),
                extends=meta.get("Extends", ""), overrides=meta.get("Overrides", ""),
            ))
    return reqs


@cache
def normative_blocks() -> frozenset[str]:
    """Sections of VIRTIO 1.4 that are normative blocks, from the index shipped in spec/."""
    path = SPEC_DIR / INDEX_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CatalogueError(f"cannot read the VIRTIO index {path}: {err}") from None
    return frozenset(s["section"] for s in doc["sections"] if "counts" in s)


def _statements(
    value: str | None, level: str, source: str, where: str
) -> tuple[tuple[str, str], ...]:
    m = re.match(r"VIRTIO 1\.4 §(\S+)", source)
    own = m[1] if m else ""
    if value is None:
        return ((own, level),) if own in normative_blocks() else ()
    if value == "none":
        return ()
    out: list[tuple[str, str]] = []
    for item in value.split(","):
        c = _COUNTED.match(item.strip())
        if not c or not (c["sec"] or own):
            raise CatalogueError(f"{where}: bad Statements item {item.strip()!r}")
        out += [(c["sec"] or own, c["kw"])] * int(c["n"] or 1)
    return tuple(out)


def _status(value: str, where: str) -> str:
    if value and not re.match(r"out of scope: \S", value):
        raise CatalogueError(f"{where}: Status must be 'out of scope: <reason>', got {value!r}")
    return value


def expand_ranges(text: str, known: Collection[str] | None = None) -> str:
    """Rewrite every ``PREFIX-080..083`` range and ``PREFIX-052/053`` list in text as the
    IDs it names; with ``known``, a range names only the known IDs inside it (the gaps in
    the numbering are not citations)."""

    def one(m: re.Match[str]) -> str:
        lo, hi = int(m["lo"]), int(m["hi"])
        if hi < lo or hi - lo > 200:
            return m[0]
        ids = [f"{m['prefix']}-{k:03d}" for k in range(lo, hi + 1)]
        if known is not None:
            ids = [i for i in ids if i in known or i in (ids[0], ids[-1])]
        return " ".join(ids)

    def slash(m: re.Match[str]) -> str:
        nums = [m["first"], *(n.lstrip("-") for n in m["rest"].strip("/").split("/"))]
        return " ".join(f"{m['prefix']}-{k}" for k in nums)

    return _SLASH_RE.sub(slash, _RANGE_RE.sub(one, text))


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
    known = set(load())
    for folder in folders:
        base = root / folder
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in {".py", ".c", ".h"} or ".venv" in path.parts:
                continue
            text = expand_ranges(path.read_text(encoding="utf-8", errors="replace"), known)
            for rid in set(ID_RE.findall(text)):
                out.setdefault(rid, {}).setdefault(folder, set()).add(
                    str(path.relative_to(root))
                )
    return out
