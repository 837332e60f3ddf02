"""Every registered name can be found by grep: the module that registers a proof, a check
or a known-bad variant writes its full name as a quoted string (issue 15, item 5), even
when the registration runs in a loop over a table; so does each conformance case, or the
table key its ID ends with."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter: registry.discover() imports each model module once per
# process, and the registering module is only known while it imports.
_RECORD = r"""
import json, sys
from virtiospec.models import registry

seen = {}

def _wrap(kind, real):
    def wrapper(name, *args, **kwargs):
        caller = sys._getframe(1).f_globals
        seen[f"{kind} {name}"] = (caller["__name__"], caller["__file__"])
        return real(name, *args, **kwargs)
    return wrapper

for _kind in ("proof", "check", "mutant"):
    setattr(registry, _kind, _wrap(_kind, getattr(registry, _kind)))
registry.discover()
total = len(registry.PROOFS) + len(registry.CHECKS) + len(registry.MUTANTS)
print(json.dumps({"total": total, "seen": seen}))
"""


def _registrations() -> tuple[int, dict[str, list[str]]]:
    out = subprocess.run([sys.executable, "-c", _RECORD], check=True, capture_output=True,
                         text=True, timeout=300).stdout
    data = json.loads(out.splitlines()[-1])
    return data["total"], data["seen"]


def test_every_registered_name_is_written_in_its_module() -> None:
    total, seen = _registrations()
    assert len(seen) == total > 300  # 36 proofs, 107 checks, 192 variants (issue 15)
    assert {e.split()[0] for e in seen} == {"proof", "check", "mutant"}
    missing = sorted(f"{entry} ({module})" for entry, (module, path) in seen.items()
                     if '"{}"'.format(entry.split(" ", 1)[1]) not in Path(path).read_text())
    assert not missing, f"names not written literally where they are registered: {missing}"


# The conformance suites write most case IDs in full; a case built from a table row writes
# the row's key, which the ID ends with (after a dot, or after the dash of a prefix such as
# "rejects-"), in the suite module that registers it or in a suite module it imports the
# table from.
_RECORD_CASES = r"""
import json, sys
from virtiospec.conformance import cases

seen = {}
real = cases.case

def wrapper(id, *args, **kwargs):
    frame, files = sys._getframe(1), []
    while frame is not None:
        path = frame.f_globals.get("__file__") or ""
        if "/suites/" in path and path not in files:
            files.append(path)
        frame = frame.f_back
    seen[id] = files
    return real(id, *args, **kwargs)

cases.case = wrapper
cases.discover()
print(json.dumps({"total": len(cases.CASES), "seen": seen}))
"""


def _keys(case_id: str) -> list[str]:
    """The case ID, and each tail of it after a dot, with and without its first word."""
    keys = [case_id]
    for at in (i + 1 for i, ch in enumerate(case_id) if ch == "."):
        tail = case_id[at:]
        keys.append(tail)
        if "-" in tail:
            keys.append(tail.split("-", 1)[1])
    return [k for k in keys if len(k) >= 4]


def _sources(files: list[str]) -> list[str]:
    texts = [Path(f).read_text() for f in files]
    for text in list(texts):
        for mod in re.findall(r"^from (virtiospec\.conformance\.suites\.[\w.]+) import", text,
                              re.M):
            spec = importlib.util.find_spec(mod)
            assert spec is not None and spec.origin is not None, mod
            texts.append(Path(spec.origin).read_text())
    return texts


def test_every_case_id_or_its_table_key_is_written_in_its_suite() -> None:
    out = subprocess.run([sys.executable, "-c", _RECORD_CASES], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    data = json.loads(out.splitlines()[-1])
    seen: dict[str, list[str]] = data["seen"]
    assert len(seen) == data["total"] > 700  # 737 cases (issue 15)
    missing = sorted(cid for cid, files in seen.items()
                     if not any(f'"{key}"' in text for key in _keys(cid)
                                for text in _sources(files)))
    assert not missing, f"case IDs with neither ID nor table key in their suite: {missing}"
    assert _keys("ring.split.device.rejects-head-out-of-range")[-1] == "head-out-of-range"
