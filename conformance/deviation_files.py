"""Known deviations of a peer, as data: a TOML file per peer lists the cases that fail on it
for a documented reason, so that a CI gate fails only on what is new.

```toml
peer = "QEMU"

[[deviation]]
case = "pci.virtio.rejects-odd-queue-size"
requirement = "VIRTIO-PCI-024"
reason = "queue_size reads back any value the driver wrote (3, 255, 100)"
version = "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)"
```

An entry may add ``options = "ctrl_vq=off"`` (comma-separated ``KEY=VAL``): it then applies
only to a target configured with all of them (the target's ``options``: QEMU's properties,
DPDK's devargs), for a deviation that only one configuration of the peer shows.

A listed case still runs and is still reported: a failure (FAIL, NON-STRICT or EXTENSION)
becomes XFAIL, a pass (PASS or REJECT) becomes XPASS, which counts against the run (the peer
changed: update the file). ``qemu`` and ``dpdk`` use the files shipped in
``conformance/deviations/`` unless ``--deviations FILE`` names others; ``--strict`` uses none.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from virtiospec.conformance.cases import FAILED, PASSED, Case, Outcome, Result, TargetError
from virtiospec.spec import catalogue

SHIPPED = Path(__file__).resolve().parent / "deviations"
FIELDS = ("case", "requirement", "reason", "version")
OPTIONAL = ("options",)


@dataclass(frozen=True)
class Deviation:
    case: str
    requirement: str
    reason: str
    version: str
    file: str

    def describe(self) -> str:
        return f"{self.requirement}: {self.reason} ({self.version}; {self.file})"


@dataclass
class Deviations:
    by_case: dict[str, Deviation]
    files: list[str]

    def apply(self, case: Case, res: Result) -> Result:
        dev = self.by_case.get(case.id)
        if dev is None:
            return res
        if res.outcome in FAILED:
            return replace(res, outcome=Outcome.XFAIL, deviation=dev.describe(),
                           graded=f"{res.outcome.value} ({res.graded})")
        if res.outcome in PASSED:
            return replace(res, outcome=Outcome.XPASS, deviation=dev.describe(),
                           detail=f"listed as a known deviation, but {res.outcome.value}: "
                                  f"{res.detail}".rstrip(": "))
        return res  # SKIP or WEDGED stay what they are

    def __len__(self) -> int:
        return len(self.by_case)


def _options(text: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise TargetError(f"{where}: options: expected KEY=VAL[,KEY=VAL...], got {text!r}")
        out[key] = value
    return out


def load(paths: list[Path], known_cases: dict[str, Case],
         options: dict[str, str] | None = None) -> Deviations:
    """Read deviation files; a malformed file or an entry naming an unknown case, or a
    requirement the case does not check, is a :class:`TargetError` naming the file and entry.
    ``options``: the target's configuration; entries that name options apply only when the
    target has every one of them."""
    options = options or {}
    by_case: dict[str, Deviation] = {}
    for path in paths:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise TargetError(f"deviations {path}: {err.strerror or err}") from None
        except tomllib.TOMLDecodeError as err:
            raise TargetError(f"deviations {path}: not TOML: {err}") from None
        entries = data.get("deviation", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TargetError(f"deviations {path}: expected [[deviation]] tables")
        for n, entry in enumerate(entries, 1):
            where = f"deviations {path}, entry {n}"
            missing = [f for f in FIELDS if not isinstance(entry.get(f), str) or not entry[f]]
            if missing:
                raise TargetError(f"{where}: missing {', '.join(missing)} "
                                  f"(each entry has {', '.join(FIELDS)})")
            extra = sorted(set(entry) - set(FIELDS) - set(OPTIONAL))
            if extra:
                raise TargetError(f"{where}: unknown field {', '.join(extra)}")
            case = known_cases.get(entry["case"])
            if case is None:
                raise TargetError(f"{where}: no case {entry['case']!r}")
            if entry["requirement"] not in case.reqs:
                try:
                    catalogue.get(entry["requirement"])
                except catalogue.CatalogueError as err:
                    raise TargetError(f"{where}: {err}") from None
                raise TargetError(f"{where}: {entry['case']} does not check "
                                  f"{entry['requirement']} (it checks {', '.join(case.reqs)})")
            when = entry.get("options", "")
            if not isinstance(when, str):
                raise TargetError(f"{where}: options must be a string")
            wanted = _options(when, where) if when else {}
            if any(options.get(k) != v for k, v in wanted.items()):
                continue  # a deviation of another configuration of the peer
            by_case[case.id] = Deviation(case.id, entry["requirement"], entry["reason"],
                                         entry["version"] + (f", with {when}" if when else ""),
                                         path.name)
    return Deviations(by_case, [str(p) for p in paths])


def shipped(name: str) -> Path | None:
    """The deviation file shipped for target ``name`` (``qemu``, ``dpdk``), if any."""
    path = SHIPPED / f"{name}.toml"
    return path if path.is_file() else None
