"""Every registered name can be found by grep: the module that registers a proof, a check
or a known-bad variant writes its full name as a quoted string (issue 15, item 5), even
when the registration runs in a loop over a table."""

from __future__ import annotations

import json
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
