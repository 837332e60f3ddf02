"""The cases of the shm suite as tests/shm/test_shm_conformance.py and
test_shm_conformance_broken.py run them, and how they read an outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome, Result
from virtiospec.conformance.ring.lib_stress import is_stress

# the C ABI's own case (one whole call of virtiospec_shm_service) and the two-thread stress
# (--stress, tests/shm/test_shm_lib_stress.py) run on native targets only: checked apart below
NATIVE = {c.id for c in cases.discover().values() if c.layer == "shm" and ".abi-" in c.id}
SHM = [c for c in cases.discover().values()
       if c.layer == "shm" and c.id not in NATIVE and not is_stress(c.id)]
IDS = [c.id for c in SHM]
PREFIXES = ("shm.table.writer.", "shm.table.reader.", "shm.signal.sender.",
            "shm.signal.receiver.")
# cases that step a side access by access: they SKIP on a target of whole operations
STEPPED_ONLY = {"shm.table.writer.write-barriers", "shm.table.reader.retries-within-bound",
                "shm.table.reader.rejects-changing-seq", "shm.table.reader.read-barriers",
                "shm.signal.sender.full-barriers", "shm.signal.receiver.full-barriers",
                "shm.signal.receiver.acknowledges-before-reading"}
BAD = (Outcome.FAIL, Outcome.WEDGED)


def outcomes(target: Any, chosen: Sequence[cases.Case] = SHM) -> dict[str, Result]:
    return {c.id: runner.run_case(c, target) for c in chosen}


def explain(res: Result) -> str:
    return f"{res.outcome.value}: {res.detail} / {res.expected} / {res.observed}"


def honest(case_id: str, res: Result) -> None:
    """PASS, or REJECT for a hostile case (``.rejects-``)."""
    want = Outcome.REJECT if ".rejects-" in case_id else Outcome.PASS
    assert res.outcome is want, explain(res)
